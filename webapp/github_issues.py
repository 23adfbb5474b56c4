"""GitHub's API as the web app uses it, with PyGithub, each failure as a clear WebError: fetching an issue from
its URL (the page), and reading and posting an issue's comments (the webhook's comment mode).

Only https://<configured GitHub host>/<owner>/<repo>/issues/<number> is fetched (an optional trailing slash,
?query and #fragment are ignored). Anything else is a 400 naming what is wrong: another scheme (http:, file:,
...), another host or an IP address, credentials or a port in the URL, a pull request, any other path. The
request then goes to the configured API (GITHUB_API_URL), never to the host the user typed, so a URL can only
choose which issue is read, not where the request goes.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
import urllib.parse

from webapp.config import Settings, without_credentials
from webapp.errors import WebError

MAX_URL_CHARS = 2000
_ISSUE_PATH = re.compile(r"^/([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})/issues/([1-9][0-9]{0,9})/?$")
_PULL_PATH = re.compile(r"^/[^/]+/[^/]+/pulls?(/|$)")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def parse_issue_url(url, host: str) -> tuple[str, str, int]:
    """(owner, repo, number) of an issue URL on host; raises WebError(400) saying what is wrong."""
    example = "https://%s/OWNER/REPO/issues/NUMBER" % host

    def bad(why):
        return WebError(400, "%s. Give an issue URL like %s." % (why, example), "bad_url")
    if not isinstance(url, str) or not url.strip():
        raise bad("No issue URL was given")
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise bad("The URL is too long")
    if _UNSAFE.search(url):
        raise bad("The URL contains spaces, control characters or backslashes")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad("That is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise bad("Only https:// URLs are fetched" + (" (not %s:)" % parts.scheme.lower() if parts.scheme else ""))
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise bad("URLs with credentials (user:password@) are not accepted")
    hostname = (parts.hostname or "").rstrip(".").lower()
    try:
        ipaddress.ip_address(hostname.strip("[]"))
        is_ip = True
    except ValueError:
        is_ip = False
    if hostname != host:
        if is_ip:
            raise bad("IP addresses are not accepted: only issues on %s are fetched" % host)
        raise bad("Only issues on %s are fetched, not on %s" % (host, hostname or "an empty host"))
    if port not in (None, 443):
        raise bad("URLs with a port are not accepted")
    if _PULL_PATH.match(parts.path):
        raise bad("Pull request URLs are not supported: this model writes issue titles")
    m = _ISSUE_PATH.match(parts.path)
    if not m or m.group(2) in (".", ".."):
        raise bad("That is not an issue URL")
    return m.group(1), m.group(2), int(m.group(3))


def _header(headers, name: str):
    for k, v in (headers or {}).items():
        if k.lower() == name:
            return v
    return None


def _rate_limit_error(headers, token_set: bool) -> WebError:
    now = time.time()
    reset = _header(headers, "x-ratelimit-reset")
    retry_after = _header(headers, "retry-after")
    reset_at = None
    if reset and str(reset).isdigit():
        reset_at = int(reset)
    elif retry_after and str(retry_after).isdigit():
        reset_at = int(now) + int(retry_after)
    if reset_at is None:
        msg = "GitHub's API rate limit is exhausted; try again later."
        wait = 60
    else:
        wait = max(0, int(reset_at - now))
        when = dt.datetime.fromtimestamp(reset_at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        msg = "GitHub's API rate limit is exhausted; it resets at %s (in %d min %02d s)." % (
            when, wait // 60, wait % 60)
    if not token_set:
        msg += " Setting GITHUB_TOKEN raises the limit."
    extra = {"reset_at": reset_at, "retry_after_s": wait}
    return WebError(429, msg, "github_rate_limit", extra=extra, headers={"Retry-After": str(wait)})


def _github(settings: Settings):
    """A PyGithub client on the configured API: no retries or throttling sleeps (a person is waiting for a fetch,
    and the webhook's worker schedules its own retries), a rate limit is reported, not waited out."""
    from github import Auth, Github
    auth = Auth.Token(settings.github_token) if settings.github_token else None
    return Github(base_url=settings.github_api_url, auth=auth, timeout=int(max(1, settings.github_timeout)), retry=None,
                  seconds_between_requests=None, seconds_between_writes=None, lazy=True)


def _call_github(settings: Settings, name: str, call):
    """call(gh) with every GitHub failure as a WebError: 404 no such issue (or private), 429 rate limit (reset_at),
    502 with code github_auth for a rejected token, 404 github_forbidden for a 403, 502 for server errors,
    network failures and answers that are not JSON. The token is never part of a message."""
    import requests
    from github import GithubException, RateLimitExceededException, UnknownObjectException

    api = without_credentials(settings.github_api_url)
    gh = _github(settings)
    try:
        return call(gh)
    except RateLimitExceededException as e:
        raise _rate_limit_error(e.headers, bool(settings.github_token)) from None
    except UnknownObjectException:
        hint = " the configured token cannot read" if settings.github_token else " (set GITHUB_TOKEN to read those)"
        raise WebError(404, "GitHub has no issue %s, or it is in a private repository%s." % (name, hint),
                       "github_not_found") from None
    except GithubException as e:
        status = e.status
        if status == 429 or (status == 403 and _header(e.headers, "x-ratelimit-remaining") == "0"):
            raise _rate_limit_error(e.headers, bool(settings.github_token)) from None
        if status in (404, 410):
            raise WebError(404, "GitHub has no issue %s (or it was deleted)." % name, "github_not_found") from None
        if status == 401:
            raise WebError(502, "GitHub rejected the configured GITHUB_TOKEN (401): check or remove it.",
                           "github_auth") from None
        if status == 403:
            raise WebError(404, "GitHub refused access to %s (403): the repository is private or the token lacks "
                           "permission." % name, "github_forbidden") from None
        raise WebError(502, "GitHub answered %s for %s; try again later." % (status, name), "github_error") from None
    except (requests.exceptions.RequestException, OSError) as e:
        kind = "timed out" if isinstance(e, requests.exceptions.Timeout) else "could not be reached"
        raise WebError(502, "GitHub's API at %s %s; try again later." % (api, kind), "github_unreachable") from None
    except ValueError:  # a body that is not JSON
        raise WebError(502, "GitHub's API at %s answered with something that is not JSON." % api,
                       "github_bad_response") from None
    finally:
        try:
            gh.close()
        except Exception:  # noqa: BLE001  (closing is best effort)
            pass


def fetch_issue(settings: Settings, owner: str, repo: str, number: int) -> dict:
    """The issue as {title, body, url, number, repo, state}; raises WebError (404, 429, 400 for a pull request,
    502 for network failures and answers that are not an issue)."""
    name = "%s/%s#%d" % (owner, repo, number)
    api = without_credentials(settings.github_api_url)
    raw = _call_github(settings, name, lambda gh: gh.get_repo("%s/%s" % (owner, repo)).get_issue(number).raw_data)
    if not isinstance(raw, dict) or not isinstance(raw.get("title"), str) or "number" not in raw:
        raise WebError(502, "GitHub's API at %s answered with something that is not an issue." % api,
                       "github_bad_response")
    if raw.get("pull_request") is not None:
        raise WebError(400, "%s is a pull request, not an issue: this model writes issue titles." % name, "bad_url")
    body = raw.get("body")
    return {"title": raw["title"], "body": body if isinstance(body, str) else "", "number": number,
            "repo": "%s/%s" % (owner, repo), "state": raw.get("state") if isinstance(raw.get("state"), str) else "",
            "url": "https://%s/%s/%s/issues/%d" % (settings.github_host, owner, repo, number)}


def find_comment(settings: Settings, owner: str, repo: str, number: int, marker: str) -> str | None:
    """The html_url of the first comment on the issue whose body contains marker, or None (GET .../comments,
    every page). Raises WebError as fetch_issue does."""
    def find(gh):
        for comment in gh.get_repo("%s/%s" % (owner, repo)).get_issue(number).get_comments():
            if marker in (comment.body or ""):
                return comment.html_url or ""
        return None
    return _call_github(settings, "%s/%s#%d" % (owner, repo, number), find)


def post_comment(settings: Settings, owner: str, repo: str, number: int, body: str) -> str:
    """Posts one comment on the issue (POST .../comments, needs GITHUB_TOKEN); its html_url. Raises WebError as
    fetch_issue does (a locked issue or a token without write access: 404 github_forbidden)."""
    return _call_github(settings, "%s/%s#%d" % (owner, repo, number),
                        lambda gh: gh.get_repo("%s/%s" % (owner, repo)).get_issue(number).create_comment(body).html_url
                        or "")
