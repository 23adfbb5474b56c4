"""The whole pipeline on this machine (kfp.local) with everything on an object store, as on a cluster where no
volume is shared between steps: working_dir, data and checkpoint_dir are gs:// URIs on tests/gcs_api_stub.py
(STORAGE_EMULATOR_HOST). Beam, the run records, the version store and the web app (its vocabulary, its random
issues) talk to it directly; TensorFlow's tools (tensor2tensor, tf.saved_model) get local scratch copies, since TF's own GCS file
system cannot be pointed at a stand-in (data/files.py). The warm start is the tiny 5-step model of
tests/conftest.py, trained on to step 7; a few minutes on 2 cores."""
import json
import os
import subprocess
import sys

from data import contract
from tests.conftest import REPO
from tests.gcs_api_stub import GcsApiStub

RUN_ID = "gh-summ-gcs-run"
WORK = "gs://bkt/work"


def _put_dir(gcs, local_dir, prefix):
    for root, _, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                gcs.put("bkt", prefix + "/" + os.path.relpath(path, local_dir), f.read())


def test_a_run_on_gcs_reaches_a_published_version(run_pipeline, tiny_saved_model, pipeline_sample_csv, monkeypatch):
    model_dir = tiny_saved_model.parent.parent / "model"  # the tiny model's checkpoint dir (step 5)
    with GcsApiStub() as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        monkeypatch.setenv("NO_GCE_CHECK", "true")  # google-auth: no metadata server to look for here
        gcs.put("bkt", "in/issues.csv", pipeline_sample_csv.read_bytes())
        _put_dir(gcs, model_dir, "warm")
        try:
            proc, _ = run_pipeline(WORK, "--data", "gs://bkt/in/issues.csv", "--checkpoint_dir", "gs://bkt/warm",
                                   "--run_id", RUN_ID, "--train_steps", "7", "--hparams_set", "transformer_ghsumm_tiny",
                                   "--hparams", "batch_size=256,max_length=64", "--gpus", "0",
                                   "--eval_max_issues", "10", "--deploy_webapp", "true")
            assert proc.returncode == 0, proc.stdout[-8000:]
            store = gcs.live("bkt")
            status = json.loads(store["work/%s/status.json" % RUN_ID])
            assert status["state"] == "SUCCEEDED", status
            steps = status["steps"]
            run_dir = "%s/%s" % (WORK, RUN_ID)
            # every step's output on the store, none on this machine's working dir
            assert steps["preprocess"]["data_dir"] == run_dir + "/data"
            vocab = contract.VOCAB_FILENAME
            assert store["work/%s/data/%s" % (RUN_ID, vocab)] == store["warm/" + vocab]  # the checkpoint's vocabulary
            assert steps["copy_checkpoint"]["checkpoint_dir"] == "gs://bkt/warm"
            assert "model.ckpt-7" in store["work/%s/model/checkpoint" % RUN_ID].decode()
            assert "work/%s/export/7/saved_model.pb" % RUN_ID in store
            assert store["work/%s/eval/gate.txt" % RUN_ID] == b"true"
            # the model it started from: exported once into the working dir on the store, scored beside it
            start = json.loads(store["work/%s/eval/start.json" % RUN_ID])
            assert (start["step"], start["n"], start["checkpoint_dir"]) == (5, 10, "gs://bkt/warm")
            assert [k for k in store if k.startswith("work/start_models/warm-5-") and k.endswith("/5/saved_model.pb")]
            assert json.loads(store["work/%s/eval/metrics.json" % RUN_ID])["model"]["saved_model"] == \
                run_dir + "/export/7"
            # published into the one model base path on the store, and served from it
            serve = steps["serve"]
            assert serve["base_path"] == WORK + "/serving/ghsumm" and serve["version"] == 7
            assert "work/serving/ghsumm/7/saved_model.pb" in store
            assert serve["sample_request"]["version"] == 7
            history = store["work/serving/ghsumm.history.jsonl"].decode().splitlines()
            assert json.loads(history[-1])["event"] == "published"
            from serving.client import TitleClient, find_vocab
            assert find_vocab(serve["base_path"]) == serve["base_path"] + "/7/assets.extra/" + vocab
            with TitleClient(serve["rest_url"], vocab_path=find_vocab(serve["base_path"]), timeout=300) as client:
                title = client.generate("the build fails with a null pointer exception when the config is missing")
            assert isinstance(title[0], str) and title[2] == 7
            # the page, configured with the store's paths: its vocabulary and its random issues come from there
            import requests
            page = steps["webapp"]
            assert page["available"] and page["target"] == "local", page
            answer = requests.post(page["url"] + "/api/summarize", timeout=300,
                                   json={"body": "the build fails with a null pointer exception when the config is "
                                                 "missing"}).json()
            assert answer.get("title") == title[0] and answer["model_version"] == 7, answer
            issue = requests.get(page["url"] + "/api/random_issue", timeout=60).json()
            eval_issues = store["work/%s/data/%s" % (RUN_ID, contract.EVAL_ISSUES_FILE)].decode().splitlines()
            assert issue["title"] in {json.loads(line)["title"] for line in eval_issues}, issue  # from the store
            # the run records read back from the store
            runs = subprocess.run([sys.executable, "-m", "pipeline", "runs", "--working_dir", WORK], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
            assert runs.returncode == 0 and RUN_ID in runs.stdout, runs.stdout
        finally:
            stop = subprocess.run([sys.executable, "-m", "pipeline", "stop", "--working_dir", WORK], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        assert stop.returncode == 0 and "ghsumm" in stop.stdout, stop.stdout
        assert not any(n.endswith(".process.json") for n in gcs.live("bkt", "work/serving/"))
