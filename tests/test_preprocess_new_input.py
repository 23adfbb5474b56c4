"""data/preprocess.py --new_input: a retrain's new issues as a separate, weighted input with their own held-out part,
on Beam's real local runner. Two runs, shared by the tests:

  mixed run  200 sample rows as the old input (Kaggle CSV); 100 further rows + 2 of the old ones (one in the old
             eval split) as the new input (GitHub REST JSON Lines); --new_weight 3 --new_eval_percent 30
  since run  dated old and new JSON Lines with --since, into the mixed run's vocabulary
"""
import collections
import json

import pytest

from data import clean, contract, preprocess, readers
from data.records import Issue, content_key, split_of
from tests.test_preprocess import (DEV_SHARDS, TRAIN_SHARDS, VOCAB, created_at, decoded, jsonl_lines, read_records,
                                   rest_issue, run_job, write_jsonl)

WEIGHT, NEW_EVAL_PERCENT, EVAL_PERCENT = 3, 30.0, 10.0


def unique_issues(paths, since=None) -> dict:
    """{content key: Issue} of the files' valid issues, the smallest id of each group of exact duplicates."""
    groups = collections.defaultdict(list)
    for path in paths:
        for row in readers.read_issues(str(path), since=since):
            if isinstance(row, Issue):
                row = clean.clean_issue(row)
                if isinstance(row, Issue):
                    groups[content_key(row)].append(row)
    return {key: min(g, key=lambda i: i.id) for key, g in groups.items()}


def expected(old_paths, new_paths, since=None) -> dict:
    """What the job must produce: an issue in both inputs counts as new; each input split with its own percent."""
    new = unique_issues(new_paths, since)
    old = {k: i for k, i in unique_issues(old_paths, since).items() if k not in new}
    return {"old_train": [i for i in old.values() if split_of(i.id, EVAL_PERCENT) == "train"],
            "old_eval": [i for i in old.values() if split_of(i.id, EVAL_PERCENT) == "eval"],
            "new_train": [i for i in new.values() if split_of(i.id, NEW_EVAL_PERCENT) == "train"],
            "new_held_out": [i for i in new.values() if split_of(i.id, NEW_EVAL_PERCENT) == "eval"],
            "both": set(new) & set(unique_issues(old_paths, since))}


def pairs(issues, times=1) -> collections.Counter:
    return collections.Counter({(i.title, i.body): times for i in issues})


@pytest.fixture(scope="module")
def shared_rows(sample_rows):
    """Two old rows the new input has too: one the old split puts in eval, one in train."""
    old = sample_rows[:200]
    return [next(r for r in old if split_of(r["url"], EVAL_PERCENT) == split) for split in ("eval", "train")]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, sample_rows, write_kaggle_csv, shared_rows):
    d = tmp_path_factory.mktemp("new_input")
    old = write_kaggle_csv(d / "old.csv", sample_rows[:200])
    new = write_jsonl(d / "new.jsonl", [rest_issue(r, i) for i, r in enumerate(sample_rows[200:300] + shared_rows)])
    out = d / "data"
    stats = run_job("--input", old, "--new_input", new, "--output_dir", out, "--new_weight", WEIGHT,
                    "--new_eval_percent", NEW_EVAL_PERCENT)
    return out, stats, expected([old], [new]), new


def test_new_eval_issues_are_exactly_the_new_issues_held_out_part(mixed_run):
    out, stats, want, _ = mixed_run
    held_out = jsonl_lines(out / contract.NEW_EVAL_ISSUES_FILE)
    assert sorted(e["id"] for e in held_out) == sorted(i.id for i in want["new_held_out"])
    assert len(held_out) == stats["new"]["held_out"] > 0
    by_id = {i.id: i for i in want["new_held_out"]}
    for e in held_out:  # eval_issues.jsonl's row format
        i = by_id[e["id"]]
        assert e == {"id": i.id, "url": i.url, "repo": i.repo, "title": i.title, "body": i.body,
                     "created_at": i.created_at}


def test_eval_issues_are_the_old_inputs_eval_split_alone(mixed_run, shared_rows):
    out, _, want, _ = mixed_run
    evals = {e["id"] for e in jsonl_lines(out / contract.EVAL_ISSUES_FILE)}
    assert evals == {i.id for i in want["old_eval"]} and evals
    new_ids = {i.id for i in want["new_train"] + want["new_held_out"]}
    assert not evals & new_ids
    assert shared_rows[0]["url"] not in evals  # in the old eval split, but also new: new it is


def test_train_records_hold_each_new_train_example_weight_times(mixed_run):
    out, stats, want, _ = mixed_run
    train = collections.Counter(decoded(out, TRAIN_SHARDS))
    assert train == pairs(want["old_train"]) + pairs(want["new_train"], WEIGHT)
    assert sum(train.values()) == len(read_records(out / s for s in TRAIN_SHARDS)) == stats["new"]["train_records"]
    # the dev records: the old eval split and the new held-out part, once each (only T2T's loss reads them)
    assert collections.Counter(decoded(out, DEV_SHARDS)) == pairs(want["old_eval"]) + pairs(want["new_held_out"])


def test_an_issue_in_old_and_new_inputs_counts_once_as_new(mixed_run, shared_rows):
    out, stats, want, _ = mixed_run
    shared = {(clean.clean_title(r["title"]), clean.clean_body(r["body"])) for r in shared_rows}
    assert len(want["both"]) == stats["new"]["also_in_old"] >= len(shared)  # (the sample repeats a few issues too)
    weights = {p: n for p, n in collections.Counter(decoded(out, TRAIN_SHARDS + DEV_SHARDS)).items() if p in shared}
    expected_weights = {(i.title, i.body): WEIGHT for i in want["new_train"]}
    expected_weights.update({(i.title, i.body): 1 for i in want["new_held_out"]})
    assert weights == {p: expected_weights[p] for p in shared}


def test_stats_count_the_new_issues(mixed_run, shared_rows):
    out, stats, want, new = mixed_run
    assert stats == json.loads((out / "stats.json").read_text())
    assert stats["balanced"] is True
    n = stats["new"]
    assert n["inputs"] == {str(new): "github_jsonl"} and str(new) not in stats["inputs"]
    assert n["read"] == 100 + len(shared_rows)
    assert n["unique"] == len(want["new_train"]) + len(want["new_held_out"])
    assert (n["train"], n["held_out"], n["weight"]) == (len(want["new_train"]), len(want["new_held_out"]), WEIGHT)
    steps = stats["steps"]  # each example once, however many times written
    assert steps["train"] == len(want["old_train"]) + n["train"]
    assert steps["eval"] == len(want["old_eval"]) + n["held_out"]
    assert stats["options"]["new_weight"] == WEIGHT and stats["options"]["new_eval_percent"] == NEW_EVAL_PERCENT
    assert f"held out {n['held_out']}" in (out / "stats.txt").read_text()


@pytest.fixture(scope="module")
def since_run(tmp_path_factory, sample_rows, mixed_run):
    d = tmp_path_factory.mktemp("new_input_since")
    old = write_jsonl(d / "old.jsonl", [rest_issue(r, i) for i, r in enumerate(sample_rows[600:640])])
    new = write_jsonl(d / "new.jsonl", [rest_issue(r, i) for i, r in enumerate(sample_rows[640:680])])
    since = "2017-05-01"
    stats = run_job("--input", old, "--new_input", new, "--output_dir", d / "data", "--since", since,
                    "--new_weight", WEIGHT, "--new_eval_percent", NEW_EVAL_PERCENT,
                    "--vocab_file", mixed_run[0] / VOCAB)
    return stats, expected([old], [new], since=readers.normalize_date(since))


def test_since_applies_to_the_new_input_too(since_run):
    stats, want = since_run
    kept = sum(created_at(i) >= "2017-05-01T00:00:00Z" for i in range(40))
    assert 0 < kept < 40
    assert stats["skipped_by_reason"] == {"before_since": 2 * (40 - kept)}
    assert stats["new"]["read"] == kept
    assert stats["new"]["train"] + stats["new"]["held_out"] == len(want["new_train"]) + len(want["new_held_out"])
    assert stats["balanced"] is True


def test_a_run_without_new_input_writes_no_new_eval_issues(tmp_path, sample_rows, write_kaggle_csv, mixed_run):
    out = tmp_path / "data"
    out.mkdir()
    (out / contract.NEW_EVAL_ISSUES_FILE).write_text("left by an earlier retrain\n")
    old = write_kaggle_csv(tmp_path / "old.csv", sample_rows[:60])
    stats = run_job("--input", old, "--output_dir", out, "--vocab_file", mixed_run[0] / VOCAB)
    assert not (out / contract.NEW_EVAL_ISSUES_FILE).exists()
    assert "new" not in stats and "new_weight" not in stats["options"]


@pytest.mark.parametrize("argv,message", [
    (["--new_weight", "0"], "--new_weight must be at least 1"),
    (["--new_eval_percent", "100"], "--new_eval_percent must be in [0, 100)"),
])
def test_bad_new_options_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        preprocess.parse_args(["--input", "x.csv", "--new_input", "y.csv", "--output_dir", str(tmp_path)] + argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_new_options_default_to_weight_2_and_20_percent_held_out(tmp_path):
    args, _ = preprocess.parse_args(["--input", "x.csv", "--new_input", "y.csv", "--new_input", "z*.jsonl",
                                     "--output_dir", str(tmp_path)])
    assert args.new_input == ["y.csv", "z*.jsonl"] and args.new_weight == 2 and args.new_eval_percent == 20.0
