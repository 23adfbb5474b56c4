"""Streaming readers for every issue file shape ghsumm accepts, all producing data.records.Issue.

Formats (detected from the file's header or first JSON line; or named with format=...):
  kaggle        github_issues.csv of the Kaggle/BigQuery dump: issue_url, issue_title, body
  github_jsonl  GitHub REST issue objects, one per line (title, body, html_url, created_at, labels);
                objects with a pull_request field are pull requests: skipped and counted
  nlbse         repo, created_at, label, title, body (NLBSE'24 issue-report classification)
  jira          issuekey, title, description[, storypoint] (Jira story-point data sets)
  gitbugs       Summary, Issue id, ..., Created, ..., Description (Jira/Bugzilla bug exports)
  change_jsonl  body -> title pairs of pull requests and commits, one object per line: repo, id (commit sha),
                title, body, created_at, kind ("pr_squash" | "commit"), as in ../shared/data/pr_commit_titles;
                see change_pair() for the prefixes removed and the source tag put before the body

Every reader streams row by row (a multi-GB dump is never loaded whole), opens any path fsspec or, for gs://
and other remote paths without an fsspec driver installed, Apache Beam's FileSystems understands (.gz/.bz2, and
.zip with fsspec, are decompressed by extension), strips NUL bytes, replaces bad UTF-8, accepts
fields of any length and embedded newlines. A row that cannot become an Issue is yielded as a Reject (it goes to
the dead-letter file); a file that is not of any known shape raises FormatError naming the file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sys
import zlib
from typing import Callable, Iterable, Iterator, Optional, Union

import fsspec

from data.records import Issue, Reject, Skip, stable_hash

csv.field_size_limit(sys.maxsize)

Row = Union[Issue, Reject, Skip]

# Required header columns per CSV shape. The first shape whose columns are all present wins.
CSV_SHAPES = {
    "kaggle": ("issue_url", "issue_title", "body"),
    "nlbse": ("repo", "title", "body"),
    "jira": ("issuekey", "title", "description"),
    "gitbugs": ("summary", "issue id", "description"),
}
FORMATS = ("auto", "github_jsonl", "change_jsonl") + tuple(CSV_SHAPES)
CHANGE_KINDS = ("pr_squash", "commit")
# The words put before a change's body, so that the model can tell a change (whose title names what it does:
# "Fix X when Y") from an issue (whose title names the problem: "X crashes when Y"); issues have no tag, so what
# the web app sends is read as an issue. Training on both teaches one model from three times the data.
CHANGE_TAGS = {"pr_squash": "[pull request]", "commit": "[commit]"}
# Title prefixes that name a tracker or a change type, not the problem: Jira keys ("KAFKA-1234: ", "[KAFKA-1]"),
# Kafka's "MINOR: " / "HOTFIX: " / "TRIVIAL: ", and conventional-commit types ("fix(lsp): ", "feat!: ", "chore: ").
# Component and path prefixes ("cmake: ", "internal/lsp: ", "http2: ") are kept: issue titles use them too.
_CHANGE_TITLE_PREFIX = re.compile(
    r"^\s*(?:\[?[A-Z][A-Z0-9]+-\d+\]?\s*[:\-]?\s*"
    r"|(?:MINOR|HOTFIX|TRIVIAL)\s*:\s*"
    r"|(?:fix|feat|feature|refactor|perf|chore|docs?|tests?|build|ci|style)(?:\([^)]*\))?!?:\s+)+", re.I)
JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
MAX_RAW_CHARS = 1_000_000  # a dead-letter row keeps at most this much of the raw input (1 MB)

GITHUB_URL = re.compile(r"https?://(?:www\.)?github\.com/([^/\s]+)/([^/\s]+)/(?:issues|pull)/(\d+)")


class FormatError(ValueError):
    """The file is unreadable or is not of any supported shape."""


def _fsspec_can_open(path: str) -> bool:
    try:
        fsspec.get_filesystem_class(fsspec.utils.get_protocol(path))
        return True
    except (ImportError, ValueError):
        return False


def _beam_filesystems():
    """Apache Beam's FileSystems, for remote paths fsspec has no driver for here (gs:// in the app environment,
    where Beam's GCS client is installed and gcsfs is not)."""
    from apache_beam.io.filesystems import FileSystems
    return FileSystems


def expand_inputs(patterns: Iterable[str]) -> list[str]:
    """Expands files and globs (local or remote); a pattern that matches nothing is an error naming it."""
    paths: list[str] = []
    for pattern in patterns:
        if not _fsspec_can_open(pattern):
            try:
                found = [m.path for r in _beam_filesystems().match([pattern]) for m in r.metadata_list]
            except Exception as e:  # BeamIOError wraps the storage client's errors
                raise FileNotFoundError(f"cannot list {pattern!r}: {e}") from e
            if not found:
                raise FileNotFoundError(f"no input file matches {pattern!r}")
            paths.extend(sorted(found))
            continue
        fs, _, found = fsspec.get_fs_token_paths(pattern)
        found = [p for p in found if not fs.isdir(p)]
        if not found:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
        for p in sorted(found):
            paths.append(p if protocol in ("file", "local") else f"{protocol}://{p}")
    return paths


def _open_text(path: str):
    """Text stream of a (possibly compressed, possibly remote) file: bad UTF-8 replaced, newlines kept."""
    if _fsspec_can_open(path):
        binary = fsspec.open(path, "rb", compression="infer").open()
    else:  # compression (.gz, .bz2) by extension, as above
        binary = _beam_filesystems().open(path)
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")


def _without_nul(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield line.replace("\x00", "") if "\x00" in line else line


def _name(path: str) -> str:
    return os.path.basename(path.rstrip("/"))


def detect_format(path: str) -> str:
    """Names the shape of a file by its header (CSV) or first record (JSON Lines). Raises FormatError."""
    try:
        with _open_text(path) as f:
            head = f.read(64 * 1024)
    except FileNotFoundError:
        raise FormatError(f"{path}: file not found") from None
    except (OSError, EOFError, ValueError) as e:  # permissions, truncated gzip, bad zip, ...
        raise FormatError(f"{path}: cannot read: {e}") from e
    head = head.replace("\x00", "").lstrip("\ufeff")
    first = head.lstrip()
    if not first:
        raise FormatError(f"{path}: file is empty")
    if first.startswith("{"):
        try:
            obj = json.loads(first.split("\n", 1)[0])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and obj.get("kind") in CHANGE_KINDS and "html_url" not in obj:
            return "change_jsonl"
        return "github_jsonl"
    try:
        header = next(csv.reader(io.StringIO(head)))
    except (csv.Error, StopIteration) as e:
        raise FormatError(f"{path}: not a CSV or JSON Lines issue file ({e})") from e
    columns = {c.strip().lower() for c in header}
    for shape, required in CSV_SHAPES.items():
        if all(c in columns for c in required):
            return shape
    shown = ", ".join(repr(c) for c in header[:8])
    raise FormatError(
        f"{path}: not a supported issue file: header has [{shown}]; expected the columns of one of "
        + "; ".join(f"{k} ({', '.join(v)})" for k, v in CSV_SHAPES.items()) + ", or GitHub issue JSON Lines")


def read_issues(path: str, fmt: str = "auto", since: Optional[str] = None) -> Iterator[Row]:
    """Yields an Issue, Reject or Skip for every row of the file, in file order.

    since: ISO date; issues created before it are skipped (reason "before_since"), and so are issues whose
           source has no creation date (reason "no_created_at"), since they cannot be shown to be new.
    """
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise FormatError(f"{path}: unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    rows = (_read_jsonl(path, github_issue) if fmt == "github_jsonl" else
            _read_jsonl(path, change_pair) if fmt == "change_jsonl" else _read_csv(path, fmt))
    since_iso = normalize_date(since) if since else None
    for row in _failing_with_the_file_name(rows, path):
        if since_iso and isinstance(row, Issue):
            if row.created_at is None:
                row = Skip("no_created_at", row.source, 0)
            elif row.created_at < since_iso:
                row = Skip("before_since", row.source, 0)
        yield row


def _failing_with_the_file_name(rows: Iterator[Row], path: str) -> Iterator[Row]:
    """A file that becomes unreadable midway (a truncated .gz, a lost connection) is an error naming the file
    and how far it was read, not a bare EOFError: the rows before it were fine, the rest cannot be known."""
    n = 0
    try:
        for n, row in enumerate(rows, start=1):
            yield row
    except (OSError, EOFError, zlib.error) as e:
        raise FormatError(f"{path}: unreadable after {n} rows: {type(e).__name__}: {e}") from e


# ---------------------------------------------------------------- CSV shapes

def _read_csv(path: str, fmt: str) -> Iterator[Row]:
    make_issue = _CSV_BUILDERS[fmt]
    source = _name(path)
    stem = source.split(".")[0]
    with _open_text(path) as f:
        reader = csv.reader(_without_nul(f))
        try:
            header = [c.lstrip("\ufeff").strip().lower() for c in next(reader)]
        except StopIteration:
            return
        row_number = 0
        while True:
            row_number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield Reject("malformed_csv", source, row_number, "", f"line {reader.line_num}: {e}")
                continue
            if not any(v.strip() for v in values):
                yield Reject("blank_row", source, row_number, ",".join(values)[:MAX_RAW_CHARS])
                continue
            fields = dict(zip(header, values))
            raw = ",".join(values)[:MAX_RAW_CHARS]
            if len(values) < len(header):
                missing = header[len(values):]
                yield Reject("missing_columns", source, row_number, raw, "missing " + ", ".join(missing))
                continue
            try:
                yield make_issue(fields, source, stem, row_number)
            except (KeyError, ValueError) as e:
                yield Reject("bad_field", source, row_number, raw, str(e))


def _repo_from_url(url: str) -> str:
    m = GITHUB_URL.search(url)
    return f"{m.group(1)}/{m.group(2)}" if m else ""


def kaggle_url(issue_url: str) -> str:
    """A Kaggle-dump issue_url as the issue's URL (and id): the dump's values carry stray double quotes around
    the URL, three on each side."""
    return issue_url.strip().strip('"').strip()


def _kaggle(f: dict, source: str, stem: str, n: int) -> Issue:
    url = kaggle_url(f["issue_url"])
    return Issue(id=url or f"{source}:{n}", url=url, repo=_repo_from_url(url), title=f["issue_title"],
                 body=f["body"], source=source)


def _nlbse(f: dict, source: str, stem: str, n: int) -> Issue:
    created = normalize_date(f.get("created_at", "")) if f.get("created_at", "").strip() else None
    key = f"{f['repo']}@{created}#{stable_hash(f['title'] + chr(0) + f['body']):016x}"
    return Issue(id=key, repo=f["repo"].strip(), title=f["title"], body=f["body"], created_at=created,
                 source=source)


def _jira(f: dict, source: str, stem: str, n: int) -> Issue:
    key = f["issuekey"].strip() or f"{stem}:{n}"
    return Issue(id=key, repo=key.rsplit("-", 1)[0] if "-" in key else stem, title=f["title"],
                 body=f["description"], source=source)


def _gitbugs(f: dict, source: str, stem: str, n: int) -> Issue:
    created = f.get("created", "").strip()
    return Issue(id=f"{stem}-{f['issue id'].strip() or n}", repo=stem, title=f["summary"],
                 body=f["description"], created_at=normalize_date(created) if created else None, source=source)


_CSV_BUILDERS: dict[str, Callable[[dict, str, str, int], Issue]] = {
    "kaggle": _kaggle, "nlbse": _nlbse, "jira": _jira, "gitbugs": _gitbugs}


# ---------------------------------------------------------------- GitHub REST JSON Lines

def _read_jsonl(path: str, make_issue: Callable[[dict, str, int], Union[Issue, Reject]]) -> Iterator[Row]:
    source = _name(path)
    with _open_text(path) as f:
        for row_number, line in enumerate(_without_nul(f), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield Reject("malformed_json", source, row_number, line[:MAX_RAW_CHARS], str(e))
                continue
            if not isinstance(obj, dict):
                yield Reject("not_an_object", source, row_number, line[:MAX_RAW_CHARS])
                continue
            if obj.get("pull_request") is not None or "/pull/" in str(obj.get("html_url") or ""):
                yield Skip("pull_request", source, row_number)
                continue
            yield make_issue(obj, source, row_number)


def github_issue(obj: dict, source: str = "github", row_number: int = 0) -> Union[Issue, Reject]:
    """One GitHub REST issue object (as the API or PyGithub's raw_data returns it) as an Issue."""
    url = str(obj.get("html_url") or "")
    title = obj.get("title")
    if not isinstance(title, str):
        return Reject("missing_title", source, row_number, json.dumps(obj)[:MAX_RAW_CHARS])
    body = obj.get("body") or ""
    repo = _repo_from_url(url)
    if not repo and isinstance(obj.get("repository_url"), str):
        repo = "/".join(obj["repository_url"].rstrip("/").split("/")[-2:])
    created = obj.get("created_at")
    issue_id = url or (f"{repo}#{obj['number']}" if obj.get("number") is not None else f"{source}:{row_number}")
    return Issue(id=issue_id, url=url, repo=repo, title=title, body=body if isinstance(body, str) else str(body),
                 created_at=normalize_date(created) if created else None, source=source)


# ---------------------------------------------------------------- pull requests and commits (JSON Lines)

def strip_change_prefix(title: str) -> str:
    """A change title without its tracker key or change-type prefix ("KAFKA-1: fix(x): Y" -> "Y"); unchanged
    when nothing would be left."""
    stripped = _CHANGE_TITLE_PREFIX.sub("", title, count=1).strip()
    return stripped or title


def change_pair(obj: dict, source: str = "change", row_number: int = 0) -> Union[Issue, Reject]:
    """One pull request or commit (PR description or commit body -> its title) as an Issue: the title without
    its tracker/type prefix (strip_change_prefix), the body after its kind's tag (CHANGE_TAGS), the id the
    commit's URL (its split is a hash of it, like an issue's)."""
    raw = json.dumps(obj)[:MAX_RAW_CHARS]
    title, body, kind = obj.get("title"), obj.get("body"), obj.get("kind")
    repo, sha = str(obj.get("repo") or ""), str(obj.get("id") or "")
    if not isinstance(title, str) or not title.strip():
        return Reject("missing_title", source, row_number, raw)
    if kind not in CHANGE_KINDS:
        return Reject("unknown_kind", source, row_number, raw, f"kind {kind!r}, expected one of {CHANGE_KINDS}")
    if not repo or not sha:
        return Reject("missing_id", source, row_number, raw, "a change needs its repo and id (commit sha)")
    created = obj.get("created_at")
    url = f"https://github.com/{repo}/commit/{sha}"
    body = body if isinstance(body, str) else ""
    return Issue(id=url, url=url, repo=repo, title=strip_change_prefix(title),
                 body=f"{CHANGE_TAGS[kind]} {body}" if body.strip() else "",
                 created_at=normalize_date(created) if created else None, source=source)


# ---------------------------------------------------------------- dates

_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d/%b/%y %H:%M")


def normalize_date(text: str) -> str:
    """Any date shape found in the sources, as UTC "YYYY-MM-DDTHH:MM:SSZ". Raises ValueError."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise ValueError(f"unrecognized date {text!r}")
