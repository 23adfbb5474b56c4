"""Run records, model versions, promotion and rollback: what `python -m pipeline runs | show | models | rollback`
print and do, and what the evaluate and serve components call.

Where the records live (nothing here is a second store: it reads what the components already write):
  working_dir/<run id>/run.json               parameters of each attempt, with its start time (init_run)
  working_dir/<run id>/steps/<step>.json      each step's outputs and seconds; evaluate's holds the promotion
                                              decision with both scores (components/_runtime.record_step)
  working_dir/<run id>/status.json            the final state, end time and every step record (finalize)
  working_dir/<run id>/eval/                  metrics.json (the new model), served/metrics.json (the served one,
                                              same issues), promotion.json
  working_dir/<run id>/retrain.json           for a retrain: what it was chosen from (pipeline/retrain.py)
  working_dir/submitted/<KFP id>.json         a run or recurring run submitted to a cluster (pipeline/submit.py)
  working_dir/serving/<model>/<version>/      the published versions; the server serves the highest number
  working_dir/serving/<model>.retired/<v>/    versions a rollback moved aside (kept, and restorable)
  working_dir/serving/<model>.history.jsonl   published / removed / rollback events, one JSON object a line

Promotion (promote_rule, a pipeline parameter): when a version is already served, the evaluate step scores the
served version on the same eval issues as the new model, and the new one is published only when the rule says so:
  at_least_as_good   (default) new ROUGE-L >= served ROUGE-L
  min_improvement:X  new ROUGE-L >= served ROUGE-L + X (ROUGE-L points, e.g. min_improvement:0.5)
  always / never
With nothing served, only the evaluation gate (min_rouge_l, baseline_metrics) decides, as before.

Rollback: the server serves the highest version number, so `rollback --version N` moves every higher version into
<model>.retired/ (highest last, so the server goes straight to N), bringing N back from there first when it was
retired. Version numbers are never reused: publishing takes a number above the retired ones too.
"""
from __future__ import annotations

import datetime
import glob
import json
import os
import re
import time

from components import STEPS, _deploy, _runtime as rt

RULES = ("at_least_as_good", "always", "never", "min_improvement:X")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class RecordError(Exception):
    """Bad input for a records command (unknown run, version, rule): the message is for the user, one line."""


# ------------------------------------------------------------------------------------------------ promotion
def parse_rule(rule: str) -> tuple[str, float]:
    """promote_rule -> (kind, min_improvement); RecordError for anything else."""
    rule = (rule or "").strip()
    if rule in ("at_least_as_good", "always", "never"):
        return rule, 0.0
    if rule.startswith("min_improvement:"):
        try:
            return "min_improvement", float(rule.split(":", 1)[1])
        except ValueError:
            pass
    raise RecordError("promote_rule %r: one of %s (X in ROUGE-L points)" % (rule, ", ".join(RULES)))


def decide(rule: str, new_metrics: dict, served_metrics: dict, served_version: int) -> dict:
    """Whether the new model replaces the served one, both scored on the same eval issues by trainer.evaluate."""
    from trainer.evaluate import gate
    kind, min_improvement = parse_rule(rule)
    if new_metrics["data"]["issues_sha1"] != served_metrics["data"]["issues_sha1"]:
        raise RecordError("the new and the served model were scored on different eval issues")
    new_rl, served_rl = new_metrics["rouge"]["model"]["rougeL"], served_metrics["rouge"]["model"]["rougeL"]
    if kind in ("always", "never"):
        promote, reason = kind == "always", "promote_rule %s" % kind
    else:
        g = gate(new_rl, previous_rouge_l=served_rl, min_improvement=min_improvement)
        promote, reason = g["passed"], "%s vs served version %d" % (g["reasons"][0], served_version)
    return {"rule": rule, "promote": bool(promote), "reason": reason, "new_rouge_l": round(new_rl, 4),
            "served_rouge_l": round(served_rl, 4), "served_version": served_version,
            "n_issues": new_metrics["data"]["n_issues"], "issues_sha1": new_metrics["data"]["issues_sha1"]}


def served_to_compare(working_dir: str, model_name: str, run_dir: str):
    """(version, path) of the version being served now, which a new model must beat; None when nothing is served
    or the served version is this run's own (a start_step re-run of a run that was already published)."""
    base = base_path(working_dir, model_name)
    on_disk = _deploy.versions(base)
    if not on_disk:
        return None
    own = rt.read_json(os.path.join(run_dir, "steps", "serve.json"), {}) or {}
    if own.get("version") == on_disk[-1] and own.get("base_path") == base:
        return None
    return on_disk[-1], os.path.join(base, str(on_disk[-1]))


# ----------------------------------------------------------------------------------------- model versions
def base_path(working_dir: str, model_name: str) -> str:
    return os.path.join(working_dir, "serving", model_name)


def retired_path(working_dir: str, model_name: str) -> str:
    return base_path(working_dir, model_name) + ".retired"


def history_path(working_dir: str, model_name: str) -> str:
    return base_path(working_dir, model_name) + ".history.jsonl"


def log_event(working_dir: str, model_name: str, event: dict) -> None:
    event = dict(event, time=time.strftime(TIME_FORMAT))
    path = history_path(working_dir, model_name)
    text = rt.read_text(path) if rt.exists(path) else ""
    rt.makedirs(os.path.dirname(path))
    line = json.dumps(event, sort_keys=True) + "\n"
    if rt.is_remote(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text + line)
    else:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)


def history(working_dir: str, model_name: str) -> list[dict]:
    path = history_path(working_dir, model_name)
    if not rt.exists(path):
        return []
    events = []
    for line in rt.read_text(path).splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return events


def log_published(working_dir: str, model_name: str, run_dir: str, pub: dict) -> None:
    """The serve step's history event: which run's model became which version, with its promotion decision."""
    evaluate = rt.read_json(os.path.join(run_dir, "steps", "evaluate.json"), {}) or {}
    promotion = evaluate.get("promotion") or {}
    log_event(working_dir, model_name, {
        "event": "published", "version": pub["version"], "run_id": os.path.basename(run_dir.rstrip("/")),
        "run_dir": run_dir, "source": pub["source"],
        "rouge_l": evaluate.get("rouge", {}).get("model", {}).get("rougeL"),
        "served_version": promotion.get("served_version"), "served_rouge_l": promotion.get("served_rouge_l"),
        "rule": promotion.get("rule")})


def _move(src: str, dst: str) -> None:
    rt.makedirs(os.path.dirname(dst))
    if rt.is_remote(src):
        import tensorflow as tf
        tf.io.gfile.rename(src, dst)
    else:
        os.replace(src, dst)


def rollback(working_dir: str, model_name: str, version: int) -> dict:
    """Makes `version` the served one: restores it from <model>.retired/ when it was retired, then moves every
    higher version there (lowest first: the server never loads one in between). Recorded in the history."""
    base, retired = base_path(working_dir, model_name), retired_path(working_dir, model_name)
    on_disk, aside = _deploy.versions(base), _deploy.versions(retired)
    if version not in on_disk and version not in aside:
        raise RecordError("no version %d of %s (published: %s; retired: %s)"
                          % (version, model_name, _list(on_disk), _list(aside)))
    restored = version not in on_disk
    if restored:
        _move(os.path.join(retired, str(version)), os.path.join(base, str(version)))
    newer = [v for v in on_disk if v > version]
    for v in newer:
        if rt.exists(os.path.join(retired, str(v))):
            raise RecordError("cannot retire version %d: %s already exists" % (v, os.path.join(retired, str(v))))
        _move(os.path.join(base, str(v)), os.path.join(retired, str(v)))
    event = {"event": "rollback", "version": version, "retired": newer, "restored": restored,
             "previously_served": on_disk[-1] if on_disk else None}
    if newer or restored:
        log_event(working_dir, model_name, event)
    return event


def _list(versions) -> str:
    return ", ".join(map(str, versions)) or "none"


def version_source(working_dir: str, model_name: str, version: int) -> dict:
    """The published event of a version: its run, source export, scores ({} when unknown). Versions published
    before the history existed are found from the runs' serve records."""
    found = {}
    for event in history(working_dir, model_name):
        if event.get("event") == "published" and event.get("version") == version:
            found = event
    if found:
        return found
    base = base_path(working_dir, model_name)
    for path in sorted(glob.glob(os.path.join(working_dir, "*", "steps", "serve.json"))):
        serve = rt.read_json(path, {}) or {}
        if serve.get("version") == version and serve.get("base_path") == base:
            run_dir = os.path.dirname(os.path.dirname(path))
            evaluate = rt.read_json(os.path.join(run_dir, "steps", "evaluate.json"), {}) or {}
            found = {"version": version, "run_id": os.path.basename(run_dir), "run_dir": run_dir,
                     "source": serve.get("source"), "time": serve.get("finished"),
                     "rouge_l": evaluate.get("rouge", {}).get("model", {}).get("rougeL")}
    return found


def served_now(working_dir: str, model_name: str):
    """(version, REST URL) the local model server of this working dir answers with, or None."""
    record = _deploy.live_record(working_dir, model_name)
    if not record:
        return None
    try:
        status = _deploy.http_get_json("%s/v1/models/%s" % (record["rest_url"], model_name), timeout=3)
        versions = [int(s["version"]) for s in status["model_version_status"] if s["state"] == "AVAILABLE"]
        return (versions[0] if versions else None), record["rest_url"]
    except (OSError, ValueError, KeyError):
        return None, record["rest_url"]


def models(working_dir: str, model_name: str) -> list[dict]:
    """One row per version ever published (newest first): state serving / published (not served: a higher one
    is) / retired (moved aside by a rollback) / removed (its run failed after publishing)."""
    on_disk = _deploy.versions(base_path(working_dir, model_name))
    aside = _deploy.versions(retired_path(working_dir, model_name))
    events = history(working_dir, model_name)
    numbers = set(on_disk) | set(aside) | {e["version"] for e in events if e.get("event") == "published"}
    rows = []
    for v in sorted(numbers, reverse=True):
        state = ("serving" if on_disk and v == on_disk[-1] else "published" if v in on_disk
                 else "retired" if v in aside else "removed")
        source = version_source(working_dir, model_name, v)
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
                     "notes": notes})
    return rows


def format_models(rows: list[dict], served: tuple | None) -> str:
    lines = ["%-8s %-10s %-28s %8s %-20s %s" % ("VERSION", "STATE", "SOURCE RUN", "ROUGE-L", "PROMOTED AT",
                                                 "NOTES")]
    for r in rows:
        vs = ("over v%s (%s)" % (r["served_version_then"], _num(r["served_rouge_l_then"]))
              if r.get("served_version_then") is not None else "")
        notes = "; ".join(([vs + ", rule " + str(r["rule"])] if vs else []) + r["notes"])
        lines.append("%-8s %-10s %-28s %8s %-20s %s" % (r["version"], r["state"], r["run_id"] or "?",
                                                        _num(r["rouge_l"]), r["published"] or "?", notes))
    if served:
        lines.append("model server %s answers with version %s" % (served[1], served[0]))
    else:
        lines.append("no local model server running for this working dir")
    return "\n".join(lines)


def _num(x) -> str:
    return "-" if x is None else "%.2f" % x


# ---------------------------------------------------------------------------------------------- run records
def _parse_time(text):
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT)
    except (TypeError, ValueError):
        return None


def load_run(run_dir: str) -> dict:
    """Everything recorded about one local run, in one dict (see the module docstring for the files)."""
    run = rt.read_json(os.path.join(run_dir, "run.json"), {}) or {}
    status = rt.read_json(os.path.join(run_dir, "status.json"))
    attempts = run.get("attempts", [])
    last = attempts[-1] if attempts else {}
    steps = {}
    for step in STEPS:
        record = rt.read_json(os.path.join(run_dir, "steps", step + ".json"))
        if record is not None:
            steps[step] = record
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
            "step_seconds": {s: r.get("seconds") for s, r in steps.items()}, "steps": steps,
            "rouge": evaluate.get("rouge", {}), "rouge_l": evaluate.get("rouge", {}).get("model", {}).get("rougeL"),
            "gate": evaluate.get("gate"), "gate_reasons": evaluate.get("gate_reasons", []), "promotion": promotion,
            "exported_step": int(export) if export.isdigit() else None, "version": published, "promoted": promoted,
            "failed_step": (status or {}).get("failed_step"), "error": (status or {}).get("error_message"),
            "rolled_back": (status or {}).get("rolled_back", []),
            "retrain": rt.read_json(os.path.join(run_dir, "retrain.json"))}


def list_runs(working_dir: str) -> list[dict]:
    """Local runs (dirs with a run.json) and submitted ones, oldest first."""
    runs = [load_run(os.path.dirname(p)) for p in glob.glob(os.path.join(working_dir, "*", "run.json"))]
    for path in glob.glob(os.path.join(working_dir, "submitted", "*.json")):
        record = rt.read_json(path)
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
    lines = ["%-30s %-19s %8s %-10s %6s %8s %8s %7s %s" % ("RUN ID", "START", "DURATION", "STATUS", "STEPS",
                                                          "ROUGE-L", "SERVED", "VERSION", "PROMOTED")]
    for r in runs:
        p = r.get("parameters", {})
        served = (r.get("promotion") or {}).get("served_rouge_l")
        lines.append("%-30s %-19s %8s %-10s %6s %8s %8s %7s %s" % (
            r["run_id"], r.get("started") or "-", _duration(r.get("duration_s")), r["state"],
            p.get("train_steps", "-"), _num(r.get("rouge_l")), _num(served),
            r["version"] if r.get("version") is not None else "-", r["promoted"]))
    if not runs:
        lines.append("(no runs)")
    return "\n".join(lines)


def find_run(working_dir: str, run: str) -> dict:
    """A local run by id (or its dir), or a submitted one by its KFP id."""
    for run_dir in (run, os.path.join(working_dir, run)):
        if os.path.isfile(os.path.join(run_dir, "run.json")):
            return load_run(run_dir)
    submitted = rt.read_json(os.path.join(working_dir, "submitted", os.path.basename(run) + ".json"))
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
    for step, record in r["steps"].items():
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
    path = os.path.join(working_dir, "submitted", safe + ".json")
    rt.write_json(path, dict(record, submitted=time.strftime(TIME_FORMAT)))
    return path
