"""Event-driven runs (pipeline/trigger.py, pipeline/trigger_function.py): `python -m pipeline watch` as a real
subprocess starting one real, cheap local pipeline run for a trigger file, exactly once although the watcher is
killed after the launch and restarted; malformed triggers going to failed/ with their reason; --host submitting to
the local recording KFP API (tests/kfp_api_stub.py); the Cloud Function entry point against that API, reading its
trigger through google-cloud-storage from tests/gcs_api_stub.py, exactly once per object generation."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import types
from urllib.parse import urlparse

import pytest

from tests import kfp_api_stub
from tests.conftest import REPO, SAMPLE_CSV, T2T_PYTHON
from tests.gcs_api_stub import GcsApiStub
from tests.kfp_api_stub import TOKEN, Recorder

# A real run, as cheap as it gets: 2 steps of the tiny set from scratch, 5 eval issues, no web app.
CHEAP = ["--train_steps", "2", "--hparams_set", "transformer_ghsumm_tiny", "--hparams", "batch_size=256,max_length=64",
         "--checkpoint_dir", "", "--deploy_webapp", "false", "--eval_max_issues", "5", "--gpus", "0"]


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KFP_", "GHSUMM_KFP", "GOOGLE_APPLICATION",
                                                                     "GCE_METADATA"))}
    env.update(GHSUMM_T2T_PYTHON=T2T_PYTHON, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="", HOME=str(tmp_path),
               NO_GCE_CHECK="true", **extra)
    return env


def _watch(tmp_path, trigger_dir, *args, env=None, timeout=600):
    argv = [sys.executable, "-m", "pipeline", "watch", "--trigger_dir", str(trigger_dir), *map(str, args)]
    return subprocess.run(argv, cwd=REPO, env=env or _env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def _drop(trigger_dir, name, doc):
    """Writes a trigger as a writer should: elsewhere (a hidden name), then renamed in."""
    tmp = trigger_dir / ("." + name)
    tmp.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    os.replace(tmp, trigger_dir / name)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_a_trigger_starts_exactly_one_run_even_if_the_watcher_is_killed(tmp_path):
    triggers, work = tmp_path / "triggers", tmp_path / "work"
    (triggers / "new").mkdir(parents=True)
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:151]
    with open(triggers / "new" / "issues.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    _drop(triggers, "nightly.json", {"data": ["new/issues.csv"], "params": {"eval_max_issues": 5}})

    first_log = open(tmp_path / "watcher1.log", "w+")
    first = subprocess.Popen([sys.executable, "-m", "pipeline", "watch", "--trigger_dir", str(triggers),
                              "--interval", "0.5", "--working_dir", str(work), *CHEAP], cwd=REPO, env=_env(tmp_path),
                             stdout=first_log, stderr=subprocess.STDOUT)
    child = None
    try:
        deadline = time.time() + 120
        while child is None and time.time() < deadline and first.poll() is None:
            for launch in (triggers / "processing").glob("*.launch"):
                record = json.loads(launch.read_text() or "{}")
                child = record.get("pid")
            time.sleep(0.2)
        assert child, "the watcher launched nothing:\n" + open(tmp_path / "watcher1.log").read()
        first.send_signal(signal.SIGKILL)  # killed mid-run, as hard as it gets
        first.wait(timeout=30)
        assert _alive(child), "the run died with its watcher"

        second = _watch(tmp_path, triggers, "--once", "--interval", "0.5", "--working_dir", work, *CHEAP)
        first_log.seek(0)
        out = first_log.read() + second.stdout
        assert second.returncode == 0, out
        assert "still in progress" in second.stdout, out  # it waited for the run instead of starting another
        # exactly one launch, one run dir, one attempt in it
        assert len(re.findall(r": launched run ", out)) == 1, out
        runs = [d for d in work.iterdir() if d.name.startswith("gh-summ-trigger-")]
        assert len(runs) == 1, runs
        run_id = runs[0].name
        assert len(json.loads((runs[0] / "run.json").read_text())["attempts"]) == 1
        status = json.loads((runs[0] / "status.json").read_text())
        assert status["state"] == "SUCCEEDED", status
        assert status["steps"]["preprocess"]["data_dir"].startswith(str(runs[0]))
        # the trigger and its record in processed/, nothing left in processing/
        assert not list((triggers / "processing").iterdir())
        (claimed,) = [p for p in (triggers / "processed").glob("*.json") if not p.name.endswith(".run.json")]
        assert claimed.name.endswith("-nightly.json") and not (triggers / "nightly.json").exists()
        record = json.loads((triggers / "processed" / (claimed.name + ".run.json")).read_text())
        assert record["run_id"] == run_id and record["state"] == "SUCCEEDED" and record["pid"] == child
        assert record["data"] == [str(triggers / "new" / "issues.csv")]  # relative to the trigger's dir
        assert record["started"] and record["finished"] and os.path.exists(record["log"])
        assert "--eval_max_issues 5" in record["command"] and "--train_steps 2" in record["command"]
        assert "finished: run %s SUCCEEDED" % run_id in second.stdout

        # a third watcher finds nothing to do
        third = _watch(tmp_path, triggers, "--once", "--working_dir", work, *CHEAP)
        assert third.returncode == 0 and ": launched run" not in third.stdout and " as processing/" not in third.stdout
    finally:
        if first.poll() is None:
            first.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGTERM)
        subprocess.run([sys.executable, "-m", "pipeline", "stop", "--working_dir", str(work)], cwd=REPO, timeout=120)
        first_log.close()


def test_a_launched_run_that_died_is_recorded_not_relaunched(tmp_path):
    """What a watcher killed together with its run leaves: the trigger in processing/ with a launch record and the
    run dir (no status): the next watcher records it as INTERRUPTED and starts nothing."""
    triggers, work = tmp_path / "triggers", tmp_path / "work"
    (triggers / "processing").mkdir(parents=True)
    claimed = "20260101-000000-x.json"
    (triggers / "processing" / claimed).write_text(json.dumps({"data": [str(SAMPLE_CSV)]}))
    (triggers / "processing" / (claimed + ".launch")).write_text(json.dumps(
        {"run_id": "gh-summ-trigger-20260101-000000-x", "data": [str(SAMPLE_CSV)], "params": {}, "pid": 999999,
         "command": "-m pipeline run --local ..."}))
    (work / "gh-summ-trigger-20260101-000000-x").mkdir(parents=True)
    proc = _watch(tmp_path, triggers, "--once", "--working_dir", work)
    assert proc.returncode == 0, proc.stdout
    assert ": launched run" not in proc.stdout
    record = json.loads((triggers / "processed" / (claimed + ".run.json")).read_text())
    assert record["state"] == "INTERRUPTED" and "--run_id gh-summ-trigger-20260101-000000-x" in record["resume"]
    assert not list((triggers / "processing").iterdir())


def test_malformed_triggers_go_to_failed_with_their_reason(tmp_path):
    triggers, work = tmp_path / "triggers", tmp_path / "work"
    triggers.mkdir()
    _drop(triggers, "bad-json.json", '{"data": [')
    _drop(triggers, "missing-file.json", {"data": ["nope/issues.csv"]})
    _drop(triggers, "no-data.json", {"params": {"train_steps": 5}})
    _drop(triggers, "bad-param.json", {"data": [str(SAMPLE_CSV)], "params": {"train_steps": "many"}})
    _drop(triggers, "token.json", {"data": [str(SAMPLE_CSV)], "params": {"github_token": "ghp_s3cr3t"}})
    (triggers / "readme.txt").write_text("not a trigger")
    proc = _watch(tmp_path, triggers, "--once", "--working_dir", work)
    assert proc.returncode == 0, proc.stdout
    assert "Traceback" not in proc.stdout and "ghp_s3cr3t" not in proc.stdout
    reasons = {p.name.split("-", 2)[2][: -len(".json.reason.txt")]: p.read_text().strip()
               for p in (triggers / "failed").glob("*.reason.txt")}
    assert reasons.keys() == {"bad-json", "missing-file", "no-data", "bad-param", "token"}
    assert reasons["bad-json"].startswith("not valid JSON")
    assert reasons["missing-file"] == "data file(s) not found: %s" % (triggers / "nope" / "issues.csv")
    assert '"data" must be a non-empty list' in reasons["no-data"]
    assert reasons["bad-param"] == 'params: train_steps must be a int, got "many"'
    assert "a token is never a pipeline parameter" in reasons["token"]
    assert len(list((triggers / "failed").glob("*.json"))) == 5  # the triggers themselves, kept
    assert (triggers / "readme.txt").exists() and not list((triggers / "processing").iterdir())
    assert not work.exists() or not any(d.name.startswith("gh-summ") for d in work.iterdir())
    assert proc.stdout.count(": failed: ") == 5


@pytest.fixture(scope="module")
def kfp_endpoint():
    with kfp_api_stub.serve() as url:
        yield url


def _runs_posted():
    return [r for r in Recorder.requests if r[0] == "POST" and urlparse(r[1]).path == "/apis/v2beta1/runs"]


def test_watch_with_host_submits_once_per_trigger(tmp_path, kfp_endpoint):
    Recorder.reset()
    triggers = tmp_path / "triggers"
    (triggers / "processing").mkdir(parents=True)
    _drop(triggers, "a.json", {"data": ["gs://bucket/new.csv"], "params": {"train_steps": 300}})
    # left by a watcher killed between its launch record and its record of the submitted run: already in KFP
    left = "20260101-000000-b.json"
    (triggers / "processing" / left).write_text(json.dumps({"data": ["gs://bucket/b.csv"]}))
    (triggers / "processing" / (left + ".launch")).write_text(json.dumps(
        {"run_id": "gh-summ-trigger-20260101-000000-b", "data": ["gs://bucket/b.csv"], "params": {}}))
    Recorder.runs.append({"run_id": "run-earlier", "display_name": "gh-summ-trigger-20260101-000000-b"})
    proc = _watch(tmp_path, triggers, "--once", "--host", kfp_endpoint, "--working_dir", "gs://bucket/work",
                  "--eval_max_issues", "50", env=_env(tmp_path, KFP_TOKEN=TOKEN))
    assert proc.returncode == 0, proc.stdout
    (run,) = _runs_posted()
    assert run[2]["authorization"] == "Bearer " + TOKEN and TOKEN not in proc.stdout
    assert re.fullmatch(r"gh-summ-trigger-\d{8}-\d{6}-a", run[3]["display_name"])
    assert run[3]["runtime_config"]["parameters"] == {"data": "gs://bucket/new.csv", "train_steps": 300,
                                                      "eval_max_issues": 50, "working_dir": "gs://bucket/work"}
    records = {p.name: json.loads(p.read_text()) for p in (triggers / "processed").glob("*.run.json")}
    assert sorted(r["kfp_run_id"] for r in records.values()) == ["run-2", "run-earlier"]
    assert {r["state"] for r in records.values()} == {"SUBMITTED"}
    assert "already submitted as KFP run run-earlier" in proc.stdout


def test_function_submits_once_per_object_generation(tmp_path, kfp_endpoint, monkeypatch, capsys):
    from pipeline import trigger_function
    for name in list(os.environ):
        if name.startswith(("KFP_", "GHSUMM_KFP", "GOOGLE_APPLICATION", "GCE_METADATA")):
            monkeypatch.delenv(name)
    with GcsApiStub() as gcs:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("NO_GCE_CHECK", "true")
        monkeypatch.setenv("KFP_TOKEN", TOKEN)
        monkeypatch.setenv("GHSUMM_KFP_HOST", kfp_endpoint)
        monkeypatch.setenv("GHSUMM_PIPELINE_PARAMS", json.dumps({"working_dir": "gs://bkt/work", "train_steps": 1000}))
        Recorder.reset()
        trigger = {"data": ["new/2026-11.jsonl", "gs://other/old.csv"], "params": {"train_steps": 1500}}
        gen = gcs.put("bkt", "triggers/nov.json", json.dumps(trigger).encode())

        def event(name, generation, as_object=False):
            data = {"bucket": "bkt", "name": name, "generation": str(generation), "metageneration": "1",
                    "contentType": "application/json"}
            ev = {"specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", "id": "e-%s" % generation,
                  "source": "//storage.googleapis.com/projects/_/buckets/bkt", "subject": "objects/" + name,
                  "data": data}
            return types.SimpleNamespace(**ev) if as_object else ev

        first = trigger_function.on_object_finalized(event("triggers/nov.json", gen))
        assert first["action"] == "submitted", first
        again = trigger_function.on_object_finalized(event("triggers/nov.json", gen, as_object=True))
        assert again == {"action": "duplicate", "run_id": first["run_id"], "run_name": first["run_name"]}
        (run,) = _runs_posted()
        assert run[3]["display_name"] == "gh-summ-trigger gs://bkt/triggers/nov.json#%d" % gen
        assert run[3]["runtime_config"]["parameters"] == {
            "data": "gs://bkt/triggers/new/2026-11.jsonl,gs://other/old.csv", "train_steps": 1500,
            "working_dir": "gs://bkt/work"}
        assert run[2]["authorization"] == "Bearer " + TOKEN
        assert any("/download/storage/v1/b/bkt/o/triggers%2Fnov.json" in r[1] and "generation=%d" % gen in r[1]
                   for r in gcs.requests)

        # a new generation of the same object is a new trigger
        gen2 = gcs.put("bkt", "triggers/nov.json", json.dumps({"data": "more.csv"}).encode())
        second = trigger_function.on_object_finalized(event("triggers/nov.json", gen2))
        assert second["action"] == "submitted" and second["run_id"] != first["run_id"]
        assert second["data"] == ["gs://bkt/triggers/more.csv"]

        # not triggers: nothing read, nothing submitted
        before = (len(Recorder.requests), len(gcs.requests))
        for name in ("triggers/processed/nov.json", "data/new.csv", "triggers/notes.txt"):
            assert trigger_function.on_object_finalized(event(name, 1)) == {"action": "ignored"}
        assert (len(Recorder.requests), len(gcs.requests)) == before

        # a malformed trigger is rejected with its reason, nothing submitted
        gen3 = gcs.put("bkt", "triggers/bad.json", b'{"data": []}')
        bad = trigger_function.on_object_finalized(event("triggers/bad.json", gen3))
        assert bad["action"] == "rejected" and '"data" must be a non-empty list' in bad["reason"]
        assert len(_runs_posted()) == 2

    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    assert "already submitted as run %s" % first["run_id"] in out.out


def test_watch_a_gcs_trigger_dir(tmp_path, kfp_endpoint):
    """gs://bucket/prefix as the trigger dir, through google-cloud-storage against tests/gcs_api_stub.py: claimed
    with a must-not-exist precondition, mirrored locally, submitted once (--host); a claim a killed watcher left in
    processing/ is finished too, and a second watcher finds nothing new."""
    Recorder.reset()
    mirror = tmp_path / "mirror"
    with GcsApiStub() as gcs:
        gen = gcs.put("bkt", "triggers/a.json", json.dumps({"data": ["new/a.csv"]}).encode())
        gcs.put("bkt", "triggers/processing/7-left.json", json.dumps({"data": "gs://bkt/left.csv"}).encode())
        gcs.put("bkt", "triggers/bad.json", b"{oops")
        gcs.put("bkt", "triggers/processed/1-old.json", b"{}")  # a sub-folder: not a trigger
        env = _env(tmp_path, KFP_TOKEN=TOKEN, STORAGE_EMULATOR_HOST=gcs.url)
        args = ["--once", "--host", kfp_endpoint, "--working_dir", "gs://bkt/work", "--mirror_dir", mirror]
        proc = _watch(tmp_path, "gs://bkt/triggers", *args, env=env)
        assert proc.returncode == 0, proc.stdout
        again = _watch(tmp_path, "gs://bkt/triggers", *args, env=env)
        assert again.returncode == 0 and "claimed" not in again.stdout.replace(str(tmp_path), ""), again.stdout
        assert set(gcs.live("bkt")) == {"triggers/processed/1-old.json", "triggers/processed/7-left.json",
                                        "triggers/processed/%d-a.json" % gen, "triggers/processed/%d-bad.json"
                                        % (gen + 2)}
    data = sorted(r[3]["runtime_config"]["parameters"]["data"] for r in _runs_posted())
    assert data == ["gs://bkt/left.csv", "gs://bkt/triggers/new/a.csv"]
    (reason,) = (mirror / "failed").glob("*.reason.txt")
    assert reason.name.endswith("-gcs-%d-bad.json.reason.txt" % (gen + 2))
    assert reason.read_text().startswith("not valid JSON")
    assert len(list((mirror / "processed").glob("*.run.json"))) == 2


def test_a_trigger_sets_the_spot_scheduling_as_json_and_the_run_gets_it_as_json():
    from pipeline import trigger
    defaults = {"train_steps": 200, "train_node_selector": {"a": "b"}, "train_tolerations": [{"key": "a"}]}
    taints = [{"key": "pool", "operator": "Exists", "effect": "NoSchedule"}]
    params = trigger.check_params({"train_node_selector": {"pool": "spot"}, "train_tolerations": taints}, defaults)
    assert params == {"train_node_selector": {"pool": "spot"}, "train_tolerations": taints}
    flags = trigger._flags(params)
    assert json.loads(flags[flags.index("--train_tolerations") + 1]) == taints
    for key, wrong in (("train_node_selector", "pool=spot"), ("train_tolerations", {"key": "pool"})):
        with pytest.raises(trigger.TriggerError, match="must be a JSON (object|array)"):
            trigger.check_params({key: wrong}, defaults)
