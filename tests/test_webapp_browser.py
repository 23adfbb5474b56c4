"""The web app end to end in a real browser: headless Chromium (Debian's chromium + chromium-driver, installed by
tests/setup_browser.sh) driven by selenium, against the web app served by gunicorn (the production command) or
by werkzeug in a thread, with the real model server on the tiny SavedModel (or a stub model server where the
test needs the model to say something chosen). Screenshots land in artifacts/ (gitignored)."""
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import requests
from github_api_stub import GitHubApiStub
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from serving.launch import free_port
from webapp import create_app

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(REPO, "artifacts")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
EVIL_TITLE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
XSS_BODY = ('<script>window.__xss = 3; alert("xss")</script> "><img src=x onerror="window.__xss=4"> '
            "<svg onload=alert(5)> ' onmouseover='alert(6)' javascript:alert(7) ")

pytestmark = pytest.mark.usefixtures("clean_webapp_env")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Chromium is missing: run tests/setup_browser.sh (make test does) to install Debian's "
                    "chromium and chromium-driver")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,1000", "--user-data-dir=%s" % tmp_path_factory.mktemp("chromium-profile")):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium-manager is never run, so nothing is downloaded.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def gunicorn_app(webapp_model_server, tmp_path_factory):
    """The production command, `gunicorn ... 'webapp:create_app()'`, configured by environment only: the model
    server's REST address and its base path (the vocabulary is found in the served version's assets.extra/)."""
    server, base = webapp_model_server
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHSUMM_", "GITHUB_"))}
    env.update(PYTHONPATH=REPO, GHSUMM_MODEL_SERVER=server.rest_url, GHSUMM_MODEL_BASE_PATH=str(base),
               GITHUB_API_URL="http://127.0.0.1:%d" % free_port(), GHSUMM_GITHUB_HOST="github.com",
               TF_CPP_MIN_LOG_LEVEL="2")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b", "127.0.0.1:%d" % port,
                                 "--timeout", "120", "webapp:create_app()"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d/" % port
    deadline = time.time() + 60
    while True:
        try:
            requests.get(url + "livez", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            assert proc.poll() is None and time.time() < deadline, \
                "gunicorn did not start:\n" + log.read_text()[-3000:]
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(20)


@pytest.fixture
def serve():
    """serve(app) -> URL of the app on a real HTTP server (werkzeug, threaded) in this process."""
    servers = []

    def start(app):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return "http://127.0.0.1:%d/" % server.server_port
    yield start
    for s in servers:
        s.shutdown()


def wait(driver, condition, timeout=90, what="the page"):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, "timed out waiting for " + what)


def el(driver, id_):
    return driver.find_element(By.ID, id_)


def screenshot(driver, name):
    """The whole page (the window is made as tall as the page first) as artifacts/<name>."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1100, min(max(height + 40, 800), 4000))
    path = os.path.join(ARTIFACTS, name)
    driver.save_screenshot(path)
    print("screenshot:", path)
    return path


def page_errors(driver):
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_random_issue_then_generate_title_with_the_real_model(browser, gunicorn_app, sample_rows):
    d = browser
    d.get(gunicorn_app)
    wait(d, lambda d: "up, version 5" in el(d, "server-status").text, 30, "the model server status")
    el(d, "random").click()
    wait(d, lambda d: el(d, "body").get_attribute("value").strip(), 30, "a random issue in the box")
    body = el(d, "body").get_attribute("value")
    def norm(text):  # a textarea's value has \n line ends
        return text.replace("\r\n", "\n").replace("\r", "\n")
    issue = next(r for r in sample_rows if norm(r["body"]) == body)
    el(d, "generate").click()
    wait(d, lambda d: el(d, "result").is_displayed(), 120, "the generated title")
    title = el(d, "title").text
    assert title.strip()  # the model's title, or the placeholder saying it was empty
    if "empty" in el(d, "title").get_attribute("class"):
        assert title == "(the model returned an empty title)"
    assert re.fullmatch(r"-?\d+\.\d{3}", el(d, "score").text)
    assert el(d, "version").text == "5"
    assert re.fullmatch(r"\d+ ms", el(d, "elapsed").text)
    assert el(d, "actual").is_displayed() and el(d, "true-title").text == issue["title"].strip()
    assert not el(d, "error").is_displayed()
    screenshot(d, "webapp-e2e.png")
    assert page_errors(d) == []  # no script error, no blocked resource, no CSP violation


def test_markup_stays_text_and_a_long_body_is_flagged(browser, serve, webapp_config, stub_model_server, title_codec):
    stub = stub_model_server(title_codec.encoder.encode(EVIL_TITLE) + [1], score=-0.5, version=7)
    d = browser
    d.get(serve(create_app(dict(webapp_config, model_server=stub.url))))
    long_body = XSS_BODY * 80  # well over the model's 300 words
    d.execute_script("arguments[0].value = arguments[1];", el(d, "body"), long_body)
    el(d, "generate").click()
    wait(d, lambda d: el(d, "result").is_displayed(), 60, "the generated title")
    assert el(d, "title").text == EVIL_TITLE
    assert d.execute_script("return document.getElementById('title').children.length") == 0
    assert d.execute_script("return document.querySelectorAll('main img, main svg, main script').length") == 0
    assert d.execute_script("return window.__xss === undefined")
    with pytest.raises(NoAlertPresentException):
        d.switch_to.alert.accept()
    assert el(d, "version").text == "7" and el(d, "score").text == "-0.500"
    notice = el(d, "notice")
    assert notice.is_displayed() and "cut" in notice.text and "511 subwords" in notice.text
    assert el(d, "body").get_attribute("value") == long_body
    screenshot(d, "webapp-markup-as-text.png")


def test_issue_url_is_fetched_and_titled(browser, serve, webapp_config):
    with GitHubApiStub() as api:
        api.add_issue("octo", "hello", 7, "Crash on start <b>bold</b>", "the app crashes on start with a segfault")
        d = browser
        d.get(serve(create_app(dict(webapp_config, github_api_url=api.url))))
        el(d, "url").send_keys("https://github.com/octo/hello/issues/7")
        el(d, "generate").click()
        wait(d, lambda d: el(d, "result").is_displayed(), 60, "the generated title")
        assert el(d, "body").get_attribute("value") == "the app crashes on start with a segfault"
        assert el(d, "true-title").text == "Crash on start <b>bold</b>"
        assert el(d, "issue-link").get_attribute("href") == "https://github.com/octo/hello/issues/7"
        el(d, "url").clear()
        el(d, "url").send_keys("https://evil.example/octo/hello/issues/7")
        el(d, "generate").click()
        wait(d, lambda d: el(d, "error").is_displayed(), 30, "the error")
        assert "Only issues on github.com" in el(d, "error").text and not el(d, "result").is_displayed()
        assert len(api.requests) == 1


def test_model_server_down_the_page_says_so(browser, serve, webapp_config):
    dead = "http://127.0.0.1:%d" % free_port()
    d = browser
    d.get(serve(create_app(dict(webapp_config, model_server=dead, model_retries=0))))
    wait(d, lambda d: "unavailable" in el(d, "server-status").text, 30, "the model server status")
    el(d, "body").send_keys("the app crashes when i save a file")
    el(d, "generate").click()
    wait(d, lambda d: el(d, "error").is_displayed(), 30, "the error")
    error = el(d, "error").text
    assert "model server" in error and "down or not answering" in error
    assert not el(d, "result").is_displayed()
    screenshot(d, "webapp-model-server-down.png")


def test_an_empty_title_shows_a_placeholder(browser, serve, webapp_config, stub_model_server):
    stub = stub_model_server([1], score=-7.0, version=3)  # the model's answer: EOS at once
    d = browser
    d.get(serve(create_app(dict(webapp_config, model_server=stub.url))))
    el(d, "body").send_keys("the app crashes when i save a file")
    el(d, "generate").click()
    wait(d, lambda d: el(d, "result").is_displayed(), 30, "the generated title")
    assert el(d, "title").text == "(the model returned an empty title)"
    assert "empty" in el(d, "title").get_attribute("class")
    assert el(d, "version").text == "3" and el(d, "score").text == "-7.000"


def test_the_page_explains_its_title(browser, serve, webapp_config, stub_model_server, title_codec):
    """The confidence in words (the raw score in a detail), up to three alternatives to pick from, and the body's
    words the title took marked in the body; picking an alternative makes it the title, with its own words marked.
    A stub model server answers candidates as a minimum Bayes risk export does."""
    body = ("When I use a DataLoader with num_workers=4 on Windows the script hangs at the first batch.\n"
            "On Linux the same script works. <b>not bold</b> 😀 Windows 11, torch 2.1.")
    ranked = [("dataloader hangs on windows", -4.0), ("dataloader hangs on windows.", -4.1),
              ("windows dataloader hangs forever", -7.5), ("the script hangs at the first batch", -5.0),
              ("dataloader num_workers hangs on linux", -6.5), ("one too many", -3.0)]
    stub = stub_model_server(title_codec.encoder.encode(ranked[0][0]) + [1], score=-4.0, version=7,
                             candidates=[(title_codec.encoder.encode(t) + [1], s) for t, s in ranked])
    d = browser
    d.get_log("browser")  # what earlier tests left in the log
    d.get(serve(create_app(dict(webapp_config, model_server=stub.url, confidence_min_score=-6.0))))
    d.execute_script("arguments[0].value = arguments[1];", el(d, "body"), body)
    el(d, "generate").click()
    wait(d, lambda d: el(d, "result").is_displayed(), 60, "the generated title")
    assert el(d, "title").text == "DataLoader hangs on Windows"
    assert el(d, "confidence").text == "likely good" and "good" in el(d, "confidence").get_attribute("class")
    assert el(d, "score").text == "-4.000"  # the raw score, in the detail's summary
    assert not d.find_element(By.CSS_SELECTOR, "#score-detail p").is_displayed()  # its explanation: closed
    d.find_element(By.CSS_SELECTOR, "#score-detail summary").click()
    assert "-6.0" in d.find_element(By.CSS_SELECTOR, "#score-detail p").text

    def alternatives():
        return [(li.find_element(By.TAG_NAME, "button").text, li.find_element(By.CLASS_NAME, "confidence").text)
                for li in el(d, "alternatives").find_elements(By.TAG_NAME, "li")]

    def marked():
        return [m.text for m in el(d, "body-view").find_elements(By.TAG_NAME, "mark")]
    assert alternatives() == [("Windows DataLoader hangs forever", "check it"),
                              ("The script hangs at the first batch", "likely good"),
                              ("DataLoader num_workers hangs on Linux", "check it")]
    assert marked() == ["DataLoader", "Windows", "hangs", "Windows"]
    assert el(d, "body-view").text == body  # the whole body, as text (the <b> stays text)
    screenshot(d, "webapp-title-explained.png")
    el(d, "alternatives").find_elements(By.TAG_NAME, "button")[2].click()  # pick the third
    assert el(d, "title").text == "DataLoader num_workers hangs on Linux" and el(d, "confidence").text == "check it"
    assert el(d, "score").text == "-6.500"
    assert marked() == ["DataLoader", "num_workers", "hangs", "Linux"]
    assert alternatives()[0] == ("DataLoader hangs on Windows", "likely good")  # the first title can be picked back
    assert page_errors(d) == []
