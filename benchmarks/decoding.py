"""Decoding: the shipped model's export (trainer/fast_decode.py's XLA graph) against the same checkpoint exported as
before (`trainer export --graph t2t`), in one process, taking turns: one title p50, a batch of 32 in issues/s, REST
requests/s with 4 concurrent clients (the server with and without its batching), and the titles that differ on the
bundled eval split. Targets (issue 33): one title <= 1/3 of the time, batches >= 3x, 4 clients >= 2x, no title
differs. Why and the profile: data/warm_start/README.md, "Decoding speed".
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

from benchmarks import serving
from data.project import REPO, SAMPLE_CSV, run_logged, t2t_python

SHIPPED = os.path.join(REPO, "data", "warm_start")
ONE_TITLE_ISSUES = 24
BATCH = 32
ROUNDS = 2  # REST throughput rounds per server (old, new, new with batching take turns)


def export(work: str, graph: str) -> str:
    base = os.path.join(work, graph)
    run_logged([t2t_python(), "-m", "trainer", "export", "--model_dir", SHIPPED, "--model_base_path", base,
                "--graph", graph], os.path.join(work, "export-%s.log" % graph), "export the shipped model, --graph %s"
               % graph, tag="decoding")
    return base


def eval_issues(work: str, vocab: str) -> list[dict]:
    from trainer import evaluate
    data = os.path.join(work, "data")
    run_logged([sys.executable, "-m", "data.preprocess", "--input", SAMPLE_CSV, "--vocab_file", vocab,
                "--output_dir", data], os.path.join(work, "preprocess.log"), "preprocess the bundled sample",
               tag="decoding")
    return evaluate.load_eval_issues(os.path.join(data, "eval_issues.jsonl"))


def main() -> int:
    import tensorflow as tf
    from serving.client import Codec, TitleClient
    from serving.launch import ServerProcess
    from trainer import evaluate
    from trainer.quality import vocabulary
    work = tempfile.mkdtemp(prefix="ghsumm-bench-decoding-")
    vocab = vocabulary(SHIPPED)
    bases = {"old": export(work, "t2t"), "new": export(work, "xla")}
    issues = eval_issues(work, vocab)
    encoder = evaluate.load_vocabulary(vocab)
    inputs = [evaluate.serialize_inputs(evaluate.encode_body(encoder, i["body"], 256)) for i in issues]
    loaded = {k: tf.saved_model.load(evaluate.find_saved_model(b)) for k, b in bases.items()}
    sigs = {k: m.signatures["serving_default"] for k, m in loaded.items()}

    def titles(out):
        return [evaluate.decode_title(encoder, ids) for ids in out["outputs"].numpy()]
    started = time.perf_counter()
    for sig in sigs.values():  # compiles (or reads from XLA's cache) the programs for 1 and 32 rows
        sig(input=tf.constant(inputs[:1]))
        sig(input=tf.constant(inputs[:BATCH]))
    print("[decoding] warm-up (XLA compiles or reads its cache) %.0f s" % (time.perf_counter() - started), flush=True)
    one = {k: [] for k in sigs}
    for x in inputs[:ONE_TITLE_ISSUES]:
        for k, sig in sigs.items():
            start = time.perf_counter()
            sig(input=tf.constant([x]))
            one[k].append(time.perf_counter() - start)
    batch_seconds, differ, example = {k: [] for k in sigs}, 0, None
    for start in range(0, len(inputs), BATCH):
        chunk, out = tf.constant(inputs[start:start + BATCH]), {}
        for k, sig in sigs.items():
            t = time.perf_counter()
            out[k] = titles(sig(input=chunk))
            if len(inputs[start:start + BATCH]) == BATCH:
                batch_seconds[k].append(time.perf_counter() - t)
        pairs = [(a, b) for a, b in zip(out["old"], out["new"]) if a != b]
        differ += len(pairs)
        example = example or (pairs[0] if pairs else None)
    rest = {"old": [], "new": [], "new, batching": []}
    codec = Codec(vocab)
    bodies = [i["body"] for i in issues[:40]]
    servers = {"old": (bases["old"], []), "new": (bases["new"], []),
               "new, batching": (bases["new"], ["--enable_batching", "true"])}
    with _Servers(ServerProcess, servers, work) as running:
        for _ in range(ROUNDS + 1):  # the first round warms up (batching: the programs for 2 to 4 rows)
            for name, server in running.items():
                rest[name].append(serving.throughput(lambda: TitleClient(server.rest_url, "rest", codec=codec),
                                                     bodies))
    rest = {name: rates[1:] for name, rates in rest.items()}
    p50 = {k: float(np.median(v)) * 1000 for k, v in one.items()}
    rate = {k: BATCH * len(v) / sum(v) for k, v in batch_seconds.items()}
    rps = {k: float(np.mean(v)) for k, v in rest.items()}
    best_new = max(rps["new"], rps["new, batching"])
    checks = [("one title p50 %.0f ms vs %.0f ms: RATIO %.2fx the time (target <= 0.33)"
               % (p50["new"], p50["old"], p50["new"] / p50["old"]), p50["new"] <= p50["old"] / 3),
              ("batch of %d: %.1f vs %.1f issues/s: RATIO %.2fx (target >= 3)"
               % (BATCH, rate["new"], rate["old"], rate["new"] / rate["old"]), rate["new"] >= 3 * rate["old"]),
              ("%d REST clients: %.2f req/s (batching %.2f) vs %.2f: RATIO %.2fx (target >= 2)"
               % (serving.CONCURRENT_CLIENTS, rps["new"], rps["new, batching"], rps["old"], best_new / rps["old"]),
               best_new >= 2 * rps["old"]),
              ("titles that differ on the bundled eval split: %d of %d" % (differ, len(inputs)), differ == 0)]
    print("shipped model, XLA export vs the T2T export (same process, taking turns):")
    for what, ok in checks:
        print("  %-100s %s" % (what, "met" if ok else "NOT met"))
    print("  server batching with %d clients: RATIO %.2fx the requests/s without"
          % (serving.CONCURRENT_CLIENTS, rps["new, batching"] / rps["new"]))
    if example:
        print("  e.g. %r -> %r" % example)
    return 0 if all(ok for _, ok in checks) else 1


class _Servers:
    """Starts every server of {name: (base path, extra args)}; stops them all on exit."""

    def __init__(self, server_process, servers: dict, work: str):
        self.procs = {name: server_process(base, log_path=os.path.join(work, "server-%s.log" % name.replace(", ", "-")),
                                           extra_args=args) for name, (base, args) in servers.items()}

    def __enter__(self):
        for proc in self.procs.values():
            proc.start()
        return self.procs

    def __exit__(self, *exc):
        for proc in self.procs.values():
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
