"""Deployment helpers for serve, webapp and the exit handler: publish a version into the model base path, start
detached local processes (the model server, the web app) that outlive the pipeline, find and stop them.

Local processes are recorded in <working dir>/serving/<name>.process.json ({pid, urls, log, ...}); a later run
reuses a live one (the model server hot-loads the new version) instead of starting a second."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from components import _runtime as rt


def target(deploy_target: str) -> str:
    if deploy_target == "auto":
        return "kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local"
    if deploy_target not in ("local", "kubernetes"):
        raise ValueError("deploy_target %r: auto, local or kubernetes" % deploy_target)
    return deploy_target


# ------------------------------------------------------------------------------------------- model versions
def versions(base_path: str) -> list[int]:
    if rt.is_remote(base_path):
        import tensorflow as tf
        names = [n.rstrip("/") for n in tf.io.gfile.listdir(base_path)] if tf.io.gfile.exists(base_path) else []
    else:
        names = os.listdir(base_path) if os.path.isdir(base_path) else []
    return sorted(int(n) for n in names if re.fullmatch(r"\d+", n))


def _copytree(src: str, dst: str) -> None:
    if not rt.is_remote(src) and not rt.is_remote(dst):
        shutil.copytree(src, dst)
        return
    import tensorflow as tf
    for root, _, files in tf.io.gfile.walk(src):
        rel = os.path.relpath(root, src)
        target_dir = dst if rel == "." else os.path.join(dst, rel)
        tf.io.gfile.makedirs(target_dir)
        for name in files:
            tf.io.gfile.copy(os.path.join(root, name), os.path.join(target_dir, name), overwrite=True)


def publish(export_dir: str, base_path: str, run_dir: str) -> dict:
    """Copies the newest version under export_dir into base_path as a new, highest version (its own number when
    that is higher than every published one, retired ones included, else the next free number), so the server
    switches to it. Written under a hidden name, then renamed. Idempotent: this run's version published before is
    found again."""
    exported = versions(export_dir)
    if not exported:
        raise FileNotFoundError("no exported version under %s" % export_dir)
    step = exported[-1]
    source = os.path.join(export_dir, str(step))
    previous = rt.read_json(os.path.join(run_dir, "steps", "serve.json"), {}) or {}
    if previous.get("source") == source and previous.get("version") in versions(base_path):
        return {"version": previous["version"], "source": source, "base_path": base_path, "new": False}
    taken = sorted(versions(base_path) + versions(base_path + ".retired"))  # never reuse a rolled-back number
    number = step if not taken or step > taken[-1] else taken[-1] + 1
    rt.makedirs(base_path)
    final = os.path.join(base_path, str(number))
    tmp = os.path.join(base_path, ".tmp-%d-%d" % (number, os.getpid()))
    _copytree(source, tmp)
    if rt.is_remote(base_path):
        import tensorflow as tf
        tf.io.gfile.rename(tmp, final)
    else:
        os.replace(tmp, final)
    return {"version": number, "source": source, "base_path": base_path, "new": True}


def unpublish(base_path: str, version: int) -> None:
    path = os.path.join(base_path, str(version))
    if rt.is_remote(path):
        import tensorflow as tf
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------- local processes
def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pick_port(preferred: int) -> int:
    if port_free(preferred):
        return preferred
    from serving.launch import free_port
    return free_port()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    try:  # a zombie (our own exited child) is not alive
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def http_get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def start_detached(cmd: list[str], log_path: str, env: dict) -> int:
    """Starts cmd in its own session (it outlives the task, the pipeline and a Ctrl-C of the caller); returns the
    pid. Its output goes to log_path."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=rt.REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def wait_until(check, pid: int, timeout: float, what: str, log_path: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not alive(pid):
            raise RuntimeError("%s exited; log %s:\n%s" % (what, log_path, tail(log_path)))
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise RuntimeError("%s not ready after %.0f s; log %s:\n%s" % (what, timeout, log_path, tail(log_path)))


def tail(path: str, n: int = 4000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def stop(pid: int, timeout: float = 20) -> bool:
    """SIGTERM the process (its session), then SIGKILL after timeout; True when it was running."""
    if not alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    return True


def process_record_path(working_dir: str, name: str) -> str:
    return os.path.join(working_dir, "serving", name + ".process.json")


def live_record(working_dir: str, name: str):
    record = rt.read_json(process_record_path(working_dir, name))
    return record if record and alive(record.get("pid")) else None
