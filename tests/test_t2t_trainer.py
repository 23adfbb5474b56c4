"""A tiny real tensor2tensor training run through `python -m trainer.t2t_cli trainer`.

Runs under the app environment's pytest; everything TF 2.15 / tensor2tensor happens in the t2t environment's
interpreter (<repo>/.venv/t2t/bin/python, or $GHSUMM_T2T_PYTHON) as a subprocess.
"""
import os
import subprocess
import sys
import textwrap
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


# Stand-in for the preprocessing job's output (same layout as `python -m data.preprocess ... --output_dir DIR`):
# vocab.github_issue_summarization.8192.subwords + train/dev TFRecords of int64 "inputs"/"targets" ending in EOS.
_BUILD_DATA_DIR = textwrap.dedent("""
    import os, random, sys
    import tensorflow as tf
    from tensor2tensor.data_generators import text_encoder

    out, problem = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(0)
    things = ["installer", "login page", "gpu kernel", "csv reader", "docs build", "api client", "cache",
              "web socket", "config parser", "test runner"]
    symptoms = ["crashes on startup", "is slow", "leaks memory", "throws a type error", "fails on windows",
                "returns wrong results", "hangs forever", "breaks after upgrade"]
    pairs = []
    for i in range(50):
        thing, symptom = rng.choice(things), rng.choice(symptoms)
        title = "%s %s" % (thing, symptom)
        body = ("when i use the %s it %s . steps : run version %d.%d and open the %s again . expected it to work"
                % (thing, symptom, rng.randint(1, 4), rng.randint(0, 9), rng.choice(things)))
        pairs.append((body, title))
    encoder = text_encoder.SubwordTextEncoder.build_from_generator((t for p in pairs for t in p), 2 ** 8)
    encoder.store_to_file(os.path.join(out, "vocab.%s.8192.subwords" % problem))

    def write(split, rows):
        with tf.io.TFRecordWriter(os.path.join(out, "%s-%s-00000-of-00001" % (problem, split))) as writer:
            for body, title in rows:
                feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(
                               value=encoder.encode(v) + [text_encoder.EOS_ID]))
                           for k, v in (("inputs", body), ("targets", title))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())

    write("train", pairs[:40])
    write("dev", pairs[40:])
""")


def build_small_data_dir(out_dir):
    check(run_t2t(["-c", _BUILD_DATA_DIR, str(out_dir), PROBLEM], timeout=300))
    return out_dir


@pytest.fixture(scope="module")
def t2t_data_dir(tmp_path_factory):
    if not Path(t2t_python()).exists():
        pytest.skip("t2t environment not found at %s (run `make envs` or set GHSUMM_T2T_PYTHON)" % t2t_python())
    return build_small_data_dir(tmp_path_factory.mktemp("t2t_data"))


def test_data_dir_layout(t2t_data_dir):
    names = sorted(os.listdir(t2t_data_dir))
    assert names == ["%s-dev-00000-of-00001" % PROBLEM, "%s-train-00000-of-00001" % PROBLEM,
                     "vocab.%s.8192.subwords" % PROBLEM]


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
    if not Path(t2t_python()).exists():
        pytest.skip("t2t environment not found at %s (run `make envs` or set GHSUMM_T2T_PYTHON)" % t2t_python())
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_t2t(["-m", "trainer.t2t_cli", "datagen", "--data_dir=%s" % empty,
                    "--tmp_dir=%s" % (tmp_path / "tmp"), "--problem=%s" % PROBLEM])
    assert proc.returncode != 0
    assert "FileNotFoundError" in proc.stdout and "python -m data.preprocess" in proc.stdout, proc.stdout[-3000:]
    assert not os.listdir(empty)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
