"""The webhook's state on disk (GHSUMM_WEBHOOK_DIR), shared by every web process on the machine and kept across
restarts:

    webhook.sqlite3    deliveries  every accepted delivery id (X-GitHub-Delivery): a replay is not acted on twice
                       jobs        the work queued for each accepted delivery: stage (title -> comment -> done), the
                                   issue, attempts, when it is due again, a lease while a worker holds it
                       comments    one row per issue the webhook decided to comment on: never a second comment
    decisions.jsonl    the decision log: one JSON object a line, appended only (what /suggestions shows)
    issues.jsonl       (GHSUMM_WEBHOOK_ISSUES) the accepted issues, one GitHub REST issue object a line

SQLite (WAL, a connection per call, BEGIN IMMEDIATE where a row is claimed) makes "insert the delivery if unseen",
"claim a due job" and "claim the issue's comment" atomic between gunicorn workers and threads. A job held by a
process that died is taken over when its lease (LEASE_S) runs out. JSON Lines files are appended with one write()
of a whole line under an exclusive flock, so readers never see half a line from this writer.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time

LEASE_S = 300.0  # a worker that has not finished a job within this is presumed dead; the job is taken over
TAIL_BYTES = 1024 * 1024  # recent decisions are read from at most this much of the log's end

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, event TEXT, action TEXT, repo TEXT, number INTEGER,
                                       received REAL);
CREATE TABLE IF NOT EXISTS jobs (delivery TEXT PRIMARY KEY, repo TEXT NOT NULL, number INTEGER NOT NULL,
                                 action TEXT, payload TEXT NOT NULL, stage TEXT NOT NULL, attempts INTEGER NOT NULL,
                                 due REAL NOT NULL, lease REAL NOT NULL DEFAULT 0, saved INTEGER NOT NULL DEFAULT 0,
                                 decision TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (stage, due);
CREATE TABLE IF NOT EXISTS comments (repo TEXT NOT NULL, number INTEGER NOT NULL, delivery TEXT NOT NULL,
                                     state TEXT NOT NULL, url TEXT, updated REAL,
                                     PRIMARY KEY (repo, number));
"""


def append_jsonl(path: str, obj: dict) -> None:
    """Appends obj as one JSON line (one write under an exclusive lock; the directory is created)."""
    line = (json.dumps(obj, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_recent(path: str, limit: int) -> list[dict]:
    """The last `limit` objects of a JSON Lines file, newest first (unparsable lines are skipped)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            data = f.read()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first one is probably cut
    out = []
    for raw in reversed(lines):
        if len(out) >= limit:
            break
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


class Job:
    """A row of jobs: one accepted delivery's work."""

    def __init__(self, row: sqlite3.Row):
        self.delivery, self.repo, self.number, self.action = row["delivery"], row["repo"], row["number"], row["action"]
        self.payload = json.loads(row["payload"]) if row["payload"] else {}
        self.stage, self.attempts, self.saved = row["stage"], row["attempts"], bool(row["saved"])
        self.decision = json.loads(row["decision"]) if row["decision"] else None

    @property
    def issue(self) -> dict:
        return self.payload.get("issue") or {}


class WebhookState:
    def __init__(self, directory: str):
        self.directory = directory
        self.db_path = os.path.join(directory, "webhook.sqlite3")
        self.decisions_path = os.path.join(directory, "decisions.jsonl")
        self._ready = False

    @contextlib.contextmanager
    def _db(self, immediate: bool = False):
        if not self._ready:
            os.makedirs(self.directory, exist_ok=True)
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            if not self._ready:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                self._ready = True
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # ---------------------------------------------------------------- deliveries and jobs
    def accept(self, delivery: str, event: str, action: str, repo: str, number: int, payload: dict) -> bool:
        """Records the delivery and queues its job, atomically; False (nothing done) when the id was seen before."""
        now = time.time()
        with self._db(immediate=True) as db:
            cur = db.execute("INSERT OR IGNORE INTO deliveries (id, event, action, repo, number, received) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (delivery, event, action, repo, number, now))
            if cur.rowcount == 0:
                return False
            db.execute("INSERT INTO jobs (delivery, repo, number, action, payload, stage, attempts, due, created) "
                       "VALUES (?, ?, ?, ?, ?, 'title', 0, ?, ?)",
                       (delivery, repo, number, action, json.dumps(payload), now, now))
        return True

    def claim(self) -> Job | None:
        """The oldest due job, leased to the caller for LEASE_S; None when nothing is due."""
        if not os.path.exists(self.db_path):
            return None
        now = time.time()
        with self._db(immediate=True) as db:
            row = db.execute("SELECT * FROM jobs WHERE stage != 'done' AND due <= ? AND lease <= ? "
                             "ORDER BY due, created LIMIT 1", (now, now)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET lease = ? WHERE delivery = ?", (now + LEASE_S, row["delivery"]))
        return Job(row)

    def next_due(self) -> float | None:
        """When the next job is due (epoch seconds), or None without pending jobs."""
        if not os.path.exists(self.db_path):
            return None
        with self._db() as db:
            row = db.execute("SELECT MIN(MAX(due, lease)) AS t FROM jobs WHERE stage != 'done'").fetchone()
        return row["t"] if row and row["t"] is not None else None

    def update(self, job: Job, stage: str, attempts: int, delay: float = 0.0, decision: dict | None = None) -> None:
        """Moves the job on (or back): its stage, attempt count, due in `delay` seconds; releases the lease. A
        finished job ('done') keeps its row (the delivery stays known) but drops its payload."""
        payload = "" if stage == "done" else json.dumps(job.payload)
        with self._db(immediate=True) as db:
            db.execute("UPDATE jobs SET stage = ?, attempts = ?, due = ?, lease = 0, decision = ?, payload = ? "
                       "WHERE delivery = ?", (stage, attempts, time.time() + delay,
                                              json.dumps(decision) if decision is not None else None, payload,
                                              job.delivery))
        job.stage, job.attempts, job.decision = stage, attempts, decision

    def mark_saved(self, job: Job) -> None:
        with self._db(immediate=True) as db:
            db.execute("UPDATE jobs SET saved = 1 WHERE delivery = ?", (job.delivery,))
        job.saved = True

    def counts(self) -> dict:
        """Deliveries accepted, jobs pending (waiting or in progress), comments made (zeros before the first)."""
        if not os.path.exists(self.db_path):
            return {"deliveries": 0, "pending": 0, "comments": 0}
        with self._db() as db:
            deliveries = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
            pending = db.execute("SELECT COUNT(*) FROM jobs WHERE stage != 'done'").fetchone()[0]
            comments = db.execute("SELECT COUNT(*) FROM comments WHERE state = 'done'").fetchone()[0]
        return {"deliveries": deliveries, "pending": pending, "comments": comments}

    # ---------------------------------------------------------------- one comment per issue
    def claim_comment(self, repo: str, number: int, delivery: str) -> bool:
        """Whether this delivery may comment on the issue: it is the first to ask (or takes over from one whose
        comment was given up, or is the same delivery again after a restart). Never two comments on one issue."""
        with self._db(immediate=True) as db:
            row = db.execute("SELECT delivery, state FROM comments WHERE repo = ? AND number = ?",
                             (repo, number)).fetchone()
            if row is None:
                db.execute("INSERT INTO comments (repo, number, delivery, state, updated) VALUES (?, ?, ?, 'pending', ?)",
                           (repo, number, delivery, time.time()))
                return True
            if row["delivery"] == delivery and row["state"] == "pending":
                return True
            if row["state"] == "failed":
                db.execute("UPDATE comments SET delivery = ?, state = 'pending', updated = ? "
                           "WHERE repo = ? AND number = ?", (delivery, time.time(), repo, number))
                return True
            return False

    def comment_state(self, repo: str, number: int) -> dict | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM comments WHERE repo = ? AND number = ?", (repo, number)).fetchone()
        return dict(row) if row else None

    def finish_comment(self, repo: str, number: int, delivery: str, url: str | None) -> None:
        """The comment was posted (url) or given up (None: another delivery may try later)."""
        with self._db(immediate=True) as db:
            db.execute("UPDATE comments SET state = ?, url = ?, updated = ? WHERE repo = ? AND number = ? "
                       "AND delivery = ?", ("done" if url is not None else "failed", url, time.time(), repo, number,
                                            delivery))

    # ---------------------------------------------------------------- the decision log
    def log_decision(self, decision: dict) -> None:
        append_jsonl(self.decisions_path, decision)

    def recent_decisions(self, limit: int = 100) -> list[dict]:
        return read_recent(self.decisions_path, limit)
