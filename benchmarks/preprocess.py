"""Preprocessing: the Beam job against t2t-datagen (the reference) on the same 10k issues, side by side.

Both see the same text: t2t-datagen runs benchmarks/t2t_usr's problem, which applies the project's readers,
cleaning, de-duplication and split. Prints the wall-time ratio t2t-datagen / Beam (target >= 1.8 on 2 cores),
the peak memory of both, and the equivalence figures (examples, train/eval ratio, vocabulary size).
Input: the two Kaggle-style files in ../shared/data/kubeflow_gh_issues_samples (GHSUMM_SHARED_DATA overrides
../shared/data); without them, the bundled sample (the figures then say so).
"""
from __future__ import annotations

import glob
import os
import sys
import tempfile

import tensorflow as tf

from benchmarks.measure import run_measured
from data import contract, project
from data.project import REPO

T2T_PYTHON = project.t2t_python()
SHARED = os.environ.get("GHSUMM_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))


def input_files() -> tuple[list[str], str]:
    files = sorted(glob.glob(os.path.join(SHARED, "kubeflow_gh_issues_samples", "*.csv")))
    if files:
        return files, "the 10k Kaggle-style issues of ../shared/data"
    return [os.path.join(REPO, "data", "sample", "github_issues.csv")], "the bundled 2k sample (shared data absent)"


def count_records(pattern: str) -> int:
    return sum(1 for f in glob.glob(pattern) for _ in tf.data.TFRecordDataset(f).as_numpy_iterator())


def summarize(data_dir: str, problem: str) -> dict:
    train = count_records(os.path.join(data_dir, f"{problem}-train-*"))
    dev = count_records(os.path.join(data_dir, f"{problem}-dev-*"))
    vocab = glob.glob(os.path.join(data_dir, f"vocab.{problem}.*"))
    size = sum(1 for _ in open(vocab[0], encoding="utf-8")) if vocab else 0
    return {"train": train, "eval": dev, "total": train + dev,
            "eval_percent": 100.0 * dev / max(1, train + dev), "vocab": size}


def main() -> int:
    files, what = input_files()
    work = tempfile.mkdtemp(prefix="ghsumm-bench-preprocess-")
    raw = os.path.join(work, "raw")
    os.makedirs(raw)
    for f in files:
        os.symlink(os.path.abspath(f), os.path.join(raw, os.path.basename(f)))
    beam_out, t2t_out = os.path.join(work, "beam"), os.path.join(work, "t2t")
    print(f"preprocessing benchmark on {what}; work dir {work}", flush=True)

    beam_cmd = [sys.executable, "-m", "data.preprocess", "--output_dir", beam_out]
    for f in files:
        beam_cmd += ["--input", f]
    t2t_cmd = [T2T_PYTHON, "-m", "trainer.t2t_cli", "datagen", "--t2t_usr_dir=" + os.path.join(REPO, "benchmarks", "t2t_usr"),
               "--problem=github_issue_summarization_datagen", f"--data_dir={t2t_out}", f"--tmp_dir={raw}"]
    env = project.child_env()
    beam_s, beam_mem = run_measured(beam_cmd, os.path.join(work, "beam.log"), env)
    print(f"  Beam job     {beam_s:6.1f} s, peak memory {beam_mem / 2**20:6.0f} MiB", flush=True)
    t2t_s, t2t_mem = run_measured(t2t_cmd, os.path.join(work, "t2t_datagen.log"), env)
    print(f"  t2t-datagen  {t2t_s:6.1f} s, peak memory {t2t_mem / 2**20:6.0f} MiB (reference)", flush=True)

    b = summarize(beam_out, contract.PROBLEM_NAME)
    t = summarize(t2t_out, contract.PROBLEM_NAME + "_datagen")
    print(f"  examples     Beam {b['total']} (train {b['train']}, eval {b['eval']}), "
          f"t2t-datagen {t['total']} (train {t['train']}, eval {t['eval']})")
    print(f"  eval share   Beam {b['eval_percent']:.2f}%, t2t-datagen {t['eval_percent']:.2f}% "
          f"(difference {abs(b['eval_percent'] - t['eval_percent']):.2f} points; must be < 1)")
    print(f"  vocabulary   Beam {b['vocab']}, t2t-datagen {t['vocab']} subwords "
          f"(difference {100.0 * abs(b['vocab'] - t['vocab']) / max(1, t['vocab']):.2f}%; must be < 1%)")
    print(f"  RATIO wall time t2t-datagen / Beam = {t2t_s / beam_s:.2f} (target >= 1.8); "
          f"peak memory Beam / t2t-datagen = {beam_mem / max(1, t2t_mem):.2f}")
    equivalent = (b["total"] == t["total"] and abs(b["eval_percent"] - t["eval_percent"]) < 1
                  and abs(b["vocab"] - t["vocab"]) <= 0.01 * t["vocab"])
    print("  equivalent: " + ("yes" if equivalent else "NO"))
    return 0 if equivalent else 1
