"""What `python -m pipeline runs | show | models` print: the runs of a working dir, their step records and
promotion decisions, the model versions with their source runs, and the runs submitted to a cluster. Nothing here
is a second store: it reads what the components already write, through the modules that own those files:
components/rundir.py (working_dir/<run id>/...), serving/versions.py (working_dir/serving/<model>...),
trainer/promotion.py (the promote_rule), serving/launch.py (the local processes). Its own file:

  working_dir/submitted/<KFP id>.json         a run or recurring run submitted to a cluster (pipeline/submit.py)
"""
from __future__ import annotations

import datetime
import json
import os
import re
import time

from components import rundir
from data import files
from serving import launch, versions
from trainer import promotion
from trainer.promotion import format_comparison

TIME_FORMAT = rundir.TIME_FORMAT
SUBMITTED_DIR = "submitted"


class RecordError(Exception):
    """Bad input for a records command (unknown run): the message is for the user, one line."""


# What a records command reports to the user as one line instead of a traceback.
USER_ERRORS = (RecordError, versions.VersionError, promotion.PromotionError)


def version_source(working_dir: str, model_name: str, version: int) -> dict:
    """The published event of a version: its run, source export, scores ({} when unknown). Versions published
    before the history existed are found from the runs' serve records."""
    found = {}
    for event in versions.history(working_dir, model_name):
        if event.get("event") == "published" and event.get("version") == version:
            found = event
    if found:
        return found
    base = versions.base_path(working_dir, model_name)
    for path in rundir.step_paths(working_dir, "serve"):
        serve = files.read_json(path, {}) or {}
        if serve.get("version") == version and serve.get("base_path") == base:
            run_dir = rundir.run_dir_of_step_path(path)
            evaluate = rundir.read_step(run_dir, "evaluate", {})
            found = {"version": version, "run_id": os.path.basename(run_dir), "run_dir": run_dir,
                     "source": serve.get("source"), "time": serve.get("finished"),
                     "rouge_l": evaluate.get("rouge", {}).get("model", {}).get("rougeL")}
    return found


def served_now(working_dir: str, model_name: str):
    """(version, REST URL) the local model server of this working dir answers with, or None."""
    record = launch.live_record(working_dir, model_name)
    if not record:
        return None
    try:
        status = launch.http_get_json("%s/v1/models/%s" % (record["rest_url"], model_name), timeout=3)
        versions = [int(s["version"]) for s in status["model_version_status"] if s["state"] == "AVAILABLE"]
        return (versions[0] if versions else None), record["rest_url"]
    except (OSError, ValueError, KeyError):
        return None, record["rest_url"]


def models(working_dir: str, model_name: str) -> list[dict]:
    """One row per version ever published (newest first): state serving / published (not served: a higher one
    is) / retired (moved aside by a rollback) / removed (its run failed after publishing)."""
    on_disk = versions.versions(versions.base_path(working_dir, model_name))
    aside = versions.versions(versions.retired_path(working_dir, model_name))
    events = versions.history(working_dir, model_name)
    numbers = set(on_disk) | set(aside) | {e["version"] for e in events if e.get("event") == "published"}
    rows = []
    for v in sorted(numbers, reverse=True):
        state = ("serving" if on_disk and v == on_disk[-1] else "published" if v in on_disk
                 else "retired" if v in aside else "removed")
        source = version_source(working_dir, model_name, v)
        evaluate = rundir.read_step(source["run_dir"], "evaluate", {}) if source.get("run_dir") else {}
        notes = []
        for e in events:
            if e.get("event") == "rollback" and v in e.get("retired", []):
                notes.append("retired by rollback to %d at %s" % (e["version"], e["time"]))
            elif e.get("event") == "rollback" and e.get("version") == v:
                notes.append("served again by rollback at %s" % e["time"])
            elif e.get("event") == "removed" and e.get("version") == v:
                notes.append("removed at %s: %s" % (e["time"], e.get("reason", "")))
        rows.append({"version": v, "state": state, "run_id": source.get("run_id"), "run_dir": source.get("run_dir"),
                     "rouge_l": source.get("rouge_l"), "published": source.get("time"),
                     "served_version_then": source.get("served_version"),
                     "served_rouge_l_then": source.get("served_rouge_l"), "rule": source.get("rule"),
                     "paired": paired_gains((evaluate or {}).get("promotion"), (evaluate or {}).get("start")),
                     "notes": notes})
    return rows


def format_models(rows: list[dict], served: tuple | None) -> str:
    lines = ["%-8s %-10s %-28s %8s %-20s %s" % ("VERSION", "STATE", "SOURCE RUN", "ROUGE-L", "PROMOTED AT",
                                                 "NOTES")]
    for r in rows:
        vs = ("over v%s (%s)" % (r["served_version_then"], _num(r["served_rouge_l_then"]))
              if r.get("served_version_then") is not None else "")
        notes = "; ".join(([vs + ", rule " + str(r["rule"])] if vs else []) + ([r["paired"]] if r.get("paired") else [])
                          + r["notes"])
        lines.append("%-8s %-10s %-28s %8s %-20s %s" % (r["version"], r["state"], r["run_id"] or "?",
                                                        _num(r["rouge_l"]), r["published"] or "?", notes))
    if served:
        lines.append("model server %s answers with version %s" % (served[1], served[0]))
    else:
        lines.append("no local model server running for this working dir")
    return "\n".join(lines)


def _num(x) -> str:
    return "-" if x is None else "%.2f" % x


def paired_gains(promotion: dict | None, start: dict | None) -> str:
    """The paired comparisons of an evaluation, short: 'vs v5: general +0.12 (0.40), new +1.23 (0.45)' (gain and
    its standard error, ROUGE-L) and 'vs start step 14000: general -0.12 (0.40)'; '' without any."""
    def gains(comparisons) -> str:
        return ", ".join("%s %+.2f (%s)" % (c["set"], c["gain"], _num(c.get("standard_error"))) for c in comparisons)
    parts = []
    if promotion and promotion.get("comparisons"):
        parts.append("vs v%s: %s" % (promotion["served_version"], gains(promotion["comparisons"])))
    if start:
        parts.append("vs start step %s: %s" % (start["step"], gains([start])))
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------- run records
def _parse_time(text):
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT)
    except (TypeError, ValueError):
        return None


def load_run(run_dir: str) -> dict:
    """Everything recorded about one local run, in one dict (see the module docstring for the files)."""
    run = files.read_json(rundir.run_json(run_dir), {}) or {}
    status = rundir.read_status(run_dir)
    attempts = run.get("attempts", [])
    last = attempts[-1] if attempts else {}
    steps = rundir.step_records(run_dir)
    started, finished = last.get("started"), status.get("finished") if status else None
    if status and (_parse_time(finished) or datetime.datetime.min) < (_parse_time(started) or datetime.datetime.min):
        status, finished = None, None  # the status of an earlier attempt: this one is still running
    state = status["state"] if status else "RUNNING?"
    duration = None
    if _parse_time(started) and _parse_time(finished):
        duration = (_parse_time(finished) - _parse_time(started)).total_seconds()
    evaluate, serve = steps.get("evaluate", {}), steps.get("serve", {})
    promotion = evaluate.get("promotion")
    published = serve.get("version") if state == "SUCCEEDED" or not status else None
    if "serve" in steps and state not in ("SUCCEEDED", "RUNNING?"):
        promoted = "no (run failed; version %s removed)" % serve.get("version")
    elif "serve" in steps:
        promoted = "yes" if promotion else "yes (nothing served before)"
    elif evaluate:
        promoted = "no" if evaluate.get("gate") == "false" else "-"
    else:
        promoted = "-"
    export = os.path.basename(steps.get("export", {}).get("version_path", "").rstrip("/"))
    return {"run_id": run.get("run_id") or os.path.basename(run_dir.rstrip("/")), "run_dir": run_dir,
            "state": state, "started": started, "finished": finished, "duration_s": duration,
            "parameters": last.get("parameters", {}), "start_step": last.get("start_step"), "attempts": attempts,
            "step_seconds": {s: r.get("seconds") for s, r in steps.items()}, rundir.STEPS_KEY: steps,
            "rouge": evaluate.get("rouge", {}), "rouge_l": evaluate.get("rouge", {}).get("model", {}).get("rougeL"),
            "gate": evaluate.get("gate"), "gate_reasons": evaluate.get("gate_reasons", []), "promotion": promotion,
            "start": evaluate.get("start"),
            "exported_step": int(export) if export.isdigit() else None, "version": published, "promoted": promoted,
            "failed_step": (status or {}).get("failed_step"), "error": (status or {}).get("error_message"),
            "rolled_back": (status or {}).get("rolled_back", []),
            "retrain": files.read_json(rundir.retrain_json(run_dir))}


def list_runs(working_dir: str) -> list[dict]:
    """Local runs (dirs with a run.json) and submitted ones, oldest first."""
    runs = [load_run(run_dir) for run_dir in rundir.run_dirs(working_dir)]
    for path in files.glob(os.path.join(working_dir, SUBMITTED_DIR, "*.json")):
        record = files.read_json(path)
        if record:
            runs.append(dict(record, state="SUBMITTED", started=record.get("submitted"), duration_s=None,
                             rouge_l=None, version=None, promoted="-"))
    return sorted(runs, key=lambda r: r.get("started") or "")


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds < 3600 else "%dh%02dm" % (seconds // 3600,
                                                                                          seconds % 3600 // 60)


def format_runs(runs: list[dict]) -> str:
    lines = ["%-30s %-19s %8s %-10s %6s %8s %8s %7s %-28s %s" % ("RUN ID", "START", "DURATION", "STATUS", "STEPS",
                                                               "ROUGE-L", "SERVED", "VERSION", "PROMOTED",
                                                               "PAIRED GAIN (STANDARD ERROR)")]
    for r in runs:
        p = r.get("parameters", {})
        served = (r.get("promotion") or {}).get("served_rouge_l")
        lines.append(("%-30s %-19s %8s %-10s %6s %8s %8s %7s %-28s %s" % (
            r["run_id"], r.get("started") or "-", _duration(r.get("duration_s")), r["state"],
            p.get("train_steps", "-"), _num(r.get("rouge_l")), _num(served),
            r["version"] if r.get("version") is not None else "-", r["promoted"],
            paired_gains(r.get("promotion"), r.get("start")) or "-")).rstrip())
    if not runs:
        lines.append("(no runs)")
    return "\n".join(lines)


def find_run(working_dir: str, run: str) -> dict:
    """A local run by id (or its dir), or a submitted one by its KFP id."""
    for run_dir in (run, os.path.join(working_dir, run)):
        if files.isfile(rundir.run_json(run_dir)):
            return load_run(run_dir)
    submitted = files.read_json(os.path.join(working_dir, SUBMITTED_DIR, os.path.basename(run) + ".json"))
    if submitted:
        return dict(submitted, state="SUBMITTED")
    known = [r["run_id"] for r in list_runs(working_dir)]
    raise RecordError("no run %r in %s (runs: %s)" % (run, working_dir, ", ".join(known[-10:]) or "none"))


def format_run(r: dict) -> str:
    if r.get("state") == "SUBMITTED":
        return "\n".join("%-18s %s" % (k, json.dumps(v) if isinstance(v, (dict, list)) else v)
                         for k, v in sorted(r.items()))
    out = ["run %s: %s" % (r["run_id"], r["state"]), "  dir        %s" % r["run_dir"],
           "  started    %s" % r["started"],
           "  finished   %s (%s)" % (r["finished"] or "-", _duration(r["duration_s"])),
           "  start step %s (attempts: %d)" % (r["start_step"], len(r["attempts"]))]
    for a in r["attempts"][:-1]:
        out.append("    earlier attempt %s from %s" % (a.get("started"), a.get("start_step")))
    out.append("  parameters:")
    out += ["    %-16s %r" % (k, v) for k, v in sorted(r["parameters"].items())]
    if r.get("retrain"):
        out.append("  retrained from: %s" % json.dumps(r["retrain"], sort_keys=True))
    out.append("  steps (seconds):")
    for step, record in r[rundir.STEPS_KEY].items():
        outputs = {k: v for k, v in record.items() if k.endswith(("_dir", "_path", "version", "url", "log"))}
        out.append("    %-16s %7s  %s" % (step, record.get("seconds", "-"),
                                          ", ".join("%s=%s" % kv for kv in sorted(outputs.items()))))
    if r["rouge"]:
        out.append("  evaluation (gate %s: %s):" % (r["gate"], "; ".join(r["gate_reasons"])))
        out.append("    %-16s %8s %8s %8s" % ("", "ROUGE-1", "ROUGE-2", "ROUGE-L"))
        for name, s in r["rouge"].items():
            out.append("    %-16s %8.2f %8.2f %8.2f" % (name, s.get("rouge1", 0), s.get("rouge2", 0),
                                                       s.get("rougeL", 0)))
    p = r.get("promotion")
    if p:
        out.append("  promotion: %s (rule %s: %s); new ROUGE-L %.2f, served version %s ROUGE-L %.2f, on the same %d "
                   "eval issues" % ("promoted" if p["promote"] else "not promoted", p["rule"], p["reason"],
                                    p["new_rouge_l"], p["served_version"], p["served_rouge_l"], p["n_issues"]))
        for c in p.get("comparisons", []):
            out.append("    %s set vs served version %s, %s" % (c["set"], p["served_version"], format_comparison(c)))
    if r.get("start"):
        out.append("  trained model vs the model it started from (step %s, %s), %s"
                   % (r["start"]["step"], r["start"]["checkpoint_dir"], format_comparison(r["start"])))
    out.append("  exported step %s; published version %s; promoted: %s" % (r["exported_step"], r["version"],
                                                                           r["promoted"]))
    if r["error"]:
        out.append("  failed in %s: %s" % (r["failed_step"], r["error"][-1500:]))
    for line in r["rolled_back"]:
        out.append("  rolled back: %s" % line)
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ submitted runs
def record_submission(working_dir: str, record: dict) -> str:
    """working_dir/submitted/<KFP run or recurring run id>.json; never holds a token (the caller passes none)."""
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(record.get("host", ""))
    if parts.username or parts.password:  # credentials in the URL stay out of the record
        record["host"] = urlunsplit(parts._replace(netloc=parts.hostname + (":%d" % parts.port if parts.port else "")))
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(record["run_id"])) or "run"
    path = os.path.join(working_dir, SUBMITTED_DIR, safe + ".json")
    files.write_json(path, dict(record, submitted=time.strftime(TIME_FORMAT)))
    return path
