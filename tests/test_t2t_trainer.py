"""tensor2tensor's own t2t-trainer consumes the preprocessing job's output unchanged.

`python -m trainer.t2t_cli trainer` is t2t-trainer with the project's shims and problem loaded; it runs in the
t2t environment's interpreter as a subprocess (see conftest.run_t2t).
"""
import os

from conftest import check_ok, run_t2t

PROBLEM = "github_issue_summarization"


def test_the_beam_job_writes_t2ts_layout(preprocessed_sample):
    names = set(os.listdir(preprocessed_sample))
    assert {f"{PROBLEM}-dev-00000-of-00001", f"{PROBLEM}-train-00000-of-00002", f"{PROBLEM}-train-00001-of-00002",
            f"vocab.{PROBLEM}.8192.subwords"} <= names


def test_t2t_trainer_trains_a_tiny_transformer_on_it(preprocessed_sample, tmp_path):
    out = tmp_path / "model"
    before = sorted(os.listdir(preprocessed_sample))
    proc = check_ok(run_t2t([
        "-m", "trainer.t2t_cli", "trainer",
        f"--data_dir={preprocessed_sample}", f"--problem={PROBLEM}",
        "--model=transformer", "--hparams_set=transformer_tiny", "--hparams=batch_size=256,max_length=64",
        "--train_steps=5", "--eval_steps=1", f"--output_dir={out}",
        # Exercises GithubIssueSummarization.generate_data: the files are there, so it must do nothing.
        "--generate_data", f"--tmp_dir={tmp_path / 'tmp'}",
    ]))
    assert (out / "model.ckpt-5.index").exists(), sorted(os.listdir(out))
    assert "nothing to generate" in proc.stdout
    assert sorted(os.listdir(preprocessed_sample)) == before
    # The evaluation on the dev split ran too (continuous_train_and_eval, the trainer's default schedule).
    assert "Saving dict for global step 5" in proc.stdout


def test_t2t_datagen_refuses_to_generate_missing_data(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_t2t(["-m", "trainer.t2t_cli", "datagen", f"--data_dir={empty}", f"--tmp_dir={tmp_path / 'tmp'}",
                    f"--problem={PROBLEM}"])
    assert proc.returncode != 0
    assert "FileNotFoundError" in proc.stdout and "python -m data.preprocess" in proc.stdout, proc.stdout[-3000:]
    assert not os.listdir(empty)
