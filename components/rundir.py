"""The run directory, the one owner of its layout: working_dir/<run id>/

  run.json              the parameters of each attempt, with its start time (init_run)
  steps/<step>.json     each step's outputs and seconds (evaluate's holds the promotion decision)
  steps/<step>.failed.json  a failed step's error, for the exit handler
  status.json           the final state, the failing step and its error, every step record (finalize)
  logs/<step>.log       each project command's output, after its command line
  logs/pipeline.log     a local run's whole kfp.local output (pipeline/local.py prints only each step's story)
  data/ model/ export/<step>/ eval/ load_test/   the steps' outputs
  retrain.json          for a retrain: what it was chosen from (pipeline/retrain.py)

Everything that reads or writes these paths calls this module (components, pipeline, tests' helpers)."""
from __future__ import annotations

import os
import re
import time

from components import STEPS
from data import files

STEPS_DIR = "steps"
STEPS_KEY = STEPS_DIR  # status.json: {"steps": {step: its record}}
RUN_FILE = "run.json"
STATUS_FILE = "status.json"
LOGS_DIR = "logs"
RETRAIN_FILE = "retrain.json"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def run_dir_for(working_dir: str, run_id: str, job_name: str = "") -> str:
    """working_dir/<run id>: run_id when given, else the KFP job name made path-safe. init_run and the exit handler
    (which may depend on no task) both compute it from the pipeline's parameters."""
    rid = run_id or re.sub(r"[^A-Za-z0-9._-]+", "-", job_name.rsplit("/", 1)[-1]).strip("-") or "run"
    return os.path.join(working_dir, rid)


def run_id_of(run_dir: str) -> str:
    return os.path.basename(run_dir.rstrip("/"))


def run_json(run_dir: str) -> str:
    return os.path.join(run_dir, RUN_FILE)


def status_json(run_dir: str) -> str:
    return os.path.join(run_dir, STATUS_FILE)


def retrain_json(run_dir: str) -> str:
    return os.path.join(run_dir, RETRAIN_FILE)


def output_dir(run_dir: str, name: str) -> str:
    """A step's output dir: data, model, export, eval, load_test."""
    return os.path.join(run_dir, name)


def log_path(run_dir: str, step: str) -> str | None:
    """logs/<step>.log (its dir made); None for a remote run dir (the task log has the output there)."""
    if files.is_remote(run_dir):
        return None
    os.makedirs(os.path.join(run_dir, LOGS_DIR), exist_ok=True)
    return os.path.join(run_dir, LOGS_DIR, step + ".log")


def step_path(run_dir: str, step: str) -> str:
    return os.path.join(run_dir, STEPS_DIR, step + ".json")


def failed_path(run_dir: str, step: str) -> str:
    return os.path.join(run_dir, STEPS_DIR, step + ".failed.json")


def read_step(run_dir: str, step: str, default=None):
    record = files.read_json(step_path(run_dir, step))
    return default if record is None else record


def write_step(run_dir: str, step: str, info: dict) -> None:
    files.write_json(step_path(run_dir, step), info)


def step_records(run_dir: str) -> dict:
    """{step: its record} for every step that recorded one, in pipeline order."""
    steps = {}
    for step in STEPS:
        record = files.read_json(step_path(run_dir, step))
        if record is not None:
            steps[step] = record
    return steps


def record_failure(run_dir: str, step: str, error: str) -> None:
    try:
        files.write_json(failed_path(run_dir, step), {"step": step, "error": error, "time": time.strftime(TIME_FORMAT)})
    except OSError:
        pass


def failures(run_dir: str) -> list[dict]:
    """The failed-step records of the run."""
    found = [files.read_json(p) for p in files.glob(os.path.join(run_dir, STEPS_DIR, "*.failed.json"))]
    return [f for f in found if f]


def clear_failures(run_dir: str) -> None:
    """Removes an earlier attempt's failed-step records."""
    for old in files.glob(os.path.join(run_dir, STEPS_DIR, "*.failed.json")):
        files.remove(old)


def status_steps(status: dict | None) -> dict:
    """The step records inside a status.json."""
    return (status or {}).get(STEPS_KEY, {}) or {}


def write_status(run_dir: str, record: dict, steps: dict) -> None:
    files.write_json(status_json(run_dir), dict(record, **{STEPS_KEY: steps}))


def read_status(run_dir: str):
    return files.read_json(status_json(run_dir))


def run_dirs(working_dir: str) -> list[str]:
    """The runs of a working dir: dirs with a run.json."""
    return [os.path.dirname(p) for p in files.glob(os.path.join(working_dir, "*", RUN_FILE))]


def step_paths(working_dir: str, step: str) -> list[str]:
    """steps/<step>.json of every run in a working dir, sorted."""
    return files.glob(os.path.join(working_dir, "*", STEPS_DIR, step + ".json"))


def run_dir_of_step_path(path: str) -> str:
    return os.path.dirname(os.path.dirname(path))
