"""The storage layer (data/files.py) and every local-only path operation it replaced, on gs:// URIs served by
tests/gcs_api_stub.py (google-cloud-storage and Beam's GCS file system talk to it through STORAGE_EMULATOR_HOST):
files, directories, globs, copies both ways, the local stand-in TensorFlow gets (tf_path); the run dir's failure
records and run listing (components/rundir.py), the warm start's vocabulary lookup (data/contract.py), the Beam
job writing gs:// (data/preprocess.py), publishing a version and removing scratch (serving/versions.py,
deploy.py), and evaluate's checks (trainer/evaluate.py). Seconds, but the Beam job (~20 s)."""
import csv
import io
import json
import os

import pytest

from data import files
from tests.conftest import SAMPLE_CSV
from tests.gcs_api_stub import GcsApiStub


@pytest.fixture
def gcs(monkeypatch):
    with GcsApiStub() as stub:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", stub.url)
        monkeypatch.setenv("NO_GCE_CHECK", "true")  # google-auth: no metadata server to look for here
        yield stub


def test_files_and_directories_on_gs(gcs):
    files.write_json("gs://bkt/work/run/steps/train.json", {"step": 5})
    files.write_text("gs://bkt/work/run/steps/serve.failed.json", '{"step": "serve"}\n')
    files.append_line("gs://bkt/work/history.jsonl", "a")
    files.append_line("gs://bkt/work/history.jsonl", "b")
    assert gcs.live("bkt")["work/history.jsonl"] == b"a\nb\n"
    assert files.read_json("gs://bkt/work/run/steps/train.json") == {"step": 5}
    assert files.read_json("gs://bkt/work/run/steps/none.json", "missing") == "missing"
    with pytest.raises(FileNotFoundError):
        files.read_text("gs://bkt/work/nothing.txt")
    assert files.exists("gs://bkt/work/run") and files.isdir("gs://bkt/work/run/")
    assert files.isfile("gs://bkt/work/run/steps/train.json") and not files.isdir("gs://bkt/work/run/steps/train.json")
    assert not files.exists("gs://bkt/work/ru") and not files.isdir("gs://bkt/work/ru")  # a prefix, not a dir
    assert files.listdir("gs://bkt/work") == ["history.jsonl", "run"]
    assert files.listdir("gs://bkt/nothing") == []
    # an empty directory exists once made (a "dir/" placeholder, as gsutil and the console write)
    files.makedirs("gs://bkt/work/empty")
    assert files.isdir("gs://bkt/work/empty") and files.listdir("gs://bkt/work/empty") == []
    assert files.listdir("gs://bkt/work") == ["empty", "history.jsonl", "run"]
    # globs match one path segment per *, files and directories alike
    assert files.glob("gs://bkt/work/*/steps/*.failed.json") == ["gs://bkt/work/run/steps/serve.failed.json"]
    assert files.glob("gs://bkt/work/r?n") == ["gs://bkt/work/run"]
    assert files.glob("gs://bkt/work/*.jsonl") == ["gs://bkt/work/history.jsonl"]
    assert files.glob("gs://bkt/work/run/steps/train.json") == ["gs://bkt/work/run/steps/train.json"]
    assert files.glob("gs://bkt/work/*.csv") == []
    files.remove("gs://bkt/work/run/steps/serve.failed.json")
    files.remove("gs://bkt/work/run/steps/serve.failed.json")  # gone already: nothing to do
    files.move("gs://bkt/work/run", "gs://bkt/work/moved")
    assert files.listdir("gs://bkt/work") == ["empty", "history.jsonl", "moved"]
    files.rmtree("gs://bkt/work/moved")
    assert not files.exists("gs://bkt/work/moved")


def test_copies_between_local_and_gs(gcs, tmp_path):
    src = tmp_path / "model"
    (src / "variables").mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(os.urandom(9 * 1024 * 1024))  # above 8 MB: a resumable upload
    (src / "variables" / "variables.index").write_bytes(b"index")
    files.copytree(str(src), "gs://bkt/export/5")
    assert sorted(gcs.live("bkt")) == ["export/5/", "export/5/saved_model.pb", "export/5/variables/variables.index"]
    files.copytree("gs://bkt/export/5", "gs://bkt/serving/1")
    files.copytree("gs://bkt/serving/1", str(tmp_path / "back"))
    assert (tmp_path / "back" / "saved_model.pb").read_bytes() == (src / "saved_model.pb").read_bytes()
    assert (tmp_path / "back" / "variables" / "variables.index").read_bytes() == b"index"
    files.copy("gs://bkt/serving/1/variables/variables.index", str(tmp_path / "one" / "index"))
    assert (tmp_path / "one" / "index").read_bytes() == b"index"


def test_tf_path_stages_a_local_copy_only_where_tensorflow_cannot_reach(gcs, tmp_path, monkeypatch):
    """TF's own GCS file system has no endpoint setting: with a stand-in, a tool gets a local copy of a dir (and
    an output dir is copied back); a local path is given as it is; on real GCS (no STORAGE_EMULATOR_HOST) the URI."""
    files.write_text("gs://bkt/data/vocab.txt", "hello\n")
    with files.tf_path("gs://bkt/data") as data, files.tf_path("gs://bkt/model", write_back=True) as model:
        assert not files.is_remote(data) and open(os.path.join(data, "vocab.txt")).read() == "hello\n"
        os.makedirs(model)
        with open(os.path.join(model, "checkpoint"), "w") as f:
            f.write("model_checkpoint_path: \"model.ckpt-5\"\n")
    assert not os.path.exists(data) and not os.path.exists(model)  # scratch removed
    assert files.read_text("gs://bkt/model/checkpoint").startswith("model_checkpoint_path")
    with files.tf_path("gs://bkt/data/vocab.txt") as vocab:
        assert open(vocab).read() == "hello\n"
    with files.tf_path(str(tmp_path)) as here:
        assert here == str(tmp_path)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    with files.tf_path("gs://bkt/data") as data:
        assert data == "gs://bkt/data"


def test_run_dir_records_on_gs(gcs):
    from components import rundir
    run_dir = rundir.run_dir_for("gs://bkt/work", "run-1")
    rundir.write_step(run_dir, "train", {"model_dir": run_dir + "/model"})
    rundir.record_failure(run_dir, "export", "exit 1: boom")
    files.write_json(rundir.run_json(run_dir), {"run_id": "run-1"})
    assert [f["step"] for f in rundir.failures(run_dir)] == ["export"]
    assert rundir.step_paths("gs://bkt/work", "train") == [run_dir + "/steps/train.json"]
    assert rundir.run_dirs("gs://bkt/work") == [run_dir]
    rundir.clear_failures(run_dir)
    assert rundir.failures(run_dir) == []
    assert rundir.step_records(run_dir) == {"train": {"model_dir": run_dir + "/model"}}


def _put_dir(gcs, local_dir, bucket, prefix):
    for root, _, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(root, name)
            gcs.put(bucket, prefix + "/" + os.path.relpath(path, local_dir), open(path, "rb").read())


def test_preprocess_on_gs_with_a_warm_start_vocabulary(gcs):
    """The Beam job reads gs:// input and writes its data dir on gs:// (Beam's GCS file system honours
    STORAGE_EMULATOR_HOST); contract.warm_start_flags finds the checkpoint's vocabulary there (it used a local
    glob, found nothing and passed no --vocab_file), and the data is encoded with it."""
    from data import contract, preprocess
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = [row for _, row in zip(range(201), csv.reader(f))]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    gcs.put("bkt", "in/issues.csv", text.getvalue().encode())
    warm_start = os.path.join(os.path.dirname(SAMPLE_CSV), "..", "warm_start")
    vocab_name = contract.VOCAB_FILENAME
    for name in (vocab_name, contract.MODEL_CARD_FILE):
        gcs.put("bkt", "ckpt/" + name, open(os.path.join(warm_start, name), "rb").read())
    flags = contract.warm_start_flags("gs://bkt/ckpt")
    card = json.load(open(os.path.join(warm_start, contract.MODEL_CARD_FILE)))
    assert flags == ["--vocab_file", "gs://bkt/ckpt/" + vocab_name, "--title_target", card.get("title_target", "title")]
    with pytest.raises(FileNotFoundError):
        contract.warm_start_flags("gs://bkt/no_checkpoint")

    stats = preprocess.run(["--input", "gs://bkt/in/issues.csv", "--output_dir", "gs://bkt/work/data",
                            "--train_shards", "2"] + flags)
    assert stats["steps"]["read_rows"] == 200 and stats["steps"]["train"] > 150
    out = gcs.live("bkt", "work/data/")
    assert out["work/data/" + vocab_name] == gcs.live("bkt")["ckpt/" + vocab_name]  # the checkpoint's, unchanged
    assert {"work/data/github_issue_summarization-train-00000-of-00002", "work/data/eval_issues.jsonl",
            "work/data/stats.json"} <= set(out)
    assert not any("beam-temp" in name for name in out)
    assert contract.is_preprocessed("gs://bkt/work/data") and not contract.is_preprocessed("gs://bkt/in/issues.csv")


def test_publish_and_scratch_on_gs(gcs, tmp_path):
    from serving import deploy, versions
    version = tmp_path / "export" / "7"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    (version / "variables" / "variables.index").write_bytes(b"index")
    _put_dir(gcs, tmp_path / "export", "bkt", "work/run/export")
    base = versions.base_path("gs://bkt/work", "ghsumm")
    pub = versions.publish("gs://bkt/work/run/export", base)
    assert pub == {"version": 7, "source": "gs://bkt/work/run/export/7", "base_path": base, "new": True}
    assert versions.versions(base) == [7] and versions.newest(base) == (7, base + "/7")
    assert gcs.live("bkt", "work/serving/ghsumm/7/")["work/serving/ghsumm/7/saved_model.pb"] == b"graph"
    assert not gcs.live("bkt", "work/serving/ghsumm/.tmp")  # the hidden copy was renamed away
    gcs.put("bkt", "work/serving/ghsumm/.tmp-8-123/saved_model.pb", b"half")  # an interrupted publish
    gcs.put("bkt", "work/run/export/.tmp-export/saved_model.pb", b"half")  # an interrupted export
    deploy.remove_scratch("gs://bkt/work", "gs://bkt/work/run/export")
    assert sorted(n for n in gcs.live("bkt") if ".tmp" in n) == []
    assert versions.versions(base) == [7]
    versions.log_event("gs://bkt/work", "ghsumm", {"event": "published", "version": 7})
    assert [e["version"] for e in versions.history("gs://bkt/work", "ghsumm")] == [7]


def test_evaluate_finds_its_inputs_on_gs(gcs):
    """trainer/evaluate.py's checks read through data/files.py (they used os.path.isdir / isfile / open)."""
    from trainer import evaluate
    gcs.put("bkt", "export/3/saved_model.pb", b"graph")
    gcs.put("bkt", "export/12/saved_model.pb", b"graph")
    gcs.put("bkt", "export/12/assets.extra/vocab.github_issue_summarization.8192.subwords", b"'a_'\n")
    gcs.put("bkt", "data/eval_issues.jsonl", b'{"id": 2, "title": "b", "body": "x\xe2\x80\xa8y"}\n'  # a raw U+2028
                                            b'{"id": 1, "title": "a", "body": "z"}\n')
    assert evaluate.find_saved_model("gs://bkt/export") == "gs://bkt/export/12"
    assert evaluate.find_saved_model("gs://bkt/export/3") == "gs://bkt/export/3"
    with pytest.raises(evaluate.InputError):
        evaluate.find_saved_model("gs://bkt/nothing")
    assert evaluate.vocabulary_path("gs://bkt/export/12", "gs://bkt/data") == \
        "gs://bkt/export/12/assets.extra/vocab.github_issue_summarization.8192.subwords"
    assert [i["id"] for i in evaluate.load_eval_issues("gs://bkt/data/eval_issues.jsonl")] == [1, 2]
    evaluate._write_atomic("gs://bkt/eval/gate.txt", "true")
    assert gcs.live("bkt")["eval/gate.txt"] == b"true"


def test_a_scratch_dir_is_removed_when_its_process_exits(tmp_path):
    import subprocess
    import sys
    code = ("import os; from data import files; d = files.scratch_dir('ghsumm-test-'); "
            "open(os.path.join(d, 'f'), 'w').write('x'); print(d)")
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip()
    assert os.path.basename(made).startswith("ghsumm-test-") and not os.path.exists(made)
