"""python -m data.ingest against tests/github_api_stub.py (GitHub itself cannot be reached from the tests):
pagination, pull requests skipped, the watermark and runs after it, interrupted runs resumed without duplicates,
rate limits (wait and stop), 5xx retries, the token kept out of the output, and data.readers reading the files."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from data import ingest
from data.readers import read_issues
from data.records import Issue
from github_api_stub import GitHubApiStub

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ghp_NotARealTokenButLooksLikeOne1234567890"


@pytest.fixture
def api(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setattr(ingest, "RETRY_BACKOFF_S", 0.01)
    with GitHubApiStub() as stub:
        yield stub


def add(api, first, last, prs=(), day=1, repo="hello"):
    """Issues first..last of octo/<repo>, created a minute apart from 2024-01-<day>; numbers in prs are PRs."""
    for n in range(first, last + 1):
        created = "2024-01-%02dT00:%02d:00Z" % (day + n // 60, n % 60)
        api.add_issue("octo", repo, n, "title %d" % n, "body of %d" % n, pull_request=n in prs, created_at=created)


def run(api, out, *extra, since="auto", repos=("octo/hello",)):
    argv = ["--since", since, "--out", str(out), "--base_url", api.url, "--per_page", "3"]
    for r in repos:
        argv += ["--repo", r]
    return ingest.main(argv + list(extra))


def lines(out, repo="octo__hello"):
    """Every JSON line of every output file of the repository, oldest file first."""
    rows = []
    for path in sorted((Path(out) / repo).glob("issues-*.jsonl"), key=os.path.getmtime):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def numbers(out, repo="octo__hello"):
    return [o["number"] for o in lines(out, repo)]


def watermark(out, repo="octo__hello"):
    return json.loads((Path(out) / repo / "watermark.json").read_text())


def list_requests(api):
    return [path for _, path, _ in api.requests if "/issues?" in path]


def pages(api):
    """The page numbers of the list requests the stub received."""
    return [int(dict(urllib.parse.parse_qsl(p.split("?", 1)[1])).get("page", 1)) for p in list_requests(api)]


def cli(*args):
    """python -m data.ingest in a process of its own (the api fixture has removed GITHUB_TOKEN)."""
    return subprocess.Popen([sys.executable, "-m", "data.ingest", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_pages_skips_pull_requests_and_writes_what_readers_read(api, tmp_path, capsys):
    add(api, 1, 10, prs={3, 4, 9})
    assert run(api, tmp_path) == 0
    out, err = capsys.readouterr()
    # 10 objects, 3 a page: 4 pages, followed through the Link header
    assert pages(api) == [1, 2, 3, 4]
    assert "state=all" in list_requests(api)[0]
    assert "sort=created" in list_requests(api)[0] and "direction=asc" in list_requests(api)[0]
    assert numbers(tmp_path) == [1, 2, 5, 6, 7, 8, 10]
    files = list((tmp_path / "octo__hello").glob("issues-*.jsonl"))
    assert len(files) == 1
    # the raw GitHub REST objects, unchanged
    stub_obj = api.issues["/repos/octo/hello/issues/5"]
    assert lines(tmp_path)[2] == stub_obj
    # progress on stderr, the summary on stdout
    assert "page 4" in err and "rate limit" in err and "pull requests skipped" in err
    assert "7 issues written, 3 pull requests skipped" in out and "watermark 2024-01-01T00:10:00Z" in out
    wm = watermark(tmp_path)
    assert wm["created_at"] == "2024-01-01T00:10:00Z" and wm["ids"] == [1000010]
    assert wm["files"] == {files[0].name: files[0].stat().st_size}
    # data.readers detects the format and reads every issue
    rows = list(read_issues(str(files[0])))
    assert all(isinstance(r, Issue) for r in rows) and len(rows) == 7
    assert rows[0].title == "title 1" and rows[0].body == "body of 1" and rows[0].repo == "octo/hello"
    assert rows[0].created_at == "2024-01-01T00:01:00Z" and rows[0].url == "https://github.com/octo/hello/issues/1"


def test_second_run_fetches_only_new_issues(api, tmp_path, capsys):
    add(api, 1, 5)
    assert run(api, tmp_path) == 0
    # new issues: one created in the same second as the newest one already written (a tie), and two later
    api.add_issue("octo", "hello", 6, "tie", "b", created_at="2024-01-01T00:05:00Z")
    add(api, 7, 8)
    # an old issue updated since: GitHub's `since` returns it (it filters on updated_at), it is not new
    api.issues["/repos/octo/hello/issues/2"]["updated_at"] = "2024-06-01T00:00:00Z"
    api.requests.clear()
    assert run(api, tmp_path) == 0
    assert "since=2024-01-01T00%3A05%3A00Z" in list_requests(api)[0]
    assert numbers(tmp_path) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert len(list((tmp_path / "octo__hello").glob("issues-*.jsonl"))) == 2
    assert "3 issues written" in capsys.readouterr().out
    # nothing new: no new (empty) file, exit 0
    assert run(api, tmp_path) == 0
    assert len(list((tmp_path / "octo__hello").glob("issues-*.jsonl"))) == 2
    assert "0 issues written" in capsys.readouterr().out


def test_since_date_and_max_issues(api, tmp_path, capsys):
    add(api, 1, 9)
    assert run(api, tmp_path, "--max_issues", "2", since="2024-01-01T00:04:00Z") == 0
    assert numbers(tmp_path) == [4, 5]
    assert run(api, tmp_path, "--max_issues", "2") == 0  # continues from the watermark
    assert numbers(tmp_path) == [4, 5, 6, 7]
    assert run(api, tmp_path, since="2024-01-01") == 0  # an earlier date never re-writes what the dir holds
    assert numbers(tmp_path) == [4, 5, 6, 7, 8, 9]


def test_several_repos_each_with_its_own_watermark(api, tmp_path, capsys):
    add(api, 1, 4)
    add(api, 1, 2, repo="other", day=5)
    assert run(api, tmp_path, repos=("octo/hello", "octo/other")) == 0
    assert numbers(tmp_path) == [1, 2, 3, 4] and numbers(tmp_path, "octo__other") == [1, 2]
    assert watermark(tmp_path, "octo__other")["created_at"] == "2024-01-05T00:02:00Z"
    out = capsys.readouterr().out
    assert "octo/hello: 4 issues written" in out and "octo/other: 2 issues written" in out


def test_api_failing_for_good_after_some_pages_then_resume(api, tmp_path, capsys):
    add(api, 1, 12, prs={8})
    api.fail_after_page(2, status=500)
    assert run(api, tmp_path) == ingest.EXIT_API_FAILURE
    out, err = capsys.readouterr()
    assert "octo/hello: GitHub answered 500 after 5 retries" in err and "Traceback" not in err
    assert "FAILED" in out
    assert numbers(tmp_path) == [1, 2, 3, 4, 5, 6]  # pages 1 and 2 were kept
    assert watermark(tmp_path)["created_at"] == "2024-01-01T00:06:00Z"
    api.fail_after_page(None)
    assert run(api, tmp_path) == 0
    assert numbers(tmp_path) == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]


def test_killed_run_then_resume_without_duplicates(api, tmp_path):
    add(api, 1, 12)
    api.hold_after_page(2)  # the run blocks on page 3: kill it there
    proc = cli("--repo", "octo/hello", "--since", "auto", "--out", str(tmp_path), "--base_url", api.url,
               "--per_page", "3")
    deadline = time.time() + 30
    while time.time() < deadline and 3 not in pages(api):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    api.release()
    assert numbers(tmp_path) == [1, 2, 3, 4, 5, 6]
    # Also as if it had been killed after writing issue 7 but before saving the watermark, in the middle of 8.
    [path] = (tmp_path / "octo__hello").glob("issues-*.jsonl")
    with open(path, "a") as f:
        f.write(json.dumps(api.issues["/repos/octo/hello/issues/7"]) + "\n")
        f.write(json.dumps(api.issues["/repos/octo/hello/issues/8"])[:40])
    assert run(api, tmp_path) == 0
    assert numbers(tmp_path) == list(range(1, 13))  # each once; the half-written line is gone
    for p in (tmp_path / "octo__hello").glob("issues-*.jsonl"):
        assert all(isinstance(r, Issue) for r in read_issues(str(p)))


@pytest.mark.parametrize("how", ["budget_spent", "403", "429"])
def test_rate_limit_wait_then_continue(api, tmp_path, capsys, how):
    add(api, 1, 9)
    if how == "budget_spent":  # X-RateLimit-Remaining reaches 0 after page 2: wait before asking again (a window
        # of 2 s, which two pages do not outlast on a loaded machine, and the wait ends within the 6 s below)
        api.set_rate_limit(limit=2, reset_in=2)
    elif how == "403":  # the first answer is the primary limit's 403
        api.set_rate_limit(limit=50, remaining=0, reset_in=1)
    else:  # a secondary limit: 429 + Retry-After
        api.fail_next(1, status=429, retry_after=1)
    started = time.time()
    assert run(api, tmp_path) == 0
    assert time.time() - started < 6
    assert numbers(tmp_path) == list(range(1, 10))
    err = capsys.readouterr().err
    assert "rate limit reached: waiting" in err
    if how == "budget_spent":  # no request was sent just to be refused
        assert len(list_requests(api)) == 3


@pytest.mark.parametrize("mode", [["--on_rate_limit", "stop"], ["--max_wait", "5"]])
def test_rate_limit_stop_keeps_the_work_and_says_when(api, tmp_path, capsys, mode):
    add(api, 1, 9)
    reset = api.set_rate_limit(limit=2, reset_in=600)
    assert run(api, tmp_path, *mode, repos=("octo/hello", "octo/other")) == ingest.EXIT_RATE_LIMITED
    out, err = capsys.readouterr()
    assert numbers(tmp_path) == [1, 2, 3, 4, 5, 6]
    assert ingest.utc(reset + 1) in err and "run again after that with --since auto" in err
    assert "Traceback" not in err and "6 issues written" in out
    assert not (tmp_path / "octo__other").exists()  # the rate limit stops every repository
    api.set_rate_limit(limit=5000)
    assert run(api, tmp_path) == 0
    assert numbers(tmp_path) == list(range(1, 10))


def test_5xx_answers_are_retried(api, tmp_path, capsys):
    add(api, 1, 5)
    api.fail_next(2, status=502)
    assert run(api, tmp_path) == 0
    assert numbers(tmp_path) == [1, 2, 3, 4, 5]
    err = capsys.readouterr().err
    assert "GitHub answered 502; retry 1/5" in err and "retry 2/5" in err
    assert len(list_requests(api)) == 4


def test_token_is_sent_but_never_printed(api, tmp_path):
    add(api, 1, 4)
    env = dict(os.environ, GITHUB_TOKEN=TOKEN)
    args = ["--since", "auto", "--out", str(tmp_path), "--base_url", api.url, "--per_page", "3"]
    ok = subprocess.run([sys.executable, "-m", "data.ingest", "--repo", "octo/hello", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=60)
    api.respond("/repos/octo/bad/issues", 401, {"message": "Bad credentials"})
    bad = subprocess.run([sys.executable, "-m", "data.ingest", "--repo", "octo/bad", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and bad.returncode == ingest.EXIT_API_FAILURE
    assert "GITHUB_TOKEN is set" in ok.stderr
    assert "octo/bad: GitHub rejected GITHUB_TOKEN (401 Bad credentials)" in bad.stderr
    for text in (ok.stdout, ok.stderr, bad.stdout, bad.stderr, *(p.read_text() for p in tmp_path.rglob("*.json*"))):
        assert TOKEN not in text
    assert all(h.get("Authorization", "").endswith(TOKEN) for _, _, h in api.requests)


def test_cli_exit_status_and_one_line_errors(api, tmp_path):
    base = ["--out", str(tmp_path), "--base_url", api.url]
    for bad in (["--repo", "nope", "--since", "auto"], ["--repo", "a/b/c", "--since", "auto"],
                ["--repo", "octo/hello", "--since", "last tuesday"], ["--repo", "octo/hello", "--since", "auto",
                                                                      "--max_issues", "0"]):
        r = subprocess.run([sys.executable, "-m", "data.ingest", *bad, *base], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2, (bad, r.stderr)
        assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "data.ingest", "--repo", "octo/missing", "--since", "auto", *base],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1] == (
        "ingest: octo/missing: not found (404): no such repository, or it is private and the token cannot read it")


def test_answers_that_are_not_issue_lists_fail_with_one_line(api, tmp_path, capsys):
    api.respond("/repos/octo/portal/issues", 200, "<html>captive portal</html>", content_type="text/html")
    api.respond("/repos/octo/cut/issues", 200, '[{"id": 1, "title": "cut', content_type="application/json")
    add(api, 1, 2)
    assert run(api, tmp_path, repos=("octo/portal", "octo/cut", "octo/hello")) == ingest.EXIT_API_FAILURE
    err = capsys.readouterr().err
    assert "octo/portal: GitHub's answer for /repos/octo/portal/issues is not a list of issues" in err
    assert "octo/cut: the answer for /repos/octo/cut/issues is not JSON" in err
    assert numbers(tmp_path) == [1, 2]  # the other repositories still ran


def test_refused_again_after_waiting_is_a_failure_not_a_loop(api, tmp_path, capsys, monkeypatch):
    add(api, 1, 2)
    monkeypatch.setattr(ingest, "RETRIES", 1)
    api.rate_limited(reset_in=1, secondary=True)  # 429 + Retry-After: 1, for ever
    assert run(api, tmp_path) == ingest.EXIT_API_FAILURE
    assert "octo/hello: still rate limited after 1 waits" in capsys.readouterr().err
    assert len(api.requests) == 2


def test_a_second_run_on_the_same_directory_is_refused(api, tmp_path, capsys):
    import fcntl
    add(api, 1, 2)
    (tmp_path / "octo__hello").mkdir()
    with open(tmp_path / "octo__hello" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert run(api, tmp_path) == ingest.EXIT_API_FAILURE
    assert "another ingest run is writing" in capsys.readouterr().err
    assert api.requests == []
    assert run(api, tmp_path) == 0 and numbers(tmp_path) == [1, 2]
