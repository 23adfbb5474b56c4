"""benchmarks/adaptation.py's sets, on a tiny fake ../shared/data (a Jira story-point file and an nlbse24 file, rows
out of time order): only the issues of the shipped model's eval split, each repository's earlier half "new" and its
later half "later", --max_new / --max_later picked evenly in time order, junk = the new issues with their titles
shuffled. Pure Python, seconds (the benchmark itself, ~30 min, is `make adapt`)."""
import csv
import datetime
import json
import random

import pytest

from benchmarks import adaptation
from data import readers
from data.records import split_of


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    (root / "jira_storypoint_choetkiertikul").mkdir()
    (root / "nlbse24").mkdir()
    keys = list(range(1, 301))
    random.Random(1).shuffle(keys)
    with open(root / "jira_storypoint_choetkiertikul" / "abc.csv", "w", newline="", encoding="utf-8") as f:
        rows = csv.writer(f)
        rows.writerow(["issuekey", "title", "description", "storypoint"])
        rows.writerows([["ABC-%d" % k, "Jira title %d" % k, "Jira body %d" % k, 1] for k in keys])
    days = list(range(300))
    random.Random(2).shuffle(days)
    with open(root / "nlbse24" / "issues_train.csv", "w", newline="", encoding="utf-8") as f:
        rows = csv.writer(f)
        rows.writerow(["repo", "created_at", "label", "title", "body"])
        rows.writerows([["o/r", str(datetime.datetime(2023, 1, 1) + datetime.timedelta(days=d)), "bug",
                         "Issue title %d" % d, "Issue body %d" % d] for d in days])
    return str(root)


def _number(issue):
    return int(issue.title.rsplit(" ", 1)[1])  # the key's number or the day, written into every title


def test_unseen_issues_are_the_eval_split_in_time_order(shared):
    by_repo = adaptation.unseen_issues(shared)
    assert sorted(by_repo) == ["ABC", "o/r"]
    for issues in by_repo.values():
        assert len(issues) > 10 and all(split_of(i.id, adaptation.WARM_START_EVAL_PERCENT) == "eval" for i in issues)
        assert [_number(i) for i in issues] == sorted(_number(i) for i in issues)
    every = [i for i in readers.read_issues(shared + "/jira_storypoint_choetkiertikul/abc.csv")]
    assert len(by_repo["ABC"]) == sum(split_of(i.id, adaptation.WARM_START_EVAL_PERCENT) == "eval" for i in every)


def test_each_repository_splits_in_two_halves_and_max_picks_evenly(shared):
    by_repo = adaptation.unseen_issues(shared)
    new, later = adaptation.split_by_time(by_repo)
    assert len(new) == sum(len(v) // 2 for v in by_repo.values()) and len(new) + len(later) == sum(
        map(len, by_repo.values()))
    for repo, issues in by_repo.items():
        earlier, after = [i for i in new if i.repo == repo], [i for i in later if i.repo == repo]
        assert earlier + after == issues and len(earlier) == len(issues) // 2

    few_new, few_later = adaptation.split_by_time(by_repo, max_new=10, max_later=7)
    assert len(few_new) == 10 and len(few_later) == 7
    assert {i.repo for i in few_new} == {i.repo for i in few_later} == set(by_repo)  # every repository keeps a share
    assert all(i in new for i in few_new) and all(i in later for i in few_later)
    for repo in by_repo:
        picked = [_number(i) for i in few_new if i.repo == repo]
        assert picked == sorted(picked)
    assert adaptation.split_by_time(by_repo, max_new=10_000) == (new, later)


def test_make_sets_writes_new_later_and_junk(shared, tmp_path):
    sets = adaptation.make_sets(shared, str(tmp_path), max_new=12, max_later=9)
    assert (sets["new"], sets["later"]) == (12, 9) and json.loads((tmp_path / "sets.json").read_text()) == sets

    def read(name):
        return list(readers.read_issues(sets["files"][name]))
    new, later, junk = read("new"), read("later"), read("junk")
    assert (len(new), len(later), len(junk)) == (12, 9, 12)
    assert [i.body for i in junk] == [i.body for i in new] and [i.id for i in junk] == [i.id for i in new]
    assert sorted(i.title for i in junk) == sorted(i.title for i in new)
    assert [i.title for i in junk] != [i.title for i in new]
    assert {i.repo for i in new} == {"adaptation/ABC", "o/r"}  # repository names without an owner get one


def test_unseen_sets_take_every_issue_of_the_left_out_sources(shared, tmp_path, monkeypatch):
    monkeypatch.setattr(adaptation, "UNSEEN_SOURCES", ("nlbse24/issues_train.csv",))
    by_repo = adaptation.unseen_issues(shared, adaptation.UNSEEN_SOURCES, eval_split_only=False)
    assert list(by_repo) == ["o/r"] and [_number(i) for i in by_repo["o/r"]] == list(range(300))
    sets = adaptation.make_sets(shared, str(tmp_path), unseen=True)
    assert (sets["new"], sets["later"], sets["repositories"]) == (150, 150, {"o/r": 300})


def test_the_unseen_base_is_continued_for_the_pipelines_steps(tmp_path):
    from trainer.continuation import PIPELINE_MORE_STEPS as MORE_STEPS
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-9000"\n')
    (tmp_path / "ghsumm_model.json").write_text(json.dumps({"hparams_set": "transformer_ghsumm_write"}))
    assert adaptation.warm_start_args(str(tmp_path)) == [
        "--checkpoint_dir", str(tmp_path), "--train_steps", 9000 + MORE_STEPS, "--hparams_set",
        "transformer_ghsumm_write"]
    assert adaptation.warm_start_args(None) == []
