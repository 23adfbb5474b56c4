"""Retraining, promotion and rollback on this machine, for real: `python -m pipeline retrain` continues the session's
served base run (tests/conftest.py pipeline_base_run: 5 steps of the tiny set) on its data plus new issues, with
its vocabulary and checkpoint, to step 5 + 3. The served model is scored on the same eval issues; an impossible
minimum improvement keeps the old version served, then the same run re-decided with promote_rule=always (start_step
evaluate: no second training) publishes it. Meanwhile a client keeps asking the running model server for titles:
no request fails, and the answering version changes only when the new one is promoted, and again on rollback."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from data import contract
from tests.conftest import (PIPELINE_BASE_RUN_ID, PIPELINE_RUNS, REPO, SAMPLE_CSV, T2T_PYTHON, kfp_artifact,
                            kfp_task_outputs)

pytestmark = PIPELINE_RUNS

RETRAIN_ID = "gh-summ-test-retrain"
MORE_STEPS = 3
RETRAIN_FLAGS = ["--more_steps", str(MORE_STEPS), "--deploy_webapp", "false", "--eval_max_issues", "10", "--gpus", "0",
                 "--run_id", RETRAIN_ID]


def pipeline_cli(*args, timeout=900):
    env = dict(os.environ, GHSUMM_T2T_PYTHON=T2T_PYTHON, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "pipeline", *[str(a) for a in args]], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


class Poller:
    """Asks the model server for a title every 0.2 s in a thread; keeps (time, model version or None, error)."""

    def __init__(self, rest_url):
        import base64

        from trainer.evaluate import serialize_inputs
        self.url = rest_url + "/v1/models/ghsumm:predict"
        self.body = {"instances": [{"b64": base64.b64encode(serialize_inputs([23, 57, 101, 1])).decode()}]}
        self.answers, self._stop = [], threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    r = session.post(self.url, json=self.body, timeout=60)
                    ok = r.status_code == 200 and r.json()["predictions"][0]["outputs"] is not None
                    self.answers.append((time.time(), int(r.headers["X-Model-Version"]) if ok else None,
                                         "" if ok else "%d %s" % (r.status_code, r.text[:200])))
                except Exception as e:  # noqa: BLE001 - any failure is what the test looks for
                    self.answers.append((time.time(), None, repr(e)))
                time.sleep(0.2)

    def since(self, t):
        return [a for a in self.answers if a[0] >= t]

    def wait_for(self, version, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.answers and self.answers[-1][1] == version:
                return
            time.sleep(0.2)
        raise AssertionError("the server never answered with version %s: %s" % (version, self.answers[-5:]))

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=90)


@pytest.fixture(scope="module")
def base(pipeline_base_run, pipeline_working_dir):
    _, status = pipeline_base_run
    serve = status["steps"]["serve"]
    return {"version": serve["version"], "rest_url": serve["rest_url"], "run_dir": pipeline_working_dir /
            PIPELINE_BASE_RUN_ID, "working_dir": pipeline_working_dir}


@pytest.fixture(scope="module")
def poller(base):
    p = Poller(base["rest_url"])
    p.wait_for(base["version"])
    yield p
    p.stop()


@pytest.fixture(scope="module")
def new_issues(tmp_path_factory):
    """120 issues of the bundled sample the base run never saw (it had the first 300)."""
    import csv
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    path = tmp_path_factory.mktemp("retrain") / "new_issues.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([rows[0]] + rows[301:421])
    return path


@pytest.fixture(scope="module")
def not_promoted(base, poller, new_issues):
    start = time.time()
    proc = pipeline_cli("retrain", "--working_dir", base["working_dir"], "--new_data", new_issues,
                        "--promote_rule", "min_improvement:1000", *RETRAIN_FLAGS)
    assert proc.returncode == 0, proc.stdout[-8000:]
    status = json.loads((base["working_dir"] / RETRAIN_ID / "status.json").read_text())
    return proc, status, start, time.time()


@pytest.fixture(scope="module")
def promoted(not_promoted, base, poller, new_issues):
    start = time.time()
    proc = pipeline_cli("retrain", "--working_dir", base["working_dir"], "--new_data", new_issues,
                        "--promote_rule", "always", "--start_step", "evaluate", *RETRAIN_FLAGS)
    assert proc.returncode == 0, proc.stdout[-8000:]
    status = json.loads((base["working_dir"] / RETRAIN_ID / "status.json").read_text())
    return proc, status, start


def test_retrain_reuses_vocabulary_and_checkpoint_and_trains_past_the_served_step(not_promoted, base):
    proc, status, _, _ = not_promoted
    run_dir = base["working_dir"] / RETRAIN_ID
    assert status["state"] == "SUCCEEDED", status
    info = json.loads((run_dir / "retrain.json").read_text())
    assert info["served_version"] == base["version"] and info["served_run"] == PIPELINE_BASE_RUN_ID
    assert info["checkpoint_dir"] == str(base["run_dir"] / "model") and info["checkpoint_step"] == 5
    params = json.loads((run_dir / "run.json").read_text())["attempts"][0]["parameters"]
    assert params["train_steps"] == 5 + MORE_STEPS and params["checkpoint_dir"] == info["checkpoint_dir"]
    served_params = json.loads((base["run_dir"] / "run.json").read_text())["attempts"][0]["parameters"]
    assert params["data"] == served_params["data"]  # the old data, replayed
    assert params["new_data"] == str(info["new_data"][0]) and params["new_weight"] == 2  # the new file, weighted
    assert (run_dir / "data" / contract.NEW_EVAL_ISSUES_FILE).read_text()  # its held-out part
    assert params["hparams_set"] == "transformer_ghsumm_tiny"
    # the served model's vocabulary, byte for byte; its checkpoint copied, then trained on
    vocab = "vocab.github_issue_summarization.8192.subwords"
    assert (run_dir / "data" / vocab).read_bytes() == (base["run_dir"] / "data" / vocab).read_bytes()
    assert "--vocab_file" in (run_dir / "logs" / "preprocess.log").read_text() or \
        "--vocab_file" in proc.stdout
    assert status["steps"]["copy_checkpoint"]["checkpoint_dir"] == info["checkpoint_dir"]
    assert (run_dir / "export" / str(5 + MORE_STEPS) / "saved_model.pb").exists()


def test_a_model_that_is_not_good_enough_is_not_served(not_promoted, base, poller):
    proc, status, start, end = not_promoted
    promotion = status["steps"]["evaluate"]["promotion"]
    assert promotion["promote"] is False and promotion["served_version"] == base["version"]
    assert promotion["rule"] == "min_improvement:1000"
    metrics = json.loads((base["working_dir"] / RETRAIN_ID / "eval" / "metrics.json").read_text())
    served = json.loads((base["working_dir"] / RETRAIN_ID / "eval" / "served" / "metrics.json").read_text())
    assert metrics["data"]["issues_sha1"] == served["data"]["issues_sha1"]  # the same eval issues for both
    # the served version was scored on these issues when its own run evaluated it: that scoring is reused
    assert "evaluate_served: the same model's scoring on the same issues, reused from" in proc.stdout
    assert promotion["new_rouge_l"] == round(metrics["rouge"]["model"]["rougeL"], 4)
    assert promotion["served_rouge_l"] == round(served["rouge"]["model"]["rougeL"], 4)
    # eval/promotion.json: the paired comparisons on the general set and, when preprocess held new issues out,
    # on those; the served version is this run's starting checkpoint, so no start model is scored beside it
    run_dir = base["working_dir"] / RETRAIN_ID
    assert json.loads((run_dir / "eval" / "promotion.json").read_text()) == promotion
    sets = ["general"] + (["new"] if (run_dir / "data" / "new_eval_issues.jsonl").exists() else [])
    assert [c["set"] for c in promotion["comparisons"]] == sets
    general = promotion["comparisons"][0]
    assert general["against"] == "served version %d" % base["version"] and general["n"] == 10
    assert (general["new_rouge_l"], general["old_rouge_l"]) == (promotion["new_rouge_l"], promotion["served_rouge_l"])
    assert general["gain"] == pytest.approx(general["new_rouge_l"] - general["old_rouge_l"], abs=2e-4)
    assert 0 <= general["changed_titles"] <= 10 and general["standard_error"] >= 0
    assert status["steps"]["evaluate"]["start"] is None and not (run_dir / "eval" / "start.json").exists()
    assert "general set, same 10 issues: " in proc.stdout
    assert "serve" not in status["steps"]
    assert sorted(os.listdir(base["working_dir"] / "serving" / "ghsumm")) == [str(base["version"])]
    assert "NOT PROMOTED: version %d keeps serving" % base["version"] in proc.stdout
    # the gate's false path in kfp.local: the serve task never ran, evaluate's Metrics and summary say why
    outputs = kfp_task_outputs(base["working_dir"], base["working_dir"] / RETRAIN_ID)
    assert outputs["evaluate"]["parameterValues"]["Output"] == "false" and "serve" not in outputs
    assert kfp_artifact(outputs, "evaluate", "eval_metrics")["metadata"]["gate_passed"] == 0
    with open(kfp_artifact(outputs, "evaluate", "summary")["uri"], encoding="utf-8") as f:
        assert "gate: **failed**" in f.read()
    answers = poller.since(start - 1)
    assert answers and [a for a in answers if a[0] <= end and a[1] != base["version"]] == []


def test_a_promoted_model_is_served_without_a_failed_request(promoted, base, poller):
    proc, status, start = promoted
    new_version = 5 + MORE_STEPS
    assert status["steps"]["evaluate"]["promotion"]["promote"] is True
    assert status["steps"]["serve"]["version"] == new_version
    assert "retrain: PROMOTED: version %d now served" % new_version in proc.stdout
    assert "[train] reusing the earlier attempt's outputs" in proc.stdout  # re-decided, not retrained
    poller.wait_for(new_version)
    versions = [v for _, v, _ in poller.answers]
    assert [a for a in poller.answers if a[1] is None] == [], "failed requests"
    switch = versions.index(new_version)
    assert set(versions[:switch]) == {base["version"]} and set(versions[switch:]) == {new_version}
    assert poller.answers[switch][0] >= start  # only once promoted


def test_records_show_the_runs_and_versions(promoted, base):
    runs = pipeline_cli("runs", "--working_dir", base["working_dir"])
    assert runs.returncode == 0, runs.stdout
    line = [row for row in runs.stdout.splitlines() if row.startswith(RETRAIN_ID)][0]
    assert "SUCCEEDED" in line and " yes" in line and str(5 + MORE_STEPS) in line
    assert any(row.startswith(PIPELINE_BASE_RUN_ID) for row in runs.stdout.splitlines())
    show = pipeline_cli("show", RETRAIN_ID, "--working_dir", base["working_dir"])
    assert show.returncode == 0 and "promotion: promoted (rule always" in show.stdout
    assert "    general set vs served version %d, same 10 issues: " % base["version"] in show.stdout
    assert "vs v%d: general " % base["version"] in runs.stdout
    assert "served version %d ROUGE-L" % base["version"] in show.stdout and "retrained from" in show.stdout
    assert "attempts: 2" in show.stdout
    models = pipeline_cli("models", "--working_dir", base["working_dir"])
    rows = {row.split()[0]: row for row in models.stdout.splitlines()[1:] if row[:1].isdigit()}
    assert "serving" in rows[str(5 + MORE_STEPS)] and RETRAIN_ID in rows[str(5 + MORE_STEPS)]
    assert "over v%d" % base["version"] in rows[str(5 + MORE_STEPS)]
    assert "vs v%d: general " % base["version"] in rows[str(5 + MORE_STEPS)]
    assert "published" in rows[str(base["version"])] and PIPELINE_BASE_RUN_ID in rows[str(base["version"])]
    assert "answers with version %d" % (5 + MORE_STEPS) in models.stdout


def test_rollback_serves_the_old_version_again_and_back(promoted, base, poller):
    new_version, start = 5 + MORE_STEPS, time.time()
    proc = pipeline_cli("rollback", "--version", base["version"], "--working_dir", base["working_dir"])
    assert proc.returncode == 0 and "retired %d" % new_version in proc.stdout, proc.stdout
    poller.wait_for(base["version"])
    retired = base["working_dir"] / "serving" / "ghsumm.retired" / str(new_version) / "saved_model.pb"
    assert retired.exists()
    models = pipeline_cli("models", "--working_dir", base["working_dir"]).stdout
    assert "retired by rollback to %d" % base["version"] in models
    proc = pipeline_cli("rollback", "--version", new_version, "--working_dir", base["working_dir"])
    assert proc.returncode == 0 and "restored" in proc.stdout, proc.stdout
    poller.wait_for(new_version)
    answers = poller.since(start)
    assert [a for a in answers if a[1] is None] == [], "failed requests"
    assert base["version"] in {a[1] for a in answers}
    events = [json.loads(line) for line in (base["working_dir"] / "serving" / "ghsumm.history.jsonl").read_text()
              .splitlines()]
    assert [e["event"] for e in events][-3:] == ["published", "rollback", "rollback"]


# ---------------------------------------------------------------- the chosen parameters (no run)

def served_retrain(working_dir, parameters: dict, version=9, step=8):
    """A working dir whose served version came from a run with these parameters (its model at this step)."""
    run_dir = working_dir / "gh-summ-parent"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-%d"\n' % step)
    (run_dir / "run.json").write_text(json.dumps({"run_id": run_dir.name, "attempts": [
        {"start_step": "preprocess", "parameters": dict(parameters, hparams_set="transformer_ghsumm_tiny")}]}))
    (working_dir / "serving" / "ghsumm" / str(version)).mkdir(parents=True)
    (working_dir / "serving" / "ghsumm.history.jsonl").write_text(json.dumps(
        {"event": "published", "version": version, "run_id": run_dir.name, "run_dir": str(run_dir)}) + "\n")


def test_a_served_start_model_is_what_a_retrain_continues(tmp_path):
    """A first run that served the model it started from (its own lost to it) is continued from that model."""
    from components import rundir
    from pipeline import retrain
    from pipeline.gh_summ import parameters
    work = tmp_path / "work"
    served_retrain(work, {"data": "/d/old.csv"})
    start_dir = tmp_path / "warm_start"
    start_dir.mkdir()
    (start_dir / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-14000"\n')
    evaluated = {"start": {"served_instead": str(tmp_path / "start_models" / "x"), "checkpoint_dir": str(start_dir),
                           "old_rouge_l": 22.99, "step": 14000}}
    path = rundir.step_path(str(work / "gh-summ-parent"), "evaluate")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        json.dump(evaluated, f)
    new = tmp_path / "new.jsonl"
    new.write_text("")
    params, info = retrain.choose(str(work), "ghsumm", [str(new)], defaults=parameters())
    assert params["checkpoint_dir"] == str(start_dir) and params["train_steps"] == 14000 + retrain.MORE_STEPS
    assert info["served_rouge_l"] == 22.99


def test_new_files_go_to_new_data_and_the_served_runs_new_data_to_data(tmp_path):
    from pipeline import retrain
    from pipeline.gh_summ import parameters
    work = tmp_path / "work"
    served_retrain(work, {"data": "/d/old.csv", "new_data": "/d/new-1.jsonl,/d/new-1b.jsonl"})
    new = tmp_path / "new-2.jsonl"
    new.write_text("")
    defaults = parameters()
    params, info = retrain.choose(str(work), "ghsumm", [str(new)], defaults=defaults,
                                  overrides={"new_weight": 3, "new_eval_percent": 25.0})
    # everything the served model learned from is replayed as the old data; the new file is the weighted input
    assert params["data"] == "/d/old.csv,/d/new-1.jsonl,/d/new-1b.jsonl"
    assert params["new_data"] == str(new) and (params["new_weight"], params["new_eval_percent"]) == (3, 25.0)
    assert params["train_steps"] == 8 + retrain.MORE_STEPS
    assert params["checkpoint_dir"] == str(work / "gh-summ-parent" / "model")
    assert info["old_data"] == params["data"].split(",") and (info["new_weight"], info["new_eval_percent"]) == (3, 25.0)

    params, _ = retrain.choose(str(work), "ghsumm", [str(new)], old_data="/d/other.csv", defaults=defaults)
    assert params["data"] == "/d/other.csv" and params["new_data"] == str(new)
    assert (params["new_weight"], params["new_eval_percent"]) == (defaults["new_weight"], defaults["new_eval_percent"])


def test_a_new_file_given_again_is_new_not_old(tmp_path):
    from pipeline import retrain
    work = tmp_path / "work"
    grown = tmp_path / "webhook.jsonl"
    grown.write_text("")
    served_retrain(work, {"data": "/d/old.csv", "new_data": str(grown)})
    params, _ = retrain.choose(str(work), "ghsumm", [str(grown)], defaults={"new_weight": 2, "new_eval_percent": 20.0})
    assert params["data"] == "/d/old.csv" and params["new_data"] == str(grown)


def test_retrain_flags_default_to_the_pipelines_new_weight_and_held_out_share():
    from pipeline.__main__ import parse_args
    from pipeline.gh_summ import parameters
    args = parse_args(["retrain", "--new_data", "x.jsonl"])
    defaults = parameters()
    assert (args.new_weight, args.new_eval_percent) == (defaults["new_weight"], defaults["new_eval_percent"])
    assert (args.new_weight, args.new_eval_percent) == (2, 20.0)
    args = parse_args(["retrain", "--new_data", "x.jsonl", "--new_weight", "4", "--new_eval_percent", "10"])
    assert (args.new_weight, args.new_eval_percent) == (4, 10.0)
