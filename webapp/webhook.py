"""The GitHub webhook: a title suggestion for every newly opened issue, and the page that shows the decisions.

Routes (a Flask blueprint; create_app registers it):
    POST /github/webhook   GitHub's webhook protocol (content type application/json, or the form encoding's
                           payload= field). Answers, in this order:
                           503 webhook_off      GHSUMM_WEBHOOK_SECRET is not set: the endpoint is off
                           413                  a body over the web app's request limit (1 MiB)
                           401 bad_signature    X-Hub-Signature-256 missing or not the HMAC-SHA256 of the raw body
                                                with the secret (compared in constant time); nothing else is done
                                                or recorded, only the refusal is logged
                           400                  not JSON, not an object, no X-GitHub-Event, or an `issues` payload
                                                without an issue, its repository or a valid X-GitHub-Delivery
                           200 pong             a `ping` event
                           202 accepted         `issues` opened, or edited with a changed body: queued for the
                                                worker (webapp/suggestions.py), answered at once
                           200 duplicate        a delivery id accepted before (also after a restart): not again
                           204                  every other event and action, pull requests included
    GET  /suggestions      the page: recent decisions (static/suggestions.js renders them, as text only); it and
                           /api/suggestions are behind webapp/access.py's check (401 / 403, the sign-in form)
    GET  /api/suggestions  {"webhook": {enabled, mode, mode_note, rule, deliveries, pending, comments},
                            "decisions": [newest first]}  (?limit=N, at most 500)
Neither the secret nor the token is ever part of an answer or a log line.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import urllib.parse

from flask import Blueprint, current_app, jsonify, render_template, request

from webapp import access
from webapp.errors import WebError

log = logging.getLogger("ghsumm.webhook")

bp = Blueprint("webhook", __name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
MAX_DECISIONS = 500


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for body: "sha256=" + hex HMAC-SHA256 with the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode("ascii"),
                               header.strip().encode("latin-1", "replace"))


def _hook():
    return current_app.extensions["ghsumm"]


def _parse(body: bytes) -> dict:
    """The payload: JSON, or GitHub's form encoding (payload=<JSON>). WebError 400 for anything else."""
    content_type = (request.mimetype or "").lower()
    try:
        text = body.decode("utf-8")
        if content_type == "application/x-www-form-urlencoded":
            fields = urllib.parse.parse_qs(text, keep_blank_values=True)
            text = fields.get("payload", [""])[0]
        payload = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise WebError(400, "The payload is not JSON (set the webhook's content type to application/json).",
                       "bad_payload") from None
    if not isinstance(payload, dict):
        raise WebError(400, "The payload is not a JSON object.", "bad_payload")
    return payload


def _issue_of(payload: dict) -> tuple[str, dict]:
    """(repository full name, issue object) of an `issues` payload; WebError 400 when it has no usable issue."""
    issue, repo = payload.get("issue"), payload.get("repository")
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    number = issue.get("number") if isinstance(issue, dict) else None
    if (not isinstance(issue, dict) or not isinstance(number, int) or isinstance(number, bool) or number < 1
            or not isinstance(issue.get("title"), str) or not isinstance(issue.get("body"), (str, type(None)))):
        raise WebError(400, "The issues payload has no issue (an object with a number, a title and a body).",
                       "bad_payload")
    if not isinstance(full_name, str) or not _REPO.match(full_name):
        raise WebError(400, "The issues payload has no repository full_name (owner/name).", "bad_payload")
    return full_name, issue


@bp.post("/github/webhook")
def github_webhook():
    ext = _hook()
    settings, state, suggester = ext["settings"], ext["webhook_state"], ext["suggester"]
    if not settings.webhook_secret:
        raise WebError(503, "The GitHub webhook is off: set GHSUMM_WEBHOOK_SECRET to the secret configured in the "
                       "repository's webhook settings to turn it on.", "webhook_off")
    body = request.get_data(cache=False)  # over the request limit: 413 (create_app's MAX_CONTENT_LENGTH)
    raw_delivery = request.headers.get("X-GitHub-Delivery", "")
    delivery = raw_delivery if _DELIVERY.match(raw_delivery) else ""
    if not signature_ok(settings.webhook_secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("refused a delivery (%s): %s signature", delivery or "no valid delivery id",
                    "wrong" if request.headers.get(SIGNATURE_HEADER) else "no")
        raise WebError(401, "The %s signature is missing or does not match: the delivery was refused. The webhook's "
                       "secret on GitHub must be the one in GHSUMM_WEBHOOK_SECRET." % SIGNATURE_HEADER,
                       "bad_signature")
    event = request.headers.get("X-GitHub-Event", "")
    if not event:
        raise WebError(400, "No X-GitHub-Event header: this endpoint takes GitHub webhook deliveries.", "bad_request")
    payload = _parse(body)
    if event == "ping":
        log.info("ping from hook %s", payload.get("hook_id"))
        return jsonify({"status": "pong", "hook_id": payload.get("hook_id"), "zen": payload.get("zen")})
    action = payload.get("action") if isinstance(payload.get("action"), str) else ""
    if event != "issues":
        return "", 204
    repo, issue = _issue_of(payload)
    changes = payload.get("changes")
    body_changed = isinstance(changes, dict) and "body" in changes
    if issue.get("pull_request") is not None or action not in ("opened", "edited") or (
            action == "edited" and not body_changed):
        return "", 204
    if not delivery:
        raise WebError(400, "No valid X-GitHub-Delivery header (GitHub's delivery id).", "bad_request")
    if not state.accept(delivery, event, action, repo, issue["number"], {"issue": issue}):
        log.info("delivery %s was received before: not acted on again", delivery)
        return jsonify({"status": "duplicate", "delivery": delivery,
                        "message": "This delivery was received before; it is not acted on twice."})
    suggester.start()
    suggester.notify()
    log.info("accepted delivery %s: %s %s#%d", delivery, action, repo, issue["number"])
    return jsonify({"status": "accepted", "delivery": delivery, "issue": "%s#%d" % (repo, issue["number"])}), 202


@bp.get("/suggestions")
@access.required
def suggestions_page():
    return render_template("suggestions.html", settings=_hook()["settings"].public())


@bp.get("/api/suggestions")
@access.required
def api_suggestions():
    ext = _hook()
    settings, state = ext["settings"], ext["webhook_state"]
    limit = request.args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_DECISIONS:
        raise WebError(400, "limit must be a number from 1 to %d." % MAX_DECISIONS, "bad_request")
    hook = dict(settings.webhook_public(), deliveries=0, pending=0, comments=0)
    try:
        hook.update(state.counts())
        decisions = state.recent_decisions(int(limit))
    except Exception as e:  # noqa: BLE001  (an unreadable state dir: the page says so)
        log.warning("webhook state %s unreadable: %s", state.directory, type(e).__name__)
        raise WebError(503, "The webhook's state directory cannot be read (%s)." % type(e).__name__,
                       "state_unavailable") from None
    return jsonify({"webhook": hook, "decisions": decisions})
