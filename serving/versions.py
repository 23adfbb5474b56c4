"""Model versions: the one owner of a model's published folder and its history.

  <working dir>/serving/<model>/<version>/      the published versions; the server serves the highest number
  <working dir>/serving/<model>.retired/<v>/    versions a rollback moved aside (kept, and restorable)
  <working dir>/serving/<model>.history.jsonl   published / removed / rollback events, one JSON object a line

publish copies an exported version in as a new, highest version; unpublish removes one; rollback retires every
higher version (restoring the target from .retired first). Version numbers are never reused: publishing takes
a number above the retired ones too.
"""
from __future__ import annotations

import json
import os
import re
import time

from data import files

SERVING_DIR = "serving"  # under the working dir: every model's versions, history and local processes
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class VersionError(Exception):
    """Bad input for a version command (unknown version, ...): the message is for the user, one line."""


def serving_dir(working_dir: str) -> str:
    return os.path.join(working_dir, SERVING_DIR)


def base_path(working_dir: str, model_name: str) -> str:
    """The model base path the server watches."""
    return os.path.join(serving_dir(working_dir), model_name)


def retired_path(working_dir: str, model_name: str) -> str:
    return retired_dir(base_path(working_dir, model_name))


def retired_dir(base: str) -> str:
    """Where a rollback moves the versions of a base path aside."""
    return base + ".retired"


def history_path(working_dir: str, model_name: str) -> str:
    return base_path(working_dir, model_name) + ".history.jsonl"


def versions(path: str) -> list[int]:
    """The numbered version dirs under a base path (or an export dir), ascending."""
    return sorted(int(n) for n in files.listdir(path) if re.fullmatch(r"\d+", n))


def newest(path: str):
    """(version, its dir) of the highest version under path; None when there is none."""
    found = versions(path)
    return (found[-1], os.path.join(path, str(found[-1]))) if found else None


def publish(export_dir: str, base: str, previous: dict | None = None) -> dict:
    """Copies the newest version under export_dir into base as a new, highest version (its own number when that
    is higher than every published one, retired ones included, else the next free number), so the server
    switches to it. Written under a hidden name, then renamed. Idempotent: `previous` (this run's earlier serve
    record) naming the same source and a version still published is returned again."""
    exported = versions(export_dir)
    if not exported:
        raise FileNotFoundError("no exported version under %s" % export_dir)
    step = exported[-1]
    source = os.path.join(export_dir, str(step))
    previous = previous or {}
    if previous.get("source") == source and previous.get("version") in versions(base):
        return {"version": previous["version"], "source": source, "base_path": base, "new": False}
    taken = sorted(versions(base) + versions(retired_dir(base)))  # never reuse a rolled-back number
    number = step if not taken or step > taken[-1] else taken[-1] + 1
    copy_in(source, base, number)
    return {"version": number, "source": source, "base_path": base, "new": True}


def copy_in(source: str, base: str, number: int) -> str:
    """Copies a SavedModel dir to base/<number>/ atomically (under a hidden name beside it, then renamed), as a
    server expects; returns that dir."""
    files.makedirs(base)
    tmp = os.path.join(base, ".tmp-%d-%d" % (number, os.getpid()))
    files.rmtree(tmp)
    files.copytree(source, tmp)
    final = os.path.join(base, str(number))
    files.move(tmp, final)
    return final


def unpublish(base: str, version: int) -> None:
    files.rmtree(os.path.join(base, str(version)))


def log_event(working_dir: str, model_name: str, event: dict) -> None:
    event = dict(event, time=time.strftime(TIME_FORMAT))
    files.append_line(history_path(working_dir, model_name), json.dumps(event, sort_keys=True))


def history(working_dir: str, model_name: str) -> list[dict]:
    path = history_path(working_dir, model_name)
    if not files.exists(path):
        return []
    events = []
    for line in files.read_text(path).splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return events


def log_published(working_dir: str, model_name: str, run_dir: str, pub: dict, evaluate: dict) -> None:
    """The serve step's history event: which run's model became which version, with its promotion decision
    (evaluate: that run's evaluate step record)."""
    promotion = evaluate.get("promotion") or {}
    log_event(working_dir, model_name, {
        "event": "published", "version": pub["version"], "run_id": os.path.basename(run_dir.rstrip("/")),
        "run_dir": run_dir, "source": pub["source"],
        "rouge_l": evaluate.get("rouge", {}).get("model", {}).get("rougeL"),
        "served_version": promotion.get("served_version"), "served_rouge_l": promotion.get("served_rouge_l"),
        "rule": promotion.get("rule")})


def rollback(working_dir: str, model_name: str, version: int) -> dict:
    """Makes `version` the served one: restores it from <model>.retired/ when it was retired, then moves every
    higher version there (lowest first: the server never loads one in between). Recorded in the history."""
    base, retired = base_path(working_dir, model_name), retired_path(working_dir, model_name)
    on_disk, aside = versions(base), versions(retired)
    if version not in on_disk and version not in aside:
        raise VersionError("no version %d of %s (published: %s; retired: %s)"
                           % (version, model_name, _list(on_disk), _list(aside)))
    restored = version not in on_disk
    if restored:
        files.move(os.path.join(retired, str(version)), os.path.join(base, str(version)))
    newer = [v for v in on_disk if v > version]
    for v in newer:
        if files.exists(os.path.join(retired, str(v))):
            raise VersionError("cannot retire version %d: %s already exists" % (v, os.path.join(retired, str(v))))
        files.move(os.path.join(base, str(v)), os.path.join(retired, str(v)))
    event = {"event": "rollback", "version": version, "retired": newer, "restored": restored,
             "previously_served": on_disk[-1] if on_disk else None}
    if newer or restored:
        log_event(working_dir, model_name, event)
    return event


def _list(numbers) -> str:
    return ", ".join(map(str, numbers)) or "none"
