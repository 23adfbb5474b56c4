"""The webhook's /suggestions page in a real browser (headless Chromium, as test_webapp_browser.py drives it): decisions
recorded through signed deliveries (comment mode, against the GitHub-API-like server), one of them with markup in the
issue's title, shown as text, after signing in with the access token; a screenshot in artifacts/suggestions.png (gitignored, like the other screenshots)."""
import uuid

import pytest
from github_api_stub import GitHubApiStub
from test_webapp_browser import browser, el, page_errors, screenshot, serve, wait  # noqa: F401  (fixtures)
from test_webhook import ACCESS, SECRET, TOKEN, decision_count, deliver, issues_payload
from selenium.webdriver.common.by import By

from serving.launch import free_port
from webapp import create_app
from webapp.config import Settings

EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> crash'

pytestmark = pytest.mark.usefixtures("clean_webapp_env")


def test_suggestions_page_shows_the_recorded_decisions_as_text(browser, serve, webapp_config, stub_model_server,  # noqa: F811
                                                               title_codec, tmp_path):
    suggestion = "parser crashes on empty files"
    model = stub_model_server(title_codec.encoder.encode(suggestion) + [1], score=-0.4, version=7)
    with GitHubApiStub() as api:
        for n in (7, 8):
            api.add_issue("octo", "hello", n, "Crash", "body")
        app = create_app(dict(webapp_config, model_server=model.url, github_api_url=api.url, github_token=TOKEN,
                              webhook_secret=SECRET, webhook_mode="comment", webhook_dir=str(tmp_path / "webhook"),
                              webhook_retry_s=0.2, access_token=ACCESS))
        try:
            c = app.test_client()
            deliver(c, issues_payload(number=7, title="Crash",
                                      body="when i open an empty file the parser crashes with an index error"))
            deliver(c, issues_payload(number=8, title=EVIL, body="the parser crashes on empty files %s" % EVIL),
                    delivery=str(uuid.uuid4()))
            deliver(c, issues_payload(number=9, title="Parser crashes on empty files",
                                      body="the parser crashes on empty files"))
            decision_count(app, 3)
            d = browser
            d.get(serve(app) + "suggestions")  # a webhook makes the app public: a person signs in with the token
            assert "Sign in" in el(d, "login-heading").text and not d.find_elements(By.ID, "decision-rows")
            [refused] = page_errors(d)  # the sign-in form comes with the refusal's status, 401
            assert "/suggestions - Failed to load resource" in refused and "401" in refused
            el(d, "token").send_keys(ACCESS)
            d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#decision-rows tr")) == 3, 30, "three decisions")
            assert el(d, "hook-status").text == "on" and el(d, "hook-mode").text == "comment on the issue"
            assert el(d, "hook-deliveries").text == "3" and el(d, "hook-comments").text == "2"
            assert "score is at least %g," % Settings.suggest_min_score in el(d, "hook-rule").text  # the default
            rows = d.find_elements(By.CSS_SELECTOR, "#decision-rows tr")
            texts = [r.text for r in rows]
            assert "octo/hello#9" in texts[0] and "not suggested" in texts[0] and "already says it" in texts[0]
            assert "octo/hello#8" in texts[1] and EVIL in texts[1] and "commented" in texts[1]
            assert "octo/hello#7" in texts[2] and suggestion in texts[2]
            link = rows[2].find_element(By.CSS_SELECTOR, "td:nth-child(2) a")
            assert link.get_attribute("href") == "https://github.com/octo/hello/issues/7"
            # The markup stayed text: no element was made from it, no script ran, nothing was blocked.
            assert d.execute_script("return document.querySelectorAll('main img, main script, main svg').length") == 0
            assert d.execute_script("return window.__xss === undefined")
            assert not el(d, "error").is_displayed() and not el(d, "empty").is_displayed()
            screenshot(d, "suggestions.png")
            assert page_errors(d) == []
            assert TOKEN not in d.page_source and SECRET not in d.page_source and ACCESS not in d.page_source
        finally:
            app.extensions["ghsumm"]["suggester"].stop()


def test_suggestions_page_without_a_secret_says_the_webhook_is_off(browser, serve, webapp_config, tmp_path):  # noqa: F811
    app = create_app(dict(webapp_config, model_server="http://127.0.0.1:%d" % free_port(),
                          webhook_dir=str(tmp_path / "off")))
    d = browser
    d.get(serve(app) + "suggestions")
    wait(d, lambda d: el(d, "hook-status").text.startswith("off"), 30, "the webhook status")
    assert "GHSUMM_WEBHOOK_SECRET" in el(d, "hook-status").text and el(d, "empty").is_displayed()
    assert el(d, "hook-mode").text == "dry run (log only)"
    assert d.execute_script("return document.getElementById('decisions').hidden") is True
    assert page_errors(d) == []
