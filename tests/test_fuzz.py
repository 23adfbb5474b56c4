"""Generated bad inputs (hypothesis) against the real servers: the web app's /api/summarize, /api/random_issue and
/github/webhook (signed with the test secret, and unsigned) on a real HTTP server, and the model server's REST
predict (serving/model_server.py, the tiny SavedModel). A bounded count of cases per endpoint; every answer must
be a status the endpoint documents (no 5xx but the documented 503), JSON where JSON is due, with no secret in it;
both servers are alive at the end. Only GitHub is a stand-in (tests/github_api_stub.py).

The counts and any unexpected answer are printed and written to artifacts/fuzz.json (gitignored)."""
import base64
import collections
import json
import threading
from pathlib import Path

import pytest
import requests
from github_api_stub import GitHubApiStub
from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.serving import make_server

from webapp import create_app
from webapp.webhook import signature

REPO = Path(__file__).resolve().parents[1]
SECRET = "whsec-FUZZSECRET-0123456789"
TOKEN = "ghp_FUZZSECRETtoken0123456789"
ACCESS = "access-FUZZSECRET-0123456789"
SECRETS = (SECRET, TOKEN, ACCESS)

# What each endpoint may answer (webapp/openapi.py; docs/serving.md for the model server). 503 is the one 5xx.
ALLOWED = {
    "summarize": {200, 400, 404, 413, 422, 503},
    "random_issue": {200, 405},
    "webhook_signed": {200, 202, 204, 400, 413},
    "webhook_unsigned": {401, 413},
    "predict": {200, 400, 404, 405, 411, 413},
}
CASES = {"summarize": 100, "random_issue": 20, "webhook_signed": 60, "webhook_unsigned": 30, "predict": 70}
FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])

pytestmark = pytest.mark.usefixtures("clean_webapp_env")

# ------------------------------------------------------------------------------------------- strategies
# text with everything in it: control characters, lone surrogates (JSON can carry them as \udXXX), other scripts
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=120)
NASTY = st.sampled_from([
    "", " ", "\x00", "\ud800 crash", "crash \udfff", "a\u202eb", "🐛" * 50, "<script>alert(1)</script>",
    "{{7*7}}", "%s%n", "word " * 2000, "\n" * 500, "null", "ş" * 300, "日本語のバグ", "`rm -rf /`",
])
TEXT = ANY_TEXT | NASTY
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
NUMBERS = st.integers(-2, 10) | st.integers(2 ** 31, 2 ** 64)
GITHUB_URLS = st.builds("https://{}/{}/{}/{}/{}".format,
                        st.sampled_from(["github.com", "GITHUB.COM", "github.com.evil.example", "127.0.0.1",
                                         "user:pw@github.com", "github.com:22"]),
                        st.sampled_from(["octo", "", "..", "%2e%2e", "o" * 60]),
                        st.sampled_from(["hello", "hello.git", "a b", "\u0000"]),
                        st.sampled_from(["issues", "pull", "issues/7/../../"]), NUMBERS.map(str) | TEXT)
URLS = GITHUB_URLS | TEXT | st.sampled_from(["file:///etc/passwd", "http://github.com/octo/hello/issues/7",
                                             "https://github.com/octo/hello/issues/7", "javascript:alert(1)"])
SUMMARIZE_JSON = st.one_of(
    st.fixed_dictionaries({"body": TEXT}),  # a title from the model for any text: the deepest path
    st.fixed_dictionaries({"url": URLS}),
    st.fixed_dictionaries({}, optional={"body": TEXT | JSON_VALUES, "url": URLS | JSON_VALUES,
                                        "extra": JSON_VALUES}),
    JSON_VALUES)
CONTENT_TYPES = st.sampled_from(["application/json"] * 6 + ["text/plain", "application/x-www-form-urlencoded",
                                 "multipart/form-data", "application/json; charset=latin-1", ""])


def webhook_payloads():
    issue = st.fixed_dictionaries({}, optional={
        "number": NUMBERS | JSON_VALUES, "title": TEXT | JSON_VALUES, "body": TEXT | JSON_VALUES,
        "html_url": URLS, "pull_request": JSON_VALUES, "id": NUMBERS})
    repository = st.fixed_dictionaries({}, optional={"full_name": st.sampled_from(["octo/hello", "a/b", "x"]) | TEXT})
    plausible = st.fixed_dictionaries({  # an issue GitHub could send, every field from the generators: 202 or 400
        "action": st.sampled_from(["opened", "edited"]), "changes": st.just({"body": {"from": ""}}),
        "repository": st.fixed_dictionaries({"full_name": st.sampled_from(["octo/hello", "a-b/c.d"])}),
        "issue": st.fixed_dictionaries({"number": st.integers(1, 10 ** 9), "title": TEXT,
                                        "body": TEXT | st.none()})})
    return plausible | st.fixed_dictionaries({}, optional={
        "action": st.sampled_from(["opened", "edited", "closed", "deleted"]) | TEXT, "issue": issue | JSON_VALUES,
        "repository": repository | JSON_VALUES, "changes": st.sampled_from([{"body": {"from": "x"}}]) | JSON_VALUES,
        "hook_id": JSON_VALUES, "zen": TEXT})


EVENTS = st.sampled_from(["issues", "ping", "pull_request", "", "issue_comment"]) | st.text(max_size=20)
DELIVERIES = st.uuids().map(str) | st.sampled_from(["", "../x", "d" * 200]) | st.text(max_size=30)


def header_safe(value: str) -> str:
    """A header value requests can send (latin-1, no line breaks)."""
    return value.encode("latin-1", "replace").decode("latin-1").replace("\r", " ").replace("\n", " ").strip()


# ------------------------------------------------------------------------------------------- the test
@pytest.fixture
def fuzz_app(webapp_config, tmp_path):
    """(URL of the web app on a real HTTP server, GitHub stub): the webhook on, an access token, GitHub's token."""
    with GitHubApiStub() as github:
        github.add_issue("octo", "hello", 7, "Crash", "the app crashes on start with an empty config file")
        github.add_issue("octo", "hello", 8, "Empty", "")
        app = create_app(dict(webapp_config, github_api_url=github.url, github_token=TOKEN, webhook_secret=SECRET,
                              access_token=ACCESS, rate_limit=0, webhook_dir=str(tmp_path / "webhook"),
                              webhook_retry_s=0.2, model_timeout=30))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield "http://127.0.0.1:%d" % server.server_port
        finally:
            server.shutdown()
            app.extensions["ghsumm"]["suggester"].stop()


def test_generated_bad_inputs_get_documented_answers_and_no_secret(fuzz_app, webapp_model_server, title_codec):
    base = fuzz_app
    model_server, _ = webapp_model_server
    http = requests.Session()
    tried, unexpected = collections.Counter(), []
    statuses = collections.defaultdict(collections.Counter)

    def record(endpoint: str, r: requests.Response, case):
        tried[endpoint] += 1
        statuses[endpoint][r.status_code] += 1
        seen = r.text + json.dumps(dict(r.headers))
        problems = []
        if r.status_code not in ALLOWED[endpoint]:
            problems.append("status %d" % r.status_code)
        if r.status_code != 204:
            try:
                answer = r.json()
                if r.status_code >= 400 and not (isinstance(answer, dict) and answer.get("error")):
                    problems.append("an error without a message")
            except ValueError:
                problems.append("not JSON: %r" % r.text[:80])
        problems += ["a secret echoed" for s in SECRETS if s in seen]
        if problems:
            unexpected.append({"endpoint": endpoint, "status": r.status_code, "problems": problems,
                               "case": repr(case)[:300], "answer": r.text[:300]})

    @settings(FUZZ, max_examples=CASES["summarize"])
    @given(st.one_of(SUMMARIZE_JSON.map(lambda v: ("json", v)), SUMMARIZE_JSON.map(lambda v: ("json", v)),
                     st.binary(max_size=300).map(lambda b: ("raw", b))),
           CONTENT_TYPES)
    def summarize(case, content_type):
        kind, value = case
        data = json.dumps(value).encode() if kind == "json" else value
        r = http.post(base + "/api/summarize", data=data, headers={"Content-Type": content_type}, timeout=120)
        record("summarize", r, (case, content_type))

    @settings(FUZZ, max_examples=CASES["random_issue"])
    @given(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
           st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
    def random_issue(method, query):
        r = http.request(method, base + "/api/random_issue", params=query, timeout=30)
        if method == "HEAD":  # no body to check
            tried["random_issue"] += 1
            statuses["random_issue"][r.status_code] += 1
            if r.status_code not in ALLOWED["random_issue"]:
                unexpected.append({"endpoint": "random_issue", "status": r.status_code, "case": method})
            return
        record("random_issue", r, (method, query))

    def webhook(signed):
        @settings(FUZZ, max_examples=CASES["webhook_signed" if signed else "webhook_unsigned"])
        @given(st.one_of(webhook_payloads().map(lambda p: json.dumps(p).encode()), st.binary(max_size=200)),
               EVENTS, DELIVERIES, st.sampled_from(["application/json", "application/x-www-form-urlencoded"]),
               st.sampled_from(["", "sha256=", "sha1=abc", "sha256=" + "0" * 64]))
        def deliver(raw, event, delivery, content_type, bad_signature):
            headers = {"X-GitHub-Event": header_safe(event), "X-GitHub-Delivery": header_safe(delivery),
                       "Content-Type": content_type}
            if signed:
                headers["X-Hub-Signature-256"] = signature(SECRET, raw)
            elif bad_signature:
                headers["X-Hub-Signature-256"] = bad_signature
            r = http.post(base + "/github/webhook", data=raw, headers=headers, timeout=30)
            record("webhook_signed" if signed else "webhook_unsigned", r, (raw[:200], event, delivery))
        deliver()

    good = base64.b64encode(title_codec.example("the parser crashes on an empty file")).decode()
    b64 = st.one_of(st.just(good), st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()),
                    st.just(good[:-4]), st.just(good[:10] + "!!" + good[12:]), TEXT)
    instance = st.one_of(b64.map(lambda s: {"b64": s}), b64.map(lambda s: {"input": {"b64": s}}),
                         st.just({"input": {"b64": good}}), JSON_VALUES)

    @settings(FUZZ, max_examples=CASES["predict"])
    @given(st.one_of(st.fixed_dictionaries({}, optional={
               "instances": st.lists(instance, max_size=3) | JSON_VALUES, "inputs": JSON_VALUES | b64,
               "signature_name": st.sampled_from(["", "serving_default", "nope"]) | JSON_VALUES}).map(
               lambda p: json.dumps(p).encode()),
               st.binary(max_size=200)),
           st.sampled_from(["ghsumm", "ghsumm/versions/5", "ghsumm/versions/99", "ghsumm/labels/stable", "other",
                            "ghsumm/versions/-1", "gh%00summ", "ghsumm/versions/99999999999999999999"]),
           st.sampled_from([":predict", ":classify", ":regress", "", "/metadata"]),
           st.sampled_from(["POST", "GET"]))
    def predict(raw, model, verb, method):
        r = http.request(method, "%s/v1/models/%s%s" % (model_server.rest_url, model, verb), data=raw,
                         headers={"Content-Type": "application/json"}, timeout=120)
        record("predict", r, (raw[:200], model, verb, method))

    summarize()
    random_issue()
    webhook(signed=True)
    webhook(signed=False)
    predict()

    # nothing crashed: both servers still answer
    assert http.get(base + "/livez", timeout=10).status_code == 200
    assert model_server.proc.poll() is None and model_server.status()["model_version_status"]
    report = {"cases": dict(tried), "statuses": {k: dict(v) for k, v in statuses.items()},
              "unexpected": unexpected}
    (REPO / "artifacts").mkdir(exist_ok=True)
    (REPO / "artifacts" / "fuzz.json").write_text(json.dumps(report, indent=1, default=str))
    print("fuzz: cases %s; unexpected %d" % (dict(tried), len(unexpected)))
    assert not unexpected, json.dumps(unexpected[:10], indent=1)
    assert all(tried[k] >= CASES[k] // 2 for k in CASES), tried  # hypothesis ran (about) the cases asked for
