"""data/preprocess.py on Beam's portable path, the one Dataflow, Flink and Spark take (the pipeline translated to its
protobuf form, DoFns and coders pickled and run by an SDK worker), here through an in-process job service:
`--runner PortableRunner --job_endpoint embed --environment_type LOOPBACK`. The whole bundled sample goes through
the job twice, with the local runner and with the portable runner, and every output must be the same: the
examples of each split (as multisets: records are not ordered, and which shard a record lands in is the
runner's choice), eval_issues.jsonl and dead_letter.jsonl (as multisets of lines), the vocabulary (byte for
byte) and the statistics (all but the output dir and the run time)."""
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBLEM = "github_issue_summarization"
VOCAB = f"vocab.{PROBLEM}.8192.subwords"
PORTABLE = ["--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "LOOPBACK"]
SPLITS = {"train": 10, "dev": 1}  # T2T split name -> shards (the job's defaults)


@pytest.fixture(scope="module")
def runs(sample_csv, tmp_path_factory):
    """{"direct": output dir, "portable": output dir}: the job on the bundled sample with each runner, each run as
    a user runs it, `python -m data.preprocess` in a process of its own (what a process picks at random, such as
    a hash seed, then differs between the two runs as it would between two users' runs)."""
    root = tmp_path_factory.mktemp("runners")
    outs = {}
    for name, runner_flags in (("direct", []), ("portable", PORTABLE)):
        outs[name] = root / name
        proc = subprocess.run([sys.executable, "-m", "data.preprocess", "--input", str(sample_csv),
                               "--output_dir", str(outs[name])] + runner_flags, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
        assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stdout[-6000:]}"
        assert "counts reconcile: yes" in proc.stdout, proc.stdout[-3000:]
    return outs


def shards(out, split):
    found = sorted(out.glob(f"{PROBLEM}-{split}-*"))
    n = SPLITS[split]
    assert [p.name for p in found] == [f"{PROBLEM}-{split}-{i:05d}-of-{n:05d}" for i in range(n)]
    return found


def records(out, split) -> list[bytes]:
    import tensorflow as tf
    return [raw.numpy() for path in shards(out, split) for raw in tf.data.TFRecordDataset(str(path))]


def examples(out, split) -> collections.Counter:
    """The split's examples decoded: a multiset of (input ids, target ids)."""
    import tensorflow as tf
    decoded = collections.Counter()
    for raw in records(out, split):
        feature = tf.train.Example.FromString(raw).features.feature
        assert set(feature) == {"inputs", "targets"}
        decoded[(tuple(feature["inputs"].int64_list.value), tuple(feature["targets"].int64_list.value))] += 1
    return decoded


def lines(path) -> collections.Counter:
    return collections.Counter(path.read_text(encoding="utf-8").splitlines())


def test_examples_of_each_split_are_the_same(runs):
    for split in SPLITS:
        direct, portable = examples(runs["direct"], split), examples(runs["portable"], split)
        assert sum(direct.values()) > (1000 if split == "train" else 100)
        assert direct == portable, split
        # and byte for byte: the Examples are serialized deterministically (feature map in key order)
        direct_bytes, portable_bytes = records(runs["direct"], split), records(runs["portable"], split)
        assert collections.Counter(direct_bytes) == collections.Counter(portable_bytes), split


def test_eval_issues_and_dead_letters_are_the_same(runs):
    for name in ("eval_issues.jsonl", "dead_letter.jsonl"):
        direct, portable = lines(runs["direct"] / name), lines(runs["portable"] / name)
        assert direct == portable, name
    eval_issues = lines(runs["direct"] / "eval_issues.jsonl")
    assert sum(eval_issues.values()) == sum(examples(runs["direct"], "dev").values())
    assert all(json.loads(line)["title"] and json.loads(line)["body"] for line in eval_issues)


def test_vocabulary_files_are_byte_identical(runs):
    direct = (runs["direct"] / VOCAB).read_bytes()
    assert direct == (runs["portable"] / VOCAB).read_bytes()
    assert len(direct.splitlines()) > 5000


def test_stats_are_the_same(runs):
    direct = json.loads((runs["direct"] / "stats.json").read_text())
    portable = json.loads((runs["portable"] / "stats.json").read_text())
    for stats, out in ((direct, runs["direct"]), (portable, runs["portable"])):
        assert stats.pop("output_dir") == str(out)
        assert stats.pop("seconds") > 0
    assert direct == portable
    steps = direct["steps"]
    assert direct["balanced"] and steps["read_rows"] == 2000  # the counters arrived from the portable workers too
    assert steps["train"] == sum(examples(runs["direct"], "train").values())
    assert steps["eval"] == sum(examples(runs["direct"], "dev").values())
