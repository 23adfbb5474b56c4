"""webapp/: every route and error through Flask's test client, against the real model server (the tiny
SavedModel, REST and gRPC) or a stub model server, and PyGithub against a small local HTTP server that answers
like the GitHub API (tests/github_api_stub.py). The browser test is test_webapp_browser.py."""
import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from github_api_stub import GitHubApiStub

from serving.launch import free_port
from webapp import MAX_REQUEST_BYTES, create_app, k8s
from webapp.config import Settings, github_host_for
from webapp.github_issues import parse_issue_url

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = ("when i run the training script with a batch size of 64 the process crashes with an out of memory "
        "error on the gpu, even though the same script worked last week")
TOKEN = "ghp_TESTSECRETtoken0123456789abcdef"
XSS = ('<script>window.__xss = 1; alert("xss")</script> "><img src=x onerror="window.__xss=2"> '
       "<svg onload=alert(3)> ' onmouseover='alert(4)' javascript:alert(5) {{7*7}} ${7*7}")

pytestmark = pytest.mark.usefixtures("clean_webapp_env")


@pytest.fixture
def app(webapp_config):
    return create_app(dict(webapp_config))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def github(webapp_config):
    """(test client of an app whose GitHub API is the stub, the stub); GITHUB_TOKEN set."""
    with GitHubApiStub() as api:
        app = create_app(dict(webapp_config, github_api_url=api.url, github_token=TOKEN))
        yield app.test_client(), api


def no_trace(text: str):
    assert "Traceback" not in text and 'File "' not in text, text


# ------------------------------------------------------------------------------------------- the page
def test_page_is_self_contained_and_safe(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    for element in ('id="body"', 'id="random"', 'id="url"', 'id="generate"', 'id="title"', 'id="score"',
                    'id="version"', 'id="elapsed"', 'id="notice"', 'id="true-title"', 'id="error"'):
        assert element in html
    # No CDN: every script, stylesheet and image comes from this app (relative URLs work behind a path prefix).
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(not re.match(r"^(https?:)?//", ref) for ref in refs), refs
    assert "<script>" not in html and "style=" not in html  # no inline code: the CSP forbids it
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    for path, mime in (("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        s = client.get(path)
        assert s.status_code == 200 and s.mimetype == mime
        assert b"http://" not in s.data and b"https://" not in s.data and b"@import" not in s.data
    js = client.get("/static/app.js").get_data(as_text=True)
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


# ------------------------------------------------------------------------------------------- summarize
def test_summarize_a_body_with_the_real_model(client):
    r = client.post("/api/summarize", json={"body": BODY})
    assert r.status_code == 200, r.get_data(as_text=True)
    d = r.get_json()
    assert isinstance(d["title"], str) and isinstance(d["score"], float)
    assert d["model_version"] == 5
    assert d["elapsed_ms"] > 0 and d["truncated"] is False and d["notice"] == ""
    assert d["input"]["words"] == len(BODY.split()) and d["input"]["subwords_read"] > 0
    assert r.headers["Cache-Control"] == "no-store"


def test_reference_summary_route_takes_the_form_and_answers_summary_and_body(client):
    api = client.post("/api/summarize", json={"body": BODY}).get_json()
    r = client.post("/summary", data={"issue_text": BODY, "issue_url": ""})
    assert r.status_code == 200
    d = r.get_json()
    assert d["summary"] == api["title"] and d["body"] == BODY and d["model_version"] == 5
    assert client.post("/summary", data={"issue_text": ""}).status_code == 400


def test_grpc_gives_the_same_title_as_rest(webapp_config, webapp_model_server):
    server, _ = webapp_model_server
    rest = create_app(dict(webapp_config)).test_client().post("/api/summarize", json={"body": BODY}).get_json()
    grpc_app = create_app(dict(webapp_config, protocol="grpc", model_server=server.grpc_address))
    grpc = grpc_app.test_client().post("/api/summarize", json={"body": BODY}).get_json()
    assert grpc["title"] == rest["title"] and grpc["model_version"] == 5
    assert abs(grpc["score"] - rest["score"]) < 1e-3


def test_a_body_mostly_in_another_script_gets_its_title_with_a_notice(client):
    d = client.post("/api/summarize", json={"body": "Когда я открываю блокнот с более чем 1000 ячейками, "
                                                    "редактор зависает на 30 секунд."}).get_json()
    assert d["title"] and d["input"]["script"] == "Cyrillic"
    assert "mostly in Cyrillic letters" in d["notice"] and "English" in d["notice"] and d["truncated"] is False
    english = client.post("/api/summarize", json={"body": BODY}).get_json()
    assert "script" not in english["input"] and english["notice"] == ""


def test_vocabulary_is_found_beside_the_served_version(webapp_config, tiny_saved_model):
    app = create_app(dict(webapp_config, vocab=""))  # only the model base path: assets.extra/ of version 5
    r = app.test_client().post("/api/summarize", json={"body": BODY})
    assert r.status_code == 200, r.get_json()
    assert app.extensions["ghsumm"]["titles"].codec.vocab_path.endswith(
        os.path.join("5", "assets.extra", "vocab.github_issue_summarization.8192.subwords"))
    missing = create_app(dict(webapp_config, vocab="", model_base_path=str(tiny_saved_model / "nowhere")))
    r = missing.test_client().post("/api/summarize", json={"body": BODY})
    assert r.status_code == 503 and "vocabulary was not found" in r.get_json()["error"]


def test_long_body_is_cut_to_the_model_input_and_the_answer_says_so(client, webapp_config):
    long_body = " ".join("word%d crashes the parser" % i for i in range(1200))
    d = client.post("/api/summarize", json={"body": long_body}).get_json()
    assert d["truncated"] is True and d["input"]["words"] == 4800 and d["input"]["words_read"] == 300
    assert "cut" in d["notice"] and "4,800 words" in d["notice"]
    # Text dense in subwords hits the model's input length (here 64 ids, EOS included) before 300 words.
    short_input = create_app(dict(webapp_config, max_input_ids=64)).test_client()
    d = short_input.post("/api/summarize", json={"body": " ".join("x%07d" % (i * 7919) for i in range(100))}).get_json()
    assert d["truncated"] is True and d["input"]["subwords_read"] == 63 and d["input"]["words_read"] == 100
    assert "first 63 subwords" in d["notice"]
    assert not short_input.post("/api/summarize", json={"body": BODY}).get_json()["truncated"]
    # The title is the one for what the model read: the same as for the first 300 words alone.
    head = " ".join(long_body.split(" ")[:300])
    assert client.post("/api/summarize", json={"body": head}).get_json()["title"] == \
        client.post("/api/summarize", json={"body": long_body}).get_json()["title"]


def test_request_over_the_size_limit_is_413_json(client):
    r = client.post("/api/summarize", data=json.dumps({"body": "x" * MAX_REQUEST_BYTES}),
                    content_type="application/json")
    assert r.status_code == 413 and "too large" in r.get_json()["error"]


@pytest.mark.parametrize("case, kwargs, words", [
    ("not JSON", {"data": "body=x", "content_type": "application/json"}, "JSON object"),
    ("a JSON list", {"json": ["x"]}, "JSON object"),
    ("no body", {"json": {}}, "body"),
    ("body not a string", {"json": {"body": 5}}, "string"),
    ("blank body", {"json": {"body": "  \n "}}, "empty"),
    ("url not a string", {"json": {"url": 5}}, "string"),
    ("body and url", {"json": {"body": "x", "url": "https://github.com/o/r/issues/1"}}, "not both"),
])
def test_bad_requests_are_400_with_a_message(client, case, kwargs, words):
    r = client.post("/api/summarize", **kwargs)
    assert r.status_code == 400, (case, r.status_code)
    assert words in r.get_json()["error"], (case, r.get_json())


def test_unknown_routes_and_methods_are_json(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.get_json()["error"]
    r = client.get("/api/summarize")
    assert r.status_code == 405 and r.get_json()["error"]


def test_unexpected_failure_is_500_without_a_trace(app, monkeypatch):
    def boom(body):
        raise RuntimeError("internal detail /secret/path")
    monkeypatch.setattr(app.extensions["ghsumm"]["titles"], "generate", boom)
    r = app.test_client().post("/api/summarize", json={"body": BODY})
    assert r.status_code == 500
    text = r.get_data(as_text=True)
    assert "went wrong" in r.get_json()["error"] and "secret" not in text
    no_trace(text)


# ------------------------------------------------------------------------------------------- injection
def test_markup_in_bodies_and_titles_is_returned_as_data_never_rendered(webapp_config, stub_model_server, title_codec):
    """The page renders only with textContent (test_webapp_browser.py runs it); the server never puts user or
    model text into HTML, and its JSON is JSON, not HTML."""
    evil_title = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    stub = stub_model_server(title_codec.encoder.encode(evil_title) + [1])
    c = create_app(dict(webapp_config, model_server=stub.url)).test_client()
    for route, kwargs in (("/api/summarize", {"json": {"body": XSS}}), ("/summary", {"data": {"issue_text": XSS}})):
        r = c.post(route, **kwargs)
        assert r.status_code == 200 and r.mimetype == "application/json"
        d = r.get_json()
        assert d["title"] == evil_title and d["model_version"] == 7
        assert r.headers["X-Content-Type-Options"] == "nosniff"  # JSON is never sniffed as HTML
    page = c.get("/").get_data(as_text=True)
    assert "onerror" not in page and "alert(" not in page


# ------------------------------------------------------------------------------------------- random issues
def test_random_issue_routes_give_real_sample_issues(client, sample_rows):
    bodies = {r["body"]: r for r in sample_rows}
    for path in ("/api/random_issue", "/random_github_issue"):
        d = client.get(path).get_json()
        assert d["body"] in bodies, path
        row = bodies[d["body"]]
        assert d["title"] == row["title"] and d["url"] == row["url"]
    seen = {client.get("/api/random_issue").get_json()["body"] for _ in range(10)}
    assert len(seen) > 1


def test_random_issues_from_a_data_dir_eval_issues(webapp_config, tmp_path):
    rows = [{"id": "i%d" % i, "url": "https://github.com/o/r/issues/%d" % i, "repo": "o/r",
             "title": "title %d" % i, "body": "body %d" % i} for i in range(3)]
    (tmp_path / "eval_issues.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    c = create_app(dict(webapp_config, issues=str(tmp_path))).test_client()
    d = c.get("/api/random_issue").get_json()
    assert d in [{"title": r["title"], "body": r["body"], "url": r["url"]} for r in rows]
    broken = create_app(dict(webapp_config, issues=str(tmp_path / "missing.csv"))).test_client()
    r = broken.get("/api/random_issue")
    assert r.status_code == 503 and "cannot be read" in r.get_json()["error"]


# ------------------------------------------------------------------------------------------- model server errors
def test_healthz_reports_the_model_server_and_its_version(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    d = r.get_json()
    assert d["status"] == "ok" and d["reachable"] is True and d["version"] == 5
    assert d["versions"] == [{"version": 5, "state": "AVAILABLE"}] and d["protocol"] == "rest"
    assert d["settings"]["github_host"] == "github.com" and d["settings"]["github_token_set"] is False
    assert client.get("/livez").get_json() == {"status": "ok"}


def test_model_server_down_is_503_with_a_message(webapp_config):
    dead = "http://127.0.0.1:%d" % free_port()
    c = create_app(dict(webapp_config, model_server=dead, model_retries=1)).test_client()
    r = c.post("/api/summarize", json={"body": BODY})
    assert r.status_code == 503
    error = r.get_json()["error"]
    assert "model server" in error and "down or not answering" in error and dead in error
    no_trace(error)
    h = c.get("/healthz")
    assert h.status_code == 503 and h.get_json()["reachable"] is False and "down" in h.get_json()["error"]
    assert c.get("/").status_code == 200  # the page itself still answers (and says so: the browser test)


@contextlib.contextmanager
def silent_server():
    """The URL of a socket that accepts connections (the kernel's backlog) and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        yield "http://127.0.0.1:%d" % silent.getsockname()[1]
    finally:
        silent.close()


def test_model_server_timing_out_is_503(webapp_config):
    with silent_server() as url:
        c = create_app(dict(webapp_config, model_server=url, model_timeout=1)).test_client()
        start = time.time()
        r = c.post("/api/summarize", json={"body": BODY})
        assert r.status_code == 503 and "not answering in time" in r.get_json()["error"]
        assert time.time() - start < 10


def test_unknown_model_is_503_and_bad_model_answer_is_502(webapp_config, stub_model_server):
    r = create_app(dict(webapp_config, model_name="nope")).test_client().post("/api/summarize", json={"body": BODY})
    assert r.status_code == 503 and "does not serve a model named 'nope'" in r.get_json()["error"]
    stub = stub_model_server([], status=500, body="<html>proxy error</html>")
    r = create_app(dict(webapp_config, model_server=stub.url)).test_client().post("/api/summarize", json={"body": BODY})
    assert r.status_code == 502 and "answered with an error" in r.get_json()["error"]


def test_empty_title_is_an_empty_string_with_its_score_and_version(webapp_config, stub_model_server):
    stub = stub_model_server([1, 0, 0], score=-9.25, version=12)
    d = create_app(dict(webapp_config, model_server=stub.url)).test_client().post(
        "/api/summarize", json={"body": BODY}).get_json()
    assert d["title"] == "" and d["score"] == -9.25 and d["model_version"] == 12


# ------------------------------------------------------------------------------------------- issue URLs
@pytest.mark.parametrize("url, words", [
    ("http://github.com/o/r/issues/1", "Only https://"),
    ("file:///etc/passwd", "Only https://"),
    ("javascript:alert(1)", "Only https://"),
    ("ftp://github.com/o/r/issues/1", "Only https://"),
    ("//github.com/o/r/issues/1", "Only https://"),
    ("https://evil.example/o/r/issues/1", "Only issues on github.com"),
    ("https://github.com.evil.example/o/r/issues/1", "Only issues on github.com"),
    ("https://127.0.0.1/o/r/issues/1", "IP addresses"),
    ("https://[::1]/o/r/issues/1", "IP addresses"),
    ("https://169.254.169.254/latest/meta-data", "IP addresses"),
    ("https://user:pass@github.com/o/r/issues/1", "credentials"),
    ("https://github.com@evil.example/o/r/issues/1", "credentials"),
    ("https://github.com:8443/o/r/issues/1", "port"),
    ("https://github.com/o/r/pull/1", "Pull request"),
    ("https://github.com/o/r/pulls", "Pull request"),
    ("https://github.com/o/r", "not an issue URL"),
    ("https://github.com/o/r/issues/abc", "not an issue URL"),
    ("https://github.com/o/r/issues/0", "not an issue URL"),
    ("https://github.com/o/../issues/1", "not an issue URL"),
    ("https://github.com/o/r/issues/1/../../x", "not an issue URL"),
    ("https://github.com/o/r/issues/1%2F..", "not an issue URL"),
    ("https://github.com/o/r/issues/1\\@evil.example", "backslashes"),
    ("https://github.com/o/r/issues/1 x", "spaces"),
    ("https://github.com/" + "a" * 2000, "too long"),
])
def test_only_issue_urls_of_the_configured_host_are_fetched(github, url, words):
    c, api = github
    r = c.post("/api/summarize", json={"url": url})
    assert r.status_code == 400, (url, r.get_json())
    assert words in r.get_json()["error"], (url, r.get_json())
    assert api.requests == []  # nothing was fetched


def test_issue_url_forms_accepted():
    assert parse_issue_url("https://github.com/kubeflow/examples/issues/232", "github.com") == (
        "kubeflow", "examples", 232)
    assert parse_issue_url(" HTTPS://GitHub.com/o/r.js/issues/7/#issuecomment-1 ", "github.com") == ("o", "r.js", 7)
    assert parse_issue_url("https://github.com:443/o/r/issues/7?x=1", "github.com") == ("o", "r", 7)
    assert parse_issue_url("https://ghe.corp.example/o/r/issues/7", "ghe.corp.example") == ("o", "r", 7)
    assert github_host_for("https://api.github.com") == "github.com"
    assert github_host_for("https://ghe.corp.example/api/v3") == "ghe.corp.example"


# ------------------------------------------------------------------------------------------- GitHub through PyGithub
def test_issue_url_is_fetched_with_pygithub_and_titled(github):
    c, api = github
    api.add_issue("octo", "hello", 7, "Crash on start", BODY)
    r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/7#issuecomment-9"})
    assert r.status_code == 200, r.get_json()
    d = r.get_json()
    assert d["issue"] == {"title": "Crash on start", "body": BODY, "number": 7, "repo": "octo/hello",
                          "state": "open", "url": "https://github.com/octo/hello/issues/7"}
    assert d["model_version"] == 5 and isinstance(d["title"], str)
    [(method, path, headers)] = api.requests
    assert (method, path) == ("GET", "/repos/octo/hello/issues/7")
    assert headers["Authorization"].endswith(TOKEN)  # the token is used, and (test below) never shown
    # the reference route takes the URL in issue_url and answers the fetched body
    d = c.post("/summary", data={"issue_text": "", "issue_url": "https://github.com/octo/hello/issues/7"}).get_json()
    assert d["body"] == BODY and d["summary"] == d["title"]


def test_github_errors_map_to_clear_statuses(github):
    c, api = github
    api.add_issue("octo", "hello", 9, "Add a feature", "the pr body", pull_request=True)
    api.add_issue("octo", "hello", 10, "No body", None)
    api.respond("/repos/octo/hello/issues/11", 200, '{"title": "cut off', content_type="application/json")
    api.respond("/repos/octo/hello/issues/12", 200, "<html>captive portal</html>", content_type="text/html")
    api.respond("/repos/octo/hello/issues/13", 502, {"message": "Server Error"})
    api.respond("/repos/octo/hello/issues/14", 401, {"message": "Bad credentials"})
    api.respond("/repos/octo/hello/issues/15", 410, {"message": "This issue was deleted"})

    def ask(n):
        r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/%d" % n})
        no_trace(r.get_data(as_text=True))
        return r.status_code, r.get_json()["error"]
    status, error = ask(404)
    assert status == 404 and "no issue octo/hello#404" in error and "private" in error
    assert ask(9) == (400, "octo/hello#9 is a pull request, not an issue: this model writes issue titles.")
    status, error = ask(10)
    assert status == 422 and "empty body" in error
    status, error = ask(11)
    assert status == 502 and "not JSON" in error
    status, error = ask(12)
    assert status == 502 and "not an issue" in error
    status, error = ask(13)
    assert status == 502 and "502" in error
    status, error = ask(14)
    assert status == 502 and "rejected the configured GITHUB_TOKEN" in error
    status, error = ask(15)
    assert status == 404 and "deleted" in error


@pytest.mark.parametrize("secondary", [False, True])
def test_github_rate_limit_is_429_with_the_reset_time(github, secondary):
    c, api = github
    reset = api.rate_limited(reset_in=125, secondary=secondary)
    r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/1"})
    assert r.status_code == 429
    d = r.get_json()
    assert abs(d["reset_at"] - reset) <= 1 and 120 <= int(r.headers["Retry-After"]) <= 125
    when = time.strftime("%H:%M", time.gmtime(reset))
    assert "rate limit" in d["error"] and when in d["error"] and "UTC" in d["error"]
    assert len(api.requests) == 1  # no retry loop against a rate limit


def test_github_unreachable_or_slow_is_502(webapp_config):
    dead = "http://127.0.0.1:%d" % free_port()
    c = create_app(dict(webapp_config, github_api_url=dead)).test_client()
    r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/1"})
    assert r.status_code == 502 and "could not be reached" in r.get_json()["error"]
    with silent_server() as url:
        c = create_app(dict(webapp_config, github_api_url=url, github_timeout=1)).test_client()
        start = time.time()
        r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/1"})
        assert r.status_code == 502 and "timed out" in r.get_json()["error"] and time.time() - start < 10


def test_the_token_never_appears_in_responses_pages_or_logs(github, caplog):
    c, api = github
    api.add_issue("octo", "hello", 7, "Crash", BODY)
    caplog.set_level(logging.DEBUG)  # every logger, PyGithub's and urllib3's included
    seen = []
    for method, path, kwargs in [
            ("GET", "/", {}), ("GET", "/healthz", {}), ("GET", "/api/random_issue", {}),
            ("POST", "/api/summarize", {"json": {"url": "https://github.com/octo/hello/issues/7"}}),
            ("POST", "/api/summarize", {"json": {"url": "https://github.com/octo/hello/issues/8"}}),
            ("POST", "/api/summarize", {"json": {"url": "https://%s@github.com/o/r/issues/1" % TOKEN}}),
            ("POST", "/summary", {"data": {"issue_url": "https://github.com/octo/hello/issues/7"}})]:
        r = c.open(path, method=method, **kwargs)
        seen.append(r.get_data(as_text=True) + str(r.headers))
    api.respond("/repos/octo/hello/issues/14", 401, {"message": "Bad credentials"})
    r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/14"})
    seen.append(r.get_data(as_text=True))
    api.rate_limited()
    seen.append(c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/7"}).get_data(as_text=True))
    assert api.requests and all(TOKEN not in s for s in seen)
    assert TOKEN not in caplog.text and TOKEN not in repr(c.application.extensions["ghsumm"]["settings"])


# ------------------------------------------------------------------------------------------- configuration
def test_settings_from_the_environment():
    s = Settings.from_env({"GHSUMM_PROTOCOL": "grpc", "GITHUB_API_URL": "https://ghe.corp.example/api/v3/",
                           "GITHUB_TOKEN": TOKEN, "GHSUMM_MODEL_TIMEOUT": "7.5", "GHSUMM_MAX_INPUT_IDS": "256"})
    assert s.model_server == "127.0.0.1:8500" and s.protocol == "grpc" and s.model_timeout == 7.5
    assert s.github_api_url == "https://ghe.corp.example/api/v3" and s.github_host == "ghe.corp.example"
    assert s.github_token == TOKEN and TOKEN not in repr(s) and TOKEN not in json.dumps(s.public())
    assert s.max_input_ids == 256
    d = Settings.from_env({})
    assert d.model_server == "http://127.0.0.1:8501" and d.github_host == "github.com" and d.model_name == "ghsumm"
    assert d.issues.endswith(os.path.join("data", "sample", "github_issues.csv"))
    s = Settings.from_env({"GHSUMM_MODEL_SERVER": "http://x:1"}, model_server="http://y:2")
    assert s.model_server == "http://y:2"
    assert Settings.from_env({"GHSUMM_WARM": "true"}).warm is True and Settings.from_env({}).warm is False
    assert Settings.from_env({"GHSUMM_WARM": "0"}).warm is False
    for env in ({"GHSUMM_PROTOCOL": "soap"}, {"GHSUMM_MODEL_TIMEOUT": "soon"}, {"GHSUMM_WARM": "maybe"}):
        with pytest.raises(ValueError):
            Settings.from_env(env)
    with pytest.raises(ValueError, match="unknown setting"):
        Settings.from_env({}, modle_server="x")


def test_python_m_webapp_serves_the_page(webapp_config):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=REPO, GHSUMM_MODEL_SERVER=webapp_config["model_server"],
               GHSUMM_VOCAB=webapp_config["vocab"])
    env.pop("GITHUB_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "webapp", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                r = requests.get("http://127.0.0.1:%d/healthz" % port, timeout=5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "timeout"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["version"] == 5
        wait_for_vocab = time.time() + 60  # python -m webapp warms up: the vocabulary loads without a request
        while not requests.get("http://127.0.0.1:%d/healthz" % port, timeout=5).json()["vocab_loaded"]:
            assert time.time() < wait_for_vocab, "the vocabulary was not loaded in the background"
            time.sleep(0.3)
        assert "Generate Title" in requests.get("http://127.0.0.1:%d/" % port, timeout=5).text
    finally:
        proc.terminate()
        code = proc.wait(10)
    assert code == 0, "SIGTERM should exit cleanly (atexit removes the scratch dirs), not kill: %s" % code


# ------------------------------------------------------------------------------------------- Kubernetes
def deserialize(manifest, kind):
    from kubernetes import client

    class Response:
        data = json.dumps(manifest)
    return client.ApiClient().deserialize(Response(), kind)


def test_manifests_are_a_deployment_and_service_pointing_at_the_model_service():
    deployment, service = k8s.render("ghsumm", "ghsumm-run-42:8500", run="Run_42", protocol="grpc",
                                     image="gcr.io/p/ghsumm-app:1", model_base_path="gs://b/work/Run_42/export",
                                     github_token_secret="github-token", gcp_secret="user-gcp-sa")
    d = deserialize(deployment, "V1Deployment")
    assert d.metadata.name == "ghsumm-run-42-webapp"
    assert d.spec.selector.match_labels == d.spec.template.metadata.labels
    [c] = d.spec.template.spec.containers
    assert c.image == "gcr.io/p/ghsumm-app:1" and c.command == ["gunicorn"]
    assert c.args[-1] == "webapp:create_app()" and "0.0.0.0:8080" in c.args
    assert [(p.name, p.container_port) for p in c.ports] == [("http", 8080)]
    env = {e.name: e for e in c.env}
    assert env["GHSUMM_MODEL_SERVER"].value == "ghsumm-run-42:8500" and env["GHSUMM_PROTOCOL"].value == "grpc"
    assert env["GHSUMM_MODEL_BASE_PATH"].value == "gs://b/work/Run_42/export"
    assert env["GITHUB_TOKEN"].value is None
    assert env["GITHUB_TOKEN"].value_from.secret_key_ref.name == "github-token"
    assert c.readiness_probe.http_get.path == "/livez" and c.readiness_probe.http_get.port == 8080
    s = deserialize(service, "V1Service")
    assert s.metadata.name == d.metadata.name and s.spec.selector == d.spec.template.metadata.labels
    assert [(p.port, p.target_port) for p in s.spec.ports] == [(80, 8080)]
    rest = k8s.render("ghsumm", "ghsumm-run-42:8501")[0]
    rest_env = {e["name"]: e.get("value") for e in rest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert rest_env["GHSUMM_MODEL_SERVER"] == "http://ghsumm-run-42:8501" and "GITHUB_TOKEN" not in rest_env
    import yaml
    assert list(yaml.safe_load_all(k8s.to_yaml([deployment, service]))) == [deployment, service]


def test_the_model_card_tells_how_many_subwords_the_model_reads(tmp_path):
    """A model whose serving graph keeps only the first 64 body subwords (the shipped warm start) is reported
    truthfully: the web app cuts at 64 + EOS, not at GHSUMM_MAX_INPUT_IDS."""
    import json as _json
    import sys as _sys
    from webapp.title_service import model_input_limit
    extra = tmp_path / "assets.extra"
    extra.mkdir()
    vocab = extra / "vocab.github_issue_summarization.8192.subwords"
    vocab.write_text("'<pad>_'\n")
    assert model_input_limit(str(vocab)) == _sys.maxsize  # no card: no limit of its own
    (extra / "ghsumm_model.json").write_text(_json.dumps({"max_input_ids": 64}))
    assert model_input_limit(str(vocab)) == 65
    (extra / "ghsumm_model.json").write_text(_json.dumps({"max_input_ids": None}))
    assert model_input_limit(str(vocab)) == _sys.maxsize
