"""Shared pytest fixtures. Each group is for the tests named in its heading; add new groups below, separately."""
import csv
import io
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# ================================================================ data/ package
# (tests/test_readers.py, test_clean.py, test_preprocess.py, test_vocab.py)
#
# Real rows of the bundled Kaggle/BigQuery sample, data/sample/github_issues.csv (columns: index, issue_url,
# issue_title, body; issue_url carries the dump's stray double quotes). Every other input shape the tests need
# is built from these rows' text.

SAMPLE_CSV = REPO / "data" / "sample" / "github_issues.csv"
KAGGLE_HEADER = ["", "issue_url", "issue_title", "body"]


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    assert SAMPLE_CSV.exists(), f"bundled sample missing: {SAMPLE_CSV}"
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def sample_rows(sample_csv) -> list:
    """The sample's records as dicts: index, issue_url (as stored, with its quotes), url (clean), title, body."""
    with open(sample_csv, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == KAGGLE_HEADER
        rows = [{"index": index, "issue_url": issue_url, "url": issue_url.strip('"'), "title": title, "body": body}
                for index, issue_url, title, body in reader]
    assert len(rows) == 2000
    return rows


def _kaggle_csv_text(rows, extra_lines=()) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KAGGLE_HEADER)
    for row in rows:
        writer.writerow([row["index"], row["issue_url"], row["title"], row["body"]])
    return out.getvalue() + "".join(line if line.endswith("\n") else line + "\n" for line in extra_lines)


@pytest.fixture(scope="session")
def kaggle_csv_text():
    """kaggle_csv_text(rows, extra_lines=()) -> the text of a Kaggle-format CSV of those sample rows, the dump's
    header first, then each of extra_lines (raw CSV lines, for malformed rows) as is."""
    return _kaggle_csv_text


@pytest.fixture(scope="session")
def write_kaggle_csv():
    """write_kaggle_csv(path, rows, extra_lines=()) writes a Kaggle-format CSV of sample rows; returns the path."""
    def write(path, rows, extra_lines=()):
        path = Path(path)
        path.write_text(_kaggle_csv_text(rows, extra_lines), encoding="utf-8", newline="")
        return path
    return write
