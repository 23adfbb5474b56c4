"""The load test, headless, from one command (the pipeline runs it after deploy):

    python -m serving.load_test --host http://127.0.0.1:8501 --vocab DATA/vocab...subwords --users 4 \
        --run_time 20s --out DIR
    python -m serving.load_test --model_base_path work/serving/ghsumm --out work/load   # starts its own server

With --model_base_path, a model server is started on free local ports for the run and stopped after it, and
the vocabulary defaults to the newest version's assets.extra/ copy.

Encodes real issue bodies from the bundled sample (or --issues_csv) with the model's vocabulary, runs Locust
(serving/locustfile.py) against the REST predict endpoint, and leaves in DIR: report.html (Locust's HTML
report), locust_stats.csv / locust_stats_history.csv / locust_failures.csv (latencies, percentiles,
requests/s), requests.jsonl (the request bodies) and locust.log. Prints the summary numbers; exit 1 when a
request failed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys

from data.project import SAMPLE_CSV
from serving.client import Codec, find_vocab, rest_predict_body

LOCUSTFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "locustfile.py")


def write_requests(path: str, vocab: str, issues_csv: str, count: int) -> int:
    codec = Codec(vocab)
    with open(issues_csv, newline="", encoding="utf-8") as f:
        bodies = [row[3] for _, row in zip(range(count), list(csv.reader(f))[1:]) if row[3].strip()]
    with open(path, "w", encoding="utf-8") as out:
        for body in bodies:
            out.write(json.dumps(rest_predict_body([codec.example(body)])) + "\n")
    return len(bodies)


def _number(text: str) -> float:
    """A Locust stats cell as a number: "N/A" (no request finished, e.g. a short run on a busy machine) is 0."""
    return 0.0 if text.strip().upper() == "N/A" else float(text)


def summary(out_dir: str) -> dict:
    """The 'Aggregated' row of Locust's stats CSV, as numbers."""
    with open(os.path.join(out_dir, "locust_stats.csv"), newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    r = rows["Aggregated"]
    return {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]),
            "p50_ms": _number(r["50%"]), "p95_ms": _number(r["95%"]), "p99_ms": _number(r["99%"]),
            "avg_ms": _number(r["Average Response Time"]), "requests_per_s": _number(r["Requests/s"])}


def run(host: str, vocab: str, out_dir: str, users: int = 4, run_time: str = "20s", model_name: str = "ghsumm",
        issues_csv: str = SAMPLE_CSV, issues: int = 200) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    requests_path = os.path.join(out_dir, "requests.jsonl")
    n = write_requests(requests_path, vocab, issues_csv, issues)
    cmd = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--host", host,
           "--users", str(users), "--spawn-rate", str(users), "--run-time", run_time, "--stop-timeout", "30",
           "--html", os.path.join(out_dir, "report.html"), "--csv", os.path.join(out_dir, "locust"),
           "--csv-full-history", "--only-summary", "--exit-code-on-error", "0"]
    env = dict(os.environ, GHSUMM_LOCUST_REQUESTS=requests_path, GHSUMM_MODEL_NAME=model_name)
    with open(os.path.join(out_dir, "locust.log"), "w") as log:
        rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not os.path.exists(os.path.join(out_dir, "locust_stats.csv")):
        with open(os.path.join(out_dir, "locust.log")) as f:
            raise RuntimeError("locust failed (exit %d):\n%s" % (rc, f.read()[-3000:]))
    result = summary(out_dir)
    result.update(issues=n, users=users, run_time=run_time, report=os.path.join(out_dir, "report.html"))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving.load_test", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="http://127.0.0.1:8501", help="the server's REST address")
    p.add_argument("--model_base_path", help="instead of --host: serve this base path locally for the run")
    p.add_argument("--vocab", help="the model's vocab.*.subwords file (default with --model_base_path: the "
                                   "newest version's assets.extra/ copy)")
    p.add_argument("--out", required=True, help="directory for the HTML report and CSVs")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--run_time", default="20s", help="Locust duration, e.g. 20s, 2m")
    p.add_argument("--model_name", default="ghsumm")
    p.add_argument("--issues_csv", default=SAMPLE_CSV, help="Kaggle-format CSV of issues to send")
    p.add_argument("--issues", type=int, default=200, help="how many issue bodies to cycle through")
    a = p.parse_args(argv)
    server = None
    if a.model_base_path:
        from serving.launch import ServerProcess
        a.vocab = a.vocab or find_vocab(a.model_base_path)
        if not a.vocab:
            p.error(f"no version with assets.extra/vocab.*.subwords under {a.model_base_path}: give --vocab")
        os.makedirs(a.out, exist_ok=True)
        server = ServerProcess(a.model_base_path, a.model_name, log_path=os.path.join(a.out, "server.log")).start()
        a.host = server.rest_url
    elif not a.vocab:
        p.error("--vocab is required with --host")
    try:
        r = run(a.host, a.vocab, a.out, a.users, a.run_time, a.model_name, a.issues_csv, a.issues)
    finally:
        if server is not None:
            server.stop()
    print("load test: %d users for %s against %s, %d distinct issues" % (r["users"], r["run_time"], a.host, r["issues"]))
    print("  requests %d, failures %d, %.2f requests/s" % (r["requests"], r["failures"], r["requests_per_s"]))
    print("  latency ms: p50 %.0f, p95 %.0f, p99 %.0f, mean %.0f" % (r["p50_ms"], r["p95_ms"], r["p99_ms"], r["avg_ms"]))
    print("  HTML report: %s; CSVs: %s" % (r["report"], os.path.join(a.out, "locust_stats*.csv")))
    return 1 if r["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
