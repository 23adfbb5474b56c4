"""data/preprocess.py: the Beam job on Beam's real local runner, on slices of the bundled sample with bad rows and a
duplicate mixed in. Three runs, each shared by the tests that look at its output:

  first run     300 sample rows (Kaggle CSV, with injected bad rows and a duplicate) + 20 more as GitHub REST
                JSON Lines (with a pull request, a malformed line, a blank line); builds the vocabulary
  superset run  the same files + 200 further rows, with --vocab_file from the first run
  since run     dated JSON Lines + undated CSV through main() with --since, --eval_percent 0, --train_shards 2
                into a directory holding a previous run's leftovers
"""
import collections
import contextlib
import csv
import datetime as dt
import io
import json
import logging
import os
import tempfile

import pytest

from data import clean, contract, preprocess, readers
from data.records import Issue, Reject, Skip, content_key, split_of

PROBLEM = "github_issue_summarization"
VOCAB = f"vocab.{PROBLEM}.8192.subwords"
TRAIN_SHARDS = [f"{PROBLEM}-train-{i:05d}-of-00010" for i in range(10)]
DEV_SHARDS = [f"{PROBLEM}-dev-00000-of-00001"]


# ---------------------------------------------------------------- inputs built from real sample rows

def csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def created_at(i: int) -> str:
    return (dt.datetime(2017, 1, 2, 9, 30) + dt.timedelta(days=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rest_issue(row, i: int, **changes) -> dict:
    owner, name, _, number = row["url"].split("/")[3:7]
    obj = {"url": f"https://api.github.com/repos/{owner}/{name}/issues/{number}",
           "repository_url": f"https://api.github.com/repos/{owner}/{name}", "html_url": row["url"],
           "number": int(number), "title": row["title"], "body": row["body"], "state": "open",
           "labels": [{"name": "bug"}], "created_at": created_at(i)}
    obj.update(changes)
    return obj


def write_jsonl(path, items):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in items), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bad_rows(sample_rows):
    """Raw CSV lines that must each end up in the dead-letter file, by the reason they must carry."""
    def find(pred):
        return next(r for r in sample_rows if pred(r))
    spam_title = find(lambda r: r["title"].startswith("issue 1639: issue 1637:"))
    image_only = find(lambda r: r["title"] == "bad number of bins")
    donor = sample_rows[1000]
    return {
        "missing_columns": csv_line([donor["index"], donor["issue_url"], donor["title"]]),
        "blank_row": ",,,\n",
        "empty_title": csv_line(["9000002", '"https://github.com/o/r/issues/9000002"', "   ", donor["body"]]),
        "empty_body": csv_line([image_only["index"], image_only["issue_url"], image_only["title"],
                                image_only["body"]]),
        "title_too_long": csv_line([spam_title["index"], spam_title["issue_url"], spam_title["title"],
                                    spam_title["body"]]),
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_rows, kaggle_csv_text, bad_rows):
    d = tmp_path_factory.mktemp("inputs")
    first = sample_rows[0]
    duplicate = csv_line(["9000001", '"https://github.com/citra-emu/citra/issues/999999"', first["title"],
                          first["body"]])
    nul_row, latin1_row = sample_rows[1001], sample_rows[1002]
    text = kaggle_csv_text(sample_rows[:300], extra_lines=[
        duplicate, *bad_rows.values(),
        csv_line([nul_row["index"], nul_row["issue_url"], nul_row["title"], "@NUL@" + nul_row["body"]]),
        csv_line([latin1_row["index"], latin1_row["issue_url"], latin1_row["title"], latin1_row["body"] + " caf@BAD@"]),
    ])
    kaggle = d / "issues.csv"
    kaggle.write_bytes(text.encode().replace(b"@NUL@", b"\x00").replace(b"@BAD@", b"\xe9"))

    jsonl_rows = sample_rows[300:320]
    broken = json.dumps(rest_issue(jsonl_rows[5], 5))[:150]
    owner, name, _, number = jsonl_rows[7]["url"].split("/")[3:7]
    pull = rest_issue(jsonl_rows[7], 7, html_url=f"https://github.com/{owner}/{name}/pull/{number}",
                      pull_request={"url": f"https://api.github.com/repos/{owner}/{name}/pulls/{number}"})
    items = [rest_issue(r, i) for i, r in enumerate(jsonl_rows) if i not in (5, 7)]
    items[3:3] = [broken, "", pull]
    jsonl = write_jsonl(d / "issues.jsonl", items)

    extra = d / "more_issues.csv"
    extra.write_text(kaggle_csv_text(sample_rows[320:520]), encoding="utf-8", newline="")

    dated = write_jsonl(d / "dated.jsonl", [rest_issue(r, i) for i, r in enumerate(sample_rows[600:640])])
    undated = d / "undated.csv"
    undated.write_text(kaggle_csv_text(sample_rows[640:650]), encoding="utf-8", newline="")
    return {"kaggle": kaggle, "jsonl": jsonl, "extra": extra, "dated": dated, "undated": undated,
            "broken_json": broken}


def expected_result(paths, since=None, eval_percent=10.0):
    """What the job must produce, from the readers and cleaning rules applied one row at a time."""
    read_rows, rejects, skips, valid = 0, collections.Counter(), collections.Counter(), []
    for path in paths:
        for row in readers.read_issues(str(path), since=since):
            read_rows += 1
            if isinstance(row, Issue):
                row = clean.clean_issue(row)
            if isinstance(row, Reject):
                rejects[row.reason] += 1
            elif isinstance(row, Skip):
                skips[row.reason] += 1
            else:
                valid.append(row)
    groups = collections.defaultdict(list)
    for issue in valid:
        groups[content_key(issue)].append(issue)
    unique = {min(g, key=lambda i: i.id).id: min(g, key=lambda i: i.id) for g in groups.values()}
    return {"read_rows": read_rows, "rejects": rejects, "skips": skips, "valid": len(valid),
            "duplicates": len(valid) - len(unique), "unique": unique,
            "eval_ids": {i for i in unique if split_of(i, eval_percent) == "eval"}}


# ---------------------------------------------------------------- running the job

@contextlib.contextmanager
def logging_restored():
    """main() reconfigures the root logger (basicConfig(force=True)); give pytest its handlers back."""
    root, beam_logger = logging.getLogger(), logging.getLogger("apache_beam")
    handlers, root_level, beam_level = root.handlers[:], root.level, beam_logger.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        beam_logger.setLevel(beam_level)


def run_job(*argv):
    with logging_restored():
        return preprocess.run([str(a) for a in argv])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, inputs):
    out = tmp_path_factory.mktemp("first_run")
    stats = run_job("--input", inputs["kaggle"], "--input", inputs["jsonl"], "--output_dir", out)
    return out, stats, expected_result([inputs["kaggle"], inputs["jsonl"]])


@pytest.fixture(scope="module")
def superset_run(tmp_path_factory, inputs, first_run):
    out = tmp_path_factory.mktemp("superset_run")
    stats = run_job("--input", inputs["kaggle"], "--input", inputs["jsonl"], "--input", inputs["extra"],
                    "--output_dir", out, "--vocab_file", first_run[0] / VOCAB)
    return out, stats, expected_result([inputs["kaggle"], inputs["jsonl"], inputs["extra"]])


@pytest.fixture(scope="module")
def since_run(tmp_path_factory, inputs):
    out = tmp_path_factory.mktemp("since_run")
    for leftover in (f"{PROBLEM}-train-00011-of-00012", f"{PROBLEM}-dev-00000-of-00003", "stats.json",
                     "vocab.github_issue_summarization.32768.subwords"):
        (out / leftover).write_text("left by an earlier run")
    (out / "notes.txt").write_text("not the job's")
    since = "2017-05-01"
    printed = io.StringIO()
    with logging_restored(), contextlib.redirect_stdout(printed):
        rc = preprocess.main(["--input", str(inputs["dated"]), "--input", str(inputs["undated"]),
                              "--output_dir", str(out), "--since", since, "--eval_percent", "0",
                              "--train_shards", "2"])
    printed = printed.getvalue()
    stats = json.loads((out / "stats.json").read_text())
    return out, rc, printed, stats, expected_result([inputs["dated"], inputs["undated"]], since=since,
                                                    eval_percent=0)


# ---------------------------------------------------------------- reading the output

def read_records(paths):
    import tensorflow as tf
    records = []
    for path in paths:
        for raw in tf.data.TFRecordDataset(str(path)):
            records.append(tf.train.Example.FromString(raw.numpy()))
    return records


def load_vocab(path):
    from tensor2tensor.data_generators import text_encoder
    return text_encoder.SubwordTextEncoder(str(path))


def decoded(out, shards):
    """(title, body) of every record in those shards, decoded with the output's vocabulary."""
    encoder = load_vocab(out / VOCAB)
    pairs = []
    for example in read_records(out / s for s in shards):
        f = example.features.feature
        pairs.append((encoder.decode(list(f["targets"].int64_list.value)[:-1]),
                      encoder.decode(list(f["inputs"].int64_list.value)[:-1])))
    return pairs


def jsonl_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- first run: layout and records

def test_output_has_t2ts_layout(first_run):
    out, _, _ = first_run
    assert sorted(os.listdir(out)) == sorted([VOCAB, *TRAIN_SHARDS, *DEV_SHARDS, "eval_issues.jsonl",
                                              "dead_letter.jsonl", "stats.json", "stats.txt"])


def test_records_are_examples_of_int64_inputs_and_targets_ending_in_eos(first_run):
    out, _, _ = first_run
    vocab_size = load_vocab(out / VOCAB).vocab_size
    records = read_records(out / s for s in TRAIN_SHARDS + DEV_SHARDS)
    assert records
    for example in records:
        f = example.features.feature
        assert set(f) == {"inputs", "targets"}
        for name in ("inputs", "targets"):
            assert f[name].WhichOneof("kind") == "int64_list"
            ids = list(f[name].int64_list.value)
            assert len(ids) >= 2 and ids[-1] == contract.EOS_ID == 1
            assert all(1 < i < vocab_size for i in ids[:-1])  # no padding or EOS inside


def test_records_decode_to_the_cleaned_unique_issues(first_run):
    out, _, expected = first_run
    got = collections.Counter(decoded(out, TRAIN_SHARDS + DEV_SHARDS))
    assert got == collections.Counter((i.title, i.body) for i in expected["unique"].values())


def test_records_keep_the_text_of_rows_with_nul_bytes_and_bad_utf8(first_run, sample_rows):
    out, _, _ = first_run
    bodies = {body for _, body in decoded(out, TRAIN_SHARDS + DEV_SHARDS)}
    assert clean.clean_body(sample_rows[1001]["body"]) in bodies
    assert clean.clean_body(sample_rows[1002]["body"] + " caf\ufffd") in bodies


def test_dev_records_are_the_eval_issues_chosen_by_id_hash(first_run):
    out, stats, expected = first_run
    eval_issues = jsonl_lines(out / "eval_issues.jsonl")
    assert {e["id"] for e in eval_issues} == expected["eval_ids"]
    assert len(eval_issues) == stats["steps"]["eval"] > 0
    for e in eval_issues:
        issue = expected["unique"][e["id"]]
        assert e == {"id": issue.id, "url": issue.url, "repo": issue.repo, "title": issue.title, "body": issue.body,
                     "created_at": issue.created_at}
    assert collections.Counter(decoded(out, DEV_SHARDS)) == collections.Counter(
        (e["title"], e["body"]) for e in eval_issues)


# ---------------------------------------------------------------- first run: dead letters and statistics

def test_dead_letter_file_has_every_bad_row_with_its_reason(first_run, bad_rows, inputs):
    out, _, expected = first_run
    dead = jsonl_lines(out / "dead_letter.jsonl")
    assert all(set(d) == {"reason", "source", "row", "raw", "detail"} for d in dead)
    assert collections.Counter(d["reason"] for d in dead) == expected["rejects"]
    reasons = {d["reason"] for d in dead}
    assert set(bad_rows) | {"malformed_json"} <= reasons

    by_reason = collections.defaultdict(list)
    for d in dead:
        by_reason[d["reason"]].append(d)
    (malformed,) = by_reason["malformed_json"]
    assert (malformed["source"], malformed["row"], malformed["raw"]) == ("issues.jsonl", 4,
                                                                         inputs["broken_json"] + "\n")
    (missing,) = by_reason["missing_columns"]
    assert missing["source"] == "issues.csv" and missing["row"] == 302 and missing["detail"] == "missing body"
    assert next(csv.reader([bad_rows["missing_columns"]]))[2] in missing["raw"]
    assert any("issue 1639: issue 1637:" in d["raw"] for d in by_reason["title_too_long"])
    assert any("bad number of bins" in d["raw"] for d in by_reason["empty_body"])


def test_stats_reconcile_and_count_duplicates(first_run, inputs):
    out, stats, expected = first_run
    assert stats == json.loads((out / "stats.json").read_text())
    assert stats["balanced"] is True
    steps = stats["steps"]
    assert steps["read_rows"] == expected["read_rows"] == 300 + 8 + 20  # CSV records; JSON lines but the blank one
    assert steps["skipped"] == 1 and stats["skipped_by_reason"] == {"pull_request": 1}
    assert stats["rejected_by_reason"] == dict(expected["rejects"])
    assert steps["valid"] == expected["valid"]
    assert steps["duplicates"] == expected["duplicates"] >= 1 + 2  # the injected copy + the sample's own repeats
    assert steps["unique"] == len(expected["unique"]) == steps["train"] + steps["eval"]
    assert steps["train"] + steps["eval"] == len(read_records(out / s for s in TRAIN_SHARDS + DEV_SHARDS))
    assert stats["inputs"] == {str(inputs["kaggle"]): "kaggle", str(inputs["jsonl"]): "github_jsonl"}
    assert "counts reconcile: yes" in (out / "stats.txt").read_text()


def test_duplicates_keep_the_issue_with_the_smallest_id(first_run):
    out, _, expected = first_run
    ids = set(expected["unique"])
    assert "https://github.com/citra-emu/citra/issues/2736" in ids
    assert "https://github.com/citra-emu/citra/issues/999999" not in ids


def test_built_vocabulary_is_described_in_the_stats(first_run):
    out, stats, _ = first_run
    v = stats["vocabulary"]
    lines = (out / VOCAB).read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["'<pad>_'", "'<EOS>_'"]
    assert v["file"] == VOCAB and v["size"] == len(lines) == load_vocab(out / VOCAB).vocab_size
    assert v["built"] is True and v["tokens"] > 0 and 0 <= v["char_fallback_tokens"] <= v["tokens"]


# ---------------------------------------------------------------- superset run: split stability, vocabulary reuse

def test_rerun_on_more_data_keeps_every_old_eval_issue_in_eval(first_run, superset_run):
    old_out, _, old_expected = first_run
    new_out, new_stats, new_expected = superset_run
    old_eval = {e["id"] for e in jsonl_lines(old_out / "eval_issues.jsonl")}
    new_eval = {e["id"] for e in jsonl_lines(new_out / "eval_issues.jsonl")}
    assert old_eval < new_eval
    old_train = set(old_expected["unique"]) - old_eval
    assert not old_train & new_eval
    assert new_eval == new_expected["eval_ids"] and new_stats["balanced"] is True


def test_vocab_file_is_reused_unchanged_and_its_coverage_reported(first_run, superset_run):
    old_out, _, _ = first_run
    new_out, stats, expected = superset_run
    assert (new_out / VOCAB).read_bytes() == (old_out / VOCAB).read_bytes()
    v = stats["vocabulary"]
    assert v["built"] is False and v["source"] == str(old_out / VOCAB)
    assert 0 < v["char_fallback_tokens"] <= v["tokens"]  # 200 issues the vocabulary never saw
    assert v["char_fallback_percent"] == round(100.0 * v["char_fallback_tokens"] / v["tokens"], 2)
    got = collections.Counter(decoded(new_out, TRAIN_SHARDS + DEV_SHARDS))
    assert got == collections.Counter((i.title, i.body) for i in expected["unique"].values())


# ---------------------------------------------------------------- since run (through main())

def test_main_succeeds_and_prints_the_summary(since_run):
    _, rc, printed, _, _ = since_run
    assert rc == 0
    assert "counts reconcile: yes" in printed and "dead_letter.jsonl" in printed


def test_since_keeps_only_issues_created_on_or_after_it(since_run, sample_rows):
    out, _, _, stats, expected = since_run
    kept_rows = [r for i, r in enumerate(sample_rows[600:640]) if created_at(i) >= "2017-05-01T00:00:00Z"]
    assert 0 < len(kept_rows) < 40
    assert stats["skipped_by_reason"] == {"before_since": 40 - len(kept_rows), "no_created_at": 10}
    assert stats["options"]["since"] == "2017-05-01T00:00:00Z"
    assert stats["balanced"] is True
    shards = [f"{PROBLEM}-train-00000-of-00002", f"{PROBLEM}-train-00001-of-00002"]
    titles = {title for title, _ in decoded(out, shards)}
    assert titles == {i.title for i in expected["unique"].values()}
    assert titles <= {clean.clean_title(r["title"]) for r in kept_rows}


def test_eval_percent_zero_puts_everything_in_train(since_run):
    out, _, _, stats, expected = since_run
    assert stats["steps"]["eval"] == 0 and stats["steps"]["train"] == len(expected["unique"]) > 0
    assert read_records([out / f"{PROBLEM}-dev-00000-of-00001"]) == []
    assert (out / "eval_issues.jsonl").read_text() == ""
    assert "eval_input_ids" not in stats["lengths"] and "train_input_ids" in stats["lengths"]


def test_a_rerun_replaces_the_previous_outputs(since_run):
    out, _, _, stats, _ = since_run
    assert sorted(os.listdir(out)) == sorted([VOCAB, f"{PROBLEM}-train-00000-of-00002",
                                              f"{PROBLEM}-train-00001-of-00002", *DEV_SHARDS, "eval_issues.jsonl",
                                              "dead_letter.jsonl", "stats.json", "stats.txt", "notes.txt"])
    assert stats["options"]["train_shards"] == 2


# ---------------------------------------------------------------- errors before the job starts

def call_main(capsys, *argv):
    with logging_restored():
        rc = preprocess.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def test_missing_input_exits_2_naming_the_pattern(tmp_path, capsys):
    pattern = tmp_path / "dumps" / "*.csv"
    rc, err = call_main(capsys, "--input", pattern, "--output_dir", tmp_path / "out")
    assert rc == 2 and f"error: no input file matches '{pattern}'" in err
    assert not (tmp_path / "out").exists()


def test_missing_input_file_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "github_issues.csv"
    rc, err = call_main(capsys, "--input", path, "--output_dir", tmp_path / "out")
    assert rc == 2 and str(path) in err


def test_wrong_format_input_exits_2_naming_the_file_and_leaves_the_output_alone(tmp_path, capsys, inputs):
    png = tmp_path / "screenshot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    out = tmp_path / "out"
    out.mkdir()
    (out / TRAIN_SHARDS[0]).write_text("an earlier run's shard")
    rc, err = call_main(capsys, "--input", inputs["kaggle"], "--input", png, "--output_dir", out)
    assert rc == 2 and f"error: {png}: not a supported issue file" in err
    assert os.listdir(out) == [TRAIN_SHARDS[0]]


def test_missing_vocab_file_exits_2_naming_it(tmp_path, capsys, inputs):
    vocab = tmp_path / "model" / VOCAB
    rc, err = call_main(capsys, "--input", inputs["undated"], "--output_dir", tmp_path / "out", "--vocab_file", vocab)
    assert rc == 2 and f"--vocab_file {vocab} does not exist" in err


def test_vocab_file_inside_the_output_dir_survives_a_rerun(tmp_path, capsys, first_run, inputs):
    out = tmp_path / "data"
    out.mkdir()
    (out / VOCAB).write_bytes((first_run[0] / VOCAB).read_bytes())
    rc, err = call_main(capsys, "--input", inputs["undated"], "--output_dir", out, "--vocab_file", out / VOCAB)
    assert (out / VOCAB).exists(), err
    assert rc == 0, err


@pytest.mark.parametrize("argv,message", [
    (["--eval_percent", "100"], "--eval_percent must be in [0, 100)"),
    (["--since", "last week"], "--since: unrecognized date"),
    (["--format", "xml"], "invalid choice: 'xml'"),
])
def test_bad_options_exit_2_with_a_usage_error(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        preprocess.parse_args(["--input", "x.csv", "--output_dir", str(tmp_path)] + argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_runner_options_go_to_beam_unchanged(tmp_path):
    beam_flags = ["--runner", "DataflowRunner", "--project", "p", "--region", "europe-west1",
                  "--temp_location", "gs://b/tmp", "--flink_master", "localhost:8081"]
    args, beam_args = preprocess.parse_args(["--input", "x.csv", "--output_dir", str(tmp_path)] + beam_flags)
    assert beam_args == beam_flags and args.input == ["x.csv"]
    _, beam_args = preprocess.parse_args(["--input", "x.csv", "--output_dir", str(tmp_path), "--workers", "2"])
    assert beam_args == ["--runner=FnApiRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def test_a_run_without_runner_leaves_nothing_in_the_temp_dir(tmp_path, monkeypatch, inputs):
    # Beam's DirectRunner tried its Prism runner first (a download from GitHub) and left /tmp/beam-temp* each run
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    run_job("--input", inputs["kaggle"], "--output_dir", tmp_path / "out")
    assert list(temp.iterdir()) == []


# ---------------------------------------------------------------- --title_target extract (the copy model's targets)

def test_extract_targets_are_body_spans_in_train_while_eval_keeps_the_real_titles(tmp_path, inputs, first_run):
    out = tmp_path / "extract"
    run_job("--input", inputs["kaggle"], "--output_dir", out, "--vocab_file", first_run[0] / VOCAB,
            "--title_target", "extract")
    train = decoded(out, TRAIN_SHARDS)
    assert len(train) > 200
    for title, body in train:
        assert title in body  # a span of the (cleaned) body: what the copy model learns to write
    bodies = {body: title for title, body in decoded(first_run[0], TRAIN_SHARDS)}
    changed = sum(bodies.get(body) != title for title, body in train)
    assert changed > len(train) / 2  # most real titles are not spans of their bodies
    real = {i["id"]: i["title"] for i in jsonl_lines(first_run[0] / "eval_issues.jsonl")}
    evaluated = jsonl_lines(out / "eval_issues.jsonl")
    assert evaluated and all(real[i["id"]] == i["title"] for i in evaluated)  # scored against the real titles
    assert json.loads((out / "stats.json").read_text())["options"]["title_target"] == "extract"


def test_importing_the_preprocessing_job_prints_no_beam_warning():
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", "import data.preprocess"], capture_output=True, text=True,
                          cwd=repo, check=True)
    assert "apitools" not in done.stderr, done.stderr  # Beam's BigQuery client, which this project does not use
