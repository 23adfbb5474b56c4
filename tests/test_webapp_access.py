"""Who may see the webhook's decisions (webapp/access.py) and the per-client rate limit of the title routes
(webapp/ratelimit.py), through Flask's test client: every refusal (401, 403, the pages off, 429 with Retry-After)
shows no decision and no token; the sign-in form and its cookie; the defaults local vs public. No model is
needed: the decisions are written to the state as the webhook's worker writes them."""
import json
import logging

import pytest

from webapp import create_app, k8s
from webapp.access import COOKIE, cookie_ok, cookie_value
from webapp.config import Settings
from webapp.ratelimit import RateLimiter

ACCESS = "access-TESTSECRET-fedcba9876543210"
SECRET = "whsec-TESTSECRET-access-tests"
PRIVATE_TITLE = "Private repo: payroll export leaks salaries"
SUGGESTION = "payroll export shows every salary"

pytestmark = pytest.mark.usefixtures("clean_webapp_env")


@pytest.fixture
def make_app(tmp_path):
    """make_app(**settings) -> an app whose webhook state holds one decision (PRIVATE_TITLE, SUGGESTION)."""
    apps = []

    def make(**overrides):
        config = dict(model_server="http://127.0.0.1:9", webhook_dir=str(tmp_path / ("hook%d" % len(apps))),
                      github_api_url="http://127.0.0.1:9", model_timeout=2)
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        app.extensions["ghsumm"]["webhook_state"].log_decision({
            "time": "2026-12-07T10:00:00Z", "repo": "octo/private", "number": 3, "current_title": PRIVATE_TITLE,
            "suggestion": SUGGESTION, "outcome": "suggested", "url": "https://github.com/octo/private/issues/3"})
        return app
    yield make
    for app in apps:
        app.extensions["ghsumm"]["suggester"].stop()


def shows_a_decision(response) -> bool:
    text = response.get_data(as_text=True)
    return PRIVATE_TITLE in text or SUGGESTION in text or "octo/private" in text


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_without_the_token_the_decisions_are_401_or_403_and_show_nothing(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    app = make_app(webhook_secret=SECRET, access_token=ACCESS)
    c, forged = app.test_client(), app.test_client()
    forged.set_cookie(COOKIE, "1999999999." + "0" * 64)
    seen = []
    for path in ("/api/suggestions", "/suggestions"):
        missing = c.get(path)
        assert missing.status_code == 401 and not shows_a_decision(missing)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        for r in (c.get(path, headers=bearer("wrong")), c.get(path, headers=bearer(ACCESS[:-1])), forged.get(path)):
            assert r.status_code == 403 and not shows_a_decision(r), (path, r.get_data(as_text=True)[:200])
            seen.append(r.get_data(as_text=True) + str(r.headers))
        seen.append(missing.get_data(as_text=True) + str(missing.headers))
    assert "need the access token" in c.get("/api/suggestions").get_json()["error"]
    assert c.get("/api/suggestions", headers=bearer("wrong")).get_json()["code"] == "forbidden"
    page = c.get("/suggestions").get_data(as_text=True)  # a person gets the sign-in form, not JSON
    assert 'action="login"' in page and 'type="password"' in page and "<script" not in page
    ok = c.get("/api/suggestions", headers=bearer(ACCESS))
    assert ok.status_code == 200 and [d["suggestion"] for d in ok.get_json()["decisions"]] == [SUGGESTION]
    assert c.get("/suggestions", headers=bearer(ACCESS)).status_code == 200
    assert all(ACCESS not in s for s in seen) and ACCESS not in caplog.text
    assert "refused GET /api/suggestions: a wrong token" in caplog.text


def test_a_person_signs_in_with_the_form_and_gets_a_cookie_not_the_token(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    c = make_app(webhook_secret=SECRET, access_token=ACCESS).test_client()
    wrong = c.post("/login", data={"token": "guess", "next": "/suggestions"})
    assert wrong.status_code == 403 and "wrong" in wrong.get_data(as_text=True) and not shows_a_decision(wrong)
    assert COOKIE not in wrong.headers.get("Set-Cookie", "")
    r = c.post("/login", data={"token": ACCESS, "next": "https://evil.example/x"})  # only a path of this app
    assert r.status_code == 303 and r.headers["Location"] == "/suggestions"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert ACCESS not in cookie and ACCESS not in caplog.text
    page = c.get("/suggestions")
    assert page.status_code == 200 and 'src="static/suggestions.js"' in page.get_data(as_text=True)
    assert c.get("/api/suggestions").get_json()["decisions"][0]["current_title"] == PRIVATE_TITLE  # the page's fetch
    c.post("/logout")
    assert c.get("/api/suggestions").status_code == 401


def test_the_cookie_expires_and_dies_with_the_token():
    value = cookie_value(ACCESS, 2000)
    assert cookie_ok(ACCESS, value, now=1999) and not cookie_ok(ACCESS, value, now=2001)
    assert not cookie_ok("another token", value, now=1999) and not cookie_ok(ACCESS, "2000.abc", now=1999)
    assert not cookie_ok(ACCESS, "", now=0) and ACCESS not in value


def test_local_apps_are_open_and_public_ones_are_off_without_a_token(make_app):
    local = make_app().test_client()  # `make run`, `python -m webapp`: loopback, no webhook
    assert local.get("/api/suggestions").status_code == 200 and local.get("/suggestions").status_code == 200
    for settings in ({"webhook_secret": SECRET}, {"public_mode": "true"}):
        c = make_app(**settings).test_client()
        for path in ("/api/suggestions", "/suggestions"):
            r = c.get(path, headers=bearer("anything"))
            assert r.status_code == 403 and not shows_a_decision(r)
            assert "GHSUMM_ACCESS_TOKEN" in r.get_data(as_text=True)
        assert c.get("/api/suggestions").get_json()["code"] == "access_off"
        assert 'type="password"' not in c.get("/suggestions").get_data(as_text=True)  # nothing to sign in to
    # a webhook tried on loopback can say it is not public
    assert make_app(webhook_secret=SECRET, public_mode="false").test_client().get("/api/suggestions").status_code == 200


def test_access_settings_from_the_environment_and_a_secret_file(tmp_path):
    (tmp_path / "token").write_text(ACCESS + "\n")
    s = Settings.from_env({"GHSUMM_ACCESS_TOKEN_FILE": str(tmp_path / "token"), "GHSUMM_PUBLIC": "true"})
    assert s.access_token == ACCESS and s.is_public and s.rate_limit == 30
    assert ACCESS not in repr(s) and ACCESS not in json.dumps(s.public()) and s.public()["access_token_set"]
    assert Settings.from_env({}).rate_limit == 0 and not Settings.from_env({}).is_public  # local: no limit
    assert Settings.from_env({"GHSUMM_WEBHOOK_SECRET": SECRET}).is_public
    assert Settings.from_env({"GHSUMM_WEBHOOK_SECRET": SECRET, "GHSUMM_RATE_LIMIT": "0"}).rate_limit == 0
    assert Settings.from_env({"GHSUMM_RATE_LIMIT": "12"}).rate_limit == 12
    for env in ({"GHSUMM_PUBLIC": "maybe"}, {"GHSUMM_RATE_LIMIT_BURST": "0"}, {"GHSUMM_TRUSTED_PROXIES": "-1"}):
        with pytest.raises(ValueError):
            Settings.from_env(env)


def test_the_manifest_takes_the_token_from_a_secret():
    deployment, _ = k8s.render("ghsumm", "m:8501")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GHSUMM_ACCESS_TOKEN"] == {"name": "GHSUMM_ACCESS_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "ghsumm-access", "key": "token", "optional": True}}}
    off = k8s.render("ghsumm", "m:8501", access_secret=None)[0]
    assert "GHSUMM_ACCESS_TOKEN" not in json.dumps(off)


# ------------------------------------------------------------------------------------------- the rate limit
def test_summarize_over_the_limit_is_429_with_retry_after_per_client(make_app):
    app = make_app(public_mode="true", rate_limit=6, rate_limit_burst=2)
    c = app.test_client()
    for _ in range(2):  # the burst: answered (here 503: no model server), not limited
        assert c.post("/api/summarize", json={"body": "x crashes"}).status_code == 503
    r = c.post("/api/summarize", json={"body": "x crashes"})
    # 6 a minute: one every 10 s, less the time the two answers took (a second or more on a busy machine)
    wait = int(r.headers["Retry-After"])
    assert r.status_code == 429 and 1 <= wait <= 10
    assert r.get_json() == {"error": "Too many titles asked from your address: at most 6 a minute. Try again in "
                                     "%d s." % wait, "code": "rate_limited", "retry_after_s": wait}
    assert c.post("/summary", data={"issue_text": "x crashes"}).status_code == 429  # the reference route too
    other = c.post("/api/summarize", json={"body": "x"}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 503  # another address has its own bucket
    # X-Forwarded-For is anyone's to write: ignored unless the app is told it is behind a proxy
    assert c.post("/api/summarize", json={"body": "x"}, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    assert c.get("/api/random_issue").status_code == 200 and c.get("/healthz").status_code == 503  # not limited


def test_behind_a_proxy_the_client_is_the_forwarded_address(make_app):
    c = make_app(rate_limit=60, rate_limit_burst=1, trusted_proxies=1).test_client()
    assert c.post("/api/summarize", json={"body": "x"}, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 503
    assert c.post("/api/summarize", json={"body": "x"}, headers={"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    assert c.post("/api/summarize", json={"body": "x"}, headers={"X-Forwarded-For": "192.0.2.2"}).status_code == 503


def test_local_apps_have_no_limit(make_app):
    c = make_app().test_client()
    assert all(c.post("/api/summarize", json={"body": ""}).status_code == 400 for _ in range(40))


def test_the_token_bucket_refills_and_keeps_a_bounded_number_of_clients():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=3, max_clients=100, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)
    now[0] += 2.5  # 2.5 tokens back
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.0 and limiter.take("a") > 0
    for i in range(1000):
        limiter.take("client-%d" % i)
    assert len(limiter) == 100
