"""The GitHub webhook (webapp/webhook.py, suggestions.py, webhook_state.py) through Flask's test client: signed
deliveries as GitHub sends them, titles from a real model server (the tiny SavedModel, or the stub model server
where a test needs a chosen title), comments against the local GitHub-API-like server (tests/github_api_stub.py),
the state and logs on disk. The /suggestions page in a browser is test_webhook_browser.py."""
import contextlib
import hashlib
import hmac
import http.server
import json
import logging
import os
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
from flask.testing import FlaskClient
from github_api_stub import GitHubApiStub, issue_json

from serving.launch import free_port
from webapp import MAX_REQUEST_BYTES, create_app, k8s
from webapp.config import Settings
from webapp.suggestions import COMMENT_MARKER, code_span, comment_body, decide, similarity

SECRET = "whsec-TESTSECRET-0123456789abcdef"
TOKEN = "ghp_TESTSECRETtoken0123456789abcdef"
ACCESS = "access-TESTSECRET-0123456789abcdef"  # GHSUMM_ACCESS_TOKEN: a webhook makes the app public
BODY = ("when i open a file that has no lines the parser crashes with an index error in read_header, "
        "the same file opened in version 1.2 works")
SUGGESTION = "parser crashes on empty files"
WEBHOOK_ENV = ("GHSUMM_WEBHOOK_SECRET", "GHSUMM_WEBHOOK_MODE", "GHSUMM_WEBHOOK_DIR", "GHSUMM_WEBHOOK_ISSUES",
               "GHSUMM_SUGGEST_MIN_SCORE", "GHSUMM_SUGGEST_MAX_SIMILARITY", "GHSUMM_SUGGEST_MIN_WORDS",
               "GHSUMM_WEBHOOK_RETRY_S", "GHSUMM_COMMENT_ATTEMPTS")

pytestmark = pytest.mark.usefixtures("clean_webapp_env", "clean_webhook_env")


@pytest.fixture
def clean_webhook_env(monkeypatch):
    for var in WEBHOOK_ENV:
        monkeypatch.delenv(var, raising=False)


# ------------------------------------------------------------------------------------------- helpers
def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def issues_payload(number=7, title="Crash", body=BODY, action="opened", repo="octo/hello", changes=None,
                   pull_request=False) -> dict:
    owner, name = repo.split("/")
    payload = {"action": action,
               "issue": issue_json("https://api.github.com", owner, name, number, title, body, pull_request),
               "repository": {"id": 42, "name": name, "full_name": repo, "private": False,
                              "owner": {"login": owner, "id": 1, "type": "Organization"},
                              "html_url": "https://github.com/%s" % repo},
               "sender": {"login": "octocat", "id": 1, "type": "User"}}
    if changes is not None:
        payload["changes"] = changes
    return payload


def deliver(client, payload, event="issues", delivery=None, secret=SECRET, signature=None, raw=None,
            content_type="application/json"):
    """POSTs a delivery as GitHub does: the raw body signed with the secret (or the given signature/raw body)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "User-Agent": "GitHub-Hookshot/test"}
    sig = signature if signature is not None else (sign(body, secret) if secret else None)
    if sig is not None:
        headers["X-Hub-Signature-256"] = sig
    return client.post("/github/webhook", data=body, headers=headers, content_type=content_type)


def decisions_of(app) -> list:
    """The decision log, oldest first."""
    path = app.extensions["ghsumm"]["webhook_state"].decisions_path
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def wait_for(what, condition, timeout=60.0):
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def decision_count(app, n, timeout=60.0):
    return wait_for("%d decision(s)" % n, lambda: len(decisions_of(app)) >= n and decisions_of(app), timeout)


def idle(app, timeout=30.0):
    """Waits until no job is pending (queued or in progress)."""
    state = app.extensions["ghsumm"]["webhook_state"]
    wait_for("the webhook's queue to empty", lambda: state.counts()["pending"] == 0, timeout)


class SignedInClient(FlaskClient):
    """Flask's test client sending the access token (the decision pages of a public app need it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + ACCESS


@pytest.fixture
def hook(webapp_config, tmp_path):
    """hook(**settings) -> an app with the webhook on (the secret, the access token, a state dir of the test's own,
    fast retries) whose test clients send the access token; every app's worker is stopped at the end."""
    apps = []

    def make(**overrides):
        config = dict(webapp_config, webhook_secret=SECRET, access_token=ACCESS, webhook_dir=str(tmp_path / "webhook"),
                      webhook_retry_s=0.2, suggest_min_score=-1e9)
        config.update(overrides)
        app = create_app(config)
        app.test_client_class = SignedInClient
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.extensions["ghsumm"]["suggester"].stop()


@pytest.fixture
def chosen_model(stub_model_server, title_codec):
    """chosen_model(title=SUGGESTION, score=-0.4) -> URL of a model server (TF Serving's REST protocol) that
    answers that title for every issue, version 7."""
    def start(title=SUGGESTION, score=-0.4):
        return stub_model_server(title_codec.encoder.encode(title) + [1], score=score, version=7)
    return start


# ------------------------------------------------------------------------------------------- the main flow
def test_opened_issue_gets_one_suggestion_and_exactly_one_comment(hook, chosen_model, tmp_path):
    model = chosen_model()
    with GitHubApiStub() as api:
        api.add_issue("octo", "hello", 7, "Crash", BODY)
        api.add_comment("octo", "hello", 7, "I see this too")
        app = hook(model_server=model.url, github_api_url=api.url, github_token=TOKEN, webhook_mode="comment")
        c = app.test_client()
        delivery = str(uuid.uuid4())
        r = deliver(c, issues_payload(), delivery=delivery)
        assert r.status_code == 202, r.get_json()
        assert r.get_json() == {"status": "accepted", "delivery": delivery, "issue": "octo/hello#7"}
        [d] = decision_count(app, 1)
        assert d["outcome"] == "commented" and d["acted"] is True and d["suggest"] is True
        assert (d["delivery"], d["repo"], d["number"], d["action"]) == (delivery, "octo/hello", 7, "opened")
        assert d["current_title"] == "Crash" and d["suggestion"] == SUGGESTION and d["score"] == -0.4
        assert d["model_version"] == 7 and d["mode"] == "comment" and d["similarity"] == 0.0
        assert d["url"] == "https://github.com/octo/hello/issues/7" and d["why"].startswith("posted")
        comments = api.comments[("octo", "hello", 7)]
        assert len(comments) == 2 and d["comment_url"] == comments[1]["html_url"]
        assert COMMENT_MARKER in comments[1]["body"] and "`%s`" % SUGGESTION in comments[1]["body"]
        posts = [(p, h) for m, p, h in api.requests if m == "POST"]
        assert [p for p, _ in posts] == ["/repos/octo/hello/issues/7/comments"]
        assert posts[0][1]["Authorization"].endswith(TOKEN)

        # The same delivery again (GitHub's "Redeliver"): acknowledged, nothing done.
        r = deliver(c, issues_payload(), delivery=delivery)
        assert r.status_code == 200 and r.get_json()["status"] == "duplicate"
        # Another delivery for the same issue (its body edited): decided again, never a second comment.
        edited = issues_payload(action="edited", body=BODY + " (also on 1.3)", changes={"body": {"from": BODY}})
        assert deliver(c, edited).status_code == 202
        second = decision_count(app, 2)[1]
        assert second["outcome"] == "already_commented" and second["acted"] is False
        idle(app)
        assert len(api.comments[("octo", "hello", 7)]) == 2 and model.calls == 2
        assert len(decisions_of(app)) == 2

        # After a restart (a new process on the same state dir), the delivery is still known.
        app.extensions["ghsumm"]["suggester"].stop()
        again = hook(model_server=model.url, github_api_url=api.url, github_token=TOKEN, webhook_mode="comment")
        r = deliver(again.test_client(), issues_payload(), delivery=delivery)
        assert r.status_code == 200 and r.get_json()["status"] == "duplicate"
        time.sleep(0.5)
        assert len(decisions_of(again)) == 2 and len(api.comments[("octo", "hello", 7)]) == 2
        assert again.extensions["ghsumm"]["webhook_state"].counts() == {"deliveries": 2, "pending": 0, "comments": 1}

    # Both accepted versions of the issue are in the retraining file, in the GitHub REST shape the readers know.
    from data.readers import read_issues
    from data.records import Issue
    issues = [i for i in read_issues(str(tmp_path / "webhook" / "issues.jsonl")) if isinstance(i, Issue)]
    assert [(i.title, i.body, i.url, i.repo) for i in issues] == [
        ("Crash", BODY, "https://github.com/octo/hello/issues/7", "octo/hello"),
        ("Crash", BODY + " (also on 1.3)", "https://github.com/octo/hello/issues/7", "octo/hello")]


def test_the_real_model_decides_and_the_answer_does_not_wait_for_it(hook, tmp_path):
    app = hook(webhook_issues=str(tmp_path / "new" / "issues.jsonl"))
    c = app.test_client()
    start = time.time()
    r = deliver(c, issues_payload(number=3, title="help"))
    assert r.status_code == 202 and time.time() - start < 2
    [d] = decision_count(app, 1, timeout=120)
    # The tiny model's titles are junk (often empty), so either way; the decision names the served version.
    assert d["outcome"] in ("suggested", "not_suggested") and d["model_version"] == 5
    assert isinstance(d["score"], float) and isinstance(d["suggestion"], str) and d["mode"] == "dry-run"
    assert d["acted"] is False and d["why"]
    assert (tmp_path / "new" / "issues.jsonl").exists()


def test_delivery_is_answered_at_once_even_when_the_model_is_slow(hook):
    silent = __import__("socket").socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        app = hook(model_server="http://127.0.0.1:%d" % silent.getsockname()[1], model_timeout=5, model_retries=0)
        start = time.time()
        assert deliver(app.test_client(), issues_payload()).status_code == 202
        assert time.time() - start < 1.5
    finally:
        app.extensions["ghsumm"]["suggester"].stop(1)
        silent.close()


def test_dry_run_comments_nothing(hook, chosen_model, tmp_path):
    model = chosen_model()
    with GitHubApiStub() as api:
        api.add_issue("octo", "hello", 7, "Crash", BODY)
        for n, overrides in enumerate([{"github_token": TOKEN},                            # dry-run is the default
                                       {"webhook_mode": "comment", "github_token": ""}]):  # comment mode, no token
            app = hook(model_server=model.url, github_api_url=api.url, webhook_dir=str(tmp_path / str(n)),
                       **overrides)
            assert deliver(app.test_client(), issues_payload()).status_code == 202
            [d] = decision_count(app, 1)
            assert d["outcome"] == "suggested" and d["suggest"] is True and d["acted"] is False
            assert d["mode"] == "dry-run" and d["why"].startswith("dry run")
            app.extensions["ghsumm"]["suggester"].stop()
        assert "GITHUB_TOKEN is not set" in d["why"]
        assert app.test_client().get("/api/suggestions").get_json()["webhook"]["mode_note"]
        assert api.requests == [] and api.comments == {}


# ------------------------------------------------------------------------------------------- refused and ignored
def test_bad_signatures_are_refused_with_nothing_recorded(hook, chosen_model, caplog, tmp_path):
    model = chosen_model()
    app = hook(model_server=model.url)
    c = app.test_client()
    body = json.dumps(issues_payload()).encode()
    caplog.set_level(logging.INFO)
    cases = [("no signature", {"signature": None, "secret": None}),
             ("another secret", {"secret": "not-the-secret"}),
             ("another body", {"signature": sign(body + b" ")}),
             ("sha1 style", {"signature": "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}),
             ("not hex", {"signature": "sha256=" + "zz" * 32}),
             ("non-ASCII", {"signature": "sha256=\u00e9" * 3}),
             ("empty", {"signature": ""})]
    for case, kwargs in cases:
        r = deliver(c, None, raw=body, **kwargs)
        assert r.status_code == 401, (case, r.status_code)
        assert r.get_json()["code"] == "bad_signature" and SECRET not in r.get_data(as_text=True)
    time.sleep(0.3)
    state = app.extensions["ghsumm"]["webhook_state"]
    assert state.counts() == {"deliveries": 0, "pending": 0, "comments": 0}
    assert decisions_of(app) == [] and not (tmp_path / "webhook" / "issues.jsonl").exists() and model.calls == 0
    ours = [r for r in caplog.records if r.name.startswith("ghsumm")]
    assert len(ours) == len(cases) and all("refused a delivery" in r.getMessage() for r in ours)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("event, payload, status", [
    ("ping", {"zen": "Design for failure.", "hook_id": 12, "hook": {"type": "Repository"}}, 200),
    ("pull_request", {"action": "opened", "number": 8, "pull_request": {"title": "Add x", "body": "b"}}, 204),
    ("issues", issues_payload(pull_request=True), 204),
    ("issues", issues_payload(action="closed"), 204),
    ("issues", issues_payload(action="labeled"), 204),
    ("issues", issues_payload(action="edited", changes={"title": {"from": "old"}}), 204),
    ("issue_comment", dict(issues_payload(action="created"), comment={"body": "me too"}), 204),
    ("push", {"ref": "refs/heads/main"}, 204),
    ("star", {"action": "created"}, 204),
])
def test_pings_pull_requests_and_other_events_are_not_acted_on(hook, event, payload, status):
    app = hook(model_server="http://127.0.0.1:%d" % free_port())
    r = deliver(app.test_client(), payload, event=event)
    assert r.status_code == status, r.get_data(as_text=True)
    if event == "ping":
        assert r.get_json() == {"status": "pong", "hook_id": 12, "zen": "Design for failure."}
    else:
        assert r.get_data() == b""
    time.sleep(0.2)
    assert app.extensions["ghsumm"]["webhook_state"].counts()["deliveries"] == 0 and decisions_of(app) == []


def test_bad_input_is_413_or_400_and_off_without_a_secret(hook, webapp_config, tmp_path):
    app = hook(model_server="http://127.0.0.1:%d" % free_port())
    c = app.test_client()
    big = json.dumps(dict(issues_payload(), padding="x" * MAX_REQUEST_BYTES)).encode()
    r = deliver(c, None, raw=big)
    assert r.status_code == 413 and "too large" in r.get_json()["error"]

    def bad(raw, what, event="issues", **kwargs):
        r = deliver(c, None, raw=raw, event=event, **kwargs)
        assert r.status_code == 400, (what, r.status_code, r.get_data(as_text=True))
        return r.get_json()["error"]
    assert "not JSON" in bad(b'{"action": "opened", "issue": {', "cut JSON")
    assert "not JSON" in bad(b"\xff\xfe", "not UTF-8")
    assert "not a JSON object" in bad(b"[1, 2]", "a list")
    assert "no issue" in bad(json.dumps({"action": "opened"}).encode(), "no issue")
    assert "no issue" in bad(json.dumps(dict(issues_payload(), issue={"number": "7", "title": "t"})).encode(),
                             "number not an int")
    assert "no repository" in bad(json.dumps(dict(issues_payload(), repository={})).encode(), "no repository")
    assert "X-GitHub-Event" in bad(json.dumps(issues_payload()).encode(), "no event", event="")
    assert "X-GitHub-Delivery" in bad(json.dumps(issues_payload()).encode(), "bad delivery id",
                                      delivery="../../etc/passwd")
    assert app.extensions["ghsumm"]["webhook_state"].counts()["deliveries"] == 0
    # GitHub's other content type, the form encoding (payload=<JSON>), is taken too.
    form = urllib.parse.urlencode({"payload": json.dumps(issues_payload())}).encode()
    assert deliver(c, None, raw=form, content_type="application/x-www-form-urlencoded").status_code == 202
    # Without a secret the endpoint is off and says so (and does nothing).
    off = create_app(dict(webapp_config, webhook_dir=str(tmp_path / "off")))
    r = deliver(off.test_client(), issues_payload())
    assert r.status_code == 503 and "GHSUMM_WEBHOOK_SECRET" in r.get_json()["error"]
    assert not (tmp_path / "off").exists()
    page = off.test_client().get("/api/suggestions").get_json()
    assert page["webhook"]["enabled"] is False and page["decisions"] == []


# ------------------------------------------------------------------------------------------- failures and retries
class LateModelServer:
    """A model server address whose server is not there yet: start() then forwards every request to `target`."""

    def __init__(self, target: str):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.target, self.server = target, None

    def start(self):
        target = self.target

        class Forward(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _forward(self, method):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                r = requests.request(method, target + self.path, data=data, timeout=30,
                                     headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
                self.send_response(r.status_code)
                for k in ("Content-Type", "X-Model-Version"):
                    if k in r.headers:
                        self.send_header(k, r.headers[k])
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Forward)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def test_a_dead_model_server_is_logged_and_the_issue_suggested_once_it_is_back(hook, chosen_model, caplog):
    late = LateModelServer(chosen_model().url)
    try:
        caplog.set_level(logging.WARNING, logger="ghsumm.webhook")
        app = hook(model_server=late.url, model_retries=0)
        assert deliver(app.test_client(), issues_payload()).status_code == 202
        [waiting] = decision_count(app, 1)
        assert waiting["outcome"] == "waiting_for_model" and "down or not answering" in waiting["why"]
        assert waiting["suggestion"] is None and waiting["acted"] is False
        wait_for("a few retries", lambda: caplog.text.count("waits for the model server") >= 3)
        assert app.extensions["ghsumm"]["webhook_state"].counts()["pending"] == 1
        late.start()
        decisions = decision_count(app, 2)
        assert [d["outcome"] for d in decisions] == ["waiting_for_model", "suggested"]  # one waiting entry, not one a retry
        assert decisions[1]["suggestion"] == SUGGESTION and decisions[1]["model_version"] == 7
        idle(app)
    finally:
        late.stop()


def test_a_failed_comment_is_retried_and_never_posted_twice(hook, chosen_model):
    model = chosen_model()
    with GitHubApiStub() as api:
        for n in (7, 8):
            api.add_issue("octo", "hello", n, "Crash", BODY)
        app = hook(model_server=model.url, github_api_url=api.url, github_token=TOKEN, webhook_mode="comment")
        c = app.test_client()
        api.fail_next(2, status=502)  # GitHub errors twice, then works
        assert deliver(c, issues_payload(number=7)).status_code == 202
        [d] = decision_count(app, 1)
        assert d["outcome"] == "commented" and len(api.comments[("octo", "hello", 7)]) == 1
        # GitHub makes the comment but its answer is lost: the retry finds it and does not post a second one.
        api.lose_next_post_answers(1)
        assert deliver(c, issues_payload(number=8)).status_code == 202
        d = decision_count(app, 2)[1]
        assert d["outcome"] == "commented" and d["why"].startswith("found ghsumm's comment")
        assert len(api.comments[("octo", "hello", 8)]) == 1
        assert d["comment_url"] == api.comments[("octo", "hello", 8)][0]["html_url"]


def test_a_comment_is_given_up_after_its_attempts_and_a_locked_issue_at_once(hook, chosen_model):
    model = chosen_model()
    with GitHubApiStub() as api:
        api.add_issue("octo", "hello", 7, "Crash", BODY)
        app = hook(model_server=model.url, github_api_url=api.url, github_token=TOKEN, webhook_mode="comment",
                   comment_attempts=3)
        api.fail_next(10, status=503)
        assert deliver(app.test_client(), issues_payload()).status_code == 202
        [d] = decision_count(app, 1)
        assert d["outcome"] == "comment_failed" and d["acted"] is False and "3 attempts" in d["why"]
        assert len([m for m, p, _ in api.requests if p.endswith("/comments")]) == 3 and api.comments == {}
        state = app.extensions["ghsumm"]["webhook_state"].comment_state("octo/hello", 7)
        assert state["state"] == "failed"  # a later delivery may try again: no comment was made
        # A locked issue (403) is not retried: it would not get better.
        api.failures.clear()
        api.add_issue("octo", "hello", 9, "Crash", BODY)
        api.respond("/repos/octo/hello/issues/9/comments", 403,
                    {"message": "Unable to create comment because issue is locked."})
        before = len(api.requests)
        assert deliver(app.test_client(), issues_payload(number=9)).status_code == 202
        d = decision_count(app, 2)[1]
        assert d["outcome"] == "comment_failed" and "1 attempt)" in d["why"] and "403" in d["why"]
        assert len(api.requests) == before + 1


# ------------------------------------------------------------------------------------------- secrets
def test_the_secret_and_the_token_never_appear_in_answers_pages_or_logs(hook, chosen_model, caplog, tmp_path):
    model = chosen_model()
    caplog.set_level(logging.DEBUG)
    seen = []
    with GitHubApiStub() as api:
        api.add_issue("octo", "hello", 7, "Crash", BODY)
        app = hook(model_server=model.url, github_api_url=api.url, github_token=TOKEN, webhook_mode="comment")
        c = app.test_client()
        for kwargs in ({}, {"secret": "wrong"}, {"raw": b"{"}, {"event": "ping"}):
            seen.append(deliver(c, issues_payload(), **kwargs).get_data(as_text=True))
        decision_count(app, 1)
        api.respond("/repos/octo/hello/issues/8/comments", 401, {"message": "Bad credentials"})
        api.add_issue("octo", "hello", 8, "Crash", BODY)
        deliver(c, issues_payload(number=8))
        decision_count(app, 2)
        for path in ("/suggestions", "/api/suggestions", "/healthz", "/"):
            r = c.get(path)
            seen.append(r.get_data(as_text=True) + str(r.headers))
    files = "".join(p.read_text() for p in (tmp_path / "webhook").glob("*.jsonl"))
    for secret in (SECRET, TOKEN, ACCESS):
        assert all(secret not in s for s in seen) and secret not in caplog.text and secret not in files
        assert secret not in repr(app.extensions["ghsumm"]["settings"])
    assert "rejected the configured GITHUB_TOKEN" in decisions_of(app)[1]["why"]


# ------------------------------------------------------------------------------------------- the rule, the page
def test_the_rule():
    s = Settings.from_env({}, suggest_min_score=-1.0, suggest_max_similarity=0.5, suggest_min_words=3)
    assert similarity("Crash", "parser crashes on empty files") == 0.0
    assert similarity("Parser crashes on empty files!", "parser crashes on empty files") == 1.0
    assert 0 < similarity("parser crash", "parser crashes on empty files") < 0.5
    ok = decide(s, "Crash", "parser crashes on empty files", -0.4)
    assert ok["suggest"] is True and ok["similarity"] == 0.0
    assert decide(s, "Crash", "", -0.1) == {"suggest": False, "similarity": 0.0,
                                            "why": "the model's title has 0 words (fewer than 3)"}
    assert "unsure" in decide(s, "Crash", "parser crashes on empty files", -1.5)["why"]
    assert "unsure" in decide(s, "Crash", "parser crashes on empty files", None)["why"]
    same = decide(s, "The parser crashes on empty files", "parser crashes on empty files", -0.2)
    assert same["suggest"] is False and "already says it" in same["why"] and same["similarity"] > 0.5
    # The suggestion goes into the comment as one inert code span: no mention, link or markup reaches GitHub.
    assert code_span("ping @octocat [x](http://e.x)") == "`ping @octocat [x](http://e.x)`"
    assert code_span("a `b` c\nd") == "``a `b` c d``" and code_span("`x") == "`` `x ``"
    body = comment_body("crash on @admin", 7)
    assert body.startswith(COMMENT_MARKER) and "`crash on @admin`" in body and "model version 7" in body


def test_suggestions_page_is_self_contained_and_the_api_lists_decisions(hook, chosen_model):
    app = hook(model_server=chosen_model().url)
    c = app.test_client()
    deliver(c, issues_payload())
    decision_count(app, 1)
    r = c.get("/suggestions")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html and 'src="static/suggestions.js"' in html
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    js = c.get("/static/suggestions.js").get_data(as_text=True)
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js
    assert "http://" not in js and "https://" not in js
    d = c.get("/api/suggestions").get_json()
    assert d["webhook"]["enabled"] is True and d["webhook"]["mode"] == "dry-run" and d["webhook"]["deliveries"] == 1
    assert [x["suggestion"] for x in d["decisions"]] == [SUGGESTION]
    assert c.get("/api/suggestions?limit=0").status_code == 400


# ------------------------------------------------------------------------------------------- configuration, cluster
def test_webhook_settings_from_the_environment():
    s = Settings.from_env({"GHSUMM_WEBHOOK_SECRET": SECRET, "GHSUMM_WEBHOOK_MODE": "comment", "GITHUB_TOKEN": TOKEN,
                           "GHSUMM_WEBHOOK_DIR": "/var/lib/x", "GHSUMM_SUGGEST_MIN_SCORE": "-2.5"})
    assert s.commenting and s.webhook_issues == "/var/lib/x/issues.jsonl" and s.suggest_min_score == -2.5
    assert SECRET not in repr(s) and SECRET not in json.dumps(s.public()) + json.dumps(s.webhook_public())
    assert s.public()["webhook_enabled"] is True
    assert not Settings.from_env({"GHSUMM_WEBHOOK_MODE": "comment"}).commenting  # no token: a dry run
    assert Settings.from_env({"GHSUMM_WEBHOOK_MODE": "dry_run"}).webhook_mode == "dry-run"
    for env in ({"GHSUMM_WEBHOOK_MODE": "edit"}, {"GHSUMM_SUGGEST_MAX_SIMILARITY": "2"},
                {"GHSUMM_COMMENT_ATTEMPTS": "0"}):
        with pytest.raises(ValueError):
            Settings.from_env(env)


def test_manifests_take_the_webhook_secret_from_a_secret():
    deployment, _ = k8s.render("ghsumm", "ghsumm-run-42:8500", run="r", webhook_state_claim="webhook-state-pvc")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["GHSUMM_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "ghsumm-webhook", "key": "secret", "optional": True}
    assert env["GHSUMM_WEBHOOK_MODE"]["valueFrom"]["secretKeyRef"]["key"] == "mode"
    assert "value" not in env["GHSUMM_WEBHOOK_SECRET"]
    assert env["GHSUMM_WEBHOOK_DIR"]["value"] == k8s.WEBHOOK_DIR
    [volume] = [v for v in pod["volumes"] if v["name"] == "webhook-state"]
    assert volume["persistentVolumeClaim"]["claimName"] == "webhook-state-pvc"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert {"name": "webhook-state", "mountPath": k8s.WEBHOOK_DIR} in pod["containers"][0]["volumeMounts"]
    default = k8s.render("ghsumm", "m:8501")[0]["spec"]["template"]["spec"]
    assert default["volumes"] == [{"name": "webhook-state", "emptyDir": {}}]  # the secret's Secret is optional
    off = k8s.render("ghsumm", "m:8501", webhook_secret=None)[0]
    assert "GHSUMM_WEBHOOK_SECRET" not in json.dumps(off) and "strategy" not in off["spec"]
