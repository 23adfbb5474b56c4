"""Start serving/model_server.py as a child process on free ports and wait until it serves (the local serve
step, tests and benchmarks use it).

    with ServerProcess(base_path, model_name="ghsumm", log_path="server.log") as server:
        server.rest_url, server.grpc_address   # http://127.0.0.1:PORT, 127.0.0.1:PORT
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [REPO, os.environ.get("PYTHONPATH", "")] if p))
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
