"""The Beam job produces what t2t-datagen produces, on the same issues (issue 2's equivalence, in small).

t2t-datagen runs in the t2t environment with benchmarks/t2t_usr's problem, which applies the project's own
readers, cleaning, de-duplication and split, so both see the same text. `make bench` runs the same comparison
on the 10k Kaggle-style issues of ../shared/data, with timings.
"""
import csv
import os
import subprocess
from pathlib import Path

from benchmarks.preprocess import summarize
from data import preprocess

REPO = Path(__file__).resolve().parents[1]
T2T_PYTHON = os.environ.get("GHSUMM_T2T_PYTHON") or str(REPO / ".venv" / "t2t" / "bin" / "python")


def test_beam_job_and_t2t_datagen_agree_on_examples_split_and_vocabulary(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with open(REPO / "data" / "sample" / "github_issues.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:601]
    with open(raw / "issues.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)

    # A vocabulary target these 600 issues can reach, the same for both.
    preprocess.run(["--input", str(raw / "issues.csv"), "--output_dir", str(tmp_path / "beam"),
                    "--approx_vocab_size", "2048"])
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", GHSUMM_DATAGEN_VOCAB_SIZE="2048")
    datagen = subprocess.run(
        [T2T_PYTHON, "-m", "trainer.t2t_cli", "datagen", f"--t2t_usr_dir={REPO / 'benchmarks' / 't2t_usr'}",
         "--problem=github_issue_summarization_datagen", f"--data_dir={tmp_path / 't2t'}", f"--tmp_dir={raw}"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert datagen.returncode == 0, datagen.stdout[-4000:]

    beam = summarize(str(tmp_path / "beam"), "github_issue_summarization")
    t2t = summarize(str(tmp_path / "t2t"), "github_issue_summarization_datagen")
    assert beam["total"] == t2t["total"] > 500
    assert abs(beam["eval_percent"] - t2t["eval_percent"]) < 1
    assert abs(beam["vocab"] - t2t["vocab"]) <= 0.01 * t2t["vocab"], (beam["vocab"], t2t["vocab"])
