"""pipeline/records.py and pipeline/retrain.py without training anything: rollback and version numbering on a
model base path of plain directories, the retrain parameters chosen from a recorded run (the promotion rules:
tests/test_promotion.py), and the commands' one-line errors. Seconds."""
import json
import subprocess
import sys

import pytest

from pipeline import records, retrain
from serving import versions
from tests.conftest import REPO


def _version(base, v):
    (base / str(v)).mkdir(parents=True)
    (base / str(v) / "saved_model.pb").write_text("v%d" % v)


def test_rollback_retires_newer_versions_and_numbers_are_never_reused(tmp_path):
    base = tmp_path / "serving" / "ghsumm"
    for v in (5, 8, 12):
        _version(base, v)
    event = versions.rollback(str(tmp_path), "ghsumm", 5)
    assert event["retired"] == [8, 12] and not event["restored"]
    assert versions.versions(str(base)) == [5]
    assert versions.versions(str(base) + ".retired") == [8, 12]
    assert (tmp_path / "serving" / "ghsumm.retired" / "12" / "saved_model.pb").read_text() == "v12"
    # a retired version comes back
    event = versions.rollback(str(tmp_path), "ghsumm", 8)
    assert event["restored"] and event["retired"] == [] and versions.versions(str(base)) == [5, 8]
    assert [e["event"] for e in versions.history(str(tmp_path), "ghsumm")] == ["rollback", "rollback"]
    with pytest.raises(versions.VersionError, match="no version 7"):
        versions.rollback(str(tmp_path), "ghsumm", 7)
    # a new export of step 10 is published above the retired 12
    export = tmp_path / "run" / "export"
    _version(export, 10)
    pub = versions.publish(str(export), str(base))
    assert pub["version"] == 13
    rows = {r["version"]: r["state"] for r in records.models(str(tmp_path), "ghsumm")}
    assert rows == {13: "serving", 8: "published", 5: "published", 12: "retired"}


def fake_served_run(working_dir, step=5, data="/d/old.csv"):
    """A recorded run whose model (checkpoint at `step`) is served as version `step`."""
    run_dir = working_dir / "gh-summ-base"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-%d"\n' % step)
    (run_dir / "run.json").write_text(json.dumps({"run_id": "gh-summ-base", "attempts": [
        {"start_step": "preprocess", "started": "2026-01-01T00:00:00",
         "parameters": {"data": data, "hparams_set": "transformer_ghsumm_tiny", "hparams": "batch_size=256"}},
        {"start_step": "evaluate", "started": "2026-01-02T00:00:00",
         "parameters": {"data": "/elsewhere.csv", "hparams_set": "some_default", "hparams": ""}}]}))
    (run_dir / "steps").mkdir()
    (run_dir / "steps" / "train.json").write_text(json.dumps({"model_dir": str(run_dir / "model"),
                                                              "hparams_set": "transformer_ghsumm_tiny",
                                                              "hparams": "batch_size=256"}))
    _version(working_dir / "serving" / "ghsumm", step)
    versions.log_event(str(working_dir), "ghsumm", {"event": "published", "version": step, "run_id": "gh-summ-base",
                                                   "run_dir": str(run_dir), "rouge_l": 3.5})
    return run_dir


def test_retrain_continues_the_served_run(tmp_path):
    run_dir = fake_served_run(tmp_path)
    new = tmp_path / "new.csv"
    new.write_text("x")
    params, info = retrain.choose(str(tmp_path), "ghsumm", [str(new)], more_steps=7, since="2024-01-01",
                                  overrides={"promote_rule": "never", "hparams_set": None},
                                  defaults={"beam_args": "", "hparams_set": "x", "promote_rule": "at_least_as_good"})
    assert params["train_steps"] == 12 and params["checkpoint_dir"] == str(run_dir / "model")
    assert params["data"] == "/d/old.csv" and params["new_data"] == str(new)  # the attempt that preprocessed
    assert params["hparams_set"] == "transformer_ghsumm_tiny" and params["hparams"] == "batch_size=256"
    assert params["beam_args"] == "--since 2024-01-01" and params["promote_rule"] == "never"
    assert info["served_version"] == 5 and info["checkpoint_step"] == 5 and info["served_rouge_l"] == 3.5
    # a retrain promotes by better_on_new unless told otherwise (a plain run: at_least_as_good)
    params, _ = retrain.choose(str(tmp_path), "ghsumm", [str(new)], defaults={"promote_rule": "at_least_as_good"})
    assert params["promote_rule"] == "better_on_new"


@pytest.mark.parametrize("args, message", [
    (["--new_data", "{missing}"], "no such file"),
    (["--new_data", "{new}", "--since", "yesterday"], "YYYY-MM-DD"),
    (["--new_data", "{new}", "--promote_rule", "maybe"], "promote_rule"),
    ([], "--new_data"),
])
def test_retrain_bad_input_is_one_line(tmp_path, args, message):
    fake_served_run(tmp_path)
    (tmp_path / "new.csv").write_text("x")
    args = [a.format(missing=tmp_path / "nope.csv", new=tmp_path / "new.csv") for a in args]
    proc = subprocess.run([sys.executable, "-m", "pipeline", "retrain", "--working_dir", str(tmp_path), "--dry_run",
                           *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stdout and "Traceback" not in proc.stdout, proc.stdout


def test_nothing_served_and_unknown_things_are_clear_errors(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "pipeline", *args, "--working_dir", str(tmp_path)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    proc = run("retrain", "--new_data", __file__)
    assert proc.returncode == 2 and "nothing is served" in proc.stdout and "Traceback" not in proc.stdout
    proc = run("show", "no-such-run")
    assert proc.returncode == 2 and "no run 'no-such-run'" in proc.stdout
    proc = run("rollback", "--version", "3")
    assert proc.returncode == 2 and "no version 3" in proc.stdout
    proc = run("runs")
    assert proc.returncode == 0 and "(no runs)" in proc.stdout
