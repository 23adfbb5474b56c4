// The page's only script (served from here: no CDN). Everything from the server or the model is put into the
// page with textContent, never as HTML, so an issue full of <script> tags stays text.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var body = $("body"), url = $("url"), randomBtn = $("random"), generateBtn = $("generate");
  var progress = $("progress"), errorBox = $("error"), result = $("result");
  var randomIssue = null;  // {title, url, body} of the random issue in the box, until the box is edited

  function show(el, text) { el.textContent = text; el.hidden = false; }
  function hide(el) { el.hidden = true; el.textContent = ""; }

  function showError(message) {
    show(errorBox, message);
  }

  // JSON from the app, or an Error carrying the app's message (or a plain one when the answer is not JSON).
  function call(path, options) {
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (e) { data = null; }
        if (!response.ok) {
          var msg = data && typeof data.error === "string" ? data.error
            : "The web app answered HTTP " + response.status + ".";
          var err = new Error(msg);
          err.data = data; err.status = response.status;
          throw err;
        }
        if (data === null) { throw new Error("The web app answered with something that is not JSON."); }
        return data;
      });
    }, function () {
      throw new Error("The web app cannot be reached. Is it running?");
    });
  }

  function busy(on, text) {
    generateBtn.disabled = on; randomBtn.disabled = on;
    progress.textContent = on ? text : "";
  }

  randomBtn.addEventListener("click", function () {
    hide(errorBox);
    busy(true, "Picking an issue…");
    call("api/random_issue").then(function (issue) {
      body.value = issue.body;
      url.value = "";
      randomIssue = issue;
      result.hidden = true;
    }).catch(function (e) { showError(e.message); }).then(function () { busy(false); });
  });

  body.addEventListener("input", function () { randomIssue = null; });

  // The body the answer's highlights point into, as code points: [start, end) offsets count code points.
  var shownBody = [];
  var options = [];  // the title and its alternatives: {title, score, confidence, highlights}
  var chosen = 0;

  // The body with the chosen title's words marked (text nodes and <mark> elements: never HTML).
  function showTaken(highlights) {
    var view = $("body-view"), pos = 0;
    view.textContent = "";
    (highlights || []).forEach(function (span) {
      if (span[0] < pos) { return; }
      view.appendChild(document.createTextNode(shownBody.slice(pos, span[0]).join("")));
      var mark = document.createElement("mark");
      mark.textContent = shownBody.slice(span[0], span[1]).join("");
      view.appendChild(mark);
      pos = span[1];
    });
    view.appendChild(document.createTextNode(shownBody.slice(pos).join("")));
    $("taken-box").hidden = !(highlights && highlights.length);
  }

  function confidenceBadge(el, confidence) {
    el.textContent = confidence || "";
    el.className = "confidence " + (confidence === "likely good" ? "good" : "check");
  }

  // The chosen option as the title (its confidence, score and highlights); the others as buttons to pick.
  function showChoice() {
    var option = options[chosen], title = $("title");
    if (typeof option.title === "string" && option.title.trim()) {
      title.textContent = option.title;
      title.classList.remove("empty");
    } else {
      title.textContent = "(the model returned an empty title)";
      title.classList.add("empty");
    }
    confidenceBadge($("confidence"), option.confidence);
    $("confidence-help").textContent = option.confidence === "likely good"
      ? "the model is fairly sure of this title" : "the model is less sure: read it against the issue";
    $("score").textContent = typeof option.score === "number" ? option.score.toFixed(3) : "–";
    var list = $("alternatives");
    list.textContent = "";
    options.forEach(function (other, i) {
      if (i === chosen) { return; }
      var item = document.createElement("li"), pick = document.createElement("button"),
        badge = document.createElement("span");
      pick.type = "button";
      pick.className = "alternative";
      pick.textContent = other.title;
      pick.title = "Use this title";
      pick.addEventListener("click", function () { chosen = i; showChoice(); });
      confidenceBadge(badge, other.confidence);
      item.appendChild(pick);
      item.appendChild(badge);
      list.appendChild(item);
    });
    $("alternatives-box").hidden = options.length < 2;
    showTaken(option.highlights);
  }

  function render(data, sentBody) {
    shownBody = Array.from(data.issue ? data.issue.body : sentBody);
    options = [{title: data.title, score: data.score, confidence: data.confidence, highlights: data.highlights}]
      .concat(Array.isArray(data.alternatives) ? data.alternatives : []);
    chosen = 0;
    showChoice();
    $("version").textContent = data.model_version === null || data.model_version === undefined
      ? "unknown" : String(data.model_version);
    $("elapsed").textContent = typeof data.elapsed_ms === "number" ? Math.round(data.elapsed_ms) + " ms" : "–";
    if (data.notice) { show($("notice"), data.notice); } else { hide($("notice")); }

    var actual = null, link = $("issue-link");
    if (data.issue) {
      actual = {title: data.issue.title, url: data.issue.url};
      body.value = data.issue.body;
    } else if (randomIssue) {
      actual = {title: randomIssue.title, url: randomIssue.url};
    }
    if (actual) {
      $("true-title").textContent = actual.title;
      if (actual.url && /^https:\/\//.test(actual.url)) {
        link.href = actual.url; link.textContent = actual.url; link.hidden = false;
      } else {
        link.hidden = true; link.removeAttribute("href"); link.textContent = "";
      }
      $("actual").hidden = false;
    } else {
      $("actual").hidden = true;
    }
    result.hidden = false;
  }

  generateBtn.addEventListener("click", function () {
    hide(errorBox);
    var payload = url.value.trim() ? {url: url.value.trim()} : {body: body.value};
    if (!payload.url && !payload.body.trim()) {
      showError("Paste an issue's text, give its URL, or press Random issue first.");
      return;
    }
    busy(true, payload.url ? "Fetching the issue and writing its title…" : "Writing a title…");
    call("api/summarize", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(payload)
    }).then(function (data) {
      render(data, payload.body || "");
      if (payload.url) { randomIssue = null; }
    }).catch(function (e) {
      result.hidden = true;
      showError(e.message);
    }).then(function () { busy(false); checkServer(); });
  });

  function checkServer() {
    var status = $("server-status");
    call("healthz").then(function (h) {
      status.textContent = "Model server: up, version " + h.version;
      status.title = "";
      status.className = "ok";
    }).catch(function (e) {
      status.textContent = "Model server: unavailable";
      status.title = e.data && e.data.error ? e.data.error : e.message;
      status.className = "bad";
    });
  }
  checkServer();
})();
