"""data/pseudo_titles.py: the copy lessons of the warm start's curriculum, on real sample rows."""
import json

from data import clean, readers
from data.pseudo_titles import best_window, lead_title, main, pseudo_title
from data.records import Issue, split_of


def test_lead_title_is_the_first_sentence_cut_to_its_word_limit():
    assert lead_title("the app crashes on start. it worked yesterday.") == "the app crashes on start."
    assert lead_title("hi! the button does nothing when clicked.") == "hi! the button does nothing when clicked."
    long = " ".join(f"w{i}" for i in range(30))
    assert lead_title(long, max_words=5) == "w0 w1 w2 w3 w4"


def test_best_window_finds_the_title_inside_the_body():
    body = "hello team, when i run the installer on windows 10 it fails with error 5. any idea?"
    window, f1 = best_window(body, "Installer fails on Windows 10")
    assert window == "installer on windows 10 it fails"  # title-sized: at least MIN_WINDOW (6) words
    assert abs(f1 - 2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5)) < 1e-9  # LCS 4 of 6 window words, 5 title words
    window, f1 = best_window(body, "Installer fails on Windows 10", min_window=2)
    assert window == "installer on windows 10" and abs(f1 - 2 * 1.0 * 0.8 / 1.8) < 1e-9
    assert best_window("installer fails", "installer fails")[0] == "installer fails"  # a short body is one window
    assert best_window("nothing in common here", "completely different words") == ("", 0.0)


def test_best_window_only_looks_at_the_start_the_model_reads():
    body = " ".join(["filler"] * 50) + " installer fails"
    assert best_window(body, "installer fails", scope=40, min_window=2) == ("", 0.0)
    assert best_window(body, "installer fails", scope=60, min_window=2)[0] == "installer fails"


def test_extract_takes_the_lead_when_no_window_matches_the_title():
    issue = Issue(id="x", title="crash on start", body="completely unrelated words in this body. and more here")
    assert pseudo_title("extract", issue) == "completely unrelated words in this body."
    assert pseudo_title("lead", issue) == "completely unrelated words in this body."


def test_writes_only_the_train_split_in_the_github_shape_with_the_same_ids(tmp_path, sample_csv, capsys):
    out = tmp_path / "pseudo"
    assert main(["--task", "lead", "--input", str(sample_csv), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "lead.jsonl").read_text().splitlines()]
    issues = [i for i in readers.read_issues(str(sample_csv)) if isinstance(i, Issue)]
    cleaned = {i.id: c for i in issues if isinstance(c := clean.clean_issue(i), Issue)}
    train_ids = {i for i in cleaned if split_of(i, 10.0) == "train"}
    assert {r["html_url"] for r in rows} == train_ids
    assert len(train_ids) > 1500
    for row in rows[:50]:
        assert row["body"] == cleaned[row["html_url"]].body
        assert row["title"] == lead_title(row["body"])
    # every row is accounted for: the rejects are in the dead-letter file with their reason
    dead = [json.loads(line) for line in (out / "lead.dead_letter.jsonl").read_text().splitlines()]
    assert len(dead) == len(issues) - len(cleaned) and all(d["reason"] for d in dead)
    assert "wrote %d issues" % len(rows) in capsys.readouterr().out
    # the preprocessing job reads the file as GitHub JSON Lines and keeps every row, in the same split
    parsed = list(readers.read_issues(str(out / "lead.jsonl")))
    assert all(isinstance(i, Issue) for i in parsed) and len(parsed) == len(rows)
    assert all(split_of(i.id, 10.0) == "train" for i in parsed)


def test_a_missing_input_is_an_error_naming_it(tmp_path, capsys):
    assert main(["--task", "extract", "--input", str(tmp_path / "nope.csv"), "--out", str(tmp_path)]) == 2
    assert "nope.csv" in capsys.readouterr().err
