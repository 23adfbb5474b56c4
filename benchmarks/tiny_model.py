"""A tiny real title model for tests and benchmarks: the Beam preprocessing job on the first issues of the
bundled sample, 5 training steps and the export (`python -m trainer train|export`), as a model base path.

    export_dir, vocab_path = build_tiny_model(work_dir)      # ~1.5 min on 2 cores
    publish_version(export_dir, base_path, 1)                 # base_path/1/ (a copy, renamed into place)

Its titles are junk (5 steps; often empty: an untrained model's beam search favours ending at once), but
every part is real: vocabulary, SavedModel, predict signature. Training (seeded: the same weights every build)
and export run in the t2t environment's interpreter (.venv/t2t/bin/python or $GHSUMM_T2T_PYTHON).
"""
from __future__ import annotations

import csv
import os
import tempfile

from data import contract, project
from serving import versions
from data.project import REPO, SAMPLE_CSV, t2t_python  # noqa: F401  (benchmarks use them through this module)

VOCAB_NAME = contract.VOCAB_FILENAME  # the fixture's data dir holds the default-size vocabulary
PROBLEM = contract.PROBLEM_NAME
SEED = 1  # the same initialization every build: a test that fails on its junk titles fails again when rerun


def _run_t2t(args: list[str], log_path: str) -> None:
    env = project.child_env()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    project.run_logged([t2t_python(), "-m", "trainer"] + list(args), log_path, "trainer %s" % args[0], tag="tiny_model",
                       timeout=900, env=env)


def train_and_export(data_dir: str, work_dir: str, train_steps: int = 5) -> str:
    """`python -m trainer train` (tiny set, small batches) then `export` into work_dir/base; the version dir."""
    model_dir, base = os.path.join(work_dir, "model"), os.path.join(work_dir, "base")
    _run_t2t(["train", "--data_dir", data_dir, "--model_dir", model_dir, "--train_steps", train_steps,
              "--hparams", "batch_size=256,max_length=64", "--random_seed", SEED], os.path.join(work_dir, "train.log"))
    _run_t2t(["export", "--model_dir", model_dir, "--model_base_path", base], os.path.join(work_dir, "export.log"))
    version = os.path.join(base, str(train_steps))
    if not os.path.exists(os.path.join(version, "saved_model.pb")):
        raise RuntimeError("the export wrote no version %d under %s" % (train_steps, base))
    return version


def build_tiny_model(work_dir: str, rows: int = 300, train_steps: int = 5) -> tuple[str, str]:
    """(export dir of the SavedModel, vocabulary path), built under work_dir."""
    from data import preprocess
    os.makedirs(work_dir, exist_ok=True)
    issues = os.path.join(work_dir, "issues.csv")
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        head = [row for _, row in zip(range(rows + 1), csv.reader(f))]
    with open(issues, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(head)
    data_dir = os.path.join(work_dir, "data")
    preprocess.run(["--input", issues, "--output_dir", data_dir, "--train_shards", "2"])
    return train_and_export(data_dir, work_dir, train_steps), os.path.join(data_dir, VOCAB_NAME)


_built_for_benchmarks: tuple[str, str] | None = None


def model_for_benchmark(work_dir: str, label: str) -> tuple[str, str, str]:
    """(export dir, vocabulary, base path holding it as version 1) for a benchmark: $GHSUMM_BENCH_EXPORT and
    $GHSUMM_BENCH_VOCAB when set, else a tiny model trained once per process (`python -m benchmarks` runs
    several benchmarks: they share it)."""
    global _built_for_benchmarks
    export_dir, vocab = os.environ.get("GHSUMM_BENCH_EXPORT"), os.environ.get("GHSUMM_BENCH_VOCAB")
    if not (export_dir and vocab):
        if _built_for_benchmarks is None:
            tiny = tempfile.mkdtemp(prefix="ghsumm-bench-tiny-model-")
            print("%s benchmark: training a tiny model in %s (~1.5 min, once per run of the benchmarks)"
                  % (label, tiny), flush=True)
            _built_for_benchmarks = build_tiny_model(tiny)
        export_dir, vocab = _built_for_benchmarks
    base = os.path.join(work_dir, "models")
    publish_version(export_dir, base, 1)
    return export_dir, vocab, base


def publish_version(export_dir: str, base_path: str, version: int) -> str:
    """Copy a SavedModel to base_path/<version>/ atomically (copy beside it, then rename), as a server expects."""
    return versions.copy_in(export_dir, base_path, version)


def sample_bodies(start: int = 1000, count: int = 40) -> list[str]:
    """Issue bodies from the bundled sample (rows the tiny model did not train on)."""
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [r[3] for r in rows[start:start + count]]
