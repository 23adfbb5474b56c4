"""A tiny real tensor2tensor training run through `python -m trainer.t2t_cli trainer`.

Runs under the app environment's pytest; everything TF 2.15 / tensor2tensor happens in the t2t environment's
interpreter (<repo>/.venv/t2t/bin/python, or $GHSUMM_T2T_PYTHON) as a subprocess.
"""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBLEM = "github_issue_summarization"


def t2t_python():
    return os.environ.get("GHSUMM_T2T_PYTHON") or str(REPO / ".venv" / "t2t" / "bin" / "python")


def run_t2t(args, timeout=600):
    """Run the t2t env's interpreter with the repo importable; return the CompletedProcess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    return subprocess.run([t2t_python()] + list(args), cwd=REPO, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def check(proc):
    assert proc.returncode == 0, "exit %s; output tail:\n%s" % (proc.returncode, proc.stdout[-6000:])


@pytest.fixture(scope="module")
def t2t_data_dir(tmp_path_factory):
    """The preprocessing job's real output (Beam, DirectRunner) on the first 300 issues of the bundled sample."""
    assert Path(t2t_python()).exists(), "t2t environment missing at %s (make test creates it)" % t2t_python()
    from data import preprocess
    root = tmp_path_factory.mktemp("t2t_data")
    sample = root / "issues.csv"
    with open(REPO / "data" / "sample" / "github_issues.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:301]
    with open(sample, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    out = root / "data"
    stats = preprocess.run(["--input", str(sample), "--output_dir", str(out), "--train_shards", "2"])
    assert stats["steps"]["train"] > 200 and stats["steps"]["eval"] > 10
    return out


def test_data_dir_layout(t2t_data_dir):
    names = set(os.listdir(t2t_data_dir))
    assert {"%s-dev-00000-of-00001" % PROBLEM, "%s-train-00000-of-00002" % PROBLEM,
            "%s-train-00001-of-00002" % PROBLEM, "vocab.%s.8192.subwords" % PROBLEM} <= names


def test_tiny_transformer_trains_and_checkpoints(t2t_data_dir, tmp_path):
    out = tmp_path / "model"
    before = sorted(os.listdir(t2t_data_dir))
    proc = run_t2t([
        "-m", "trainer.t2t_cli", "trainer",
        "--data_dir=%s" % t2t_data_dir, "--problem=%s" % PROBLEM,
        "--model=transformer", "--hparams_set=transformer_tiny",
        "--hparams=batch_size=256,max_length=64",
        "--train_steps=5", "--eval_steps=1",
        "--output_dir=%s" % out,
        # Exercises GithubIssueSummarization.generate_data: the files are there, so it must do nothing.
        "--generate_data", "--tmp_dir=%s" % (tmp_path / "tmp"),
    ])
    check(proc)
    assert (out / "model.ckpt-5.index").exists(), sorted(os.listdir(out))
    assert "nothing to generate" in proc.stdout
    assert sorted(os.listdir(t2t_data_dir)) == before
    # The evaluation on the dev split ran too (continuous_train_and_eval, the trainer's default schedule).
    assert "Saving dict for global step 5" in proc.stdout


def test_datagen_refuses_to_generate_missing_data(tmp_path):
    assert Path(t2t_python()).exists(), "t2t environment missing at %s (make test creates it)" % t2t_python()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_t2t(["-m", "trainer.t2t_cli", "datagen", "--data_dir=%s" % empty,
                    "--tmp_dir=%s" % (tmp_path / "tmp"), "--problem=%s" % PROBLEM])
    assert proc.returncode != 0
    assert "FileNotFoundError" in proc.stdout and "python -m data.preprocess" in proc.stdout, proc.stdout[-3000:]
    assert not os.listdir(empty)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
