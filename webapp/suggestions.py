"""Title suggestions for the issues the GitHub webhook accepts (webapp/webhook.py): the rule, the comment, and the
background worker that does the work after the delivery was answered.

The rule (decide()): the model's title is suggested when all of these hold, else the first that fails is the
reason recorded:
  1. the issue has a body (there is nothing to write a title from otherwise);
  2. the suggestion has at least GHSUMM_SUGGEST_MIN_WORDS words (3): shorter ones are stock or junk titles;
  3. the model's score is at least GHSUMM_SUGGEST_MIN_SCORE (-7.1): the score is the beam search's
     length-normalized log-probability of the title (of the model's or of its second model's beam search,
     whichever wrote it); lower means the models are less sure of the title.
     Measured with the shipped warm start (transformer_ghsumm_write, step 14000 and its second model, the six
     decoding rules) on the 209 bundled-sample eval issues (`make quality` prints it: "model scores ... first
     quartile"): -7.11 at the first quartile, median -5.95; the titles' word overlap with the real titles is 0.18
     below -7.1 and 0.25 above it, so -7.1 drops the least sure quarter (without the second model the quartile
     was -7.00; before minimum Bayes risk chose among the beam's titles, the most probable one was served and the
     quartile was -6.51; step 13500 had it at -6.30).
     The scale is the model's and its decoding's (the minimum length lowered it from -5.5): re-measure it for
     another model;
  4. the suggestion is far enough from the current title: their word overlap (ROUGE-1 F1 of lowercased words,
     0 = nothing in common, 1 = the same words) is below GHSUMM_SUGGEST_MAX_SIMILARITY (0.5). A suggestion that
     mostly repeats the title adds nothing.

The worker (one thread per web process; jobs are shared through webapp/webhook_state.py, so any process may do
any job, and a restart continues where the last process stopped):
  - first the accepted issue is appended to the retraining file (GHSUMM_WEBHOOK_ISSUES) in the GitHub REST
    shape, as the webhook received it (issues without a body are not: the readers would reject them);
  - then a title from the served model (webapp/title_service.py's TitleService). A model server that is down, has no
    such model or no vocabulary (the page's 503s) is logged as waiting_for_model in the decision log (once per
    job) and the job is retried later: after GHSUMM_WEBHOOK_RETRY_S, doubling, at most every MAX_RETRY_S, without
    end, so the issue gets its suggestion once the model is back. Other model failures are retried
    MODEL_ATTEMPTS times, then logged as an error;
  - the decision (decide()) is logged. In comment mode (GHSUMM_WEBHOOK_MODE=comment and GITHUB_TOKEN) a suggested
    title is posted as one comment on the issue (the title itself is never edited): only if no comment was
    claimed for that issue before (webhook_state.claim_comment), and only if the issue has no comment with
    COMMENT_MARKER yet (so a comment GitHub created while its answer was lost is not posted again). A failed post
    is retried with backoff (a rate limit: after its reset time) up to GHSUMM_COMMENT_ATTEMPTS times.

Decision log entries (one JSON object a line, decisions.jsonl): time, delivery, action, repo, number, url,
current_title, suggestion, score, model_version, similarity, mode (dry-run | comment), suggest (what the rule
said), acted (a comment was posted), outcome, why, and comment_url when one was posted. Outcomes: suggested (dry
run: logged only), commented, not_suggested, already_commented, waiting_for_model, comment_failed, error.
"""
from __future__ import annotations

import collections
import logging
import os
import re
import threading
import time

from webapp.config import Settings
from webapp.errors import WebError
from webapp.webhook_state import Job, WebhookState, append_jsonl

log = logging.getLogger("ghsumm.webhook")

COMMENT_MARKER = "<!-- ghsumm:title-suggestion -->"
MAX_RETRY_S = 600.0
MODEL_ATTEMPTS = 5
POLL_S = 5.0  # how often an idle worker looks for jobs queued by another process or due again
MODEL_WAITING_CODES = ("model_unavailable", "model_not_found", "vocab_missing")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# ------------------------------------------------------------------ the rule
def words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def similarity(a: str, b: str) -> float:
    """ROUGE-1 F1 of the lowercased words of a and b (0 when either has none)."""
    wa, wb = collections.Counter(words(a)), collections.Counter(words(b))
    overlap = sum((wa & wb).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(wb.values()), overlap / sum(wa.values())
    return 2 * precision * recall / (precision + recall)


def decide(settings: Settings, current_title: str, suggestion: str, score: float | None) -> dict:
    """{"suggest": bool, "similarity": float, "why": str} by the rule in this module's docstring (the body is
    checked before the model is asked)."""
    sim = round(similarity(current_title, suggestion), 3)
    n = len(words(suggestion))

    def no(why):
        return {"suggest": False, "similarity": sim, "why": why}
    if n < settings.suggest_min_words:
        return no("the model's title has %d word%s (fewer than %d)" % (n, "" if n == 1 else "s",
                                                                      settings.suggest_min_words))
    if score is None or score < settings.suggest_min_score:
        return no("the model is unsure: score %s is below %.2f" % ("unknown" if score is None else "%.3f" % score,
                                                                   settings.suggest_min_score))
    if sim >= settings.suggest_max_similarity:
        return no("the current title already says it: word overlap %.2f is at least %.2f"
                  % (sim, settings.suggest_max_similarity))
    return {"suggest": True, "similarity": sim,
            "why": "score %.3f >= %.2f and word overlap with the current title %.2f < %.2f"
                   % (score, settings.suggest_min_score, sim, settings.suggest_max_similarity)}


def code_span(text: str) -> str:
    """text as a Markdown code span on one line: mentions, links and markup in it stay inert text."""
    text = " ".join(text.split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return "%s%s%s%s%s" % (fence, pad, text, pad, fence)


def comment_body(suggestion: str, model_version) -> str:
    version = " (model version %s)" % model_version if model_version is not None else ""
    return ("%s\n**Suggested title:** %s\n\nghsumm wrote this title from the issue's text%s. It is only a "
            "suggestion: the title was not changed, and this is the only comment ghsumm posts on this issue."
            % (COMMENT_MARKER, code_span(suggestion), version))


def retry_delay(settings: Settings, attempts: int) -> float:
    """The wait before retry number `attempts` (1, 2, ...): GHSUMM_WEBHOOK_RETRY_S doubling, at most MAX_RETRY_S."""
    return min(MAX_RETRY_S, settings.webhook_retry_s * 2 ** max(0, attempts - 1))


# ------------------------------------------------------------------ the worker
class Suggester:
    def __init__(self, settings: Settings, titles, state: WebhookState, metrics=None):
        self.settings, self.titles, self.state = settings, titles, state
        self.metrics = metrics  # webapp.metrics.WebMetrics: the waits for GitHub's rate limit are counted
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ the thread
    def start(self) -> None:
        """Starts the worker thread of this process (again after a fork: gunicorn --preload)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._stop.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="ghsumm-webhook", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: a notify() from now on ends the wait below at once
            try:
                busy = self.run_once()
            except Exception as e:  # noqa: BLE001  (the worker never dies: a broken state dir is logged and retried)
                log.error("webhook worker: %s: %s", type(e).__name__, e)
                busy = False
            if busy:
                continue
            try:
                due = self.state.next_due()
            except Exception:  # noqa: BLE001
                due = None
            wait = POLL_S if due is None else min(POLL_S, max(0.05, due - time.time()))
            self._wake.wait(wait)

    def run_once(self) -> bool:
        """Does one due job (as far as it can go now); False when none was due."""
        job = self.state.claim()
        if job is None:
            return False
        try:
            self.process(job)
        except Exception as e:  # noqa: BLE001  (an unexpected failure: retried later, never lost)
            log.error("delivery %s (%s#%s) failed: %s", job.delivery, job.repo, job.number,
                      type(e).__name__, exc_info=e)
            attempts = job.attempts + 1
            self.state.update(job, job.stage, attempts, retry_delay(self.settings, attempts), job.decision)
        return True

    # ------------------------------------------------------------ one job
    def _record(self, job: Job, **fields) -> dict:
        issue = job.issue
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "delivery": job.delivery,
                 "action": job.action, "repo": job.repo, "number": job.number,
                 "url": "https://%s/%s/issues/%d" % (self.settings.github_host, job.repo, job.number),
                 "current_title": issue.get("title") if isinstance(issue.get("title"), str) else "",
                 "suggestion": None, "score": None, "model_version": None, "similarity": None,
                 "mode": "comment" if self.settings.commenting else "dry-run", "suggest": False, "acted": False}
        entry.update(fields)
        self.state.log_decision(entry)
        log.info("%s#%d %s: %s", job.repo, job.number, entry["outcome"], entry.get("why", ""))
        return entry

    def process(self, job: Job) -> None:
        body = job.issue.get("body") if isinstance(job.issue.get("body"), str) else ""
        if not job.saved:
            if body.strip():
                append_jsonl(self.settings.webhook_issues, job.issue)
            self.state.mark_saved(job)
        if job.stage == "title":
            if not self._title_stage(job, body):
                return
        if job.stage == "comment":
            self._comment_stage(job)

    def _title_stage(self, job: Job, body: str) -> bool:
        """True when the job moved on to the comment stage."""
        if not body.strip():
            self._record(job, outcome="not_suggested", why="the issue has an empty body: nothing to write a title from")
            self.state.update(job, "done", job.attempts)
            return False
        try:
            result = self.titles.generate(body)
        except WebError as e:
            attempts = job.attempts + 1
            delay = retry_delay(self.settings, attempts)
            if e.code in MODEL_WAITING_CODES:
                log.warning("%s#%d waits for the model server (attempt %d, next in %.1f s): %s",
                            job.repo, job.number, attempts, delay, e.message)
                if attempts == 1:
                    self._record(job, outcome="waiting_for_model",
                                 why="%s The issue is suggested for when it is back (retried with backoff)."
                                     % e.message)
                self.state.update(job, "title", attempts, delay)
                return False
            if attempts < MODEL_ATTEMPTS:
                log.warning("%s#%d: %s (attempt %d of %d, next in %.1f s)", job.repo, job.number, e.message,
                            attempts, MODEL_ATTEMPTS, delay)
                self.state.update(job, "title", attempts, delay)
                return False
            self._record(job, outcome="error", why="%s (%d attempts)" % (e.message, attempts))
            self.state.update(job, "done", attempts)
            return False
        rule = decide(self.settings, str(job.issue.get("title") or ""), result["title"], result["score"])
        decision = {"suggestion": result["title"], "score": result["score"], "model_version": result["model_version"],
                    "similarity": rule["similarity"], "suggest": rule["suggest"]}
        if not rule["suggest"]:
            self._record(job, outcome="not_suggested", why=rule["why"], **decision)
            self.state.update(job, "done", job.attempts)
            return False
        if not self.settings.commenting:
            why = "dry run: logged only (%s)" % rule["why"]
            if self.settings.webhook_mode == "comment":
                why = "dry run, GITHUB_TOKEN is not set: logged only (%s)" % rule["why"]
            self._record(job, outcome="suggested", why=why, **decision)
            self.state.update(job, "done", job.attempts)
            return False
        if not self.state.claim_comment(job.repo, job.number, job.delivery):
            self._record(job, outcome="already_commented", why="ghsumm has already commented on this issue "
                         "(one comment per issue)", **decision)
            self.state.update(job, "done", job.attempts)
            return False
        decision["why"] = rule["why"]
        self.state.update(job, "comment", 0, 0.0, decision)
        return True

    def _comment_stage(self, job: Job) -> None:
        from webapp.github_issues import find_comment, post_comment
        s, decision = self.settings, dict(job.decision or {})
        owner, name = job.repo.split("/", 1)
        try:
            url = find_comment(s, owner, name, job.number, COMMENT_MARKER)
            how = "found ghsumm's comment already there" if url is not None else ""
            if url is None:
                url = post_comment(s, owner, name, job.number, comment_body(decision["suggestion"],
                                                                             decision.get("model_version")))
                how = "posted"
        except WebError as e:
            attempts = job.attempts + 1
            retryable = e.status in (429, 502) and e.code != "github_auth"
            if retryable and attempts < s.comment_attempts:
                delay = retry_delay(s, attempts)
                reset_at = e.extra.get("reset_at")
                if e.status == 429 and isinstance(reset_at, (int, float)):
                    delay = max(delay, reset_at - time.time() + 1)
                if e.status == 429 and self.metrics is not None:
                    self.metrics.rate_limit_wait("webhook", delay)
                log.warning("comment on %s#%d failed (attempt %d of %d, next in %.1f s): %s", job.repo,
                            job.number, attempts, s.comment_attempts, delay, e.message)
                self.state.update(job, "comment", attempts, delay, job.decision)
                return
            self.state.finish_comment(job.repo, job.number, job.delivery, None)
            why = "the comment could not be posted (%d attempt%s): %s" % (attempts, "" if attempts == 1 else "s",
                                                                          e.message)
            self._record(job, outcome="comment_failed", **dict(decision, why=why))
            self.state.update(job, "done", attempts, decision=job.decision)
            return
        self.state.finish_comment(job.repo, job.number, job.delivery, url)
        self._record(job, outcome="commented", acted=True, comment_url=url,
                     **dict(decision, why="%s (%s)" % (how, decision.get("why", ""))))
        self.state.update(job, "done", job.attempts, decision=job.decision)
