"""The warm start's selection (trainer/warm_start.py): which candidate ships, and how an average is shipped."""
import json
import os

import pytest

from trainer import warm_start


def summary(rouge_l, most_common=0.002):
    return {"rougeL": rouge_l, "verbatim_span_share": 0.4, "dangling_share": 0.0, "most_common_share": most_common}


def test_the_best_candidate_that_does_not_collapse_is_chosen_an_average_included():
    scores = {9000: summary(21.5), 10000: summary(22.4, most_common=0.03), "avg 7000-10000": summary(22.0)}
    assert warm_start.choose(scores) == "avg 7000-10000"
    scores["avg 7000-10000"] = summary(21.0)
    assert warm_start.choose(scores) == 9000


def test_when_every_candidate_collapses_the_best_is_still_chosen():
    assert warm_start.choose({1: summary(10.0, 0.2), 2: summary(12.0, 0.3)}) == 2


def test_a_shipped_slim_checkpoint_replaces_the_older_weights_and_keeps_the_rest(tmp_path):
    slim, out = tmp_path / "slim", tmp_path / "out"
    slim.mkdir(), out.mkdir()
    for name in ("model.ckpt-12000.index", "model.ckpt-12000.data-00000-of-00001", "checkpoint"):
        (slim / name).write_text(name)
    for name in ("model.ckpt-9500.index", "model.ckpt-9500.data-00000-of-00001", "README.md"):
        (out / name).write_text("old")
    warm_start.ship_slim(str(slim), str(out))
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "checkpoint", "model.ckpt-12000.data-00000-of-00001",
                                                   "model.ckpt-12000.index"]


def metrics(n_issues, rouge_l, verbatim, most_common):
    return {"data": {"n_issues": n_issues}, "rouge": {"model": {"rougeL": rouge_l}},
            "reading": {"verbatim_span_share": verbatim, "dangling_share": 0.0},
            "collapse": {"most_common_share": most_common}}


def test_a_candidate_is_summed_up_on_both_dev_sets_each_issue_counting_once():
    summary = warm_start.summary_of([metrics(480, 24.0, 0.2, 0.002), metrics(320, 19.0, 0.3, 0.009)])
    assert summary == {"rougeL": 22.0, "verbatim_span_share": 0.24, "dangling_share": 0.0,
                       "most_common_share": 0.009, "dev_rougeL": 24.0, "dev2_rougeL": 19.0}


def test_the_second_dev_set_leaves_out_every_row_of_the_bundled_sample(tmp_path):
    import csv
    from tests.conftest import SAMPLE_CSV
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    source = tmp_path / "source.csv"
    new_row = ["1", '"https://github.com/owner/repo/issues/1"', "a title", "a body"]
    with open(source, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, rows[0], new_row, rows[-1]])
    out = warm_start.without_bundled_sample(str(source), str(tmp_path / "dev2.csv"))
    with open(out, newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [header, new_row]


def _predictions(work, candidate, rouge_by_id):
    for eval_name in warm_start.DEV_EVAL_DIRS:
        where = os.path.join(warm_start.candidate_dir(str(work), candidate), eval_name)
        os.makedirs(where)
        with open(os.path.join(where, "predictions.jsonl"), "w") as f:
            f.writelines(json.dumps({"id": i, "rougeL": r}) + "\n" for i, r in rouge_by_id.items())


def test_a_candidate_replaces_the_checkpoint_it_continues_only_when_surely_better(tmp_path):
    """Its per-issue ROUGE-L gain on both dev sets, paired by issue: more than two standard errors ships it."""
    _predictions(tmp_path, 14000, {"a": 10.0, "b": 20.0})
    _predictions(tmp_path, 14500, {"a": 11.0, "b": 23.0})
    gain, error = warm_start.paired_gain(str(tmp_path), 14500, 14000)
    # gains 1, 3, 1, 3: mean 2, sample variance 4/3, standard error sqrt(4/3 / 4)
    assert gain == 2.0 and abs(error - (4 / 3 / 4) ** 0.5) < 1e-9
    assert warm_start.surely_better(str(tmp_path), 14500, 14000) == (True, gain, error)
    _predictions(tmp_path, 15000, {"a": 20.0, "b": 11.0})  # gains 10 and -9: mean 0.5, standard error 5.5
    assert warm_start.surely_better(str(tmp_path), 15000, 14000)[0] is False
    assert warm_start.surely_better(str(tmp_path), 14000, 14000) == (False, 0.0, 0.0)


def test_a_run_continues_with_its_checkpoints_hparams_set_and_a_new_model_with_the_default(tmp_path):
    (tmp_path / "ghsumm_model.json").write_text(json.dumps({"hparams_set": "transformer_ghsumm_write_big"}))
    assert warm_start.continued_hparams_set(str(tmp_path)) == "transformer_ghsumm_write_big"
    assert warm_start.continued_hparams_set(None) == warm_start.HPARAMS_SET == "transformer_ghsumm_write"
    shipped = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "warm_start")
    assert warm_start.continued_hparams_set(shipped) == "transformer_ghsumm_write"


def test_a_new_model_must_beat_the_shipped_one_which_is_scored_like_a_candidate(tmp_path):
    """A run that does not continue a checkpoint is compared with the model in --out: that model is scored in
    work/select/shipped-<step> (reused once scored), and None means there is nothing to beat."""
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    assert warm_start.score_incumbent(str(out), [], str(work)) is None  # no checkpoint in out
    (out / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-14000"\n')
    metrics = {"rouge": {"model": {"rougeL": 23.3}}, "collapse": {"most_common_share": 0.002},
               "reading": {"verbatim_span_share": 0.2, "dangling_share": 0.0, "mean_title_words": 5.7}}
    _predictions(work, "shipped 14000", {"a": 10.0, "b": 20.0})
    for eval_name in warm_start.DEV_EVAL_DIRS:
        (work / "select" / "shipped-14000" / eval_name / "metrics.json").write_text(json.dumps(metrics))
    assert warm_start.score_incumbent(str(out), ["dev", "dev2"], str(work)) == "shipped 14000"
    _predictions(work, 3000, {"a": 11.0, "b": 23.0})
    assert warm_start.surely_better(str(work), 3000, "shipped 14000")[0] is True


def test_the_bundled_dev_set_only_grows_the_eval_split():
    """data/sample/github_issues_dev.csv (the pipeline's default data adds it): every row is in the eval split by
    the same id hash as preprocess's, none is a row of the bundled sample, none repeats."""
    import csv
    from data.project import DEV_CSV
    from data.readers import kaggle_url
    from data.records import split_of
    with open(DEV_CSV, newline="", encoding="utf-8") as f:
        urls = [row["issue_url"] for row in csv.DictReader(f)]
    assert len(urls) == len(set(urls)) == 792
    assert not warm_start.bundled_urls() & set(urls)
    assert all(split_of(kaggle_url(u), 10.0) == "eval" for u in urls)


def test_a_left_out_source_is_not_read(tmp_path, monkeypatch):
    read = []
    monkeypatch.setattr(warm_start, "_preprocess", lambda inputs, data_dir, *a, **k: read.append(inputs))
    monkeypatch.setattr(warm_start, "_preprocessed", lambda data_dir: False)
    monkeypatch.setattr(warm_start.quality, "vocabulary", lambda data_dir: "vocab")
    monkeypatch.setattr(warm_start, "oversample_issues", lambda *a: None)
    monkeypatch.setattr(warm_start, "without_bundled_sample", lambda source, out: out)
    warm_start.prepare_data("/shared", str(tmp_path), "vocab", leave_out=("nlbse24/issues_train.csv",))
    everything = [p for inputs in read for p in inputs]
    assert "/shared/nlbse24/issues_train.csv" not in everything
    assert "/shared/jira_storypoint_choetkiertikul/*.csv" in everything

def test_an_unknown_source_to_leave_out_is_refused(capsys):
    with pytest.raises(SystemExit) as refused:
        warm_start.main(["--leave_out", "nlbse24/other.csv"])
    assert refused.value.code == 2 and "invalid choice: 'nlbse24/other.csv'" in capsys.readouterr().err
