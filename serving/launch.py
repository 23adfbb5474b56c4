"""The project's local processes, the one owner of starting, finding and stopping them.

- ServerProcess: serving/model_server.py as a child process on free ports, waited for until it serves (tests and
  benchmarks use it):

      with ServerProcess(base_path, model_name="ghsumm", log_path="server.log") as server:
          server.rest_url, server.grpc_address   # http://127.0.0.1:PORT, 127.0.0.1:PORT

- detached processes that outlive the pipeline (the serve step's model server, the web app): start_detached, and
  their records <working dir>/serving/<name>.process.json ({pid, create_time, command, urls, log, ...}), which
  live_record finds and stop_recorded stops. A record names a process by pid AND identity (its start time and
  command line, read with psutil): a record left over after a reboot whose pid now belongs to another process is
  not that process, and is never signalled.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import psutil

from data import files, project
from serving import versions

PROCESS_SUFFIX = ".process.json"  # <working dir>/serving/<name>.process.json
from data.project import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, base_path: str, model_name: str = "ghsumm", log_path: str | None = None,
                 extra_args: list[str] | None = None, python: str = sys.executable, ready_timeout: float = 120):
        self.base_path, self.model_name = base_path, model_name
        self.rest_port, self.grpc_port = free_port(), free_port()
        self.rest_url = "http://127.0.0.1:%d" % self.rest_port
        self.grpc_address = "127.0.0.1:%d" % self.grpc_port
        self.log_path = log_path or os.path.join(base_path, "..", "server-%d.log" % self.rest_port)
        self.cmd = [python, "-m", "serving.model_server", "--model_name", model_name, "--model_base_path", base_path,
                    "--host", "127.0.0.1", "--port", str(self.grpc_port), "--rest_api_port", str(self.rest_port),
                    "--file_system_poll_wait_seconds", "0.5"] + list(extra_args or [])
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def status(self) -> dict:
        with urllib.request.urlopen("%s/v1/models/%s" % (self.rest_url, self.model_name), timeout=5) as r:
            return json.load(r)

    def start(self) -> "ServerProcess":
        env = project.child_env()
        self._log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.time() + self.ready_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("model server exited with %s; log:\n%s" % (self.proc.returncode, self.log()[-4000:]))
            try:
                if any(s["state"] == "AVAILABLE" for s in self.status()["model_version_status"]):
                    return self
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("model server not ready after %.0f s; log:\n%s" % (self.ready_timeout, self.log()[-4000:]))

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL after timeout)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------------------------- detached processes
def pick_ports(preferred: list[int]) -> list[int]:
    """A port for each preferred one: itself when free, else one the kernel chooses. All distinct: each probe
    stays bound until all are chosen (two ports chosen one after the other by the kernel came out the same, and a
    model server got REST and gRPC on one port)."""
    with contextlib.ExitStack() as probes:
        ports = []
        for port in preferred:
            probe = probes.enter_context(socket.socket())
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    return ports


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def ports_lock_path() -> str:
    return os.path.join(tempfile.gettempdir(), "ghsumm-ports-%d.lock" % os.getuid())


@contextlib.contextmanager
def _ports_lock():
    """This machine's one lock on choosing local ports, for every process of this user (a file in the temporary
    dir named for the user: another user's lock file, made with their permissions, could not be opened)."""
    with open(ports_lock_path(), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def start_on_ports(preferred: list[int], command, log_path: str, env: dict, what: str,
                   timeout: float = 300) -> tuple[dict, list[int]]:
    """Starts command(ports) detached (start_detached) on the preferred ports, a free one for each that is taken,
    and waits until it listens on all of them. Returns its identity record and its ports.

    Choosing and waiting hold one lock of this machine: two runs starting at once (two working dirs, two test
    workers) would otherwise both find 8501 free, and the loser's process would exit while it waited for the
    winner's answers."""
    with _ports_lock():
        ports = pick_ports(preferred)
        proc = start_detached(command(ports), log_path, env)
        try:
            wait_until(lambda: all(listening(p) for p in ports), proc["pid"], timeout, what, log_path)
        except RuntimeError:
            stop_recorded(proc)  # not left running without a record when it never listens
            raise
    return proc, ports


def alive(pid) -> bool:
    """The pid runs (a zombie, an exited child not yet reaped, does not)."""
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, TypeError, ValueError):
        return False


def identity(pid: int) -> dict:
    """What names a process beyond its pid: its start time and command line."""
    proc = psutil.Process(pid)
    return {"pid": pid, "create_time": proc.create_time(), "cmdline": proc.cmdline()}


def is_same_process(record: dict) -> bool:
    """The record's pid is alive AND is the process the record was written for: same start time and command
    line (a record without them, from an older version, is trusted by command line when it has one)."""
    pid = record.get("pid") if record else None
    if not alive(pid):
        return False
    try:
        proc = psutil.Process(int(pid))
        if record.get("create_time") is not None and abs(proc.create_time() - record["create_time"]) > 0.01:
            return False
        if record.get("command") and proc.cmdline() != [str(c) for c in record["command"]]:
            return False
    except psutil.Error:
        return False
    return True


def log_path(working_dir: str, name: str) -> str:
    """Where a local process started for working_dir writes its log: beside the process records, or, for a
    gs:// working dir, under this machine's temporary dir (a process writes a local file)."""
    if not files.is_remote(working_dir):
        return os.path.join(versions.serving_dir(working_dir), name)
    import tempfile
    bucket_path = working_dir.split("://", 1)[1].strip("/").replace("/", "_")
    return os.path.join(tempfile.gettempdir(), "ghsumm-logs", bucket_path, name)


def start_detached(cmd: list[str], log_path: str, env: dict) -> dict:
    """Starts cmd in its own session (it outlives the task, the pipeline and a Ctrl-C of the caller); its output
    goes to log_path. Returns its identity record: pid, create_time, command."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        create_time = None
    return {"pid": proc.pid, "create_time": create_time, "command": [str(c) for c in cmd]}


def http_get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def tail(path: str, n: int = 4000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


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


def stop_recorded(record: dict, timeout: float = 20) -> bool:
    """SIGTERM the recorded process (its session), then SIGKILL after timeout; True when it was running. Only
    when it is still the recorded process (is_same_process): a reused pid is left alone."""
    if not is_same_process(record):
        return False
    pid = int(record["pid"])
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
    return os.path.join(versions.serving_dir(working_dir), name + PROCESS_SUFFIX)


def write_record(working_dir: str, name: str, record: dict) -> None:
    files.write_json(process_record_path(working_dir, name), record)


def live_record(working_dir: str, name: str):
    """The process record of `name` in this working dir when that process still runs; else None."""
    record = files.read_json(process_record_path(working_dir, name))
    return record if record and is_same_process(record) else None


def recorded_names(working_dir: str) -> list[str]:
    """Names with a process record in this working dir."""
    return sorted(n[: -len(PROCESS_SUFFIX)] for n in files.listdir(versions.serving_dir(working_dir))
                  if n.endswith(PROCESS_SUFFIX))
