"""The soak test: Locust against the web app while its model server is hot-swapped to a new version, then killed
and restarted; loopback only, bounded in time.

    python -m serving.soak --model_base_path work/serving/ghsumm --out work/soak               # full: 5 minutes
    python -m serving.soak --model_base_path work/serving/ghsumm --out work/soak --duration 60 # short

The newest version under --model_base_path (never changed) is copied into a base path of the run's own as
version 1, a model server serves it, and the web app (gunicorn, 2 workers, as deployed) calls it. Locust users
(serving/soak_locustfile.py) ask for titles throughout, each request logged. At 25% of the run version 2 is
published (the server switches without a restart); at 50% the server is killed (SIGKILL) and started again on
the same ports after --down seconds. The checks, in report.json and report.txt under --out:
- every failed request overlaps the outage window (kill -> the restarted server serving, + the web app's
  retries), and each is a 503 with a message;
- some requests succeeded before, between and after the faults, and after the swap the new version answers;
- the web app's memory (RSS of gunicorn and its workers) at the end is at most rss_bound above the RSS after
  warm-up (a fifth of the run): it does not grow.
Exit 1 when a check fails.
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

from data import project
from data.project import SAMPLE_CSV
from serving import versions
from serving.client import find_vocab
from serving.launch import ServerProcess, free_port

LOCUSTFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak_locustfile.py")
RETRY_GRACE_S = 3.0  # after the server serves again, requests that were in the web app's retries still end


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2 ** 20


def _get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def _wait_for(what: str, check, timeout: float):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))


def analyse(requests_log: list[dict], events: dict, rss: list[tuple[float, float]], rss_bound_mb: float) -> dict:
    """The report's figures and checks from the logged requests, the fault times and the RSS samples."""
    outage = (events["kill"], events["restarted"] + RETRY_GRACE_S)
    failures = [r for r in requests_log if r["status"] != 200]
    by_cause = collections.Counter("%s %s" % (r["status"], r["code"] or "-") for r in failures)
    outside = [r for r in failures if r["end"] < outage[0] or r["start"] > outage[1]]
    not_503 = [r for r in failures if r["status"] != 503 or not r["message"]]
    ok = [r for r in requests_log if r["status"] == 200]
    phases = {"before the swap": (events["start"], events["swap"]), "between swap and kill": (events["swap"], events["kill"]),
              "after the restart": (outage[1], events["end"])}
    ok_by_phase = {name: sum(1 for r in ok if a <= r["start"] and r["end"] <= b) for name, (a, b) in phases.items()}
    warm = events["start"] + (events["end"] - events["start"]) / 5
    rss_start = next((mb for t, mb in rss if t >= warm), rss[0][1] if rss else 0.0)
    rss_end = rss[-1][1] if rss else 0.0
    checks = {
        "failures only inside the outage": not outside,
        "every failure a 503 with a message": not not_503,
        "titles before, between and after the faults": all(ok_by_phase.values()),
        "the new version served after the swap": events.get("swapped_version") == 2,
        "RSS did not grow beyond the bound": rss_end - rss_start <= rss_bound_mb,
    }
    return {
        "requests": len(requests_log), "ok": len(ok), "failures": len(failures), "failures_by_cause": dict(by_cause),
        "failures_outside_outage": outside[:20], "failures_not_503": not_503[:20], "ok_by_phase": ok_by_phase,
        "outage": {"kill_s": round(outage[0] - events["start"], 1), "restarted_s": round(events["restarted"] - events["start"], 1),
                   "window_s": round(outage[1] - outage[0], 1),
                   "first_failure_s": round(min((r["end"] for r in failures), default=outage[0]) - events["start"], 1),
                   "last_failure_s": round(max((r["end"] for r in failures), default=outage[0]) - events["start"], 1)},
        "swap_s": round(events["swap"] - events["start"], 1), "duration_s": round(events["end"] - events["start"], 1),
        "rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1), "max": round(max((m for _, m in rss), default=0), 1),
                   "first": round(rss[0][1], 1) if rss else 0.0, "bound": rss_bound_mb},
        "checks": checks, "passed": all(checks.values()),
    }


def summary_text(report: dict) -> str:
    o, m = report["outage"], report["rss_mb"]
    lines = ["soak: %d requests in %.0f s, %d ok, %d failed (%s)" % (
                 report["requests"], report["duration_s"], report["ok"], report["failures"],
                 ", ".join("%d x %s" % (n, c) for c, n in sorted(report["failures_by_cause"].items())) or "none"),
             "  swap to version 2 at %.0f s; server killed at %.0f s, serving again at %.0f s: outage window %.1f s "
             "(failures from %.1f to %.1f s)" % (report["swap_s"], o["kill_s"], o["restarted_s"], o["window_s"],
                                                 o["first_failure_s"], o["last_failure_s"]),
             "  web app RSS: %.0f MB after warm-up, %.0f MB at the end (max %.0f, bound +%.0f MB)" % (
                 m["start"], m["end"], m["max"], m["bound"])]
    lines += ["  %s %s" % ("ok  " if passed else "FAIL", name) for name, passed in report["checks"].items()]
    return "\n".join(lines)


def sample_bodies(count: int = 200) -> list[str]:
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [r[3] for r in rows[:count] if r[3].strip()]


def run(model_base_path: str, out_dir: str, duration_s: float = 300, users: int = 4, down_s: float = 5,
        rss_bound_mb: float = 60, vocab: str = "", log=print) -> dict:
    """The soak test; returns the report (also written to out_dir/report.json and report.txt)."""
    found = versions.newest(model_base_path)
    if not found:
        raise FileNotFoundError("no numbered version under %s: export a model first (make run)" % model_base_path)
    vocab = vocab or find_vocab(model_base_path)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    base = os.path.join(out_dir, "models", "ghsumm")
    versions.copy_in(found[1], base, 1)
    bodies_path, requests_path = os.path.join(out_dir, "bodies.json"), os.path.join(out_dir, "requests.jsonl")
    with open(bodies_path, "w", encoding="utf-8") as f:
        json.dump(sample_bodies(), f)
    server = ServerProcess(base, log_path=os.path.join(out_dir, "server.log"))
    webapp = locust = None
    rss: list[tuple[float, float]] = []
    stop_sampling = threading.Event()
    try:
        server.start()
        port = free_port()
        env = dict(project.child_env(), GHSUMM_MODEL_SERVER=server.rest_url, GHSUMM_PROTOCOL="rest",
                   GHSUMM_MODEL_BASE_PATH=base, GHSUMM_WARM="true", GHSUMM_MODEL_TIMEOUT="20")
        if vocab:
            env["GHSUMM_VOCAB"] = vocab
        webapp_log = open(os.path.join(out_dir, "webapp.log"), "w")
        webapp = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf", "-w", "2",
                                   "-b", "127.0.0.1:%d" % port, "--timeout", "60", "webapp:create_app()"],
                                  cwd=project.REPO, env=env, stdout=webapp_log, stderr=subprocess.STDOUT)
        url = "http://127.0.0.1:%d" % port
        _wait_for("the web app to serve titles", lambda: _get_json(url + "/healthz").get("status") == "ok", 180)
        # one title from each worker, so both have loaded the vocabulary before the clock starts
        for _ in range(4):
            urllib.request.urlopen(urllib.request.Request(url + "/api/summarize", json.dumps(
                {"body": "the app crashes on start"}).encode(), {"Content-Type": "application/json"}), timeout=120).read()

        def sample():
            while not stop_sampling.is_set():
                rss.append((time.time(), rss_mb(webapp.pid)))
                stop_sampling.wait(1.0)
        threading.Thread(target=sample, daemon=True).start()
        locust_env = dict(os.environ, GHSUMM_SOAK_BODIES=bodies_path, GHSUMM_SOAK_LOG=requests_path)
        locust_log = open(os.path.join(out_dir, "locust.log"), "w")
        locust = subprocess.Popen([sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", url,
                                   "--users", str(users), "--spawn-rate", str(users), "--only-summary",
                                   "--exit-code-on-error", "0", "--stop-timeout", "30"],
                                  cwd=project.REPO, env=locust_env, stdout=locust_log, stderr=subprocess.STDOUT)
        events = {"start": time.time()}
        log("soak: %d users against %s for %.0f s (model server %s)" % (users, url, duration_s, server.rest_url))

        def at(fraction: float):
            time.sleep(max(0.0, events["start"] + duration_s * fraction - time.time()))
        at(0.25)
        events["swap"] = time.time()
        versions.copy_in(found[1], base, 2)
        _wait_for("version 2", lambda: _get_json(url + "/healthz").get("version") == 2, 60)
        events["swapped_version"] = 2
        log("  %.0f s: version 2 published and served" % (time.time() - events["start"]))
        at(0.5)
        events["kill"] = time.time()
        server.proc.kill()
        server.proc.wait()
        log("  %.0f s: model server killed" % (events["kill"] - events["start"]))
        time.sleep(down_s)
        server.start()  # the same ports
        events["restarted"] = time.time()
        log("  %.0f s: model server serving again" % (events["restarted"] - events["start"]))
        at(1.0)
        events["end"] = max(time.time(), events["restarted"] + RETRY_GRACE_S + 10)
        time.sleep(max(0.0, events["end"] - time.time()))
        locust.send_signal(signal.SIGTERM)
        locust.wait(60)
        events["end"] = time.time()
    finally:
        stop_sampling.set()
        for proc in (locust, webapp):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        server.stop()
    with open(requests_path, encoding="utf-8") as f:
        requests_log = [json.loads(line) for line in f if line.strip()]
    report = analyse(requests_log, events, rss, rss_bound_mb)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out_dir, "report.txt"), "w") as f:
        f.write(summary_text(report) + "\n")
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_base_path", default=versions.base_path(os.path.join(project.REPO, "work"), "ghsumm"),
                   help="its newest version is served (copied; the base path is not changed)")
    p.add_argument("--out", default=os.path.join(project.REPO, "work", "soak"), help="report.json, report.txt, logs")
    p.add_argument("--duration", type=float, default=300, help="seconds of load (longer if the restart is slow)")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--down", type=float, default=5, help="seconds the model server stays dead")
    p.add_argument("--rss_bound_mb", type=float, default=60, help="how much the web app's RSS may grow after warm-up")
    p.add_argument("--vocab", default="", help="default: the newest version's assets.extra/ copy")
    a = p.parse_args(argv)
    report = run(a.model_base_path, a.out, a.duration, a.users, a.down, a.rss_bound_mb, a.vocab)
    print(summary_text(report))
    print("  report: %s" % os.path.join(a.out, "report.json"))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
