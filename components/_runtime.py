"""What every component needs at run time: running a project CLI for a step (output streamed to the task log
and kept in <run dir>/logs/<step>.log; a failure is recorded for the exit handler), its step record, and reusing
an earlier attempt's outputs. Interpreters and the child environment come from data/project.py, the run dir's
layout from components/rundir.py, file access from data/files.py.

The same code runs in both places:
- locally (kfp.local SubprocessRunner): the component runs in the app environment; app steps run
  `sys.executable -m ...`, t2t steps run $GHSUMM_T2T_PYTHON (default <repo>/.venv/t2t/bin/python);
- on a cluster: the component runs in the project's image, whose `python3` has kfp and the project installed;
  the t2t image sets GHSUMM_T2T_PYTHON to its TF 2.15 interpreter (dockerfiles/t2t.Dockerfile).
"""
from __future__ import annotations

import os
import time

from components import STEPS, rundir
from data import files, project
from data.files import exists, is_remote, makedirs, read_json, read_text, write_json  # noqa: F401  (for the steps)
from data.project import REPO, app_python, t2t_python  # noqa: F401  (for the steps)


def child_env(**extra: str) -> dict:
    return project.child_env(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)


def run_cli(step: str, run_dir: str, args: list, python: str | None = None, env: dict | None = None) -> str:
    """Runs `python -m ...args` with the repo importable; streams its output (prefixed with the step) and keeps it
    in run_dir/logs/<step>.log. Raises RuntimeError naming the step, the exit status and the output's tail (KFP
    marks the task failed), so the first failing step says what went wrong. Returns the output."""
    try:
        return project.run_streamed([python or app_python()] + list(args), step, rundir.log_path(run_dir, step),
                                    env=env or child_env())
    except project.CommandFailed as e:
        rundir.record_failure(run_dir, step, "exit %d: %s" % (e.returncode, "".join(e.lines[-12:]).strip()))
        raise


def step_seconds() -> float:
    """Seconds since this step's process started (each KFP task runs in its own process), from /proc (the t2t image
    has no psutil); psutil where there is no /proc."""
    try:
        with open("/proc/self/stat") as f:
            started_ticks = int(f.read().rsplit(") ", 1)[1].split()[19])  # field 22: starttime, in clock ticks
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return round(uptime - started_ticks / os.sysconf("SC_CLK_TCK"), 1)
    except (OSError, ValueError, IndexError):
        import psutil
        return round(time.time() - psutil.Process().create_time(), 1)


def record_step(run_dir: str, step: str, **info) -> None:
    """run_dir/steps/<step>.json: what the step produced (the exit handler and the summary read these)."""
    info.setdefault("finished", time.strftime(rundir.TIME_FORMAT))
    info.setdefault("seconds", step_seconds())
    rundir.write_step(run_dir, step, info)


def reused(run_dir: str, step: str, start_step: str):
    """For a start_step run: when `step` comes before start_step, the record an earlier attempt of this run wrote
    for it (its outputs checked to exist); None when the step must run. A missing record is an error naming it."""
    if STEPS.index(step) >= STEPS.index(start_step):
        return None
    record = rundir.read_step(run_dir, step)
    if record is None:
        raise RuntimeError("start_step %s: step %s never finished in %s; start from it instead"
                           % (start_step, step, run_dir))
    for key, value in record.items():
        if key.endswith(("_dir", "_path")) and value and not files.exists(value):
            raise RuntimeError("start_step %s: %s's output %s=%s is gone" % (start_step, step, key, value))
    print("[%s] reusing the earlier attempt's outputs (start_step=%s): %s" % (step, start_step, record), flush=True)
    return record


run_dir_for = rundir.run_dir_for
record_failure = rundir.record_failure
