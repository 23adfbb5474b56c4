"""Running a command while measuring its wall time and the peak memory of its whole process tree."""
from __future__ import annotations

import subprocess
import threading
import time

import psutil


def _pss(proc: psutil.Process) -> int:
    try:
        return proc.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return proc.memory_info().rss


def run_measured(cmd: list[str], log_path: str, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak memory in bytes of the process and its children, sampled every 50 ms).

    Memory is PSS (proportional set size): pages shared between processes, as after a fork, count once in
    total, so a tree of forked workers is not over-counted as summed RSS would.
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
                    peak = max(peak, sum(_pss(p) for p in procs))
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
