// The suggestions page's only script (served from here: no CDN). Every value from the server (issue titles,
// the model's suggestions, reasons) is put into the page with textContent, never as HTML.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var OUTCOMES = {
    suggested: "suggested (dry run)", commented: "commented", not_suggested: "not suggested",
    already_commented: "already commented", waiting_for_model: "waiting for the model",
    comment_failed: "comment failed", error: "error"
  };

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value === null || value === undefined ? "" : String(value);
    if (className) { el.className = className; }
    return el;
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso || "") : d.toLocaleString();
  }

  function row(dec) {
    var tr = document.createElement("tr");
    tr.className = "outcome-" + String(dec.outcome || "").replace(/[^a-z_]/g, "");
    tr.appendChild(text("td", when(dec.time), "when"));

    var issue = document.createElement("td");
    var label = String(dec.repo || "") + "#" + String(dec.number || "");
    if (typeof dec.url === "string" && /^https:\/\//.test(dec.url)) {
      var a = text("a", label);
      a.href = dec.url; a.target = "_blank"; a.rel = "noopener noreferrer nofollow";
      issue.appendChild(a);
    } else {
      issue.textContent = label;
    }
    issue.appendChild(text("div", dec.action || "", "muted small"));
    tr.appendChild(issue);

    tr.appendChild(text("td", dec.current_title, "current"));
    var suggestion = text("td", typeof dec.suggestion === "string" ? dec.suggestion : "–", "suggestion");
    if (dec.suggest) { suggestion.classList.add("yes"); }
    tr.appendChild(suggestion);
    tr.appendChild(text("td", typeof dec.score === "number" ? dec.score.toFixed(3) : "–", "num"));

    var decision = document.createElement("td");
    decision.appendChild(text("span", OUTCOMES[dec.outcome] || dec.outcome, "badge"));
    if (typeof dec.similarity === "number") {
      decision.appendChild(text("div", "word overlap " + dec.similarity.toFixed(2), "muted small"));
    }
    decision.appendChild(text("div", dec.why, "muted small why"));
    if (typeof dec.comment_url === "string" && /^https:\/\//.test(dec.comment_url)) {
      var link = text("a", "the comment");
      link.href = dec.comment_url; link.target = "_blank"; link.rel = "noopener noreferrer nofollow";
      decision.appendChild(link);
    }
    tr.appendChild(decision);
    return tr;
  }

  function render(data) {
    var hook = data.webhook || {};
    $("hook-status").textContent = hook.enabled ? "on" : "off (GHSUMM_WEBHOOK_SECRET is not set)";
    $("hook-status").className = hook.enabled ? "ok" : "bad";
    $("hook-mode").textContent = hook.mode === "comment" ? "comment on the issue" : "dry run (log only)";
    $("hook-deliveries").textContent = String(hook.deliveries || 0);
    $("hook-pending").textContent = String(hook.pending || 0);
    $("hook-comments").textContent = String(hook.comments || 0);
    var note = $("hook-note");
    if (hook.mode_note) { note.textContent = hook.mode_note; note.hidden = false; } else { note.hidden = true; }
    var rule = hook.rule || {};
    $("hook-rule").textContent = "Rule: suggest when the model's title has at least " + rule.min_words +
      " words, its score is at least " + rule.min_score + ", and its word overlap with the current title is below " +
      rule.max_similarity + ".";

    var rows = $("decision-rows");
    while (rows.firstChild) { rows.removeChild(rows.firstChild); }
    var decisions = Array.isArray(data.decisions) ? data.decisions : [];
    decisions.forEach(function (dec) { if (dec && typeof dec === "object") { rows.appendChild(row(dec)); } });
    $("decisions").hidden = decisions.length === 0;
    $("empty").hidden = decisions.length !== 0;
  }

  function load() {
    var error = $("error");
    fetch("api/suggestions?limit=100").then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data && data.error ? data.error : "HTTP " + response.status); }
        return data;
      });
    }).then(function (data) {
      error.hidden = true;
      render(data);
    }).catch(function (e) {
      error.textContent = "The decisions cannot be loaded: " + e.message;
      error.hidden = false;
    });
  }

  $("refresh").addEventListener("click", load);
  load();
  setInterval(load, 15000);
})();
