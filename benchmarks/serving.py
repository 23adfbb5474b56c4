"""Serving: title latency through the model server (REST and gRPC) against the bare in-process SavedModel call
on the same issues, and requests/s with 4 concurrent clients, with and without the server's batching.

Every path does the same work per title: clean + encode the body, run the model, decode the ids. Prints p50/p95
of each and the ratios server / bare (target: REST p50 <= 1.2x bare). The model: $GHSUMM_BENCH_EXPORT (an
export dir) with $GHSUMM_BENCH_VOCAB, or a tiny model trained here (benchmarks/tiny_model.py, ~1.5 min; its
titles are junk and every decode runs to the maximum length, so absolute times are pessimistic).
"""
from __future__ import annotations

import os
import tempfile
import threading
import time

import numpy as np

from benchmarks import tiny_model
from serving.client import Codec, TitleClient
from serving.launch import ServerProcess

ISSUES = 30
CONCURRENT_CLIENTS = 4
REQUESTS_PER_CLIENT = 8


def percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50)) * 1000, float(np.percentile(seconds, 95)) * 1000


def time_interleaved(calls: dict, bodies) -> dict:
    """name -> per-issue seconds; the calls take turns on each issue, so load from elsewhere hits all alike."""
    for call in calls.values():
        call(bodies[0])  # warm-up (the first call of a loaded function is slower)
    out = {name: [] for name in calls}
    for body in bodies:
        for name, call in calls.items():
            start = time.perf_counter()
            call(body)
            out[name].append(time.perf_counter() - start)
    return out


def throughput(make_client, bodies) -> float:
    """Requests/s with CONCURRENT_CLIENTS threads, each its own client, REQUESTS_PER_CLIENT titles each."""
    clients = [make_client() for _ in range(CONCURRENT_CLIENTS)]
    for c in clients:
        c.generate(bodies[0])
    errors = []

    def work(i, client):
        try:
            for k in range(REQUESTS_PER_CLIENT):
                client.generate(bodies[(i * REQUESTS_PER_CLIENT + k) % len(bodies)])
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    for c in clients:
        c.close()
    if errors:
        raise errors[0]
    return CONCURRENT_CLIENTS * REQUESTS_PER_CLIENT / seconds


def main() -> int:
    import tensorflow as tf
    work = tempfile.mkdtemp(prefix="ghsumm-bench-serving-")
    export_dir, vocab, base = tiny_model.model_for_benchmark(work, "serving")
    bodies = tiny_model.sample_bodies(1000, ISSUES)
    codec = Codec(vocab)

    fn = tf.saved_model.load(export_dir).signatures["serving_default"]

    def bare(body):
        out = fn(input=tf.constant([codec.example(body)]))
        return codec.decode(out["outputs"][0].numpy()), float(out["scores"][0])
    results = {}
    with ServerProcess(base, log_path=os.path.join(work, "server.log")) as server:
        rest = TitleClient(server.rest_url, "rest", codec=codec)
        grpc = TitleClient(server.grpc_address, "grpc", codec=codec)
        for body in bodies[:3]:  # same titles as the bare call
            assert rest.generate(body).title == grpc.generate(body).title == bare(body)[0]
        times = time_interleaved({"bare": bare, "rest": rest.generate, "grpc": grpc.generate}, bodies)
        bare_s, rest_s, grpc_s = times["bare"], times["rest"], times["grpc"]
        results["no batching"] = (throughput(lambda: TitleClient(server.rest_url, "rest", codec=codec), bodies),
                                  throughput(lambda: TitleClient(server.grpc_address, "grpc", codec=codec), bodies))
    with ServerProcess(base, log_path=os.path.join(work, "server-batching.log"),
                       extra_args=["--enable_batching", "true"]) as server:
        results["batching"] = (throughput(lambda: TitleClient(server.rest_url, "rest", codec=codec), bodies),
                               throughput(lambda: TitleClient(server.grpc_address, "grpc", codec=codec), bodies))

    b50, b95 = percentiles(bare_s)
    print("title latency on %d sample issues (p50 / p95 ms):" % len(bodies))
    print("  bare SavedModel call  %7.1f / %7.1f   (reference)" % (b50, b95))
    for label, seconds in (("REST via server", rest_s), ("gRPC via server", grpc_s)):
        p50, p95 = percentiles(seconds)
        per_issue = float(np.median(np.array(seconds) / np.array(bare_s)))
        print("  %-20s  %7.1f / %7.1f   RATIO p50 %.2fx, p95 %.2fx bare (median per-issue ratio %.2fx)"
              % (label, p50, p95, p50 / b50, p95 / b95, per_issue))
    print("requests/s with %d concurrent clients (%d titles each):" % (CONCURRENT_CLIENTS, REQUESTS_PER_CLIENT))
    for mode, (r, g) in results.items():
        print("  server, %-12s REST %5.2f  gRPC %5.2f" % (mode + ":", r, g))
    r_on, r_off = results["batching"][0], results["no batching"][0]
    print("  RATIO batching / no batching (REST) = %.2f; one bare caller does %.2f titles/s"
          % (r_on / r_off, 1 / (sum(bare_s) / len(bare_s))))
    rest_p50 = percentiles(rest_s)[0]
    ok = rest_p50 <= 1.2 * b50
    print("  REST p50 target (<= 1.2x bare): %s" % ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    import sys
    sys.exit(main())
