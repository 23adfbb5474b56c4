"""The Random issue source: real issues with their true titles, from the bundled sample or a data dir.

A file is read with data/readers.py (every shape it knows: the Kaggle CSV of data/sample, NLBSE, Jira, ...),
except JSON Lines, read here so that the preprocessing job's eval_issues.jsonl (id, url, repo, title, body)
keeps its URLs. A directory means its eval_issues.jsonl. A gs:// path (a run on a cluster) is read from a local
copy. At most MAX_ISSUES issues with a title and a body are
kept, read once, on first use.
"""
from __future__ import annotations

import json
import os
import random
import threading

from webapp.errors import WebError

MAX_ISSUES = 5000
EVAL_ISSUES = "eval_issues.jsonl"


def _read_jsonl(path: str):
    import fsspec
    with fsspec.open(path, "rt", encoding="utf-8", errors="replace", compression="infer") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict) or obj.get("pull_request") is not None:
                continue
            url = obj.get("html_url") or obj.get("url") or ""
            yield {"title": obj.get("title"), "body": obj.get("body"), "url": url if isinstance(url, str) else ""}


def _read_any(path: str):
    from data.readers import read_issues
    from data.records import Issue
    for row in read_issues(path):
        if isinstance(row, Issue):
            yield {"title": row.title, "body": row.body, "url": row.url}


class IssueSource:
    def __init__(self, path: str):
        self.path = path
        self._issues: list[dict] | None = None
        self._lock = threading.Lock()

    def _load(self) -> list[dict]:
        from data import files
        path = self.path
        if files.isdir(path):
            path = os.path.join(path, EVAL_ISSUES)
        if files.is_remote(path):  # gs://, as a run on a cluster configures the page: read from a local copy
            path = files.local_copy(path, files.scratch_dir("ghsumm-issues-"))
        rows = _read_jsonl(path) if path.endswith((".jsonl", ".jsonl.gz", ".ndjson")) else _read_any(path)
        issues = []
        for row in rows:
            title, body = row["title"], row["body"]
            if isinstance(title, str) and title.strip() and isinstance(body, str) and body.strip():
                issues.append(row)
                if len(issues) >= MAX_ISSUES:
                    break
        return issues

    def issues(self) -> list[dict]:
        with self._lock:
            if self._issues is None:
                try:
                    self._issues = self._load()
                except Exception as e:  # noqa: BLE001  (any unreadable source is the same 503 for a visitor)
                    raise WebError(503, "No random issues: the issue source %s cannot be read (%s)."
                                   % (self.path, type(e).__name__), "issues_unavailable") from None
            if not self._issues:
                raise WebError(503, "No random issues: %s holds no issue with a title and a body." % self.path,
                               "issues_unavailable")
            return self._issues

    def random(self) -> dict:
        return dict(random.choice(self.issues()))
