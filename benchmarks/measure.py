"""Running a command while measuring its wall time and the peak memory of its whole process tree."""
from __future__ import annotations

import subprocess
import threading
import time

import psutil


def run_measured(cmd: list[str], log_path: str, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes summed over the process and its children, sampled every 50 ms).
    Raises CalledProcessError (its log is at log_path) when the command fails."""
    peak = 0
    with open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def sample():
            nonlocal peak
            parent = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    procs = [parent] + parent.children(recursive=True)
                    peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
                except psutil.Error:
                    pass
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    if rc:
        raise subprocess.CalledProcessError(rc, cmd, output=f"see {log_path}")
    return seconds, peak
