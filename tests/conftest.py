"""Shared pytest fixtures. Each group is for the tests named in its heading; add new groups below, separately."""
import csv
import io
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# ================================================================ data/ package
# (tests/test_readers.py, test_clean.py, test_preprocess.py, test_vocab.py)
#
# Real rows of the bundled Kaggle/BigQuery sample, data/sample/github_issues.csv (columns: index, issue_url,
# issue_title, body; issue_url carries the dump's stray double quotes). Every other input shape the tests need
# is built from these rows' text.

SAMPLE_CSV = REPO / "data" / "sample" / "github_issues.csv"
KAGGLE_HEADER = ["", "issue_url", "issue_title", "body"]


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    assert SAMPLE_CSV.exists(), f"bundled sample missing: {SAMPLE_CSV}"
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def sample_rows(sample_csv) -> list:
    """The sample's records as dicts: index, issue_url (as stored, with its quotes), url (clean), title, body."""
    with open(sample_csv, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == KAGGLE_HEADER
        rows = [{"index": index, "issue_url": issue_url, "url": issue_url.strip('"'), "title": title, "body": body}
                for index, issue_url, title, body in reader]
    assert len(rows) == 2000
    return rows


def _kaggle_csv_text(rows, extra_lines=()) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KAGGLE_HEADER)
    for row in rows:
        writer.writerow([row["index"], row["issue_url"], row["title"], row["body"]])
    return out.getvalue() + "".join(line if line.endswith("\n") else line + "\n" for line in extra_lines)


@pytest.fixture(scope="session")
def kaggle_csv_text():
    """kaggle_csv_text(rows, extra_lines=()) -> the text of a Kaggle-format CSV of those sample rows, the dump's
    header first, then each of extra_lines (raw CSV lines, for malformed rows) as is."""
    return _kaggle_csv_text


@pytest.fixture(scope="session")
def write_kaggle_csv():
    """write_kaggle_csv(path, rows, extra_lines=()) writes a Kaggle-format CSV of sample rows; returns the path."""
    def write(path, rows, extra_lines=()):
        path = Path(path)
        path.write_text(_kaggle_csv_text(rows, extra_lines), encoding="utf-8", newline="")
        return path
    return write


# ================================================================ preprocessed data and the t2t environment
# (tests/test_t2t_trainer.py, test_trainer.py, and any test that needs a T2T data dir or the t2t interpreter)

T2T_PYTHON = os.environ.get("GHSUMM_T2T_PYTHON") or str(REPO / ".venv" / "t2t" / "bin" / "python")


def run_t2t(args, timeout=900, **kwargs):
    """Runs the t2t environment's interpreter with the repo importable (as the pipeline does); returns the
    CompletedProcess with stdout and stderr together in .stdout."""
    assert Path(T2T_PYTHON).exists(), f"t2t environment missing at {T2T_PYTHON} (make test creates it)"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([T2T_PYTHON] + [str(a) for a in args], cwd=REPO, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def check_ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}; output tail:\n{proc.stdout[-6000:]}"
    return proc


@pytest.fixture(scope="session")
def preprocessed_sample(tmp_path_factory) -> Path:
    """The preprocessing job's real output (Beam, DirectRunner) on the first 300 issues of the bundled sample,
    with 2 train shards: a T2T data dir for problem github_issue_summarization."""
    from data import preprocess
    root = tmp_path_factory.mktemp("preprocessed_sample")
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:301]
    with open(root / "issues.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    out = root / "data"
    stats = preprocess.run(["--input", str(root / "issues.csv"), "--output_dir", str(out), "--train_shards", "2"])
    assert stats["steps"]["train"] > 200 and stats["steps"]["eval"] > 10
    return out


# ================================================================ a tiny exported SavedModel
# (tests/test_evaluate.py, test_serving.py, and any test that needs a real SavedModel with T2T's serving signature)
#
# The project's trainer on `preprocessed_sample`: `python -m trainer train` for 5 steps of the tiny set, then
# `python -m trainer export` (beam 4, alpha 0.6) into a model base path. Its titles are junk; every part is real.
# About a minute on 2 cores, once per session.

@pytest.fixture(scope="session")
def tiny_saved_model(preprocessed_sample, tmp_path_factory) -> Path:
    """The SavedModel version directory (<base path>/5/, with assets.extra/ holding the vocabulary and model
    card) of a 5-step tiny transformer trained on preprocessed_sample (whose vocabulary it uses)."""
    root = tmp_path_factory.mktemp("tiny_saved_model")
    check_ok(run_t2t(["-m", "trainer", "train", "--data_dir", preprocessed_sample, "--model_dir", root / "model",
                      "--train_steps", 5, "--hparams", "batch_size=256,max_length=64"]))
    check_ok(run_t2t(["-m", "trainer", "export", "--model_dir", root / "model", "--model_base_path", root / "base"]))
    version = root / "base" / "5"
    assert (version / "saved_model.pb").exists(), f"the export wrote no version 5 under {root / 'base'}"
    return version


# ================================================================ serving/ package
# (tests/test_serving.py)
#
# The tiny real model above (tiny_saved_model, built once per session) with its vocabulary from
# preprocessed_sample. Its titles are junk; its vocabulary and predict signature are the real ones.

@pytest.fixture(scope="session")
def tiny_title_model(tiny_saved_model, preprocessed_sample):
    """(export dir of the SavedModel, vocabulary path), as strings."""
    from serving.tiny_model import VOCAB_NAME
    vocab = preprocessed_sample / VOCAB_NAME
    assert vocab.exists(), vocab
    return str(tiny_saved_model), str(vocab)
