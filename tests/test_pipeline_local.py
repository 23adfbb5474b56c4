"""The whole pipeline on this machine (kfp.local): a real run on the bundled sample from preprocess to a served
model answering a request and the web app answering through it, a start_step run that reuses it, a run
that fails inside train (the exit handler still records it, nothing stays deployed), bad input failing at the
first step, and what each of these runs prints (each step's start, progress and end; --verbose: kfp.local's whole
output). Tiny settings: 5 train steps, 10 eval issues; and the default run (what `make run` does), two steps
past the shipped warm start."""
import json
import os
import re
from pathlib import Path

import pytest
import requests

from tests.conftest import PIPELINE_BASE_RUN_ID as RUN_ID, PIPELINE_RUNS, PIPELINE_TINY, kfp_artifact, kfp_task_outputs

pytestmark = PIPELINE_RUNS


@pytest.fixture(scope="module")
def good_run(pipeline_base_run):
    return pipeline_base_run  # the session's base run (tests/conftest.py), which test_retrain continues


def test_run_goes_from_preprocess_to_a_served_model(good_run, pipeline_working_dir, preprocessed_sample):
    proc, status = good_run
    assert status["state"] == "SUCCEEDED", status
    run_dir = pipeline_working_dir / RUN_ID
    for step in ("preprocess", "copy_checkpoint", "train", "export", "evaluate", "serve"):
        assert step in status["steps"], step
        assert str(status["steps"][step].get("seconds", "")) != ""
    # every output under working_dir/<run id>/
    assert (run_dir / "data" / "stats.json").exists()
    assert (run_dir / "model" / "checkpoint").exists()
    assert (run_dir / "export" / "5" / "saved_model.pb").exists()
    assert (run_dir / "eval" / "gate.txt").read_text() == "true"
    assert json.loads((run_dir / "eval" / "metrics.json").read_text())["rouge"]["model"]
    assert (run_dir / "logs" / "train.log").exists() and (run_dir / "run.json").exists()
    # the version is published under the one model base path and served
    serve = status["steps"]["serve"]
    assert serve["base_path"] == str(pipeline_working_dir / "serving" / "ghsumm")
    assert (pipeline_working_dir / "serving" / "ghsumm" / str(serve["version"]) / "saved_model.pb").exists()
    assert isinstance(serve["sample_request"]["generated_title"], str)  # a 5-step model's title may be empty
    assert serve["sample_request"]["version"] == serve["version"]
    from serving.client import TitleClient
    with TitleClient(serve["rest_url"], vocab_path=serve["vocab_path"]) as client:
        title = client.generate("the build fails with a null pointer exception when the config file is missing")
    assert isinstance(title[0], str) and title[2] == serve["version"]
    # the summary a person reads
    for text in ("SUCCEEDED", RUN_ID, "ROUGE-L", "lead_12_words", serve["rest_url"], "python -m pipeline stop"):
        assert text in proc.stdout, text
    # from scratch, nothing served before: no model to compare with
    assert "started from" not in proc.stdout
    assert status["steps"]["evaluate"]["start"] is None and not (run_dir / "eval" / "start.json").exists()


def test_webapp_runs_after_serve_when_asked(good_run):
    _, status = good_run
    page = status["steps"].get("webapp")
    assert page is not None, "the webapp step did not run with deploy_webapp=true"
    assert page.get("available"), page
    health = requests.get(page["url"] + "/healthz", timeout=30).json()
    assert health["reachable"] and health["version"] == status["steps"]["serve"]["version"]
    answer = requests.post(page["url"] + "/api/summarize", json={"body": "the app crashes on start"}, timeout=60)
    assert answer.status_code == 200, answer.text


def test_the_screen_tells_each_steps_story(good_run, pipeline_working_dir):
    """What a person sees of a run (pipeline/local.py): for each step a start line, its progress and an end line
    with its time and log, then the summary; kfp.local's executor input and outputs, TensorFlow's and the
    libraries' own output stay in the run's logs/pipeline.log (and each step's command output in its own log)."""
    proc, status = good_run
    screen, run_dir = proc.stdout, pipeline_working_dir / RUN_ID
    whole = run_dir / "logs" / "pipeline.log"
    for noise in ("executor_input", "parameterValues", "[KFP Executor", "external/local_xla", "Unable to register",
                  "FutureWarning", "UserWarning", "Traceback"):
        assert noise not in screen, noise
    assert not re.search(r"^\[\w+\] \$ ", screen, re.M)  # the commands are in the logs
    for step in ("preprocess", "copy_checkpoint", "train", "export", "evaluate", "serve", "webapp"):
        log = run_dir / "logs" / (step + ".log")
        assert "\n[%s] started\n" % step in screen, step
        assert re.search(r"^\[%s\] done in \d+ s \(log %s\)$" % (step, re.escape(str(log if log.exists() else whole))),
                         screen, re.M), step
    assert re.search(r"^\[preprocess\] \d+ rows read, \d+ valid, .*examples written: train \d+, eval \d+$", screen,
                     re.M)
    assert re.search(r"^\[train\] trained 0 -> 5 steps in ", screen, re.M)
    assert "\n[evaluate] decoded 10/10 issues, " in screen
    assert "\n[serve] one request: " in screen
    assert len(screen.splitlines()) <= 80, screen
    logged = whole.read_text()
    assert "Got executor_input" in logged and "[train] $ " in logged and "[train] done in " in logged


def test_the_run_outputs_kfp_artifacts_with_their_metadata(good_run, pipeline_working_dir):
    """What a cluster's run page shows (components/artifacts.py), as kfp.local recorded it for the base run: a
    Dataset with stats.json's counts, the checkpoint and export Models, evaluate's Metrics, HTML report and Markdown
    summary, the served Model; lineage from the served model back to the data."""
    _, status = good_run
    run_dir = pipeline_working_dir / RUN_ID
    outputs = kfp_task_outputs(pipeline_working_dir, run_dir)
    # the run-dir paths the steps hand each other are still their outputs named Output
    assert outputs["preprocess"]["parameterValues"]["Output"] == str(run_dir / "data")
    assert outputs["evaluate"]["parameterValues"]["Output"] == "true"

    dataset = kfp_artifact(outputs, "preprocess", "dataset")
    stats = json.loads((run_dir / "data" / "stats.json").read_text())
    assert {name: dataset["metadata"][name] for name in stats["steps"]} == stats["steps"]
    assert dataset["metadata"]["train"] > 200 and dataset["metadata"]["vocab_size"] == stats["vocabulary"]["size"]
    assert dataset["metadata"]["path"] == str(run_dir / "data")

    checkpoint = kfp_artifact(outputs, "train", "checkpoint")
    assert checkpoint["metadata"]["path"] == str(run_dir / "model") and checkpoint["metadata"]["step"] == 5
    assert checkpoint["metadata"]["data"] == dataset["uri"]

    saved = kfp_artifact(outputs, "export", "saved_model")
    assert saved["metadata"]["path"] == str(run_dir / "export" / "5") and saved["metadata"]["version"] == 5
    assert saved["metadata"]["checkpoint"] == checkpoint["uri"] and saved["metadata"]["data"] == dataset["uri"]

    served = kfp_artifact(outputs, "serve", "served_model")
    serve = status["steps"]["serve"]
    assert served["metadata"]["export"] == saved["uri"] and served["metadata"]["version"] == serve["version"]
    assert served["metadata"]["path"] == str(pipeline_working_dir / "serving" / "ghsumm" / str(serve["version"]))
    for artifact in (dataset, checkpoint, saved, served):  # each one's file names what its metadata says
        assert json.loads(Path(artifact["uri"]).read_text()) == artifact["metadata"]

    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    values = kfp_artifact(outputs, "evaluate", "eval_metrics")["metadata"]
    for name, scores in metrics["rouge"].items():  # the model and each baseline
        for kind in ("rouge1", "rouge2", "rougeL"):
            assert values["%s_%s" % (name, kind)] == pytest.approx(scores[kind], abs=1e-4), (name, kind)
    assert values["distinct_titles"] == metrics["collapse"]["distinct_titles"] and values["gate_passed"] == 1
    assert values["eval_issues"] == 10
    report = kfp_artifact(outputs, "evaluate", "report")
    assert Path(report["uri"]).read_text() == (run_dir / "eval" / "report.html").read_text()
    summary = Path(kfp_artifact(outputs, "evaluate", "summary")["uri"]).read_text()
    assert "gate: **passed**" in summary and "| lead_12_words |" in summary


def test_start_step_reuses_the_earlier_outputs(good_run, run_pipeline, pipeline_working_dir, pipeline_sample_csv):
    run_dir = pipeline_working_dir / RUN_ID
    train_log = (run_dir / "logs" / "train.log").read_text()
    proc, status = run_pipeline(pipeline_working_dir, "--data", pipeline_sample_csv, "--run_id", RUN_ID,
                                "--start_step", "evaluate", "--deploy_webapp", "false", "--run_load_test", "true",
                                "--load_test_users", "2", "--load_test_time", "3s", *PIPELINE_TINY)
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert status["state"] == "SUCCEEDED"
    for step in ("preprocess", "copy_checkpoint", "train", "export"):
        assert "[%s] reusing the earlier attempt's outputs" % step in proc.stdout, step
    assert "[evaluate] decoded 10/10 issues" in proc.stdout  # evaluate ran again
    assert (run_dir / "logs" / "train.log").read_text() == train_log  # train did not
    attempts = json.loads((run_dir / "run.json").read_text())["attempts"]
    assert [a["start_step"] for a in attempts][-2:] == ["preprocess", "evaluate"]
    # the same server, still serving the same version
    assert status["steps"]["serve"]["version"] == good_run[1]["steps"]["serve"]["version"]
    assert "reusing the model server" in proc.stdout
    # the reused steps still output their artifacts, as the first attempt did (upstream URIs: this run's); the
    # load test its HTML report
    first, again = kfp_task_outputs(pipeline_working_dir, run_dir), kfp_task_outputs(pipeline_working_dir, run_dir, -1)
    upstream = {"data": ("preprocess", "dataset"), "checkpoint": ("train", "checkpoint"),
                "export": ("export", "saved_model")}
    for task, name in (("preprocess", "dataset"), ("train", "checkpoint"), ("export", "saved_model"),
                       ("serve", "served_model")):
        was, now = kfp_artifact(first, task, name)["metadata"], kfp_artifact(again, task, name)["metadata"]
        for key, value in now.items():
            if key in upstream:
                assert value == kfp_artifact(again, *upstream[key])["uri"], (task, key)
            elif key != "rest_url":
                assert value == was[key], (task, key)
    report = kfp_artifact(again, "load-test", "report")
    assert report["metadata"]["path"] == status["steps"]["load_test"]["report_path"]
    assert Path(report["uri"]).read_text() == (run_dir / "load_test" / "report.html").read_text()


def test_failure_inside_train_still_runs_the_exit_handler(run_pipeline, pipeline_working_dir, preprocessed_sample):
    proc, status = run_pipeline(pipeline_working_dir, "--data", preprocessed_sample, "--run_id", "gh-summ-bad-train",
                                "--train_steps", "5", "--hparams", "no_such_hparam=1", "--gpus", "0",
                                "--checkpoint_dir", "", "--hparams_set", "transformer_ghsumm_tiny")
    assert proc.returncode == 1, proc.stdout[-8000:]
    assert status is not None, "the exit handler wrote no status.json:\n" + proc.stdout[-8000:]
    assert status["state"] == "FAILED"
    assert status["failed_step"] == "train" and "no_such_hparam" in status["error_message"]
    assert "preprocess" in status["steps"] and "train" not in status["steps"] and "serve" not in status["steps"]
    assert status["steps"]["preprocess"]["data_dir"] == str(preprocessed_sample)  # a preprocessed dir: used as is
    assert "FAILED" in proc.stdout
    assert re.search(r"^\[train\] FAILED after \d+ s: .+ \(log \S+/gh-summ-bad-train/logs/train\.log\)$", proc.stdout,
                     re.M)


def test_missing_data_fails_at_the_first_step(run_pipeline, pipeline_working_dir, tmp_path):
    """--verbose: the screen shows kfp.local's whole output, as the run's logs/pipeline.log keeps it."""
    proc, status = run_pipeline(pipeline_working_dir, "--data", tmp_path / "nope.csv", "--run_id", "gh-summ-no-data",
                                "--verbose", *PIPELINE_TINY)
    assert proc.returncode == 1
    assert status["state"] == "FAILED" and status["steps"] == {}
    assert status["failed_step"] == "preprocess" and "nope.csv" in status["error_message"]
    assert "failed in preprocess" in proc.stdout
    logged = (pipeline_working_dir / "gh-summ-no-data" / "logs" / "pipeline.log").read_text()
    for text in ("Got executor_input", "[KFP Executor", "[preprocess] $ ", "Traceback"):
        assert text in proc.stdout and text in logged, text
    assert "[preprocess] started" not in proc.stdout


def test_start_step_without_an_earlier_run_fails_clearly(run_pipeline, pipeline_working_dir):
    proc, status = run_pipeline(pipeline_working_dir, "--run_id", "gh-summ-never-ran", "--start_step", "train")
    assert proc.returncode == 1
    assert status["state"] == "FAILED" and status["failed_step"] == "init_run"
    assert "no earlier run" in status["error_message"]


def test_unknown_parameter_is_refused(run_pipeline, pipeline_working_dir):
    proc, status = run_pipeline(pipeline_working_dir, "--no_such_parameter", "1")
    assert proc.returncode == 2 and "no_such_parameter" in proc.stdout and status is None


# Issue-form text as GitHub's templates put it (React's, TensorFlow's and the "Bug report" form), around one real
# problem statement each; none of these template lines may become a served title.
TEMPLATE_LINES = ["Do you want to request a feature or report a bug?", "Click to expand!", "Describe the bug",
                  "What is the current behavior?", "Issue type", "Have you reproduced the bug with TF nightly?",
                  "Thanks for the great library!", "I have a question", "To Reproduce", "Expected behavior"]
TEMPLATED_BODIES = [
    "**Do you want to request a *feature* or report a *bug*?**\n\nBug\n\n**What is the current behavior?**\n\n"
    "The dev tools panel stays blank when the page is served from localhost.",
    "<details><summary>Click to expand!</summary>\n\n### Issue type\n\nBug\n\n### Have you reproduced the bug "
    "with TF nightly?\n\nYes\n\n### Current behavior?\n\ntf.keras.layers.ZeroPadding2D overflows when the "
    "padding is a very large integer.\n</details>",
    "**Describe the bug**\nA clear and concise description of what the bug is.\nThe CLI exits with code 0 even "
    "when the upload fails.\n\n**To Reproduce**\nSteps to reproduce the behavior:\n1. run upload\n\n"
    "**Expected behavior**\nA non-zero exit code.",
    "Hi, thanks for the great library! I have a question. I am trying to use the DataLoader with num_workers=4 "
    "on Windows and it hangs forever.",
]


def test_the_default_run_continues_the_shipped_warm_start(run_pipeline, pipeline_sample_csv, tmp_path):
    """What `make run` does, two steps long: the pipeline's defaults (checkpoint_dir = data/warm_start, its
    hyper-parameter set, its vocabulary and its title_target) give a model that continues its step. With
    promote_rule never the first run of a working dir serves the model it started from instead (issue 32)."""
    import subprocess
    import sys
    from pipeline.gh_summ import WARM_HPARAMS_SET, WARM_STEP
    from tests.conftest import REPO
    assert WARM_STEP > 0, "data/warm_start/ ships no checkpoint"
    working_dir = tmp_path / "work"
    try:
        proc, status = run_pipeline(working_dir, "--data", pipeline_sample_csv, "--train_steps", WARM_STEP + 2,
                                    "--gpus", "0", "--eval_max_issues", "10", "--deploy_webapp", "false",
                                    "--promote_rule", "never")
        assert proc.returncode == 0, proc.stdout[-8000:]
        assert status["state"] == "SUCCEEDED" and status["steps"]["serve"]["version"] == WARM_STEP
        run_dir = Path(status["run_dir"])
        card = json.loads((REPO / "data" / "warm_start" / "ghsumm_model.json").read_text())
        stats = json.loads((run_dir / "data" / "stats.json").read_text())
        assert stats["vocabulary"]["source"].endswith("data/warm_start/" + card["vocab_file"])
        assert stats["options"]["title_target"] == card.get("title_target", "title")
        model = json.loads((run_dir / "model" / "ghsumm_model.json").read_text())
        assert model["hparams_set"] == WARM_HPARAMS_SET and model["model"] == card["model"]
        assert f"trained {WARM_STEP} -> {WARM_STEP + 2} steps" in (run_dir / "logs" / "train.log").read_text()
        # the model it started from, exported once per working dir and scored on the same issues (issue 32)
        start = json.loads((run_dir / "eval" / "start.json").read_text())
        assert start == status["steps"]["evaluate"]["start"]
        assert (start["set"], start["step"], start["n"]) == ("general", WARM_STEP, 10)
        assert start["checkpoint_dir"] == str(REPO / "data" / "warm_start")
        metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
        assert start["new_rouge_l"] == round(metrics["rouge"]["model"]["rougeL"], 4)
        assert start["gain"] == pytest.approx(start["new_rouge_l"] - start["old_rouge_l"], abs=2e-4)
        assert list((working_dir / "start_models").glob(f"warm_start-{WARM_STEP}-*/{WARM_STEP}/saved_model.pb"))
        assert re.search(r"^   trained model vs the model it started from \(step %d\), same 10 issues: "
                         r"[\d.]+ vs [\d.]+, paired [-+][\d.]+ \+- [\d.]+ ROUGE-L, \d+ titles changed$" % WARM_STEP,
                         proc.stdout, re.M), proc.stdout[-3000:]
        assert "start model step %d" % WARM_STEP in (run_dir / "eval" / "report.html").read_text()
        assert start["promote"] is False and start["served_instead"].startswith(str(working_dir / "start_models"))
        assert status["steps"]["serve"]["source"] == os.path.join(start["served_instead"], str(WARM_STEP))
        assert "   so the model it started from is served (promote_rule never: " in proc.stdout, proc.stdout[-3000:]
        runs = subprocess.run([sys.executable, "-m", "pipeline", "runs", "--working_dir", str(working_dir)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120).stdout
        assert "vs start step %d: general " % WARM_STEP in runs, runs
        assert status["steps"]["serve"]["sample_request"]["generated_title"]
        # No template line becomes a title (issue 12): the served model, given issue-form bodies.
        from data.titles import tokens
        from serving.client import TitleClient, find_vocab
        serving = status["steps"]["serve"]
        with TitleClient(serving["rest_url"], model_name="ghsumm",
                         vocab_path=find_vocab(str(working_dir / "serving" / "ghsumm"))) as client:
            titles = [t.title for t in client.generate_many(TEMPLATED_BODIES)]
        for body, title in zip(TEMPLATED_BODIES, titles, strict=True):
            for line in TEMPLATE_LINES:
                assert " ".join(tokens(line)) not in " ".join(tokens(title)), (title, body[:80])
    finally:
        subprocess.run([sys.executable, "-m", "pipeline", "stop", "--working_dir", str(working_dir)], cwd=REPO,
                       timeout=120)
