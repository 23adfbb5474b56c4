"""trainer.evaluate: real decodes through a tiny exported SavedModel (conftest.tiny_saved_model), lead baselines
on known strings, the gate both ways, the HTML report's escaping, and bad inputs (exit 2)."""
import functools
import json
import logging
import os
import shutil
import subprocess
import sys

import pytest

from data import contract
from tests.conftest import REPO
from trainer import evaluate, report_html

VOCAB = contract.VOCAB_FILENAME
SCRIPT = "<script>alert('x')</script>"


@pytest.fixture(scope="module", autouse=True)
def load_each_saved_model_once():
    """Loading the SavedModel takes ~6 s; the runs below share one load per version directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "load_saved_model", functools.lru_cache(maxsize=None)(evaluate.load_saved_model))
        yield


@pytest.fixture(scope="module")
def eval_data(preprocessed_sample, tmp_path_factory):
    """A data dir: the sample's vocabulary and 4 of its eval issues plus one with markup in title and body."""
    data = tmp_path_factory.mktemp("eval_data")
    shutil.copy(preprocessed_sample / VOCAB, data / VOCAB)
    issues = [json.loads(line) for line in (preprocessed_sample / evaluate.EVAL_ISSUES).read_text().splitlines()]
    issues = sorted(issues, key=lambda i: i["id"])[:4]
    issues.append({"id": "zz-markup", "url": "", "repo": "", "created_at": "", "title": "fix %s & co" % SCRIPT,
                   "body": "the page runs %s when the title has markup. it should not." % SCRIPT})
    (data / evaluate.EVAL_ISSUES).write_text("".join(json.dumps(i) + "\n" for i in issues), encoding="utf-8")
    return data


def run_main(args) -> int:
    """main(args) in this process (TF is imported once, the model loaded once); main() sends its log (the progress
    lines) to the stderr of the moment: the root logger's handlers and level are put back after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return evaluate.main([str(a) for a in args])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def run_cli(args, capsys):
    """run_main(args): (exit code, stdout, stderr)."""
    code = run_main(args)
    out, err = capsys.readouterr()
    return code, out, err


def model_args(model, data, out, *extra):
    return ["--saved_model", model, "--data_dir", data, "--out", out, "--max_input_length", 32,
            "--batch_size", 3] + list(extra)


@pytest.fixture(scope="module")
def first_run(tiny_saved_model, eval_data, tmp_path_factory):
    """A plain evaluation (no gate criteria) through the tiny model: (out dir, metrics, stdout, stderr)."""
    out = tmp_path_factory.mktemp("first_run")
    code = run_main(model_args(tiny_saved_model.parent, eval_data, out))
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- real decodes

def test_loading_the_saved_model_logs_no_tensorflow_warnings(tiny_saved_model, caplog):
    # TF's logger prints to stderr outside pytest; here its records reach caplog
    with caplog.at_level(logging.WARNING):
        model = evaluate.load_saved_model(str(tiny_saved_model))
    assert "serving_default" in model.signatures
    assert not [r for r in caplog.records if "Unable to create a python object" in r.getMessage()]


def test_an_evaluation_prints_no_tensorflow_start_up_lines(tiny_saved_model, eval_data, tmp_path):
    # `make quality` and warm_start evaluate in-process: TF's C++ start-up lines (absl's notice, CPU features)
    # reached their terminal
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    args = [str(a) for a in model_args(tiny_saved_model, eval_data, tmp_path)]
    done = subprocess.run([sys.executable, "-m", "trainer.evaluate"] + args, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cpu_feature_guard" not in done.stderr and "absl::InitializeLog" not in done.stderr, done.stderr
    assert "INFO absl" not in done.stderr + done.stdout  # the SavedModel loader's and rouge_score's chatter


def test_decodes_the_eval_issues_through_the_saved_model(first_run, tiny_saved_model, eval_data):
    out, metrics = first_run
    # The base path was given: its newest numbered version was loaded, and T2T's default beam 4 read from the graph.
    assert metrics["model"]["saved_model"] == str(tiny_saved_model)
    assert metrics["model"]["version"] == tiny_saved_model.name
    assert metrics["model"]["decode"]["beam_size"] == 4
    assert metrics["model"]["vocab_size"] == evaluate.load_vocabulary(str(eval_data / VOCAB)).vocab_size
    assert metrics["data"]["n_issues"] == 5 and metrics["options"]["max_input_length"] == 32
    assert set(metrics["rouge"]) == {"model", "lead_8_words", "lead_12_words", "first_sentence"}
    for scores in metrics["rouge"].values():
        assert set(scores) == {"rouge1", "rouge2", "rougeL"} and all(0 <= v <= 100 for v in scores.values())
    # One sample per issue (fewer than 20 here), in id order. A 5-step model writes junk, often empty titles
    # (an untrained model's beam search favours ending at once); the shipped model's in test_pipeline_local.
    samples = metrics["samples"]
    assert [s["id"] for s in samples][-1] == "zz-markup" and len(samples) == 5
    assert all(isinstance(s["generated_title"], str) and s["true_title"] and s["body_excerpt"] for s in samples)
    collapse = metrics["collapse"]
    assert 1 <= collapse["distinct_titles"] <= 5 and 0 < collapse["most_common_share"] <= 1
    assert collapse["most_common_title"] in [s["generated_title"] for s in samples]
    assert metrics["gate"]["passed"] is True
    assert (out / "gate.txt").read_text() == "true"
    # every issue's prediction, with the body as the model read it (cut to max_input_length ids)
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [s["id"] for s in samples]
    assert [p["generated_title"] for p in predictions] == [s["generated_title"] for s in samples]
    assert all(set(p) == {"id", "body_read", "true_title", "generated_title", "rougeL", "score"} for p in predictions)
    # the model's own score of each title (as served) and their quartiles, from which the webhook's threshold comes
    assert all(isinstance(p["score"], float) and p["score"] <= 0 for p in predictions)
    quartiles = metrics["model_scores"]
    assert quartiles["first_quartile"] <= quartiles["median"] <= max(p["score"] for p in predictions)
    issues = {i["id"]: i for i in evaluate.load_eval_issues(str(eval_data / "eval_issues.jsonl"))}
    assert all(p["body_read"] and issues[p["id"]]["body"].startswith(p["body_read"][:20]) for p in predictions)
    reading = metrics["reading"]
    assert set(reading) == {"verbatim_span_share", "dangling_share", "mean_title_words"}
    assert 0 <= reading["verbatim_span_share"] <= 1 and 0 <= reading["dangling_share"] <= 1


def test_prints_progress_scores_and_the_gate(tiny_saved_model, eval_data, tmp_path, capsys):
    code, out, err = run_cli(model_args(tiny_saved_model, eval_data, tmp_path, "--max_issues", 2), capsys)
    assert code == 0
    assert "decoded 2/2 issues" in err and "issues/s" in err and "ETA" in err
    assert "ROUGE-L" in out and "first_sentence" in out and "gate: true" in out
    assert json.loads((tmp_path / "metrics.json").read_text())["data"]["n_issues"] == 2


def test_eval_issues_scores_another_set_of_issues(first_run, tiny_saved_model, eval_data, tmp_path, capsys):
    """--eval_issues: the same model on another eval set (a retrain's held-out new issues), same row format."""
    issues = [json.loads(line) for line in (eval_data / evaluate.EVAL_ISSUES).read_text().splitlines()][-2:]
    other = tmp_path / "new_eval_issues.jsonl"
    other.write_text("".join(json.dumps(i) + "\n" for i in issues))
    code, out, err = run_cli(model_args(tiny_saved_model, eval_data, tmp_path / "out", "--eval_issues", other), capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["data"]["n_issues"] == 2 and metrics["data"]["eval_issues"] == str(other)
    assert first_run[1]["data"]["eval_issues"] == str(eval_data / evaluate.EVAL_ISSUES)  # the default
    predictions = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == sorted(i["id"] for i in issues)
    # the report again with paired comparisons (the evaluate step's): this model against itself gains nothing
    from trainer import promotion
    same = promotion.comparison("new", "itself", str(tmp_path / "out"), str(tmp_path / "out"))
    assert (same["n"], same["gain"], same["standard_error"], same["changed_titles"]) == (2, 0.0, 0.0, 0)
    evaluate.add_comparisons(str(tmp_path / "out"), [same])
    assert "Paired comparisons" in (tmp_path / "out" / "report.html").read_text()


def test_report_html_is_self_contained_and_escapes_markup(first_run):
    out, metrics = first_run
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "fix &lt;script&gt;" in page and "&amp; co" in page
    assert "http" not in page.lower().replace('lang="en"', "")  # nothing loaded from elsewhere
    for label in ("first 8 words of the body", "first 12 words of the body", "first sentence of the body"):
        assert label in page


def test_the_export_model_card_and_vocabulary_take_precedence(tiny_saved_model, eval_data, tmp_path, capsys):
    """A version as `python -m trainer export` writes it: assets.extra/ holds the model card and the vocabulary.
    The data dir's own vocabulary (here a wrong one) is then not used."""
    version = tmp_path / "base" / "7"
    shutil.copytree(tiny_saved_model, version)
    (version / "assets.extra").mkdir(exist_ok=True)
    shutil.copy(eval_data / VOCAB, version / "assets.extra" / VOCAB)
    (version / "assets.extra" / "ghsumm_model.json").write_text(json.dumps(
        {"beam_size": 4, "alpha": 0.6, "extra_length": 40, "min_length": 9, "no_repeat_word": 4}))
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(eval_data / evaluate.EVAL_ISSUES, data / evaluate.EVAL_ISSUES)
    write_small_vocab(data / VOCAB)
    code, _, err = run_cli(model_args(tmp_path / "base", data, tmp_path / "out", "--max_issues", 1), capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["model"]["version"] == "7"
    assert metrics["model"]["decode"] == {"beam_size": 4, "alpha": 0.6, "extra_length": 40,
                                          "source": evaluate.MODEL_CARD,
                                          "rules": {"min_length": 9, "no_repeat_word": 4}}
    assert "min length 9, no repeat word 4" in (tmp_path / "out" / "report.html").read_text()
    assert metrics["data"]["vocab_file"] == str(version / "assets.extra" / VOCAB)


# ---------------------------------------------------------------- the gate through the CLI

@pytest.mark.parametrize("extra, expected", [
    (["--threshold_rouge_l", "0"], "true"),
    (["--threshold_rouge_l", "101"], "false"),
    (["--baseline_metrics", "{first}", "--threshold_rouge_l", "0"], "true"),  # same model: at least as good
    (["--baseline_metrics", "{first}", "--min_improvement", "0.5"], "false"),
])
def test_gate_decision_is_written_and_printed_and_exit_is_0(extra, expected, first_run, tiny_saved_model,
                                                             eval_data, tmp_path, capsys):
    extra = [a.replace("{first}", str(first_run[0] / "metrics.json")) for a in extra]
    code, out, _ = run_cli(model_args(tiny_saved_model, eval_data, tmp_path, *extra), capsys)
    assert code == 0
    assert (tmp_path / "gate.txt").read_text() == expected
    assert "gate: %s" % expected in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["gate"]["passed"] is (expected == "true")
    if "--baseline_metrics" in extra:
        assert metrics["gate"]["previous_rouge_l"] == pytest.approx(first_run[1]["rouge"]["model"]["rougeL"])
        assert metrics["rouge"]["model"] == pytest.approx(first_run[1]["rouge"]["model"])  # decoding is repeatable


def test_gate_rules():
    assert evaluate.gate(30.0)["passed"]  # no criteria
    assert evaluate.gate(30.0, threshold=30.0)["passed"]
    assert not evaluate.gate(29.99, threshold=30.0)["passed"]
    assert evaluate.gate(30.0, previous_rouge_l=30.0)["passed"]
    assert evaluate.gate(31.0, previous_rouge_l=30.0, min_improvement=1.0)["passed"]
    assert not evaluate.gate(30.5, previous_rouge_l=30.0, min_improvement=1.0)["passed"]
    assert not evaluate.gate(35.0, threshold=40.0, previous_rouge_l=30.0)["passed"]  # both must hold
    assert not evaluate.gate(35.0, threshold=30.0, previous_rouge_l=36.0)["passed"]
    # Float noise from a re-run of the same model is not a regression.
    assert evaluate.gate(0.1 + 0.2, previous_rouge_l=0.3)["passed"]


# ---------------------------------------------------------------- baselines and scores on known strings

BODY = "the save button does nothing on the settings page. clicking it twice crashes the app."


def test_lead_baselines_on_known_strings():
    assert evaluate.lead_words(BODY, 8) == "the save button does nothing on the settings"
    assert evaluate.lead_words("  a\tb\n c ", 12) == "a b c"
    assert evaluate.first_sentence(BODY) == "the save button does nothing on the settings page."
    assert evaluate.first_sentence("version 1.2.3 fails! see log") == "version 1.2.3 fails!"
    assert evaluate.first_sentence("no end mark here") == "no end mark here"


def test_a_title_equal_to_a_baseline_scores_100_for_it():
    issues = [{"id": 1, "title": "the save button does nothing on the settings", "body": BODY},
              {"id": 2, "title": "The SAVE button does nothing on the settings!", "body": BODY}]  # case, punctuation
    rouge = evaluate.compute_baselines(issues)
    assert rouge["lead_8_words"] == pytest.approx({"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0})
    assert 0 < rouge["lead_12_words"]["rougeL"] < 100 and 0 < rouge["first_sentence"]["rougeL"] < 100
    # Stemming on: "crashes" matches "crash".
    assert evaluate.rouge_per_issue(["app crash"], ["app crashes"])[0]["rougeL"] == pytest.approx(100.0)
    assert evaluate.rouge_per_issue(["app crash"], [""])[0] == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_collapse_stats():
    stats = evaluate.collapse_stats(["error", "error", "error", "add x"])
    assert stats["distinct_titles"] == 2 and stats["distinct_ratio"] == 0.5
    assert stats["most_common_title"] == "error" and stats["most_common_share"] == 0.75


def test_baselines_only_needs_no_model(eval_data, capsys):
    code, out, _ = run_cli(["--baselines_only", "--data_dir", eval_data, "--max_issues", 3], capsys)
    assert code == 0
    assert "3 eval issues" in out and "lead_8_words" in out and "lead_12_words" in out and "first_sentence" in out


def test_render_escapes_every_field():
    metrics = {
        "created_at": "<b>", "model": {"saved_model": "<m>", "version": "<v>", "vocab_size": 1,
                                       "decode": {"beam_size": 4, "alpha": None, "extra_length": None,
                                                  "source": "<s>"}},
        "data": {"data_dir": "<d>", "vocab_file": "<f>", "n_issues": 1, "issues_sha1": ""},
        "options": {"x": "<o>"}, "speed": {"seconds": 1.0, "issues_per_second": 1.0},
        "rouge": {"model": {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}},
        "collapse": {"distinct_titles": 1, "distinct_ratio": 1.0, "most_common_title": SCRIPT,
                     "most_common_count": 1, "most_common_share": 1.0},
        "gate": {"passed": False, "reasons": ["<r>"]},
        "samples": [{"id": 1, "body_excerpt": SCRIPT, "true_title": '"><img src=x>', "generated_title": SCRIPT,
                     "rougeL": 0.0}],
    }
    page = report_html.render(metrics)
    assert "<script" not in page and "<img" not in page and "<b>" not in page.replace("<body>", "")
    for raw in ("<m>", "<v>", "<s>", "<d>", "<f>", "<o>", "<r>"):
        assert raw not in page and raw.replace("<", "&lt;").replace(">", "&gt;") in page


# ---------------------------------------------------------------- bad inputs: exit 2, nothing written

def write_small_vocab(path):
    path.write_text("".join("'%s'\n" % s for s in ["<pad>_", "<EOS>_", "a_", "b_", "a", "b", "_"]))


def expect_exit_2(args, capsys, message):
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert message in err, err


def test_missing_saved_model(eval_data, tmp_path, capsys):
    expect_exit_2(model_args(tmp_path / "nowhere", eval_data, tmp_path / "out"), capsys, "SavedModel not found")
    (tmp_path / "empty").mkdir()
    expect_exit_2(model_args(tmp_path / "empty", eval_data, tmp_path / "out"), capsys, "no SavedModel in")
    assert not (tmp_path / "out").exists()


def test_missing_eval_issues(tiny_saved_model, tmp_path, capsys):
    expect_exit_2(model_args(tiny_saved_model, tmp_path, tmp_path / "out"), capsys, "eval issues not found")
    expect_exit_2(["--baselines_only", "--data_dir", tmp_path], capsys, "eval issues not found")


def test_a_vocabulary_that_is_not_the_models(tiny_saved_model, eval_data, tmp_path, capsys):
    small = tmp_path / VOCAB
    write_small_vocab(small)
    expect_exit_2(model_args(tiny_saved_model, eval_data, tmp_path / "out", "--vocab_file", small), capsys,
                  "vocabulary mismatch")
    bare = tmp_path / "base" / "5"  # a version without assets.extra/, and a data dir without a vocabulary
    shutil.copytree(tiny_saved_model, bare)
    shutil.rmtree(bare / "assets.extra")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(eval_data / evaluate.EVAL_ISSUES, data / evaluate.EVAL_ISSUES)
    expect_exit_2(model_args(bare, data, tmp_path / "out"), capsys, "vocabulary not found")
    assert not (tmp_path / "out").exists()


def test_unreadable_previous_metrics(tiny_saved_model, eval_data, tmp_path, capsys):
    (tmp_path / "prev.json").write_text('{"rouge": {}}')
    expect_exit_2(model_args(tiny_saved_model, eval_data, tmp_path / "out", "--baseline_metrics",
                             tmp_path / "prev.json"), capsys, "cannot read the previous model's ROUGE-L")
    expect_exit_2(model_args(tiny_saved_model, eval_data, tmp_path / "out", "--baseline_metrics",
                             tmp_path / "missing.json"), capsys, "cannot read the previous model's ROUGE-L")


def test_a_word_repeated_back_to_back_is_collapsed_in_titles_everywhere():
    from serving.client import tidy_title
    assert tidy_title("create a user user user user") == "create a user"
    assert tidy_title("fix the the build on on windows") == "fix the build on windows"
    assert tidy_title("user a user") == "user a user"  # only back to back
    assert tidy_title("  ") == ""


def test_reading_stats_count_verbatim_spans_and_dangling_ends():
    bodies = ["the build fails with a typeerror after upgrading", "memory grows until the process is killed"]
    stats = evaluate.reading_stats(["the build fails with", "memory leak in the server"], bodies)
    assert stats == {"verbatim_span_share": 0.5, "dangling_share": 0.5, "mean_title_words": 4.5}
