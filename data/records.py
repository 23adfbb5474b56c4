"""The one record type every reader produces, and the reject type for rows that cannot become one."""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Issue:
    """A normalized issue: where it came from and its text.

    id: stable identifier (the issue URL when there is one, else the source's own key); the train/eval split
        is a hash of it, so it must not change between runs.
    created_at: ISO 8601 (UTC, "YYYY-MM-DDTHH:MM:SSZ") when the source knows it, else None.
    """
    id: str
    title: str
    body: str
    repo: str = ""
    url: str = ""
    created_at: Optional[str] = None
    source: str = ""

    def replace(self, **changes) -> "Issue":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Reject:
    """A row that was not turned into a usable Issue, with why. Written to the dead-letter file, never lost."""
    reason: str
    source: str
    row: int
    raw: str
    detail: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Skip:
    """A row deliberately not used (a pull request, older than --since). Counted by reason, not dead-lettered."""
    reason: str
    source: str
    row: int


def stable_hash(text: str) -> int:
    """A hash that is the same in every process and Python version (unlike hash())."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")


def content_key(issue: Issue) -> str:
    """Exact duplicates are issues with the same (cleaned) title and body."""
    return f"{stable_hash(issue.title + chr(0) + issue.body):016x}"


def split_of(issue_id: str, eval_percent: float) -> str:
    """'eval' or 'train', by a hash of the id alone: re-runs and runs on more data keep old eval issues in eval."""
    return "eval" if stable_hash(issue_id) % 10000 < eval_percent * 100 else "train"
