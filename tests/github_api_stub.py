"""A small local HTTP server that answers like the GitHub API, for tests (no network here, and tests must not
depend on github.com or its rate limit).

    with GitHubApiStub() as api:                       # http://127.0.0.1:PORT, in a thread
        api.add_issue("octo", "hello", 7, title="crash on start", body="it crashes")
        api.rate_limited(reset_in=120)                 # every request: 403 "API rate limit exceeded" + X-RateLimit-*
        api.respond("/repos/octo/hello/issues/8", 200, '{"title": "broken', content_type="application/json")
        Github(base_url=api.url, ...)                  # PyGithub talks to it as to api.github.com
        api.requests                                   # [(method, path, headers dict)] it received

        # for the ingester (data/ingest.py): listing, a rate-limit budget, failures
        api.add_issue("octo", "hello", 8, "t", "b", created_at="2024-03-01T00:00:00Z")
        api.add_repo("octo", "empty")                  # a repository without issues (unknown ones: 404)
        api.set_rate_limit(limit=5, reset_in=2)        # 5 requests, then 403 until the window resets
        api.fail_next(2, status=502)                   # the next 2 requests answer 502 (429: + Retry-After)
        api.fail_after_page(2, status=500)             # list pages after page 2 fail until fail_after_page(None)
        api.hold_after_page(2); ...; api.release()     # list pages after page 2 wait until release()

        # for the web app's webhook (comment mode): issue comments
        api.comments[("octo", "hello", 7)]             # [comment objects] posted to (or added on) that issue
        api.add_comment("octo", "hello", 7, "text")    # a comment someone else wrote
        api.lose_next_post_answers(1)                  # the next POST is done, but answered 502 (a lost answer)

It implements GET /repos/{owner}/{repo}/issues/{number} (what the web app reads) and GET
/repos/{owner}/{repo}/issues (the list the ingester pages through: state, since (on updated_at), sort
(created|updated), direction, per_page (default 30, at most 100), page, a Link header with rel="next", "last",
"first", "prev" as GitHub sends), GET and POST /repos/{owner}/{repo}/issues/{number}/comments (the comments
of an issue added with add_issue, paged like the list; a POST needs an Authorization header, records the comment
and answers 201 with it), with GitHub's answer shapes: the issue object (pull requests carry a
"pull_request" member), 404 {"message": "Not Found"} for unknown issues and private repositories alike, the
primary rate limit as 403 + X-RateLimit-Remaining: 0 + X-RateLimit-Reset (epoch seconds), or a secondary one
as 429 + Retry-After. Every answer carries X-RateLimit-Limit/-Remaining/-Used/-Reset/-Resource; the budget
(5000 an hour unless set_rate_limit() says otherwise) counts down with each answered request.
"""
from __future__ import annotations

import http.server
import json
import math
import re
import threading
import time
import urllib.parse

DOCS = "https://docs.github.com/rest"
_COMMENTS = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/([0-9]+)/comments$")


def issue_json(base_url: str, owner: str, repo: str, number: int, title: str, body: str | None,
               pull_request: bool = False, html_host: str = "github.com", created_at: str = "2024-01-02T03:04:05Z",
               updated_at: str | None = None) -> dict:
    """An issue object with the fields GitHub's REST API returns (abridged: the ones clients read)."""
    api = "%s/repos/%s/%s" % (base_url, owner, repo)
    obj = {
        "url": "%s/issues/%d" % (api, number), "repository_url": api,
        "labels_url": "%s/issues/%d/labels{/name}" % (api, number),
        "comments_url": "%s/issues/%d/comments" % (api, number),
        "html_url": "https://%s/%s/%s/%s/%d" % (html_host, owner, repo, "pull" if pull_request else "issues", number),
        "id": 1000000 + number, "node_id": "I_kwDOstub%d" % number, "number": number, "title": title,
        "user": {"login": "octocat", "id": 1, "type": "User", "site_admin": False},
        "labels": [], "state": "open", "locked": False, "assignee": None, "assignees": [], "milestone": None,
        "comments": 0, "created_at": created_at, "updated_at": updated_at or created_at,
        "closed_at": None, "author_association": "NONE", "body": body,
        "reactions": {"url": "%s/issues/%d/reactions" % (api, number), "total_count": 0},
    }
    if pull_request:
        obj["pull_request"] = {"url": "%s/pulls/%d" % (api, number),
                               "html_url": "https://%s/%s/%s/pull/%d" % (html_host, owner, repo, number)}
    return obj


class GitHubApiStub:
    def __init__(self, html_host: str = "github.com"):
        self.html_host = html_host
        self.issues: dict[str, dict] = {}
        self.overrides: dict[str, tuple] = {}
        self.everything: tuple | None = None
        self.requests: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        self.set_rate_limit(limit=5000, reset_in=3600)
        self.failures: list[tuple] = []           # fail_next(): (status, body, headers), one per request
        self.fail_after: tuple | None = None      # fail_after_page(): (page, status)
        self.hold_after: int | None = None        # hold_after_page()
        self.released = threading.Event()
        self.empty_repos: set[str] = set()        # add_repo(): repositories that exist without issues
        self.comments: dict[tuple, list] = {}     # (owner, repo, number) -> comment objects, oldest first
        self.lost_answers = 0                     # lose_next_post_answers()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                stub.requests.append(("GET", self.path, dict(self.headers.items())))
                path, _, query = self.path.partition("?")
                params = dict(urllib.parse.parse_qsl(query))
                listing = path.count("/") == 4 and path.startswith("/repos/") and path.endswith("/issues")
                comments = _COMMENTS.match(path)
                if comments and not stub.everything:
                    answer = stub._failure(False, params) or stub._limited() or stub.overrides.get(path) or \
                        stub._list_comments(comments, params)
                    return self._answer(*answer)
                if listing and stub.hold_after is not None and int(params.get("page", 1)) > stub.hold_after:
                    stub.released.wait(30)
                status, body, headers = stub.everything or stub._failure(listing, params) or stub._limited() or \
                    stub.overrides.get(path) or (stub._list(path, params) if listing else None) or (
                    (200, stub.issues[path], {}) if path in stub.issues else
                    (404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}))
                if not stub.everything:
                    headers = dict(stub._count(), **headers)
                self._send(status, body, headers)

            def _answer(self, status, body, headers):
                self._send(status, body, dict(stub._count(), **headers))

            def do_POST(self):
                stub.requests.append(("POST", self.path, dict(self.headers.items())))
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.partition("?")[0]
                if stub.everything:
                    return self._send(*stub.everything)
                m = _COMMENTS.match(path)
                if not m:
                    return self._answer(404, {"message": "Not Found", "documentation_url": DOCS}, {})
                failure = stub._failure(False, {}) or stub._limited()
                if failure:
                    return self._answer(*failure)
                if path in stub.overrides:
                    return self._answer(*stub.overrides[path])
                if not self.headers.get("Authorization"):
                    return self._answer(401, {"message": "Requires authentication", "documentation_url": DOCS}, {})
                if "/repos/%s/%s/issues/%s" % m.groups() not in stub.issues:
                    return self._answer(404, {"message": "Not Found", "documentation_url": DOCS}, {})
                try:
                    text = json.loads(data)["body"]
                except (ValueError, KeyError, TypeError):
                    return self._answer(400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, {})
                comment = stub.add_comment(m.group(1), m.group(2), int(m.group(3)), text, login="ghsumm-bot")
                with stub.lock:
                    lose = stub.lost_answers > 0
                    stub.lost_answers -= 1 if lose else 0
                if lose:
                    return self._answer(502, {"message": "Server Error"}, {})
                self._answer(201, comment, {"Location": comment["url"]})

            def _send(self, status, body, headers):
                if callable(body):
                    body = body()
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                headers = dict({"Content-Type": "application/json; charset=utf-8"}, **headers)
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_issue(self, owner: str, repo: str, number: int, title: str, body: str | None,
                  pull_request: bool = False, created_at: str = "2024-01-02T03:04:05Z",
                  updated_at: str | None = None) -> dict:
        obj = issue_json(self.url, owner, repo, number, title, body, pull_request, self.html_host, created_at,
                         updated_at)
        self.issues["/repos/%s/%s/issues/%d" % (owner, repo, number)] = obj
        return obj

    def add_comment(self, owner: str, repo: str, number: int, body: str, login: str = "someone") -> dict:
        """A comment on the issue (as GitHub's REST API returns it); returns it."""
        with self.lock:
            existing = self.comments.setdefault((owner, repo, number), [])
            cid = 5000000 + sum(len(v) for v in self.comments.values())
            api = "%s/repos/%s/%s" % (self.url, owner, repo)
            comment = {"id": cid, "node_id": "IC_stub%d" % cid, "url": "%s/issues/comments/%d" % (api, cid),
                       "html_url": "https://%s/%s/%s/issues/%d#issuecomment-%d" % (self.html_host, owner, repo,
                                                                                   number, cid),
                       "issue_url": "%s/issues/%d" % (api, number), "body": body,
                       "user": {"login": login, "id": 2, "type": "User", "site_admin": False},
                       "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z",
                       "author_association": "NONE"}
            existing.append(comment)
        return comment

    def lose_next_post_answers(self, n: int):
        """The next n POSTs take effect but are answered 502, as when GitHub's answer is lost on the way."""
        with self.lock:
            self.lost_answers += n

    def _list_comments(self, m, params: dict):
        owner, repo, number = m.group(1), m.group(2), int(m.group(3))
        if "/repos/%s/%s/issues/%d" % (owner, repo, number) not in self.issues:
            return (404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {})
        items = list(self.comments.get((owner, repo, number), []))
        per_page = min(int(params.get("per_page", 30)), 100)
        page = int(params.get("page", 1))
        headers = {}
        if page * per_page < len(items):
            q = urllib.parse.urlencode(dict(params, page=page + 1))
            headers["Link"] = '<%s/repos/%s/%s/issues/%d/comments?%s>; rel="next"' % (self.url, owner, repo, number, q)
        return (200, items[(page - 1) * per_page: page * per_page], headers)

    def add_repo(self, owner: str, repo: str):
        """A repository without issues (its list is [], not 404)."""
        self.empty_repos.add("/repos/%s/%s/issues" % (owner, repo))

    def respond(self, path: str, status: int, body, headers: dict | None = None, content_type: str | None = None):
        """Answer `path` with this status and body (a dict is sent as JSON, a str as is); for an issue's
        .../comments path, GET and POST alike."""
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        self.overrides[path] = (status, body, headers)

    def rate_limited(self, reset_in: int = 600, secondary: bool = False) -> int:
        """From now on every request is refused for the rate limit; returns the reset time (epoch seconds)."""
        reset = int(time.time()) + reset_in
        if secondary:
            self.everything = (429, {"message": "You have exceeded a secondary rate limit. Please wait a few "
                                     "minutes before you try again.", "documentation_url": DOCS},
                               {"Retry-After": str(reset_in)})
        else:
            self.everything = (403, {"message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                                     "Authenticated requests get a higher rate limit.)", "documentation_url": DOCS},
                               {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Used": "60",
                                "X-RateLimit-Reset": str(reset), "X-RateLimit-Resource": "core"})
        return reset

    def set_rate_limit(self, limit: int = 60, remaining: int | None = None, reset_in: float = 3600) -> int:
        """A primary rate-limit budget: `remaining` (default: limit) answered requests until the reset, then 403
        + X-RateLimit-Remaining: 0 until it (epoch seconds, returned); after the reset a new window of `limit`."""
        with self.lock:
            self.limit, self.window = limit, reset_in
            self.remaining = limit if remaining is None else remaining
            self.reset_at = self._window_end()
        return self.reset_at

    def _window_end(self) -> int:
        """The reset time (epoch seconds) of a window that starts now: rounded up, as GitHub's X-RateLimit-Reset
        is (rounded down, a 1-second window could end at once)."""
        return math.ceil(time.time() + self.window)

    def fail_next(self, n: int, status: int = 502, retry_after: int = 1):
        """The next n requests answer `status` (a 429 is a secondary rate limit, with Retry-After)."""
        if status == 429:
            failure = (429, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                             "before you try again.", "documentation_url": DOCS}, {"Retry-After": str(retry_after)})
        else:
            failure = (status, {"message": "Server Error"} if status >= 500 else {"message": "Error"}, {})
        with self.lock:
            self.failures += [failure] * n

    def fail_after_page(self, page: int | None, status: int = 500):
        """List requests for pages after `page` answer `status` until fail_after_page(None)."""
        self.fail_after = None if page is None else (page, status)

    def hold_after_page(self, page: int | None):
        """List requests for pages after `page` wait (at most 30 s) until release()."""
        self.released.clear()
        self.hold_after = page

    def release(self):
        self.hold_after = None
        self.released.set()

    def _failure(self, listing: bool, params: dict):
        with self.lock:
            if self.failures:
                return self.failures.pop(0)
        if listing and self.fail_after and int(params.get("page", 1)) > self.fail_after[0]:
            return (self.fail_after[1], {"message": "Server Error"}, {})
        return None

    def _limits(self) -> dict:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Used": str(self.limit - self.remaining), "X-RateLimit-Reset": str(self.reset_at),
                "X-RateLimit-Resource": "core"}

    def _limited(self):
        """The primary rate limit's 403 while the budget is spent (a new window once the reset has passed)."""
        with self.lock:
            if time.time() >= self.reset_at:
                self.remaining, self.reset_at = self.limit, self._window_end()
            if self.remaining > 0:
                return None
            return (403, {"message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                          "Authenticated requests get a higher rate limit.)", "documentation_url": DOCS},
                    self._limits())

    def _count(self) -> dict:
        """Spends one request of the budget (not for a refused one); the X-RateLimit-* headers after it."""
        with self.lock:
            if self.remaining > 0:
                self.remaining -= 1
            return self._limits()

    def _list(self, path: str, params: dict):
        """GET /repos/{owner}/{repo}/issues: issues and pull requests of the repository, filtered, sorted, paged."""
        prefix = path + "/"
        items = [o for p, o in self.issues.items() if p.startswith(prefix)]
        if not items and path not in self.empty_repos:
            return None  # no such repository (or a private one): 404, as GitHub answers
        state = params.get("state", "open")
        if state != "all":
            items = [o for o in items if o["state"] == state]
        if "since" in params:
            items = [o for o in items if o["updated_at"] >= params["since"]]
        key = "updated_at" if params.get("sort") == "updated" else "created_at"
        items.sort(key=lambda o: (o[key], o["number"]), reverse=params.get("direction", "desc") == "desc")
        per_page = min(int(params.get("per_page", 30)), 100)
        page = int(params.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        links = []

        def link(n, rel):
            q = urllib.parse.urlencode(dict(params, page=n))
            links.append('<%s%s?%s>; rel="%s"' % (self.url, path, q, rel))
        if page > 1:
            link(page - 1, "prev")
        if page < last:
            link(page + 1, "next")
            link(last, "last")
        if page > 1:
            link(1, "first")
        return (200, items[(page - 1) * per_page: page * per_page], {"Link": ", ".join(links)} if links else {})

    def start(self) -> "GitHubApiStub":
        self._thread.start()
        return self

    def stop(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
