"""data/readers.py: every input shape read into Issue records; bad rows become Rejects, pull requests and old
issues Skips; files of no known shape raise FormatError naming the file; reading streams."""
import csv
import datetime as dt
import gzip
import inspect
import io
import itertools
import json

import pytest

from data import readers
from data.readers import FormatError, detect_format, expand_inputs, read_issues
from data.records import Issue, Reject, Skip


# ---------------------------------------------------------------- building other shapes from real sample rows

def created_at(i: int) -> str:
    """A distinct GitHub-style timestamp per row: one week apart from 2017-01-02 09:30 UTC."""
    return (dt.datetime(2017, 1, 2, 9, 30) + dt.timedelta(days=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def url_parts(row):
    owner, name, kind, number = row["url"].split("/")[3:7]
    assert kind == "issues"
    return owner, name, int(number)


def rest_issue(row, i: int, **changes) -> dict:
    """A sample row as the GitHub REST API returns an issue."""
    owner, name, number = url_parts(row)
    obj = {"url": f"https://api.github.com/repos/{owner}/{name}/issues/{number}",
           "repository_url": f"https://api.github.com/repos/{owner}/{name}",
           "html_url": row["url"], "number": number, "title": row["title"], "body": row["body"], "state": "open",
           "user": {"login": "octocat"}, "labels": [{"name": "bug"}], "comments": 0,
           "created_at": created_at(i), "updated_at": created_at(i + 1)}
    obj.update(changes)
    return obj


def rest_pull_request(row, i: int) -> dict:
    owner, name, number = url_parts(row)
    return rest_issue(row, i, html_url=f"https://github.com/{owner}/{name}/pull/{number}",
                      pull_request={"url": f"https://api.github.com/repos/{owner}/{name}/pulls/{number}"})


def write_jsonl(path, objects_or_lines):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects_or_lines),
                    encoding="utf-8")
    return path


def csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def write_csv(path, header, rows, prefix=""):
    path.write_text(prefix + "".join(csv_line(r) for r in [header] + list(rows)), encoding="utf-8", newline="")
    return path


def nlbse_rows(rows):
    """NLBSE'24 issue classification CSV rows: repo, created_at ("YYYY-MM-DD HH:MM:SS"), label, title, body."""
    return [["/".join(url_parts(r)[:2]), created_at(i).replace("T", " ").rstrip("Z"), "bug", r["title"], r["body"]]
            for i, r in enumerate(rows)]


def jira_key(row):
    owner, name, number = url_parts(row)
    return f"{name.upper().replace('-', '')}-{number}"


def jira_rows(rows):
    return [[jira_key(r), r["title"], r["body"], "3"] for r in rows]


GITBUGS_HEADER = ["Summary", "Issue id", "Priority", "Status", "Created", "Resolved", "Description"]


def gitbugs_rows(rows):
    """Jira export rows: Created as "23/Oct/17 06:31"."""
    out = []
    for i, r in enumerate(rows):
        created = dt.datetime.strptime(created_at(i), "%Y-%m-%dT%H:%M:%SZ")
        out.append([r["title"], str(url_parts(r)[2]), "Major", "Resolved", created.strftime("%d/%b/%y %H:%M"), "",
                    r["body"]])
    return out


def only(kind, rows):
    return [r for r in rows if isinstance(r, kind)]


# ---------------------------------------------------------------- each format

def test_bundled_sample_is_detected_as_kaggle_and_every_row_is_an_issue(sample_csv, sample_rows):
    assert detect_format(str(sample_csv)) == "kaggle"
    rows = list(read_issues(str(sample_csv)))
    assert len(rows) == len(sample_rows) == 2000
    assert all(isinstance(r, Issue) for r in rows)
    for issue, row in zip(rows, sample_rows):
        assert (issue.title, issue.body) == (row["title"], row["body"])


def test_kaggle_issue_id_is_the_url_without_the_dumps_stray_quotes(sample_csv, sample_rows):
    first = next(read_issues(str(sample_csv)))
    assert sample_rows[0]["issue_url"] == '"https://github.com/citra-emu/citra/issues/2736"'
    assert first == Issue(id="https://github.com/citra-emu/citra/issues/2736",
                          url="https://github.com/citra-emu/citra/issues/2736", repo="citra-emu/citra",
                          title=sample_rows[0]["title"], body=sample_rows[0]["body"], created_at=None,
                          source="github_issues.csv")


def test_github_jsonl_reads_rest_objects_and_skips_pull_requests(tmp_path, sample_rows):
    rows = sample_rows[:5]
    path = write_jsonl(tmp_path / "issues.jsonl",
                       [rest_issue(rows[0], 0), rest_pull_request(rows[1], 1), rest_issue(rows[2], 2),
                        rest_issue(rows[3], 3, pull_request=None),  # an issue: the API's pull_request is null
                        rest_issue(rows[4], 4, html_url=None)])     # no html_url: id from repository_url + number
    assert detect_format(str(path)) == "github_jsonl"
    got = list(read_issues(str(path)))
    assert got[1] == Skip("pull_request", "issues.jsonl", 2)
    issues = only(Issue, got)
    assert len(issues) == 4
    a = issues[0]
    assert (a.id, a.url, a.repo, a.title, a.body, a.created_at, a.source) == (
        rows[0]["url"], rows[0]["url"], "citra-emu/citra", rows[0]["title"], rows[0]["body"], "2017-01-02T09:30:00Z",
        "issues.jsonl")
    assert issues[1].id == rows[2]["url"] and issues[1].created_at == created_at(2)
    assert issues[2].id == rows[3]["url"]
    owner, name, number = url_parts(rows[4])
    assert (issues[3].id, issues[3].repo, issues[3].url) == (f"{owner}/{name}#{number}", f"{owner}/{name}", "")


def test_github_jsonl_pull_request_recognised_by_its_pull_url_alone(tmp_path, sample_rows):
    owner, name, number = url_parts(sample_rows[0])
    obj = rest_issue(sample_rows[0], 0, html_url=f"https://github.com/{owner}/{name}/pull/{number}")
    got = list(read_issues(str(write_jsonl(tmp_path / "prs.jsonl", [obj]))))
    assert got == [Skip("pull_request", "prs.jsonl", 1)]


def test_github_jsonl_null_body_is_empty_and_missing_title_is_rejected(tmp_path, sample_rows):
    path = write_jsonl(tmp_path / "issues.jsonl", [rest_issue(sample_rows[0], 0, body=None),
                                                   {k: v for k, v in rest_issue(sample_rows[1], 1).items()
                                                    if k != "title"},
                                                   "[1, 2, 3]"])
    got = list(read_issues(str(path)))
    assert isinstance(got[0], Issue) and got[0].body == ""
    assert isinstance(got[1], Reject) and (got[1].reason, got[1].row) == ("missing_title", 2)
    assert sample_rows[1]["body"][:50] in got[1].raw
    assert isinstance(got[2], Reject) and (got[2].reason, got[2].row) == ("not_an_object", 3)


def test_nlbse_csv_rows_become_issues_with_repo_and_utc_date(tmp_path, sample_rows):
    rows = sample_rows[:4]
    path = write_csv(tmp_path / "nlbse_train.csv", ["repo", "created_at", "label", "title", "body"], nlbse_rows(rows))
    assert detect_format(str(path)) == "nlbse"
    issues = list(read_issues(str(path)))
    assert all(isinstance(i, Issue) for i in issues)
    assert [i.repo for i in issues] == ["/".join(url_parts(r)[:2]) for r in rows]
    assert [i.created_at for i in issues] == [created_at(i) for i in range(4)]
    assert [(i.title, i.body) for i in issues] == [(r["title"], r["body"]) for r in rows]
    assert all(i.id.startswith(i.repo + "@") and i.url == "" for i in issues)
    assert len({i.id for i in issues}) == 4
    assert [i.id for i in read_issues(str(path))] == [i.id for i in issues]  # stable: the split hashes it


def test_nlbse_date_with_timezone_is_converted_to_utc(tmp_path, sample_rows):
    row = sample_rows[0]
    path = write_csv(tmp_path / "nlbse.csv", ["repo", "created_at", "label", "title", "body"],
                     [["citra-emu/citra", "2017-10-23 06:31:59+02:00", "feature", row["title"], row["body"]]])
    (issue,) = read_issues(str(path))
    assert issue.created_at == "2017-10-23T04:31:59Z"


def test_nlbse_unparseable_date_is_a_bad_field_reject(tmp_path, sample_rows):
    row = sample_rows[0]
    path = write_csv(tmp_path / "nlbse.csv", ["repo", "created_at", "label", "title", "body"],
                     [["citra-emu/citra", "last tuesday", "bug", row["title"], row["body"]]])
    (reject,) = read_issues(str(path))
    assert isinstance(reject, Reject) and reject.reason == "bad_field" and "last tuesday" in reject.detail


def test_jira_csv_rows_use_the_issue_key_as_id_and_its_project_as_repo(tmp_path, sample_rows):
    rows = sample_rows[:3]
    path = write_csv(tmp_path / "appceleratorstudio.csv", ["issuekey", "title", "description", "storypoint"],
                     jira_rows(rows) + [["", rows[0]["title"], rows[0]["body"], "1"]])
    assert detect_format(str(path)) == "jira"
    issues = list(read_issues(str(path)))
    assert [i.id for i in issues[:3]] == [jira_key(r) for r in rows]
    assert issues[0].id == "CITRA-2736" and issues[0].repo == "CITRA"
    assert [(i.title, i.body) for i in issues[:3]] == [(r["title"], r["body"]) for r in rows]
    assert all(i.created_at is None for i in issues)
    # A row without a key gets "<file stem>:<row number>".
    assert (issues[3].id, issues[3].repo) == ("appceleratorstudio:4", "appceleratorstudio")


def test_gitbugs_csv_rows_get_file_scoped_ids_and_jira_export_dates(tmp_path, sample_rows):
    rows = sample_rows[:3]
    path = write_csv(tmp_path / "cassandra.csv", GITBUGS_HEADER, gitbugs_rows(rows))
    assert detect_format(str(path)) == "gitbugs"
    issues = list(read_issues(str(path)))
    assert [i.id for i in issues] == [f"cassandra-{url_parts(r)[2]}" for r in rows]
    assert all(i.repo == "cassandra" and i.source == "cassandra.csv" for i in issues)
    assert [i.created_at for i in issues] == [created_at(i) for i in range(3)]  # ("dd/Mon/yy HH:MM": no seconds)
    assert [(i.title, i.body) for i in issues] == [(r["title"], r["body"]) for r in rows]


def test_header_detection_ignores_case_whitespace_and_a_utf8_bom(tmp_path, sample_rows):
    row = sample_rows[0]
    path = write_csv(tmp_path / "jira_bom.csv", [" IssueKey ", " Title", "Description"],
                     [["CITRA-1", row["title"], row["body"]]], prefix="\ufeff")
    assert detect_format(str(path)) == "jira"
    (issue,) = read_issues(str(path))
    assert (issue.id, issue.title, issue.body) == ("CITRA-1", row["title"], row["body"])


def test_an_explicit_format_skips_detection_and_an_unknown_one_is_a_format_error(tmp_path, sample_rows):
    path = write_csv(tmp_path / "keys.csv", ["issuekey", "title", "description"], jira_rows(sample_rows[:2]))
    assert [i.id for i in read_issues(str(path), fmt="jira")] == [jira_key(r) for r in sample_rows[:2]]
    with pytest.raises(FormatError, match="keys.csv.*unknown format 'xml'"):
        next(read_issues(str(path), fmt="xml"))


# ---------------------------------------------------------------- compression

def test_gzip_compressed_csv_and_jsonl_read_like_the_plain_files(tmp_path, sample_rows, kaggle_csv_text):
    rows = sample_rows[:50]
    plain_csv = tmp_path / "issues.csv"
    plain_csv.write_text(kaggle_csv_text(rows), encoding="utf-8", newline="")
    (tmp_path / "issues.csv.gz").write_bytes(gzip.compress(plain_csv.read_bytes()))
    plain_jsonl = write_jsonl(tmp_path / "issues.jsonl", [rest_issue(r, i) for i, r in enumerate(rows)])
    (tmp_path / "issues.jsonl.gz").write_bytes(gzip.compress(plain_jsonl.read_bytes()))

    for plain in (plain_csv, plain_jsonl):
        gz = str(plain) + ".gz"
        assert detect_format(gz) == detect_format(str(plain))
        from_gz = list(read_issues(gz))
        assert len(from_gz) == 50
        assert [i.replace(source="") for i in from_gz] == [i.replace(source="") for i in read_issues(str(plain))]
        assert from_gz[0].source == plain.name + ".gz"


def test_truncated_gzip_header_is_a_format_error_naming_the_file(tmp_path, sample_rows, kaggle_csv_text):
    data = gzip.compress(kaggle_csv_text(sample_rows[:20]).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(FormatError, match="cut.csv.gz"):
        detect_format(str(path))


def test_gzip_truncated_mid_file_is_an_error_naming_the_file_or_a_reject(tmp_path, sample_csv):
    data = gzip.compress(sample_csv.read_bytes())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[:len(data) // 2])
    assert detect_format(str(path)) == "kaggle"  # the first 64 KB are intact
    try:
        rows = list(read_issues(str(path)))
    except Exception as e:  # noqa: BLE001 - any error will do, if it says which file
        assert "cut.csv.gz" in str(e), f"{type(e).__name__}: {e}"
    else:
        assert any(isinstance(r, Reject) for r in rows)


# ---------------------------------------------------------------- bad rows

def test_nul_bytes_inside_fields_are_dropped(tmp_path, sample_rows, kaggle_csv_text):
    row = sample_rows[1]
    poisoned = dict(row, title=row["title"][:5] + "@NUL@" + row["title"][5:],
                    body="@NUL@" + row["body"][:40] + "@NUL@@NUL@" + row["body"][40:])
    path = tmp_path / "nul.csv"
    path.write_bytes(kaggle_csv_text([sample_rows[0], poisoned, sample_rows[2]]).replace("@NUL@", "\x00").encode())
    assert b"\x00" in path.read_bytes()
    assert detect_format(str(path)) == "kaggle"
    got = list(read_issues(str(path)))
    assert [(i.title, i.body) for i in got] == [(r["title"], r["body"]) for r in sample_rows[:3]]

    jsonl = tmp_path / "nul.jsonl"
    jsonl.write_bytes(json.dumps(rest_issue(row, 0, title=poisoned["title"])).replace("@NUL@", "\x00").encode()
                      + b"\n")
    (issue,) = read_issues(str(jsonl))
    assert issue.title == row["title"]


def test_embedded_newlines_stay_inside_their_field(tmp_path, sample_rows, write_kaggle_csv):
    multiline = dict(sample_rows[3],
                     body="first line\r\nsecond line\n\nfourth, \"quoted\" line\n" + sample_rows[3]["body"])
    path = write_kaggle_csv(tmp_path / "nl.csv", [sample_rows[0], multiline, sample_rows[4]],
                            extra_lines=[",,only a title"])
    got = list(read_issues(str(path)))
    assert [type(r) for r in got] == [Issue, Issue, Issue, Reject]
    assert got[1].body == multiline["body"]
    assert got[2].body == sample_rows[4]["body"]
    assert got[3].row == 4  # row numbers count records, not lines


def test_a_field_over_one_megabyte_is_read_whole_and_a_reject_keeps_one_megabyte(tmp_path, sample_rows,
                                                                              write_kaggle_csv):
    huge_body = " ".join(r["body"] for r in sample_rows)
    while len(huge_body) <= 1_500_000:
        huge_body += " " + huge_body
    big = dict(sample_rows[0], body=huge_body)
    path = write_kaggle_csv(tmp_path / "big.csv", [big, sample_rows[1]],
                            extra_lines=[csv_line(["7", '"https://github.com/o/r/issues/7"', huge_body])])
    got = list(read_issues(str(path)))
    assert isinstance(got[0], Issue) and got[0].body == huge_body
    assert isinstance(got[1], Issue) and got[1].body == sample_rows[1]["body"]
    reject = got[2]
    assert isinstance(reject, Reject) and reject.reason == "missing_columns"
    assert len(reject.raw) == readers.MAX_RAW_CHARS == 1_000_000


def test_invalid_utf8_bytes_become_replacement_characters(tmp_path, sample_rows, kaggle_csv_text):
    row = sample_rows[2]
    text = kaggle_csv_text([dict(row, body=row["body"] + " @BAD@"), sample_rows[3]])
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode().replace(b"@BAD@", b"caf\xe9 \xff\xfe end"))
    got = list(read_issues(str(path)))
    assert got[0].body == row["body"] + " caf\ufffd \ufffd\ufffd end"
    assert got[1].body == sample_rows[3]["body"]


def test_row_with_missing_columns_is_rejected_naming_them(tmp_path, sample_rows, write_kaggle_csv):
    row = sample_rows[5]
    path = write_kaggle_csv(tmp_path / "short.csv", sample_rows[:2],
                            extra_lines=[csv_line([row["index"], row["issue_url"], row["title"]])])
    got = list(read_issues(str(path)))
    assert got[2] == Reject("missing_columns", "short.csv", 3, ",".join([row["index"], row["issue_url"], row["title"]]),
                            "missing body")


def test_malformed_json_line_is_rejected_and_reading_goes_on(tmp_path, sample_rows):
    broken = json.dumps(rest_issue(sample_rows[1], 1))[:120]
    path = write_jsonl(tmp_path / "issues.jsonl",
                       [rest_issue(sample_rows[0], 0), broken, rest_issue(sample_rows[2], 2)])
    got = list(read_issues(str(path)))
    assert [type(r) for r in got] == [Issue, Reject, Issue]
    assert (got[1].reason, got[1].row, got[1].source) == ("malformed_json", 2, "issues.jsonl")
    assert got[1].raw == broken + "\n" and got[1].detail
    assert got[2].id == sample_rows[2]["url"]


def test_blank_rows_are_rejected_in_csv_and_not_records_in_jsonl(tmp_path, sample_rows, write_kaggle_csv):
    path = write_kaggle_csv(tmp_path / "blank.csv", sample_rows[:1], extra_lines=[",,,", "", " , ,\t,"])
    got = list(read_issues(str(path)))
    assert [(type(r), getattr(r, "reason", None), r.row if isinstance(r, Reject) else None) for r in got] == [
        (Issue, None, None), (Reject, "blank_row", 2), (Reject, "blank_row", 3), (Reject, "blank_row", 4)]

    # JSON Lines: blank lines are not records at all, and row numbers stay line numbers.
    jsonl = write_jsonl(tmp_path / "blank.jsonl", ["", rest_issue(sample_rows[0], 0), "   ", "{oops"])
    got = list(read_issues(str(jsonl)))
    assert [type(r) for r in got] == [Issue, Reject] and got[1].row == 4


# ---------------------------------------------------------------- files of no known shape

def test_png_is_a_format_error_naming_the_file(tmp_path):
    path = tmp_path / "screenshot.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x80\x00\x00\x01\xe0\x08\x02\x00\x00\x00"
                     + bytes(range(256)) * 8)
    with pytest.raises(FormatError) as e:
        detect_format(str(path))
    assert str(path) in str(e.value) and "not a supported issue file" in str(e.value)
    with pytest.raises(FormatError, match="screenshot.png"):
        next(read_issues(str(path)))


def test_csv_with_unrelated_columns_is_a_format_error_listing_its_header(tmp_path):
    path = write_csv(tmp_path / "people.csv", ["name", "email", "age"], [["ada", "ada@example.com", "36"]])
    with pytest.raises(FormatError) as e:
        detect_format(str(path))
    message = str(e.value)
    assert str(path) in message and "'name', 'email', 'age'" in message and "issue_url" in message


def test_json_array_file_is_a_format_error(tmp_path, sample_rows):
    path = tmp_path / "issues.json"
    path.write_text(json.dumps([rest_issue(sample_rows[0], 0)]))
    with pytest.raises(FormatError, match="issues.json"):
        detect_format(str(path))


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf", b"\x00\x00"], ids=["empty", "whitespace",
                                                                                          "bom", "nuls"])
def test_empty_file_is_a_format_error_naming_it(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=f"{path}: file is empty"):
        detect_format(str(path))


def test_empty_file_with_explicit_format_or_header_only_yields_nothing(tmp_path, kaggle_csv_text):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert list(read_issues(str(empty), fmt="kaggle")) == []
    header_only = tmp_path / "header.csv"
    header_only.write_text(kaggle_csv_text([]))
    assert list(read_issues(str(header_only))) == []


def test_missing_file_is_a_format_error_naming_it(tmp_path):
    with pytest.raises(FormatError, match="nope.csv: file not found"):
        detect_format(str(tmp_path / "nope.csv"))


# ---------------------------------------------------------------- input globs

def test_globs_expand_to_sorted_files_without_directories(tmp_path, sample_rows, write_kaggle_csv):
    for name in ("b.csv", "a.csv", "c.jsonl"):
        write_kaggle_csv(tmp_path / name, sample_rows[:1])
    (tmp_path / "dir.csv").mkdir()
    assert expand_inputs([str(tmp_path / "*.csv")]) == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert expand_inputs([str(tmp_path / "c.*"), str(tmp_path / "a.csv")]) == [str(tmp_path / "c.jsonl"),
                                                                              str(tmp_path / "a.csv")]


def test_glob_matching_nothing_is_file_not_found_naming_the_pattern(tmp_path):
    pattern = str(tmp_path / "dumps" / "*.csv.gz")
    with pytest.raises(FileNotFoundError, match="no input file matches") as e:
        expand_inputs([pattern])
    assert pattern in str(e.value)


# ---------------------------------------------------------------- --since

def test_since_skips_older_issues_and_keeps_the_rest(tmp_path, sample_rows):
    rows = sample_rows[:30]  # created one week apart from 2017-01-02 09:30
    path = write_jsonl(tmp_path / "issues.jsonl", [rest_issue(r, i) for i, r in enumerate(rows)] + ["{bad json"])
    got = list(read_issues(str(path), since="2017-03-06T09:30:00Z"))  # exactly row 9's creation time
    assert [type(r) for r in got[:9]] == [Skip] * 9
    assert all(r.reason == "before_since" for r in got[:9])
    assert [i.id for i in got[9:30]] == [r["url"] for r in rows[9:]]
    assert isinstance(got[30], Reject)  # rejects are passed through, not filtered

    kept_by_date = [r for r in read_issues(str(path), since="2017-03-06") if isinstance(r, Issue)]
    assert kept_by_date[0].id == rows[9]["url"]


def test_since_skips_issues_without_a_creation_date(sample_csv):
    got = list(itertools.islice(read_issues(str(sample_csv), since="2000-01-01"), 100))
    assert len(got) == 100 and all(r == Skip("no_created_at", "github_issues.csv", 0) for r in got)


def test_since_accepts_every_date_shape_of_the_sources():
    assert readers.normalize_date("2017-10-23") == "2017-10-23T00:00:00Z"
    assert readers.normalize_date(" 2017-10-23T06:31:59Z ") == "2017-10-23T06:31:59Z"
    assert readers.normalize_date("2017-10-23T06:31:59-05:00") == "2017-10-23T11:31:59Z"
    assert readers.normalize_date("23/Oct/17 06:31") == "2017-10-23T06:31:00Z"
    with pytest.raises(ValueError, match="unrecognized date"):
        readers.normalize_date("Oct 23rd")


# ---------------------------------------------------------------- streaming

def test_read_issues_streams_a_large_file(tmp_path, sample_rows, kaggle_csv_text, monkeypatch):
    """The first row comes back after reading the first few kilobytes of a ~20 MB file, not the whole file."""
    chunk = kaggle_csv_text(sample_rows).split("\n", 1)[1]
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(kaggle_csv_text([]))
        for _ in range(20):
            f.write(chunk)
    size = path.stat().st_size
    assert size > 20_000_000

    opened = []
    real_open_text = readers._open_text

    def spying_open_text(p):
        stream = real_open_text(p)
        opened.append(stream)
        return stream

    monkeypatch.setattr(readers, "_open_text", spying_open_text)
    rows = read_issues(str(path))
    assert inspect.isgenerator(rows)
    assert opened == []  # nothing is opened before the first row is asked for

    first_two = list(itertools.islice(rows, 2))
    assert [i.id for i in first_two] == [r["url"] for r in sample_rows[:2]]
    position = opened[-1].buffer.tell()
    assert position < 256 * 1024 < size, f"read {position} of {size} bytes to yield two rows"

    n = 2 + sum(1 for _ in rows)
    assert n == 20 * len(sample_rows)


# ---------------------------------------------------------------- pull requests and commits (change_jsonl)

def _change(**fields) -> dict:
    row = {"repo": "apache/kafka", "id": "1eb7644349cb07139d6a3c1ad1986979647cac99",
           "title": "KAFKA-19530: Fix flaky RemoteLogManagerTest", "created_at": "2025-07-21T10:00:00+02:00",
           "body": "The test waited on a fixed sleep; it now polls the metric until it is set.", "kind": "pr_squash"}
    row.update(fields)
    return row


def test_change_jsonl_is_detected_and_read_as_titled_tagged_pairs(tmp_path):
    path = tmp_path / "apache__kafka.pr_squash.jsonl"
    rows = [_change(), _change(id="2" * 40, kind="commit", title="fix(lsp): handle empty workspace folders",
                               body="An empty folder list crashed the server.")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert readers.detect_format(str(path)) == "change_jsonl"
    first, second = list(readers.read_issues(str(path)))
    assert first.title == "Fix flaky RemoteLogManagerTest"  # the Jira key goes
    assert first.body == "[pull request] The test waited on a fixed sleep; it now polls the metric until it is set."
    assert first.id == first.url == "https://github.com/apache/kafka/commit/1eb7644349cb07139d6a3c1ad1986979647cac99"
    assert (first.repo, first.created_at) == ("apache/kafka", "2025-07-21T08:00:00Z")
    assert second.title == "handle empty workspace folders" and second.body.startswith("[commit] ")


@pytest.mark.parametrize("title, expected", [
    ("KAFKA-123: Fix X", "Fix X"), ("[KAFKA-123] Fix X", "Fix X"), ("MINOR: Fix typo in docs", "Fix typo in docs"),
    ("KAFKA-1: MINOR: Fix X", "Fix X"), ("feat(ext/node): add os.availableParallelism", "add os.availableParallelism"),
    ("fix!: drop Python 3.8", "drop Python 3.8"), ("chore: update lint rules", "update lint rules"),
    ("cmd/go: report the module path", "cmd/go: report the module path"),  # component prefixes stay
    ("cmake: detect zstd", "cmake: detect zstd"), ("Docs: X", "X"), ("fix:", "fix:"),
])
def test_change_title_prefixes_that_name_a_tracker_or_change_type_are_removed(title, expected):
    assert readers.strip_change_prefix(title) == expected


def test_change_rows_without_title_kind_or_id_are_rejected_and_empty_bodies_stay_empty(tmp_path):
    path = tmp_path / "changes.jsonl"
    rows = [_change(), _change(title=""), _change(kind="merge"), _change(repo=""), _change(body="")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = list(readers.read_issues(str(path)))
    assert [type(r).__name__ for r in out] == ["Issue", "Reject", "Reject", "Reject", "Issue"]
    assert [r.reason for r in out if isinstance(r, Reject)] == ["missing_title", "unknown_kind", "missing_id"]
    assert out[-1].body == ""  # cleaning rejects it as empty_body, as for an issue without a body


def test_github_issue_json_lines_are_not_taken_for_changes(tmp_path, sample_rows):
    path = tmp_path / "issues.jsonl"
    path.write_text(json.dumps({"title": "t", "body": "b", "html_url": "https://github.com/o/r/issues/1",
                                "kind": "commit"}) + "\n")
    assert readers.detect_format(str(path)) == "github_jsonl"
