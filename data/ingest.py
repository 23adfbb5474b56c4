"""python -m data.ingest: fetch a repository's GitHub issues into JSON Lines that data.preprocess reads.

    GITHUB_TOKEN=... python -m data.ingest --repo kubeflow/kubeflow [--repo ...] --since auto|YYYY-MM-DD --out DIR
        [--base_url https://HOST/api/v3] [--max_issues N] [--on_rate_limit wait|stop] [--max_wait SECONDS]

Layout (local DIR), per repository:
    DIR/<owner>__<name>/issues-<UTC start time>.jsonl   one file per run; one GitHub REST issue object a line, as
                                                        the API returns it (format github_jsonl of data.readers)
    DIR/<owner>__<name>/watermark.json                  where the next run continues
A run that finds nothing new writes no file (data.readers refuses empty files).

What is fetched: GET /repos/{owner}/{name}/issues?state=all&sort=created&direction=asc, page by page (the Link
header's rel="next"), through PyGithub's requester. Pull requests (objects with "pull_request") are skipped and
counted. GitHub's `since` parameter filters on updated_at, so every object is also checked on created_at.
(Not repo.get_issues(): PyGithub's raw_data completes each listed issue with one more GET, 100x the requests.)

Watermark: the newest created_at written, the ids of the issues created in that same second (ties), and how many
bytes of each output file it accounts for. An issue is new when created after the watermark, or in that second
with an id not yet seen; --since DATE is a further lower bound (created on or after DATE), so one DIR never holds
an issue twice. Every line is flushed as written; after each page the file is fsynced and the watermark replaced
atomically (temp file + rename). A run killed between the two is recovered by the next run: it reads the bytes
the watermark does not account for, advances the watermark over them and cuts off a half-written last line.

Rate limits and failures: every request goes through PyGithub's GithubRetry (an urllib3 Retry; retry_policy()).
A rate-limited answer (403 with GitHub's rate-limit message, or 429) waits Retry-After, else X-RateLimit-Reset
+ 1 s; 5xx answers and network errors are retried with exponential backoff (0, 2, 4, 8, 16 s); 5 retries in all.
Each wait is reported on stderr. Before a request while X-RateLimit-Remaining is 0 the run waits for the reset
itself, without sending a request that would be refused. --on_rate_limit wait (default) waits when the wait is at
most --max_wait; otherwise (or with stop) the run ends with exit 3, the work so far kept, saying when to retry.

Exit status: 0 done; 1 an API failure (one line per repository; the other repositories still run); 2 bad input;
3 stopped by a rate limit. Progress goes to stderr, the summary to stdout. The token is never printed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

EXIT_OK, EXIT_API_FAILURE, EXIT_BAD_INPUT, EXIT_RATE_LIMITED = 0, 1, 2, 3
RETRIES = 5
RETRY_BACKOFF_S = 1.0  # first retry after this, then doubling
TIMEOUT_S = 30
REPO = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})$")
NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


class Failure(Exception):
    """An error retrying does not fix (GitHub's answer, an unreadable watermark); its message is the line shown."""


class RateLimited(Exception):
    def __init__(self, reset_at: float):
        self.reset_at = reset_at
        super().__init__(f"GitHub's rate limit is exhausted until {utc(reset_at)}")


def log(message: str) -> None:
    print("ingest: " + message, file=sys.stderr, flush=True)


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_repo(text: str) -> tuple[str, str]:
    m = REPO.match(text.strip())
    if not m or m.group(2) in (".", ".."):
        raise ValueError(f"--repo {text!r} is not of the form owner/name")
    return m.group(1), m.group(2)


def parse_since(text: str) -> str | None:
    """'auto' -> None (the watermark alone decides); a date or ISO time -> 'YYYY-MM-DDTHH:MM:SSZ' (UTC)."""
    if text == "auto":
        return None
    from data.readers import normalize_date
    return normalize_date(text)  # ValueError for anything else


# ---------------------------------------------------------------- the watermark

@dataclass
class Watermark:
    created_at: str | None = None                       # newest created_at written ('YYYY-MM-DDTHH:MM:SSZ')
    ids: set = field(default_factory=set)               # ids of the issues written with exactly that created_at
    files: dict = field(default_factory=dict)           # output file name -> bytes accounted for

    def holds(self, issue: dict) -> bool:
        """Whether an issue is already in the output (created before the watermark, or a tie already seen)."""
        created = issue["created_at"]
        return self.created_at is not None and (
            created < self.created_at or (created == self.created_at and issue["id"] in self.ids))

    def advance(self, issue: dict) -> None:
        created = issue["created_at"]
        if self.created_at is None or created > self.created_at:
            self.created_at, self.ids = created, {issue["id"]}
        elif created == self.created_at:
            self.ids.add(issue["id"])

    @classmethod
    def load(cls, path: Path) -> "Watermark":
        if not path.exists():
            return cls()
        try:
            d = json.loads(path.read_text())
            return cls(d.get("created_at"), set(d.get("ids", [])), dict(d.get("files", {})))
        except (ValueError, AttributeError, TypeError) as e:
            raise Failure(f"{path} is not a watermark ({e}); fix or remove it (removing it re-fetches everything"
                          " into a new file)") from None

    def save(self, path: Path, repo: str) -> None:
        """Atomically: a reader (or a killed run) sees the old watermark or the new one, never half of one."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"repo": repo, "created_at": self.created_at, "ids": sorted(self.ids),
                                   "files": self.files, "saved_at": utc(time.time())}, indent=1) + "\n")
        os.replace(tmp, path)


def recover(repo_dir: Path, wm: Watermark) -> bool:
    """Accounts for what a killed run wrote after its last saved watermark: advances the watermark over those
    lines, cuts a half-written last line off and removes an empty file. Returns whether anything changed."""
    changed = False
    for path in sorted(repo_dir.glob("issues-*.jsonl")):
        size = path.stat().st_size
        start = wm.files.get(path.name, 0)
        if start > size:  # replaced by someone else: read it all again (advancing twice changes nothing)
            start = 0
        if size == start and path.name in wm.files:
            continue
        with open(path, "rb+") as f:
            f.seek(start)
            tail = f.read()
            end = tail.rfind(b"\n") + 1
            if end < len(tail):
                log(f"{path}: removed a half-written last line ({len(tail) - end} bytes) left by a killed run")
                f.truncate(start + end)
        for line in tail[:end].splitlines():
            if line.strip():
                try:
                    wm.advance(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    log(f"{path}: a line that is not an issue object was left as is")
        if start + end == 0:
            path.unlink()
            wm.files.pop(path.name, None)
        else:
            wm.files[path.name] = start + end
        changed = True
    return changed


# ---------------------------------------------------------------- talking to GitHub

def _header(headers: dict, name: str):
    for k, v in (headers or {}).items():
        if k.lower() == name:
            return v
    return None


def retry_policy(on_rate_limit: str, max_wait: float):
    """PyGithub's GithubRetry (an urllib3 Retry) for every request: a rate-limited answer (403 with GitHub's rate-limit
    message, 429) waits for Retry-After, else X-RateLimit-Reset + 1 s; 5xx answers and network errors are retried
    with exponential backoff. RETRIES retries in all, then the last answer is returned (raise_on_status=False)."""
    from github import GithubRetry

    class Retry(GithubRetry):
        """GithubRetry that says on stderr what it retries and how long it waits, and stops (RateLimited) before a
        rate-limit wait that --on_rate_limit stop or --max_wait does not allow."""

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
            if response is not None and response.status in (403, 429):  # GithubRetry retries only rate limits
                wait = retry.get_retry_after(response) or retry.get_backoff_time()
                if on_rate_limit == "stop" or wait > max_wait:
                    raise RateLimited(time.time() + wait)
                log(f"rate limit reached: waiting {wait:.0f} s, until {utc(time.time() + wait)}")
            else:
                why = f"GitHub answered {response.status}" if response is not None else type(error).__name__
                log(f"{why}; retry {len(retry.history)}/{RETRIES} in {retry.get_backoff_time():g} s")
            return retry

    return Retry(total=RETRIES, backoff_factor=RETRY_BACKOFF_S, raise_on_status=False)


class Client:
    """GET with PyGithub's requester and its GithubRetry (retry_policy), after waiting out a spent budget."""

    def __init__(self, base_url: str, token: str | None, on_rate_limit: str, max_wait: float):
        from github import Auth, Github
        self.gh = Github(base_url=base_url, auth=Auth.Token(token) if token else None, timeout=TIMEOUT_S,
                         retry=retry_policy(on_rate_limit, max_wait), seconds_between_requests=None, lazy=True)
        self.on_rate_limit, self.max_wait = on_rate_limit, max_wait
        self.remaining = self.limit = self.reset_at = None

    def get(self, url: str, params: dict | None) -> tuple[dict, object]:
        import requests
        from github import GithubException
        if self.remaining == 0 and self.reset_at and self.reset_at > time.time():
            self._wait(self.reset_at + 1 - time.time())  # the budget is spent: don't send a doomed request
        try:
            headers, data = self.gh.requester.requestJsonAndCheck("GET", url, parameters=params)
        except GithubException as e:  # what retrying did not fix
            self._note(e.headers)
            if self._is_rate_limit(e):
                raise Failure(f"still rate limited after {RETRIES} waits: {e.status} {e.data}") from None
            raise Failure(self._describe(e, url)) from None
        except ValueError:  # an answer that is not JSON (a proxy's HTML page, a cut-off body)
            raise Failure(f"the answer for {url.split('?')[0]} is not JSON: is {self.gh.requester.base_url} "
                          "GitHub's API?") from None
        except (requests.exceptions.RequestException, OSError) as e:
            raise Failure(f"GitHub's API could not be reached after {RETRIES} retries ({type(e).__name__})") from None
        self._note(headers)
        return headers, data

    def _note(self, headers) -> None:
        remaining, limit, reset = (_header(headers, h) for h in
                                   ("x-ratelimit-remaining", "x-ratelimit-limit", "x-ratelimit-reset"))
        if remaining is not None and str(remaining).isdigit():
            self.remaining = int(remaining)
        if limit is not None and str(limit).isdigit():
            self.limit = int(limit)
        if reset is not None and str(reset).isdigit():
            self.reset_at = int(reset)

    @staticmethod
    def _is_rate_limit(e) -> bool:
        from github.Requester import Requester
        message = e.data.get("message", "") if isinstance(e.data, dict) else ""
        return e.status == 429 or (e.status == 403 and (
            _header(e.headers, "x-ratelimit-remaining") == "0" or _header(e.headers, "retry-after") is not None
            or Requester.isRateLimitError(message)))

    def _wait(self, seconds: float) -> None:
        until = time.time() + seconds
        if self.on_rate_limit == "stop" or seconds > self.max_wait:
            raise RateLimited(until)
        log(f"rate limit reached: waiting {seconds:.0f} s, until {utc(until)}")
        time.sleep(seconds)
        self.remaining = None

    @staticmethod
    def _describe(e, url: str) -> str:
        message = e.data.get("message") if isinstance(e.data, dict) else None
        if e.status == 401:
            return "GitHub rejected GITHUB_TOKEN (401 %s): check or unset it" % (message or "Bad credentials")
        if e.status == 404:
            return "not found (404): no such repository, or it is private and the token cannot read it"
        retried = f" after {RETRIES} retries" if e.status >= 500 else ""
        return f"GitHub answered {e.status}{retried} for {url.split('?')[0]}: {message or 'no message'}"

    def rate_text(self) -> str:
        return "rate limit: %s/%s left" % (self.remaining, self.limit) if self.remaining is not None else \
            "rate limit: unknown"


def issue_pages(client: Client, owner: str, name: str, since: str | None, per_page: int):
    """Yields the pages (lists of raw objects) of the repository's issues and pull requests, oldest first."""
    url = f"/repos/{owner}/{name}/issues"
    params = {"state": "all", "sort": "created", "direction": "asc", "per_page": per_page}
    if since:
        params["since"] = since
    while url:
        headers, data = client.get(url, params)
        if not isinstance(data, list):
            raise Failure(f"GitHub's answer for {url.split('?')[0]} is not a list of issues")
        yield data
        m = NEXT_LINK.search(_header(headers, "link") or "")
        url, params = (m.group(1), None) if m else (None, None)


# ---------------------------------------------------------------- one repository

@dataclass
class RepoResult:
    repo: str
    written: int = 0
    pull_requests: int = 0
    old: int = 0
    pages: int = 0
    file: str | None = None
    watermark: str | None = None
    error: str | None = None


def _new_file(repo_dir: Path):
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        path = repo_dir / (f"issues-{stamp}.jsonl" if n == 1 else f"issues-{stamp}-{n}.jsonl")
        try:
            return path, open(path, "x", encoding="utf-8")
        except FileExistsError:
            continue
    raise RuntimeError(f"{repo_dir}: cannot create a new issues file")


def ingest_repo(client: Client, owner: str, name: str, out: Path, since: str | None,
                max_issues: int | None = None, per_page: int = 100, result: RepoResult | None = None) -> RepoResult:
    """Writes the repository's new issues; `result` (counts so far) is filled in as it goes, also on failure."""
    repo = f"{owner}/{name}"
    result = result or RepoResult(repo)
    repo_dir = out / f"{owner}__{name}"
    repo_dir.mkdir(parents=True, exist_ok=True)
    lock = open(repo_dir / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise Failure(f"another ingest run is writing {repo_dir}") from None
    wm_path, wm = repo_dir / "watermark.json", Watermark()
    path = f = None

    def checkpoint():  # lines are already flushed; make them durable, then move the watermark over them
        if f:
            f.flush()
            os.fsync(f.fileno())
            wm.files[path.name] = f.tell()
            wm.save(wm_path, repo)

    try:
        wm = Watermark.load(wm_path)
        if recover(repo_dir, wm):
            wm.save(wm_path, repo)
        start = max(filter(None, (since, wm.created_at)), default=None)
        log(f"{repo}: " + (f"issues created from {start}" if start else "all issues")
            + (f" (watermark {wm.created_at}, {len(wm.ids)} issue(s) in that second)" if wm.created_at else ""))
        for page in issue_pages(client, owner, name, start, per_page):
            result.pages += 1
            new = skipped = 0
            for obj in page:
                if obj.get("pull_request") is not None:
                    skipped += 1
                elif not obj.get("created_at") or (since and obj["created_at"] < since) or wm.holds(obj):
                    result.old += 1
                elif max_issues is None or result.written < max_issues:
                    if f is None:
                        path, f = _new_file(repo_dir)
                        result.file = str(path)
                    f.write(json.dumps(obj, ensure_ascii=False) + "\n")
                    f.flush()
                    wm.advance(obj)
                    result.written += 1
                    new += 1
            result.pull_requests += skipped
            checkpoint()
            log(f"{repo} page {result.pages}: {new} issues written ({result.written} in all), {skipped} pull "
                f"requests skipped ({result.pull_requests} in all); {client.rate_text()}")
            if max_issues is not None and result.written >= max_issues:
                log(f"{repo}: --max_issues {max_issues} reached; the next run continues from here")
                break
    finally:
        checkpoint()
        if f:
            f.close()
        result.watermark = wm.created_at
        lock.close()
    return result


# ---------------------------------------------------------------- the command line

def summary(results: list[RepoResult]) -> str:
    lines = ["ingest summary:"]
    for r in results:
        state = "FAILED: " + r.error if r.error else "ok"
        lines.append(f"  {r.repo}: {r.written} issues written, {r.pull_requests} pull requests skipped, "
                     f"{r.old} already held or older; {r.pages} pages; file {r.file or '(none: nothing new)'}; "
                     f"watermark {r.watermark or '(none)'}; {state}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.ingest", description=__doc__.split("\n")[0])
    p.add_argument("--repo", action="append", required=True, help="owner/name; repeat for several")
    p.add_argument("--since", required=True, help="YYYY-MM-DD (or an ISO time): issues created from then on; "
                   "auto: continue from the watermark in --out (everything on a first run)")
    p.add_argument("--out", required=True, help="output directory (local)")
    p.add_argument("--base_url", default="https://api.github.com", help="API URL (GitHub Enterprise: .../api/v3)")
    p.add_argument("--max_issues", type=int, help="at most this many issues per repository in this run")
    p.add_argument("--on_rate_limit", choices=("wait", "stop"), default="wait")
    p.add_argument("--max_wait", type=float, default=3700, help="longest rate-limit wait in seconds (default 3700)")
    p.add_argument("--per_page", type=int, default=100, help="issues per request (1-100)")
    args = p.parse_args(argv)
    try:
        repos = [parse_repo(r) for r in args.repo]
        since = parse_since(args.since)
    except ValueError as e:
        p.error(str(e))
    if args.max_issues is not None and args.max_issues < 1:
        p.error("--max_issues must be at least 1")
    if args.max_wait < 0 or not 1 <= args.per_page <= 100:
        p.error("--max_wait must be >= 0 and --per_page within 1..100")

    token = os.environ.get("GITHUB_TOKEN") or None
    log(f"API {args.base_url}; GITHUB_TOKEN " + ("is set" if token else "is not set (anonymous: 60 requests an hour)"))
    client = Client(args.base_url, token, args.on_rate_limit, args.max_wait)
    out = Path(args.out)
    results, status = [], EXIT_OK
    for owner, name in repos:
        result = RepoResult(f"{owner}/{name}")
        try:
            ingest_repo(client, owner, name, out, since, args.max_issues, args.per_page, result)
        except (Failure, OSError) as e:  # OSError: the output directory (full disk, permissions)
            result.error = str(e)
            print(f"ingest: {owner}/{name}: {e}", file=sys.stderr)
            status = EXIT_API_FAILURE
        except RateLimited as e:
            results.append(result)
            print(summary(results))
            wait = max(0, int(e.reset_at - time.time()))
            print(f"ingest: stopped: {e} (in {wait // 60} min {wait % 60:02d} s); what was fetched is kept: run "
                  f"again after that with --since auto to continue", file=sys.stderr)
            return EXIT_RATE_LIMITED
        except KeyboardInterrupt:
            print(f"ingest: interrupted during {owner}/{name}; what was written is kept (--since auto continues)",
                  file=sys.stderr)
            return 130
        results.append(result)
    print(summary(results))
    return status


if __name__ == "__main__":
    sys.exit(main())
