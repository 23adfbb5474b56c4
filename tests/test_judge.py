"""trainer/judge.py, the evaluate step's work, on the tiny real SavedModel (conftest.tiny_saved_model): the trained
model always scored with its gate, the served version scored on the same issues and the promote rule's decision
written, a scoring kept by model and issues and not decoded again, nothing served: no promotion. (A served version
that differs from the trained one, scored and then reused by the next retrain: tests/test_retrain.py.)"""
import json
import os
import shutil
import subprocess
import sys

from data import project
from serving import versions
from trainer import judge, promotion


class Runner:
    """judge's run(step, args, python): the real command, each step's name kept."""

    def __init__(self):
        self.steps = []

    def __call__(self, step, args, python=None):
        self.steps.append(step)
        proc = subprocess.run([python or sys.executable] + [str(a) for a in args], cwd=project.REPO,
                              env=project.child_env(TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout


def _judge(run, tmp_path, out, saved_model, data_dir, rule="at_least_as_good"):
    return judge.judge(run, str(tmp_path / out), str(saved_model), str(data_dir), str(tmp_path / "work"), "ghsumm",
                       checkpoint_dir="", promote_rule=rule, max_issues=8)


def test_nothing_served_the_trained_model_is_scored_and_only_its_gate_decides(tmp_path, tiny_saved_model,
                                                                               preprocessed_sample):
    run = Runner()
    info = _judge(run, tmp_path, "eval", tiny_saved_model, preprocessed_sample)
    assert run.steps == ["evaluate"]
    assert info["gate"] in ("true", "false") and info["promotion"] is None and info["start"] is None
    assert os.path.exists(info["metrics_path"]) and os.path.exists(info["report_path"])


def test_the_served_version_is_compared_and_a_kept_scoring_is_not_decoded_again(tmp_path, tiny_saved_model,
                                                                                 preprocessed_sample):
    base = versions.base_path(str(tmp_path / "work"), "ghsumm")
    shutil.copytree(tiny_saved_model, os.path.join(base, "5"))
    run = Runner()
    info = _judge(run, tmp_path, "eval", tiny_saved_model, preprocessed_sample)
    # the served version is the trained model's SavedModel: the scoring just kept (same model, same issues) serves
    assert run.steps == ["evaluate"]
    decision = json.loads((tmp_path / "eval" / "promotion.json").read_text())
    assert decision == info["promotion"] and decision["promote"]  # gain 0: at least as good
    (general,) = decision["comparisons"]
    assert general["set"] == promotion.GENERAL and general["gain"] == 0 and general["n"] == 8
    assert os.path.exists(tmp_path / "eval" / "served" / "predictions.jsonl")

    again = Runner()
    refused = _judge(again, tmp_path, "eval2", tiny_saved_model, preprocessed_sample, rule="never")
    assert again.steps == ["evaluate"]  # the model under evaluation is always scored
    assert not refused["promotion"]["promote"] and refused["gate"] == "false"
    assert refused["gate_reasons"][-1].startswith("promotion: ")
