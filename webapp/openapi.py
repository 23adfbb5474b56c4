"""The web app's JSON API as an OpenAPI 3.1 document, served at GET /api/openapi.json.

document() builds it (the confidence threshold and the GitHub host are the app's settings);
tests/test_webapp_openapi.py validates it with openapi-spec-validator and drives every endpoint it lists,
checking each answer against it. Keep it beside the routes it describes (webapp/__init__.py, webapp/webhook.py).
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from webapp.title_service import CHECK_IT, LIKELY_GOOD, MAX_ALTERNATIVES

bp = Blueprint("openapi", __name__)

JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": "#/components/schemas/%s" % name}


def _answer(description: str, schema: dict | None = None, headers: dict | None = None) -> dict:
    out = {"description": description}
    if schema is not None:
        out["content"] = {JSON: {"schema": schema}}
    if headers:
        out["headers"] = headers
    return out


def _error(description: str) -> dict:
    return _answer(description, _ref("Error"))


def _object(properties: dict, required: list[str] | None = None, **more) -> dict:
    return dict({"type": "object", "properties": properties, "required": required or list(properties)}, **more)


STRING, NUMBER, INTEGER, BOOLEAN = ({"type": t} for t in ("string", "number", "integer", "boolean"))
NULLABLE_STRING = {"type": ["string", "null"]}


def schemas(settings) -> dict:
    confidence = {"type": "string", "enum": [LIKELY_GOOD, CHECK_IT],
                  "description": "The score in words: \"%s\" when the score is at least %s (the median score of "
                                 "the shipped model's titles on held-out issues; GHSUMM_CONFIDENCE_MIN_SCORE), "
                                 "else \"%s\"." % (LIKELY_GOOD, settings.confidence_min_score, CHECK_IT)}
    taken = {
        "body_words": {"type": "array", "items": STRING,
                       "description": "The title's words (lowercase, stop words aside) that the body has too."},
        "highlights": {"type": "array", "maxItems": 200,
                       "items": {"type": "array", "items": INTEGER, "minItems": 2, "maxItems": 2},
                       "description": "[start, end) offsets, in Unicode code points, of those words in the body "
                                      "(the body sent, or the issue's body for a URL)."},
    }
    score = {"type": "number", "description": "The model's length-normalized log-probability of the title "
                                              "(higher is surer)."}
    return {
        "Error": _object({"error": STRING, "code": STRING}, additionalProperties=True,
                         description="Every failure: a message a person can read and a machine-readable code "
                                     "(a 429 adds reset_at and retry_after_s)."),
        "SummarizeRequest": {
            "type": "object", "description": "An issue body, or the URL of an issue on %s (not both)."
                                             % settings.github_host,
            "properties": {"body": STRING, "url": {"type": "string",
                                                   "examples": ["https://%s/OWNER/REPO/issues/1" % settings.github_host]}},
            "oneOf": [{"required": ["body"]}, {"required": ["url"]}]},
        "Alternative": _object(dict({"title": STRING, "score": score, "confidence": confidence}, **taken)),
        "Input": _object({"truncated": BOOLEAN, "words": INTEGER, "words_read": INTEGER, "subwords_read": INTEGER,
                          "max_subwords": INTEGER, "chars": INTEGER,
                          "script": dict(STRING, description="The script most of the body is in, when not Latin."),
                          "notice": STRING},
                         ["truncated", "words", "words_read", "subwords_read", "max_subwords", "chars"],
                         description="What the model read of the body."),
        "Issue": _object({"title": STRING, "body": STRING, "number": INTEGER, "repo": STRING, "url": STRING,
                          "state": STRING}, ["title", "body", "number", "repo", "url"], additionalProperties=True),
        "Summary": _object(dict(
            {"title": STRING, "score": score, "confidence": confidence,
             "alternatives": {"type": "array", "items": _ref("Alternative"), "maxItems": MAX_ALTERNATIVES,
                              "description": "The next titles minimum Bayes risk ranked, best first (none when "
                                             "the served export does not give them)."},
             "model_version": {"type": ["integer", "null"]}, "elapsed_ms": NUMBER, "input": _ref("Input"),
             "truncated": BOOLEAN, "notice": STRING, "issue": _ref("Issue")}, **taken),
            ["title", "score", "confidence", "alternatives", "body_words", "highlights", "model_version",
             "elapsed_ms", "input", "truncated", "notice"]),
        "RandomIssue": _object({"body": STRING, "title": STRING, "url": STRING}, ["body", "title"],
                               additionalProperties=True),
        "Health": _object({"status": {"type": "string", "enum": ["ok", "unavailable"]}, "reachable": BOOLEAN,
                           "version": {"type": ["integer", "null"]}, "versions": {"type": "array"},
                           "model_server": STRING, "protocol": STRING, "model_name": STRING,
                           "vocab_loaded": BOOLEAN, "error": STRING, "settings": {"type": "object"}},
                          ["status", "reachable", "version", "versions", "model_server", "settings"]),
        "WebhookAnswer": _object({"status": {"type": "string", "enum": ["pong", "accepted", "duplicate"]}},
                                 additionalProperties=True),
        "Suggestions": _object({"webhook": _object({"enabled": BOOLEAN, "mode": STRING, "deliveries": INTEGER,
                                                    "pending": INTEGER, "comments": INTEGER, "rule": {"type": "object"}},
                                                   ["enabled", "mode", "rule"], additionalProperties=True),
                                "decisions": {"type": "array", "items": _object(
                                    {"time": STRING, "repo": STRING, "number": INTEGER, "suggestion": NULLABLE_STRING,
                                     "outcome": STRING}, ["time", "outcome"], additionalProperties=True)}}),
    }


def document(settings) -> dict:
    """The OpenAPI 3.1 document of the app's JSON API."""
    json_body = {"required": True, "content": {JSON: {"schema": _ref("SummarizeRequest")}}}
    rate_limited = _answer("GitHub's rate limit, or this app's per-client limit (GHSUMM_RATE_LIMIT titles a minute "
                           "per address; code rate_limited): try again after Retry-After seconds.", _ref("Error"),
                           {"Retry-After": {"schema": INTEGER}})
    summarize_errors = {
        "400": _error("Bad input: not a JSON object, neither or both of body and url, an empty body, or a URL "
                      "that is not https://%s/OWNER/REPO/issues/N (pull requests included)." % settings.github_host),
        "404": _error("No such issue on GitHub, or it is private."),
        "413": _error("The request is over 1 MiB."),
        "422": _error("The issue at the URL has an empty body."),
        "429": rate_limited,
        "502": _error("GitHub or the model server failed."),
        "503": _error("The model server is down, has no such model, or did not answer in time."),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ghsumm web app", "version": "1",
                 "description": "Titles for GitHub issues from their bodies (the page at / uses the same API)."},
        "paths": {
            "/api/summarize": {"post": {
                "summary": "Write a title for an issue body or an issue URL",
                "operationId": "summarize", "requestBody": json_body,
                "responses": dict({"200": _answer("The title, its confidence, alternatives and highlights.",
                                                  _ref("Summary"))}, **summarize_errors)}},
            "/api/random_issue": {"get": {
                "summary": "A real issue with its true title, from the configured source",
                "operationId": "randomIssue", "responses": {"200": _answer("An issue.", _ref("RandomIssue"))}}},
            "/api/suggestions": {"get": {
                "summary": "The webhook's state and its recent decisions, newest first",
                "operationId": "suggestions",
                "description": "Behind the access check: the token GHSUMM_ACCESS_TOKEN as a bearer token, or the "
                               "cookie the sign-in form of /suggestions sets. Without a token configured it is open "
                               "on a private app and off on a public one (GHSUMM_PUBLIC, or a webhook secret).",
                "security": [{"bearerToken": []}, {"signInCookie": []}],
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                            "maximum": 500, "default": 100}}],
                "responses": {"200": _answer("The webhook and its decisions.", _ref("Suggestions")),
                              "400": _error("limit is not a number from 1 to 500."),
                              "401": _answer("No credentials: no decision is shown.", _ref("Error"),
                                             {"WWW-Authenticate": {"schema": STRING}}),
                              "403": _error("A wrong token or an expired sign-in; or the app is public and no "
                                            "access token is configured (code access_off). No decision is shown."),
                              "503": _error("The webhook's state cannot be read.")}}},
            "/api/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi",
                "responses": {"200": _answer("The OpenAPI document.", {"type": "object"})}}},
            "/healthz": {"get": {
                "summary": "Whether the model server can serve, and which version",
                "operationId": "health", "responses": {"200": _answer("Serving.", _ref("Health")),
                                                       "503": _answer("Not serving.", _ref("Health"))}}},
            "/livez": {"get": {
                "summary": "The web process itself (Kubernetes probes)", "operationId": "live",
                "responses": {"200": _answer("Alive.", _object({"status": {"const": "ok"}}))}}},
            "/random_github_issue": {"get": {
                "summary": "The reference app's route: the same as /api/random_issue", "operationId": "randomGithubIssue",
                "responses": {"200": _answer("An issue.", _ref("RandomIssue"))}}},
            "/summary": {"post": {
                "summary": "The reference app's route: a form (issue_text or issue_url) -> summary and body",
                "operationId": "summary",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": _object(
                    {"issue_text": STRING, "issue_url": STRING}, [])}}},
                "responses": dict({"200": _answer("/api/summarize's answer with summary (the title) and body.", {
                    "allOf": [_ref("Summary"), _object({"summary": STRING, "body": STRING})]})},
                    **summarize_errors)}},
            "/github/webhook": {"post": {
                "summary": "GitHub's webhook (issues events): a title suggestion for each opened issue",
                "operationId": "githubWebhook",
                "parameters": [{"name": n, "in": "header", "required": r, "schema": STRING} for n, r in (
                    ("X-GitHub-Event", True), ("X-GitHub-Delivery", False), ("X-Hub-Signature-256", True))],
                "requestBody": {"required": True, "content": {JSON: {"schema": {"type": "object"}}}},
                "responses": {"200": _answer("ping answered, or a delivery seen before.", _ref("WebhookAnswer")),
                              "202": _answer("An issue accepted; its title is written afterwards.",
                                             _ref("WebhookAnswer")),
                              "204": _answer("Another event or action: nothing to do."),
                              "400": _error("Not JSON, no issue, or no valid delivery id."),
                              "401": _error("The signature is missing or wrong."),
                              "413": _error("The request is over 1 MiB."),
                              "503": _error("No GHSUMM_WEBHOOK_SECRET: the webhook is off.")}}},
        },
        "components": {"schemas": schemas(settings), "securitySchemes": {
            "bearerToken": {"type": "http", "scheme": "bearer",
                            "description": "Authorization: Bearer <GHSUMM_ACCESS_TOKEN>"},
            "signInCookie": {"type": "apiKey", "in": "cookie", "name": "ghsumm_access",
                             "description": "Set by POST /login (the sign-in form of /suggestions)."}}},
    }


@bp.get("/api/openapi.json")
def openapi_json():
    return jsonify(document(current_app.extensions["ghsumm"]["settings"]))
