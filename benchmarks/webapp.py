"""Web app: the latency it adds over a direct client call, on the same issues.

The web app runs as in production (gunicorn, one worker, `webapp:create_app()`) in front of the model server
(serving/model_server.py, REST); each issue is asked for once directly (serving.client.TitleClient) and once
through the web app's POST /api/summarize (requests, keep-alive), the two taking turns so load from elsewhere
hits both alike. Prints p50/p95 of each, the median of the per-issue differences (the added latency) and the ratio
web app / direct.

Twice: with the real model (the honest end-to-end figure, but a title takes hundreds of ms whose jitter on a
busy machine is larger than the web app's share), and with a model server that answers at once (a stub
speaking the same REST protocol, fixed ids), which isolates what the web app adds: the HTTP hop, Flask, the
input report, JSON. The target, < 15 ms added (median), is checked on the isolated figure. The model:
$GHSUMM_BENCH_EXPORT (an export dir) with $GHSUMM_BENCH_VOCAB, or a tiny model trained here
(benchmarks/tiny_model.py, ~1.5 min; its titles are junk).
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import requests

from benchmarks.serving import percentiles, time_interleaved
from benchmarks import tiny_model
from serving.client import Codec, TitleClient
from serving.launch import REPO, ServerProcess, free_port

ISSUES = 40
INSTANT_REQUESTS = 100
TARGET_MS = 15.0


class InstantModelServer:
    """TF Serving's REST predict and status answered at once with fixed output ids (version 1)."""

    def __init__(self, ids: list[int]):
        predictions = {"outputs": ids, "scores": -1.0}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body in two packets cost a 40 ms delayed ACK
            wbufsize = 64 * 1024  # one write per answer

            def log_message(self, *a):
                pass

            def _send(self, payload: dict, headers=()):
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})

            def do_POST(self):
                n = len(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["instances"])
                self._send({"predictions": [predictions] * n}, [("X-Model-Version", "1")])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start_gunicorn(env: dict, log_path: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b", "127.0.0.1:%d" % port, "--timeout",
                             "120", "webapp:create_app()"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
        try:
            requests.get(url + "/livez", timeout=2).raise_for_status()
            return proc, url
        except requests.RequestException:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                with open(log_path) as f:
                    raise RuntimeError("gunicorn did not start; log:\n" + f.read()[-3000:]) from None
            time.sleep(0.3)


def compare(model_url: str, vocab: str, codec: Codec, bodies: list[str], work: str, label: str) -> dict:
    """Per-issue seconds of the direct client call and of POST /api/summarize through gunicorn, interleaved."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHSUMM_", "GITHUB_"))}
    env.update(PYTHONPATH=REPO, GHSUMM_MODEL_SERVER=model_url, GHSUMM_VOCAB=vocab, TF_CPP_MIN_LOG_LEVEL="2")
    proc, url = start_gunicorn(env, os.path.join(work, "gunicorn-%s.log" % label))
    try:
        direct = TitleClient(model_url, "rest", codec=codec)
        session = requests.Session()

        def via_webapp(body):
            r = session.post(url + "/api/summarize", json={"body": body}, timeout=120)
            r.raise_for_status()
            return r.json()
        for body in bodies[:3]:  # the same titles both ways (and the worker's vocabulary is loaded)
            assert via_webapp(body)["title"] == direct.generate(body).title
        return time_interleaved({"direct": direct.generate, "webapp": via_webapp}, bodies)
    finally:
        proc.terminate()
        proc.wait(20)


def report(label: str, times: dict) -> float:
    direct_s, web_s = np.array(times["direct"]), np.array(times["webapp"])
    added_ms = (web_s - direct_s) * 1000
    d50, d95 = percentiles(list(direct_s))
    w50, w95 = percentiles(list(web_s))
    added = float(np.median(added_ms))
    print("  %s, %d requests (p50 / p95 ms):" % (label, len(direct_s)))
    print("    direct TitleClient call  %7.1f / %7.1f   (reference)" % (d50, d95))
    print("    POST /api/summarize      %7.1f / %7.1f   RATIO p50 %.3fx direct" % (w50, w95, w50 / d50))
    print("    added by the web app: median %.1f ms per issue (p25 %.1f, p75 %.1f)"
          % (added, float(np.percentile(added_ms, 25)), float(np.percentile(added_ms, 75))))
    return added


def main() -> int:
    work = tempfile.mkdtemp(prefix="ghsumm-bench-webapp-")
    export_dir, vocab, base = tiny_model.model_for_benchmark(work, "web app")
    bodies = tiny_model.sample_bodies(1000, ISSUES)
    codec = Codec(vocab)
    with ServerProcess(base, log_path=os.path.join(work, "server.log")) as server:
        real = compare(server.rest_url, vocab, codec, bodies, work, "model")
    instant = InstantModelServer(codec.encoder.encode("out of memory error when training on the gpu") + [1])
    try:
        many = (bodies * (INSTANT_REQUESTS // len(bodies) + 1))[:INSTANT_REQUESTS]
        isolated = compare(instant.url, vocab, codec, many, work, "instant")
    finally:
        instant.stop()
    print("web app latency on sample issues, gunicorn (1 worker) in front of a REST model server:")
    report("the tiny model", real)
    added = report("a model server that answers at once (the web app's own share)", isolated)
    ok = added < TARGET_MS
    print("  added-latency target (median < %.0f ms, isolated): %s" % (TARGET_MS, "met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
