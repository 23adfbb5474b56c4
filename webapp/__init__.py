"""The web app: a page where a person pastes an issue body (or an issue URL, or asks for a random real issue)
and gets the title the model writes for it, plus a JSON API beside it.

    gunicorn -c python:webapp.gunicorn_conf -w 2 -b 0.0.0.0:8080 'webapp:create_app()'   # production
    python -m webapp                                      # development server on http://127.0.0.1:8080

Routes:
    GET  /                      the page
    POST /api/summarize         {"body": "..."} or {"url": "https://github.com/o/r/issues/1"} -> title, score,
                                confidence ("likely good" / "check it"), alternatives (up to 3 more titles),
                                body_words and highlights (the body's words the title took, and where),
                                model_version, elapsed_ms, input (what the model read), truncated, notice, issue
    GET  /api/random_issue      {"body", "title", "url"} of a real issue from the configured source
    GET  /healthz               the model server's reachability and version (200, or 503 when it cannot serve)
    GET  /livez                 the web process itself (200): for Kubernetes probes
    GET  /random_github_issue   the reference app's route: {"body": ...} (with title and url too)
    POST /summary               the reference app's route: form fields issue_text / issue_url -> {"summary", "body"}
    POST /github/webhook        GitHub's webhook: a title suggestion for every newly opened issue (webapp/webhook.py)
    GET  /suggestions           the webhook's recent decisions (page); GET /api/suggestions: the same as JSON;
                                both behind the access check (webapp/access.py: a bearer token or the sign-in
                                form's POST /login; 401 / 403)
    POST /login, /logout        the sign-in form's cookie for those pages (webapp/access.py)
    GET  /metrics               Prometheus metrics (webapp/metrics.py; gunicorn: -c python:webapp.gunicorn_conf)
    GET  /api/openapi.json      the JSON API as an OpenAPI 3.1 document (webapp/openapi.py)
Errors are JSON {"error": message, "code": ...} with their status: 400 bad input or URL, 401/403 the access
check, 404 no such issue, 413 request too large, 429 GitHub's rate limit or this app's per-client one
(GHSUMM_RATE_LIMIT; with Retry-After), 502 GitHub or model server failure, 503 model server down or timing
out. Never a stack trace. Configuration: webapp/config.py.
"""
from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from webapp.config import Settings
from webapp.errors import WebError

log = logging.getLogger("ghsumm.webapp")

MAX_REQUEST_BYTES = 1024 * 1024
SECURITY_HEADERS = {
    # Everything the page needs is served from here: no CDN, no inline script or style.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(config: dict | None = None) -> Flask:
    """The Flask app. Settings come from the environment (webapp/config.py); `config` overrides any of them by
    field name (e.g. {"model_server": "http://127.0.0.1:8501", "github_token": ""})."""
    from webapp import access, openapi, webhook
    from webapp.issues import IssueSource
    from webapp.metrics import WebMetrics
    from webapp.title_service import TitleService
    from webapp.suggestions import Suggester
    from webapp.webhook_state import WebhookState

    settings = Settings.from_env(**(config or {}))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["JSON_SORT_KEYS"] = False
    metrics = WebMetrics()
    app.extensions["ghsumm"] = {"settings": settings, "titles": TitleService(settings, metrics),
                                "issues": IssueSource(settings.issues), "metrics": metrics}
    titles, issues = app.extensions["ghsumm"]["titles"], app.extensions["ghsumm"]["issues"]
    if settings.warm:
        threading.Thread(target=titles.warm, name="ghsumm-warm", daemon=True).start()
    webhook_state = WebhookState(settings.webhook_dir)
    suggester = Suggester(settings, titles, webhook_state, metrics)
    app.extensions["ghsumm"].update(webhook_state=webhook_state, suggester=suggester)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(access.bp)
    if settings.trusted_proxies:
        # Behind N proxies: the client address is the Nth from the right of X-Forwarded-For (and https from
        # X-Forwarded-Proto); without them the header is anyone's to write and is ignored.
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
    limiter = None
    if settings.rate_limit:
        from webapp.ratelimit import RateLimiter
        limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)

    def rate_limited():
        """WebError 429 when this client has used up its titles for now (GHSUMM_RATE_LIMIT)."""
        wait = limiter.take(request.remote_addr or "") if limiter is not None else 0.0
        if wait:
            seconds = max(1, math.ceil(wait))
            raise WebError(429, "Too many titles asked from your address: at most %d a minute. Try again in %d s."
                           % (settings.rate_limit, seconds), "rate_limited", {"retry_after_s": seconds},
                           {"Retry-After": str(seconds)})
    if settings.webhook_secret:
        # The webhook's worker: at start-up (a restart continues the queued work), and again in a forked process.
        suggester.start()

        @app.before_request
        def webhook_worker():
            suggester.start()

    def summarize(body, url) -> dict:
        from webapp.github_issues import fetch_issue, parse_issue_url
        start = time.perf_counter()
        issue = None
        if isinstance(url, str) and url.strip():
            if isinstance(body, str) and body.strip():
                raise WebError(400, "Give an issue body or an issue URL, not both.", "bad_request")
            owner, repo, number = parse_issue_url(url, settings.github_host)
            issue = fetch_issue(settings, owner, repo, number)
            body = issue["body"]
            if not body.strip():
                raise WebError(422, "Issue %s#%d has an empty body: there is nothing to write a title from."
                               % (issue["repo"], number), "empty_body")
        elif url is not None and not isinstance(url, str):
            raise WebError(400, '"url" must be a string.', "bad_request")
        if not isinstance(body, str):
            raise WebError(400, 'Give the issue body as a string in "body" (or an issue URL in "url").', "bad_request")
        if not body.strip():
            raise WebError(400, "The issue body is empty: paste an issue's text, or give its URL.", "empty_body")
        result = titles.generate(body)
        result["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 1)
        if issue is not None:
            result["issue"] = issue
        log.info("title for %s: %d chars, version %s, %.0f ms%s", "a URL" if issue else "a body", len(body),
                 result["model_version"], result["elapsed_ms"], ", cut" if result["truncated"] else "")
        return result

    def json_payload() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise WebError(400, 'Send a JSON object: {"body": "..."} or {"url": "https://%s/OWNER/REPO/issues/N"}.'
                           % settings.github_host, "bad_request")
        return data

    @app.get("/")
    def index():
        return render_template("index.html", settings=settings.public())

    @app.post("/api/summarize")
    def api_summarize():
        rate_limited()
        data = json_payload()
        return jsonify(summarize(data.get("body"), data.get("url")))

    @app.get("/api/random_issue")
    def api_random_issue():
        return jsonify(issues.random())

    @app.get("/random_github_issue")
    def random_github_issue():  # the reference app's route
        return jsonify(issues.random())

    @app.post("/summary")
    def summary():  # the reference app's route: form fields issue_text and issue_url; answers summary and body
        rate_limited()
        data = request.form if request.form else request.get_json(silent=True)
        if not isinstance(data, dict):  # a form (MultiDict) or a JSON object
            data = {}
        result = summarize(data.get("issue_text", ""), data.get("issue_url") or None)
        body = result["issue"]["body"] if "issue" in result else data.get("issue_text", "")
        return jsonify(dict(result, summary=result["title"], body=body))

    @app.get("/healthz")
    def healthz():
        health = titles.health()
        ok = health["reachable"] and health["version"] is not None
        return jsonify(dict(health, status="ok" if ok else "unavailable", settings=settings.public())), \
            200 if ok else 503

    @app.get("/livez")
    def livez():
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def prometheus_metrics():
        body, content_type = metrics.exposition(request.headers.get("Accept"))
        return Response(body, content_type=content_type)

    @app.errorhandler(WebError)
    def web_error(e: WebError):
        if e.status >= 500:
            log.warning("%s %s -> %d %s", request.method, request.path, e.status, e.code)
        if e.code == "github_rate_limit":
            metrics.rate_limit_wait("page", e.extra.get("retry_after_s") or 0)
        response = jsonify(e.payload())
        response.status_code = e.status
        response.headers.update(e.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        messages = {404: "There is no such page here.", 405: "That method is not allowed here.",
                    413: "The request is too large (over %d KiB)." % (MAX_REQUEST_BYTES // 1024)}
        response = jsonify({"error": messages.get(e.code, e.name), "code": "http_%s" % e.code})
        response.status_code = e.code or 500
        return response

    @app.errorhandler(Exception)
    def internal_error(e: Exception):
        log.error("%s %s failed: %s", request.method, request.path, type(e).__name__, exc_info=e)
        response = jsonify({"error": "Something went wrong in the web app; the error is in its log.",
                            "code": "internal"})
        response.status_code = 500
        return response

    @app.after_request
    def count(response):
        metrics.request(request.url_rule.rule if request.url_rule else None, request.method, response.status_code)
        return response

    @app.after_request
    def headers(response):
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.path.startswith("/api/") or request.path in ("/summary", "/healthz", "/github/webhook"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
