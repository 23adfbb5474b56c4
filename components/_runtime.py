"""What every component needs at run time: where the two interpreters are, running a project CLI with its output
streamed to the task log and saved under the run dir, and small JSON records.

The same code runs in both places:
- locally (kfp.local SubprocessRunner): the component runs in the app environment; app steps run
  `sys.executable -m ...`, t2t steps run $GHSUMM_T2T_PYTHON (default <repo>/.venv/t2t/bin/python);
- on a cluster: the component runs in the project's image, whose `python3` has kfp and the project installed;
  the t2t image sets GHSUMM_T2T_PYTHON to its TF 2.15 interpreter (docker/t2t.Dockerfile).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

_STARTED = time.time()
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def t2t_python() -> str:
    return os.environ.get("GHSUMM_T2T_PYTHON") or os.path.join(REPO, ".venv", "t2t", "bin", "python")


def app_python() -> str:
    return os.environ.get("GHSUMM_APP_PYTHON") or sys.executable


def child_env(**extra: str) -> dict:
    path = os.pathsep.join(p for p in [REPO, os.environ.get("PYTHONPATH", "")] if p)
    env = dict(os.environ, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def is_remote(path: str) -> bool:
    return "://" in path


def makedirs(path: str) -> None:
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)
    else:  # gs:// and friends: through TF's file system layer, which the images have
        import tensorflow as tf
        tf.io.gfile.makedirs(path)


def exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    import tensorflow as tf
    return tf.io.gfile.exists(path)


def write_json(path: str, obj) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    if is_remote(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_json(path: str, default=None):
    try:
        if is_remote(path):
            import tensorflow as tf
            with tf.io.gfile.GFile(path) as f:
                return json.load(f)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def read_text(path: str) -> str:
    if is_remote(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_cli(step: str, run_dir: str, args: list, python: str | None = None, env: dict | None = None) -> str:
    """Runs `python -m ...args` with the repo importable; streams its output (prefixed with the step) and keeps it
    in run_dir/logs/<step>.log. Raises RuntimeError naming the step, the exit status and the output's tail (KFP
    marks the task failed), so the first failing step says what went wrong. Returns the output."""
    cmd = [python or app_python()] + [str(a) for a in args]
    log_dir = os.path.join(run_dir, "logs")
    local_log = not is_remote(run_dir)
    if local_log:
        os.makedirs(log_dir, exist_ok=True)
    print("[%s] $ %s" % (step, " ".join(cmd)), flush=True)
    start = time.time()
    lines = []
    proc = subprocess.Popen(cmd, cwd=REPO, env=env or child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    log = open(os.path.join(log_dir, step + ".log"), "a", encoding="utf-8") if local_log else None
    try:
        for line in proc.stdout:
            lines.append(line)
            sys.stdout.write("[%s] %s" % (step, line))
            sys.stdout.flush()
            if log:
                log.write(line)
                log.flush()
        rc = proc.wait()
    finally:
        if log:
            log.close()
    output = "".join(lines)
    if rc != 0:
        tail = "".join(lines[-30:])
        record_failure(run_dir, step, "exit %d: %s" % (rc, "".join(lines[-12:]).strip()))
        raise RuntimeError("%s failed (exit %d) after %.0f s: %s\n%s"
                           % (step, rc, time.time() - start, " ".join(cmd[1:4]), tail))
    print("[%s] done in %.1f s" % (step, time.time() - start), flush=True)
    return output


def record_step(run_dir: str, step: str, **info) -> None:
    """run_dir/steps/<step>.json: what the step produced (the exit handler and the summary read these)."""
    info.setdefault("finished", time.strftime("%Y-%m-%dT%H:%M:%S"))
    info.setdefault("seconds", round(time.time() - _STARTED, 1))
    write_json(os.path.join(run_dir, "steps", step + ".json"), info)


def reused(run_dir: str, step: str, start_step: str):
    """For a start_step run: when `step` comes before start_step, the record an earlier attempt of this run wrote
    for it (its outputs checked to exist); None when the step must run. A missing record is an error naming it."""
    from components import STEPS
    if STEPS.index(step) >= STEPS.index(start_step):
        return None
    record = read_json(os.path.join(run_dir, "steps", step + ".json"))
    if record is None:
        raise RuntimeError("start_step %s: step %s never finished in %s; start from it instead"
                           % (start_step, step, run_dir))
    for key, value in record.items():
        if key.endswith(("_dir", "_path")) and value and not exists(value):
            raise RuntimeError("start_step %s: %s's output %s=%s is gone" % (start_step, step, key, value))
    print("[%s] reusing the earlier attempt's outputs (start_step=%s): %s" % (step, start_step, record), flush=True)
    return record


def run_dir_for(working_dir: str, run_id: str, job_name: str) -> str:
    """working_dir/<run id>: run_id when given, else the KFP job name made path-safe. init_run and the exit handler
    (which may depend on no task) both compute it from the pipeline's parameters."""
    import re
    rid = run_id or re.sub(r"[^A-Za-z0-9._-]+", "-", job_name.rsplit("/", 1)[-1]).strip("-") or "run"
    return os.path.join(working_dir, rid)


def record_failure(run_dir: str, step: str, error: str) -> None:
    """run_dir/steps/<step>.failed.json: the step's error, for the exit handler's status.json."""
    try:
        write_json(os.path.join(run_dir, "steps", step + ".failed.json"),
                   {"step": step, "error": error, "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    except OSError:
        pass
