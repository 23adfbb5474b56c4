"""A small local HTTP server that answers like the GitHub API, for tests (no network here, and tests must not
depend on github.com or its rate limit).

    with GitHubApiStub() as api:                       # http://127.0.0.1:PORT, in a thread
        api.add_issue("octo", "hello", 7, title="crash on start", body="it crashes")
        api.rate_limited(reset_in=120)                 # every request: 403 "API rate limit exceeded" + X-RateLimit-*
        api.respond("/repos/octo/hello/issues/8", 200, '{"title": "broken', content_type="application/json")
        Github(base_url=api.url, ...)                  # PyGithub talks to it as to api.github.com
        api.requests                                   # [(method, path, headers dict)] it received

It implements only GET /repos/{owner}/{repo}/issues/{number} (what the web app reads), with GitHub's answer
shapes: the issue object (pull requests carry a "pull_request" member), 404 {"message": "Not Found"} for
unknown issues and private repositories alike, the primary rate limit as 403 + X-RateLimit-Remaining: 0 +
X-RateLimit-Reset (epoch seconds), or a secondary one as 429 + Retry-After.
"""
from __future__ import annotations

import http.server
import json
import threading
import time

DOCS = "https://docs.github.com/rest"


def issue_json(base_url: str, owner: str, repo: str, number: int, title: str, body: str | None,
               pull_request: bool = False, html_host: str = "github.com") -> dict:
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
        "comments": 0, "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z",
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
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                stub.requests.append(("GET", self.path, dict(self.headers.items())))
                path = self.path.split("?", 1)[0]
                status, body, headers = stub.everything or stub.overrides.get(path) or (
                    (200, stub.issues[path], {}) if path in stub.issues else
                    (404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}))
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
                  pull_request: bool = False) -> dict:
        obj = issue_json(self.url, owner, repo, number, title, body, pull_request, self.html_host)
        self.issues["/repos/%s/%s/issues/%d" % (owner, repo, number)] = obj
        return obj

    def respond(self, path: str, status: int, body, headers: dict | None = None, content_type: str | None = None):
        """Answer `path` with this status and body (a dict is sent as JSON, a str as is)."""
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

    def start(self) -> "GitHubApiStub":
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
