"""trainer/promotion.py without a model: the paired comparison of two predictions.jsonl on known numbers, each
promote_rule's decision (the refusals too: not better on the new issues, worse on the general set beyond two
standard errors), the records' one-line forms, and where the start model's export is kept. Seconds."""
import json

import pytest

from trainer import promotion, report_html


def write_predictions(path, rows):
    """rows: {issue id: (rougeL, generated title)} as trainer.evaluate's predictions.jsonl."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "rougeL": r, "generated_title": t}) + "\n"
                            for i, (r, t) in rows.items()))
    return str(path)


def test_the_paired_comparison_on_known_numbers(tmp_path):
    new = write_predictions(tmp_path / "new" / "predictions.jsonl",
                            {"a": (11.0, "x"), "b": (23.0, "y"), "c": (30.0, "z")})
    old = write_predictions(tmp_path / "old" / "predictions.jsonl",
                            {"a": (10.0, "w"), "b": (20.0, "v"), "c": (30.0, "z")})
    paired = promotion.compare_predictions(new, old)
    # gains 1, 3, 0: mean 4/3, sample variance 7/3, standard error sqrt(7/3 / 3)
    assert paired["n"] == 3 and paired["changed_titles"] == 2
    assert paired["gain"] == pytest.approx(4 / 3) and paired["standard_error"] == pytest.approx((7 / 9) ** 0.5)
    assert paired["new_rouge_l"] == pytest.approx(64 / 3) and paired["old_rouge_l"] == 20.0
    # two files on each side: one issue set (an id in both counts twice), as warm_start pairs its two dev sets
    both = promotion.compare_predictions([new, new], [old, old])
    assert both["n"] == 6 and both["gain"] == pytest.approx(4 / 3)
    # the eval dirs' form for the records: named, rounded
    c = promotion.comparison("general", "served version 5", str(tmp_path / "new"), str(tmp_path / "old"))
    assert c == {"set": "general", "against": "served version 5", "n": 3, "new_rouge_l": 21.3333, "old_rouge_l": 20.0,
                 "gain": 1.3333, "standard_error": 0.8819, "changed_titles": 2}
    assert promotion.format_comparison(c) == ("same 3 issues: 21.33 vs 20.00, paired +1.33 +- 0.88 ROUGE-L, "
                                              "2 titles changed")


def test_different_issues_cannot_be_paired(tmp_path):
    new = write_predictions(tmp_path / "new.jsonl", {"a": (1.0, ""), "b": (2.0, "")})
    old = write_predictions(tmp_path / "old.jsonl", {"a": (1.0, ""), "c": (2.0, "")})
    with pytest.raises(promotion.PromotionError, match="different eval issues .2 and 2 issues, 1 in common"):
        promotion.compare_predictions(new, old)
    one = write_predictions(tmp_path / "one.jsonl", {"a": (1.0, "")})
    assert promotion.compare_predictions(one, one)["standard_error"] is None  # one issue: no standard error


def comparison(gain, error, eval_set="general", n=100, old=20.0):
    return {"set": eval_set, "against": "served version 5", "n": n, "new_rouge_l": old + gain, "old_rouge_l": old,
            "gain": gain, "standard_error": error, "changed_titles": 10}


@pytest.mark.parametrize("rule, general, new, promote, words", [
    ("at_least_as_good", comparison(0.0, 0.4), None, True, "ROUGE-L 20.00 >= served 20.00 + 0.00"),
    ("at_least_as_good", comparison(-0.1, 0.4), None, False, "19.90 < served 20.00"),
    ("min_improvement:0.5", comparison(0.4, 0.1), None, False, "20.40 < served 20.00 + 0.50"),
    ("min_improvement:0.5", comparison(0.5, 0.1), None, True, "paired +0.50 +- 0.10, 100 issues"),
    ("always", comparison(-5.0, 0.1), None, True, "promote_rule always"),
    ("never", comparison(5.0, 0.1), None, False, "promote_rule never"),
    # better on the new issues (2.5 SE > 1), the general set within noise (-1.25 SE): promoted
    ("better_on_new", comparison(-0.5, 0.4), comparison(1.0, 0.4, "new", 40), True,
     "better on the new issues, not worse on the general set: new set +1.00 +- 0.40 ROUGE-L (+2.5 SE, 40 issues); "
     "general set -0.50 +- 0.40 ROUGE-L (-1.2 SE, 100 issues) vs served version 5"),
    # better on the new issues by any margin (K 0 by default), not by K=1 standard error
    ("better_on_new", comparison(0.5, 0.4), comparison(0.3, 0.4, "new", 40), True, "better on the new issues"),
    ("better_on_new:1", comparison(0.5, 0.4), comparison(0.3, 0.4, "new", 40), False, "not better on the new issues"),
    ("better_on_new:3", comparison(0.5, 0.4), comparison(1.0, 0.4, "new", 40), False, "needs > 0 and > 3 SE"),
    ("better_on_new", comparison(0.5, 0.4), comparison(-1.0, 0.0, "new", 40), False, "not better"),
    # worse on the general set beyond noise (-2.5 SE), however much better on the new issues
    ("better_on_new", comparison(-1.0, 0.4), comparison(3.0, 0.4, "new", 40), False,
     "worse on the general set beyond noise (below -2 SE)"),
    ("better_on_new", comparison(-1.0, 0.4), comparison(0.0, 0.4, "new", 40), False,
     "not better on the new issues (needs > 0 and > 0 SE); worse on the general set beyond noise"),
    # no new issues held out: the general set alone, K standard errors
    ("better_on_new", comparison(0.5, 0.4), None, True, "better on the general set +0.50 +- 0.40 ROUGE-L (+1.2 SE"),
    ("better_on_new:1", comparison(0.3, 0.4), None, False, "not better on the general set"),
    ("better_on_new", comparison(0.01, 0.4), None, True, "no new issues held out"),
    ("better_on_new", comparison(-0.01, 0.4), None, False, "no new issues held out"),
])
def test_each_rule_decides_from_the_paired_comparisons(rule, general, new, promote, words):
    d = promotion.decide(rule, 5, general, new)
    assert d["promote"] is promote and words in d["reason"], d["reason"]
    assert (d["rule"], d["served_version"], d["n_issues"]) == (rule, 5, 100)
    assert (d["new_rouge_l"], d["served_rouge_l"]) == (general["new_rouge_l"], general["old_rouge_l"])
    assert d["comparisons"] == [general] + ([new] if new else [])


def issues(titles, bodies):
    return [{"id": str(n), "title": t, "body": b} for n, (t, b) in enumerate(zip(titles, bodies))]


REAL = issues(["DataLoader hangs on Windows", "Crash when saving a PNG file", "Add dark mode to the settings page",
               "Memory leak in the websocket server", "Typo in the install guide"],
              ["The DataLoader hangs on Windows when num_workers is 2. It never returns.",
               "The app crashes when saving a PNG file with transparency.",
               "Please add dark mode to the settings page, my eyes hurt.",
               "There is a memory leak in the websocket server after a day.",
               "There is a typo in the install guide: 'pip instal'."])


def test_junk_new_issues_are_refused_whatever_the_scores_say():
    real = promotion.titles_follow_bodies(REAL)
    assert real["follows"] and real["gain"] >= promotion.MIN_TITLE_BODY_GAIN and real["n"] == 5
    shuffled = issues([i["title"] for i in REAL[2:] + REAL[:2]], [i["body"] for i in REAL])
    junk = promotion.titles_follow_bodies(shuffled)
    assert not junk["follows"]
    assert "do NOT follow from their bodies" in promotion.format_title_check(junk)
    general, new = comparison(-0.5, 0.4), comparison(1.0, 0.4, "new", 40)
    d = promotion.decide("better_on_new", 5, general, new, title_check=junk)
    assert not d["promote"] and d["reason"].startswith("the new issues' titles do NOT follow") and d["title_check"] == junk
    assert promotion.decide("better_on_new", 5, general, new, title_check=real)["promote"]
    assert promotion.titles_follow_bodies(REAL[:1]) == {"n": 1, "follows": True}  # too few to tell: not refused


def test_rules_are_parsed_and_bad_ones_refused():
    assert promotion.parse_rule("better_on_new") == ("better_on_new", 0.0)
    assert promotion.parse_rule("better_on_new:2.5") == ("better_on_new", 2.5)
    assert promotion.parse_rule("min_improvement:-1") == ("min_improvement", -1.0)
    for rule in ("sometimes", "min_improvement:x", "", "better_on_new:", "better_on_new:-1"):
        with pytest.raises(promotion.PromotionError, match="promote_rule"):
            promotion.parse_rule(rule)


def test_the_start_model_is_the_checkpoint_dirs_newest_and_kept_per_working_dir(tmp_path):
    checkpoint = tmp_path / "warm_start"
    checkpoint.mkdir()
    assert promotion.start_checkpoint("") is None and promotion.start_checkpoint("none") is None
    assert promotion.start_checkpoint(str(checkpoint)) is None  # no checkpoint in it
    (checkpoint / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-14000"\n')
    (checkpoint / "model.ckpt-14000.index").write_bytes(b"weights 1")
    assert promotion.start_checkpoint(str(checkpoint)) == 14000
    base = promotion.start_model_base(str(tmp_path / "work"), str(checkpoint), 14000)
    assert base.startswith(str(tmp_path / "work" / "start_models" / "warm_start-14000-"))
    assert promotion.start_model_base(str(tmp_path / "work"), str(checkpoint), 14000) == base  # reused
    assert promotion.start_model_base(str(tmp_path / "work"), str(tmp_path / "elsewhere"), 14000) != base
    (checkpoint / "model.ckpt-14000.index").write_bytes(b"weights 2")  # a new model at the same path and step
    assert promotion.start_model_base(str(tmp_path / "work"), str(checkpoint), 14000) != base
    assert not promotion.is_exported(base, 14000)
    (tmp_path / "base" / "14000").mkdir(parents=True)
    (tmp_path / "base" / "14000" / "saved_model.pb").write_bytes(b"")
    assert promotion.is_exported(str(tmp_path / "base"), 14000)
    # a retrain continues the served version's own checkpoint: its model card names it
    served = tmp_path / "serving" / "5"
    (served / "assets.extra").mkdir(parents=True)
    (served / "assets.extra" / "ghsumm_model.json").write_text(json.dumps({"checkpoint": str(checkpoint /
                                                                                           "model.ckpt-14000")}))
    assert promotion.is_served_checkpoint(str(checkpoint), 14000, str(served))
    assert not promotion.is_served_checkpoint(str(checkpoint), 13000, str(served))
    assert not promotion.is_served_checkpoint(str(checkpoint), 14000, str(tmp_path / "serving" / "6"))


def test_records_and_the_report_show_both_comparisons():
    from pipeline import records
    general, new = comparison(-0.12, 0.4), comparison(1.23, 0.45, "new", 40)
    decision = promotion.decide("better_on_new", 5, general, new)
    start = dict(comparison(0.25, 0.3), against="start model step 14000", step=14000, checkpoint_dir="/w")
    assert records.paired_gains(decision, start) == ("vs v5: general -0.12 (0.40), new +1.23 (0.45); "
                                                     "vs start step 14000: general +0.25 (0.30)")
    assert records.paired_gains(None, None) == ""
    run = {"run_id": "r", "state": "SUCCEEDED", "run_dir": "/r", "started": "s", "finished": "f", "duration_s": 60,
           "start_step": "preprocess", "attempts": [{}], "parameters": {}, "steps": {}, "rouge": {}, "gate": "true",
           "gate_reasons": [], "promotion": decision, "start": start, "exported_step": 8, "version": 8,
           "promoted": "yes", "error": None, "rolled_back": [], "retrain": None}
    shown = records.format_run(run)
    assert "    new set vs served version 5, same 40 issues: 21.23 vs 20.00, paired +1.23 +- 0.45 ROUGE-L" in shown
    assert "  trained model vs the model it started from (step 14000, /w), same 100 issues: 20.25 vs 20.00" in shown
    assert "vs v5: general -0.12 (0.40), new +1.23 (0.45)" in records.format_runs([run])
    metrics = {"created_at": "", "model": {"saved_model": "", "version": "8", "decode": {
        "beam_size": 4, "alpha": None, "extra_length": None, "source": ""}}, "data": {
        "data_dir": "", "vocab_file": "", "n_issues": 100}, "options": {}, "speed": {"seconds": 1.0,
        "issues_per_second": 1.0}, "rouge": {}, "collapse": {"distinct_titles": 1, "distinct_ratio": 1.0,
        "most_common_title": "", "most_common_count": 1, "most_common_share": 1.0}, "gate": {"passed": True,
        "reasons": []}, "samples": []}
    page = report_html.render(metrics, decision["comparisons"] + [start], decision)
    assert "Promotion (rule better_on_new)" in page and "promoted" in page
    for text in ("served version 5", "start model step 14000", "the new issues&#x27; held-out part", "+1.23",
                 "0.45", "-0.12"):
        assert text in page, text
    assert "Paired comparisons" not in report_html.render(metrics)
