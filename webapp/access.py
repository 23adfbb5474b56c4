"""The access check of the pages and JSON that list the webhook's decisions (/suggestions, /api/suggestions).

Who may see them (docs/webapp.md, "Access" says why):
- GHSUMM_ACCESS_TOKEN (or the file GHSUMM_ACCESS_TOKEN_FILE, e.g. a mounted Secret) set: only a request with
  `Authorization: Bearer <token>`, or a browser signed in with that token on the form this module serves (it sets
  a cookie holding an HMAC of the token and an expiry, never the token itself).
- no token, the app not public (the default of `make run` and `python -m webapp`, on loopback): everyone.
- no token, the app public (GHSUMM_PUBLIC=true, or a webhook secret set and GHSUMM_PUBLIC not false): no one; the
  pages say how to turn them on.
Refusals: 401 no credentials, 403 a wrong token (or the pages off). A refusal shows no decision; the token is
compared in constant time and never logged or shown.

Routes (a Flask blueprint; create_app registers it):
    POST /login    form field `token` (and `next`, a path of this app): 303 to `next` with the cookie, or 403
                   and the form again
    POST /logout   clears the cookie, 303 to the form
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time

from flask import Blueprint, current_app, make_response, redirect, render_template, request

from webapp.errors import WebError

log = logging.getLogger("ghsumm.access")

bp = Blueprint("access", __name__)

COOKIE = "ghsumm_access"
COOKIE_HOURS = 12
PAGES = ("webhook.suggestions_page",)  # the HTML pages behind the check (endpoints): they answer the sign-in form


def cookie_value(token: str, expires: int) -> str:
    """`<expires>.<hex HMAC-SHA256 of it, keyed by the token>`: valid until `expires` (Unix time) and only while
    the token stays the same; it does not reveal the token."""
    mac = hmac.new(token.encode("utf-8"), b"ghsumm-access:%d" % expires, hashlib.sha256).hexdigest()
    return "%d.%s" % (expires, mac)


def cookie_ok(token: str, value: str, now: float | None = None) -> bool:
    expires, _, mac = (value or "").partition(".")
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(cookie_value(token, int(expires)).encode("ascii"),
                               ("%s.%s" % (expires, mac)).encode("ascii", "replace"))


def token_ok(token: str, given: str) -> bool:
    return hmac.compare_digest(token.encode("utf-8"), given.encode("utf-8", "replace"))


def _credentials() -> tuple[str, str]:
    """("bearer", token) from the Authorization header, ("cookie", value), or ("", "") when neither was sent."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "bearer", value.strip()
    if request.cookies.get(COOKIE):
        return "cookie", request.cookies[COOKIE]
    return "", ""


def refusal(settings) -> WebError | None:
    """None when the request may see the decisions, else the WebError (401/403) to answer."""
    token = settings.access_token
    if not token:
        if not settings.is_public:
            return None
        return WebError(403, "The decision pages are off: this web app is public (GHSUMM_PUBLIC, or a webhook "
                             "secret is set) and no GHSUMM_ACCESS_TOKEN is configured. Set one to turn them on.",
                        "access_off")
    kind, given = _credentials()
    if not kind:
        return WebError(401, "Sign in: these pages list the webhook's decisions and need the access token "
                             "(Authorization: Bearer <token>, or the sign-in form of /suggestions).",
                        "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="ghsumm"'})
    if token_ok(token, given) if kind == "bearer" else cookie_ok(token, given):
        return None
    log.warning("refused %s %s: a wrong %s", request.method, request.path,
                "token" if kind == "bearer" else "or expired sign-in cookie")
    return WebError(403, "The access token is wrong%s." % ("" if kind == "bearer" else " or the sign-in expired"),
                    "forbidden")


def _sign_in_page(error: WebError, next_path: str):
    page = render_template("login.html", message=error.message, next_path=next_path,
                           can_sign_in=error.code != "access_off")
    response = make_response(page, error.status)
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def required(view):
    """A view decorator: the view runs only for a request the access check lets through. A page answers the sign-in
    form with the refusal's status; JSON answers the WebError."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        error = refusal(current_app.extensions["ghsumm"]["settings"])
        if error is None:
            return view(*args, **kwargs)
        if request.endpoint in PAGES:
            return _sign_in_page(error, request.path)
        raise error
    return checked


def _safe_next(path: str) -> str:
    """A path of this app to go back to after signing in (an absolute or protocol-relative URL is not)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/suggestions"


@bp.post("/login")
def login():
    settings = current_app.extensions["ghsumm"]["settings"]
    next_path = _safe_next(request.form.get("next", "/suggestions"))
    if not settings.access_token:
        return _sign_in_page(refusal(settings) or WebError(400, "No access token is configured: nothing to sign "
                                                                "in to.", "access_open"), next_path)
    if not token_ok(settings.access_token, request.form.get("token", "")):
        log.warning("refused a sign-in: a wrong token")
        return _sign_in_page(WebError(403, "That access token is wrong.", "forbidden"), next_path)
    expires = int(time.time()) + COOKIE_HOURS * 3600
    response = redirect(request.script_root + next_path, 303)
    response.set_cookie(COOKIE, cookie_value(settings.access_token, expires), max_age=COOKIE_HOURS * 3600,
                        httponly=True, samesite="Strict", secure=request.is_secure)
    return response


@bp.post("/logout")
def logout():
    response = redirect(request.script_root + _safe_next(request.form.get("next", "/suggestions")), 303)
    response.delete_cookie(COOKIE, httponly=True, samesite="Strict", secure=request.is_secure)
    return response
