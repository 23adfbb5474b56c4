"""data/clean.py: issue markdown -> the one-line text the model learns from, and the rejects for unusable issues.

The sample's bodies are already flattened markdown, so most tests wrap a real body in the markup a raw GitHub
issue has and check that the markup goes while the real text comes out as it would alone."""
import collections

import pytest

from data import clean
from data.clean import clean_body, clean_issue, clean_title
from data.records import Issue, Reject


@pytest.fixture(scope="module")
def body(sample_rows):
    """citra-emu/citra#2736: 'i noticed that you have hardcoded the mouse input entirely ...' (one paragraph)."""
    return sample_rows[0]["body"]


@pytest.fixture(scope="module")
def other_body(sample_rows):
    """Cocoanetics/DTCoreText#1112, a second real paragraph."""
    return sample_rows[1]["body"]


def issue_of(row, **changes) -> Issue:
    url = row["url"]
    issue = Issue(id=url, url=url, repo="/".join(url.split("/")[3:5]), title=row["title"], body=row["body"],
                  created_at="2017-10-23T06:31:59Z", source="github_issues.csv")
    return issue.replace(**changes)


# ---------------------------------------------------------------- HTML comments

def test_template_comments_in_the_real_sample_are_removed(sample_rows):
    with_comments = [r for r in sample_rows if "<!--" in r["body"]]
    assert len(with_comments) > 20
    for row in with_comments:
        assert "<!--" not in clean_body(row["body"])  # ("-->" alone stays: the sample uses it as an arrow)
    row = next(r for r in with_comments if r["body"].startswith("<!-- please, describe the issue here -->"))
    assert clean_body(row["body"]).startswith("i have 3 accounts configured on 3 instances.")


def test_multiline_html_comment_is_removed(body):
    text = f"<!--\nThanks for filing an issue!\nPlease search existing issues first.\n-->\n{body}\n<!-- end -->"
    assert clean_body(text) == clean_body(body)


def test_unterminated_html_comment_drops_the_rest(body):
    assert clean_body(f"{body}\n<!-- template instructions that were never closed\nmore instructions") == \
        clean_body(body)


# ---------------------------------------------------------------- issue-template boilerplate

def test_issue_form_headings_bold_lines_task_lists_and_no_response_removed(body, other_body):
    text = (f"### Describe the bug\n\n{body}\n\n"
            "### Steps to reproduce\n\n_No response_\n\n"
            f"## Expected behavior\n{other_body}\n\n"
            "**Environment**\n"
            "__Version:__\n"
            "h3. Jira heading\n"
            "### Checklist\n"
            "- [X] I have searched the existing issues\n"
            "* [ ] I agree to follow this project's code of conduct\n"
            "- [x] \n")
    assert clean_body(text) == clean_body(f"{body}\n{other_body}")


@pytest.mark.parametrize("placeholder", ["_No response_", "N/A", "n/a", "NA", "None", "none.", "NULL", "No", "-"])
def test_placeholder_answers_are_removed(body, placeholder):
    assert clean_body(f"### Additional context\n{placeholder}\n{body}") == clean_body(body)


def test_placeholder_words_inside_sentences_are_kept():
    text = "none of the mouse buttons can be re-bound\nno response from the second screen\n**note** it is hardcoded"
    assert clean_body(text) == ("none of the mouse buttons can be re-bound no response from the second screen "
                                "it is hardcoded")


def test_text_under_a_heading_is_kept(body):
    assert clean_body(f"# Feature request\n{body}") == clean_body(body)
    assert clean_body("#hashtag is not a heading") == "#hashtag is not a heading"


# ---------------------------------------------------------------- code and logs

@pytest.mark.parametrize("fence", ["```", "```cpp", "~~~", "  ```text"])
def test_fenced_code_keeps_its_first_three_lines(body, fence):
    text = (f"{body}\n{fence}\n"
            "citra-qt: src/core/hle/service/hid/hid.cpp:112: mouse_input_hardcoded\n"
            "\n"
            "second_code_line = 2\n"
            "third_code_line = 3\n"
            "fourth_code_line = 4\n"
            "fifth_code_line = 5\n"
            f"{fence.strip()[:3]}\n"
            "text after the fence is kept")
    cleaned = clean_body(text)
    assert cleaned == (clean_body(body) + " citra-qt: src/core/hle/service/hid/hid.cpp:112: mouse_input_hardcoded "
                       "second_code_line = 2 third_code_line = 3 text after the fence is kept")
    assert "fourth_code_line" not in cleaned and "fifth" not in cleaned


def test_unterminated_fence_keeps_three_lines_and_drops_the_rest(body):
    text = f"{body}\n```\nline_one\nline_two\nline_three\nline_four\nno closing fence so this is code too"
    assert clean_body(text) == clean_body(body) + " line_one line_two line_three"


@pytest.mark.parametrize("open_tag,close_tag", [("{code:java}", "{code}"), ("{noformat}", "{noformat}"),
                                                ("{CODE}", "{CODE}")])
def test_jira_code_blocks_keep_their_first_three_lines(body, open_tag, close_tag):
    text = f"{body}\n{open_tag}\nline_one\nline_two\nline_three\nline_four\n{close_tag}\nafter"
    assert clean_body(text) == clean_body(body) + " line_one line_two line_three after"


JAVA_TRACE = """java.lang.NullPointerException: Attempt to invoke virtual method 'void android.view.View.setAlpha()'
    at com.example.dtcoretext.LabelActivity.onCreate(LabelActivity.java:42)
    at android.app.Activity.performCreate(Activity.java:6679)
    at android.app.Instrumentation.callActivityOnCreate(Instrumentation.java:1118)
    at android.app.ActivityThread.performLaunchActivity(ActivityThread.java:2618)
    at android.app.ActivityThread.handleLaunchActivity(ActivityThread.java:2726)"""

TIMESTAMPED_LOG = """2017-10-23 06:31:59 INFO memory 120 MB
2017-10-23 06:32:00 INFO memory 180 MB
2017-10-23T06:32:01 WARN memory 240 MB
2017-10-23 06:32:02 WARN memory 300 MB
[06:32:03] ERROR out of memory"""


PYTHON_TRACEBACK = """Traceback (most recent call last):
  File "train.py", line 12, in <module>
    main()
  File "train.py", line 8, in main
    load_dataset("squad")
ValueError: Config name is missing"""


@pytest.mark.parametrize("log", [JAVA_TRACE, TIMESTAMPED_LOG, PYTHON_TRACEBACK],
                         ids=["java_stack_trace", "timestamped_log", "python_traceback"])
def test_long_log_run_outside_a_fence_keeps_its_first_two_lines_and_its_last(other_body, log):
    lines = log.split("\n")
    text = f"{other_body}\n{log}\nthe memory is not released after deinit"
    expected = clean_body("\n".join([other_body] + lines[:2] + lines[-1:]
                                     + ["the memory is not released after deinit"]))
    assert clean_body(text) == expected
    assert clean_body(lines[2]) not in clean_body(text)


def test_short_log_runs_are_kept_whole(other_body):
    two_lines = "\n".join(JAVA_TRACE.split("\n")[:2])
    text = f"{other_body}\n{two_lines}\nafter\n{two_lines}"
    assert clean_body(text) == clean_body(f"{other_body} {two_lines} after {two_lines}")


# ---------------------------------------------------------------- links, images, URLs, tags

def test_images_removed_links_keep_their_text_urls_shortened_to_their_host(body):
    text = ("![capture_11](https://user-images.githubusercontent.com/28723939/30532466-110ae8e0.png)\n"
            f"{body}\n"
            "see [the nightly build](https://github.com/citra-emu/citra-nightly/releases/tag/nightly-1234) and "
            "https://community.citra-emu.org/t/mouse-input/1234?page=2 or http://plnkr.co/edit/8yo8degyy?p=preview.")
    assert clean_body(text) == clean_body(body) + " see the nightly build and community.citra-emu.org or plnkr.co"


def test_bare_urls_in_the_real_sample_are_shortened(sample_rows):
    row = next(r for r in sample_rows if "https://framadrop.org/r/yg8h2xzzpk" in r["body"])
    cleaned = clean_body(row["body"])
    assert "framadrop.org " in cleaned and "https://" not in cleaned and "yg8h2xzzpk" not in cleaned


def test_html_tags_removed_their_text_kept():
    text = ("<details><summary>Crash log</summary>\n<pre>segmentation fault</pre></details>\n"
            "<img width=\"294\" alt=\"screen shot\" src=\"https://user-images.githubusercontent.com/589034/1.png\">"
            "<br/>{quote}quoted text{quote}")
    assert clean_body(text) == "segmentation fault quoted text"  # (a <summary> is a label: it goes)


# ---------------------------------------------------------------- case, whitespace, length

def test_text_is_lowercased_unless_case_is_kept():
    assert clean_body("Mouse Input is HARDCODED") == "mouse input is hardcoded"
    assert clean_body("Mouse Input is HARDCODED", lowercase=False) == "Mouse Input is HARDCODED"
    assert clean_title("DTCoreText takes up too much Memory") == "dtcoretext takes up too much memory"
    assert clean_title("DTCoreText takes up too much Memory", lowercase=False) == "DTCoreText takes up too much Memory"


def test_whitespace_and_control_characters_collapse_to_single_spaces(body):
    text = "\t first\r\nsecond\rthird \x07 fourth\x1b[0m\n\n\n" + body.replace(" ", "  \n ")
    assert clean_body(text) == "first second third fourth [0m " + clean_body(body)
    assert clean_title("  mouse\tinput\x00\n re-binding  ") == "mouse input re-binding"


def test_body_is_cut_to_max_words(sample_rows):
    words = " ".join(r["body"] for r in sample_rows[:40]).split()
    text = " ".join(words)
    assert len(words) > 1000
    assert clean.MAX_BODY_WORDS == 300
    assert len(clean_body(text).split(" ")) == 300
    assert clean_body(text) == clean_body(" ".join(words[:300]))
    assert len(clean_body(text, max_words=50).split(" ")) == 50
    assert clean_body(text, max_words=0) == clean_body(text, max_words=len(words))


def test_every_real_sample_body_cleans_to_one_line_of_at_most_max_words(sample_rows):
    for row in sample_rows:
        cleaned = clean_body(row["body"])
        assert "\n" not in cleaned and "  " not in cleaned and cleaned == cleaned.strip()
        assert len(cleaned.split()) <= clean.MAX_BODY_WORDS


# ---------------------------------------------------------------- clean_issue: valid issues and rejects

def test_clean_issue_keeps_identity_and_cleans_text(sample_rows):
    row = next(r for r in sample_rows if "https://framadrop.org/" in r["body"])
    issue = issue_of(row, title=row["title"].upper() + "  ")
    cleaned = clean_issue(issue)
    assert isinstance(cleaned, Issue)
    assert cleaned == issue.replace(title=row["title"], body=clean_body(row["body"]))


def test_empty_title_is_rejected(sample_rows):
    for title in ("", "   \t\n", "\x00\x01", None):
        result = clean_issue(issue_of(sample_rows[0], title=title))
        assert isinstance(result, Reject) and result.reason == "empty_title"


def test_too_long_title_is_rejected_at_41_words(sample_rows):
    real = next(r for r in sample_rows if r["title"].startswith("issue 1639: issue 1637:"))
    result = clean_issue(issue_of(real))
    assert isinstance(result, Reject) and result.reason == "title_too_long"

    forty = " ".join(sample_rows[0]["body"].split()[:40])
    assert clean.MAX_TITLE_WORDS == 40
    assert isinstance(clean_issue(issue_of(sample_rows[0], title=forty)), Issue)
    result = clean_issue(issue_of(sample_rows[0], title=forty + " more"))
    assert isinstance(result, Reject) and result.reason == "title_too_long"


def test_body_empty_after_cleaning_is_rejected(sample_rows):
    image_only = next(r for r in sample_rows if r["title"] == "bad number of bins")
    assert image_only["body"].startswith("<img width= 294")
    template_only = "<!-- describe the bug -->\n### Describe the bug\n_No response_\n- [x] I searched\n"
    for body in (image_only["body"], template_only, "", None):
        result = clean_issue(issue_of(image_only, body=body))
        assert isinstance(result, Reject) and result.reason == "empty_body", body


def test_a_reject_keeps_the_original_text_and_the_issue_id(sample_rows):
    real = next(r for r in sample_rows if r["title"].startswith("issue 1639: issue 1637:"))
    result = clean_issue(issue_of(real))
    assert result == Reject("title_too_long", "github_issues.csv", 0, f"title: {real['title']}\nbody: {real['body']}",
                            f"id {real['url']}")


def test_the_real_sample_has_exactly_its_known_rejects(sample_rows):
    """2000 rows: three spam titles of over 40 words and two bodies that are only an <img> tag."""
    results = [clean_issue(issue_of(r)) for r in sample_rows]
    reasons = collections.Counter(r.reason for r in results if isinstance(r, Reject))
    assert reasons == {"title_too_long": 3, "empty_body": 2}


# ---------------------------------------------------------------- issue forms: no template line reaches the model
# Each form below is a real template's text (TensorFlow's and React's issue forms, GitHub's default bug report)
# around a real sample body: the cleaned text is the body's alone, so no template line can become a title.

TENSORFLOW_FORM = ("<details><summary>Click to expand!</summary>\n\n### Issue Type\n\nBug\n\n"
                   "### Have you reproduced the bug with TF nightly?\n\nNo\n\n### Source\n\nbinary\n\n"
                   "### Tensorflow Version\n\n2.12.0\n\n### Custom Code\n\nYes\n\n"
                   "### OS Platform and Distribution\n\nUbuntu 22.04\n\n### Python version\n\n_No response_\n\n"
                   "### Current Behaviour?\n\n{body}\n\n### Relevant log output\n\n_No response_\n</details>")
REACT_FORM = ("**Do you want to request a *feature* or report a *bug*?**\n\nBug\n\n"
              "**What is the current behavior?**\n\n{body}\n\n"
              "**Which versions of React, and which browser / OS are affected by this issue?**\n\nReact 16.8, Chrome")
# OpenCV's pull-request template (nlbse24): its item continued on an indented line was the title of two issues.
OPENCV_CHECKLIST = ("{body}\n\n### Pull Request Readiness Checklist\n\nSee details at "
                    "https://github.com/opencv/opencv/wiki/How_to_contribute#making-a-good-pull-request\n\n"
                    "- [x] I agree to contribute to the project under Apache 2 License.\n"
                    "- [x] There is accuracy test, performance test and test data in opencv_extra repository, if "
                    "applicable\n      Patch to opencv_extra has the same branch name.\n"
                    "- [x] The feature is well documented and sample code can be built with the project CMake\n")
BUG_REPORT_FORM = ("**Describe the bug**\nA clear and concise description of what the bug is.\n{body}\n\n"
                   "**Desktop (please complete the following information):**\n - OS: Windows 10\n"
                   " - Browser: Chrome\n - Version: 112\n\n| package | version |\n|---|---|\n| react | 18.0 |")


@pytest.mark.parametrize("form", [TENSORFLOW_FORM, REACT_FORM, BUG_REPORT_FORM, OPENCV_CHECKLIST],
                         ids=["tensorflow", "react", "bug_report", "opencv_checklist"])
def test_issue_form_text_is_removed_and_the_problem_stays(body, form):
    assert clean_body(form.format(body=body)) == clean_body(body)


@pytest.mark.parametrize("opening", [
    "Hi, thanks for the great library! I have a question.", "Hello team,", "Hi all. Dear maintainers, thank you "
    "for this project!", "Thanks for the great work! Hey,", "First of all, thanks for this awesome tool. Quick question:",
])
def test_greetings_and_thanks_before_the_problem_are_dropped(body, opening):
    assert clean_body(f"{opening} {body}") == clean_body(body)


def test_a_greeting_inside_the_problem_statement_stays():
    assert clean_body("Hello world example fails to compile") == "hello world example fails to compile"
    assert clean_body("Thanks to the cache, the second run is slower. It should be faster.") == \
        "thanks to the cache, the second run is slower. it should be faster."


def test_an_environment_label_with_a_long_answer_is_text():
    """The Kaggle dump's bodies are one line: '__environment__ core onsenui 2.2.3 __encountered problem__ i found
    ...' must not lose the problem with the label."""
    text = "__environment__ core onsenui 2.2.3 i found the style of ons-list-header has been broken since v2.2.0."
    assert clean_body(text) == "core onsenui 2.2.3 i found the style of ons-list-header has been broken since v2.2.0."


@pytest.mark.parametrize("text, expected", [
    # a Russian body, an English one that quotes a Russian error, a Chinese one naming its API in Latin letters
    ("Когда я открываю блокнот с более чем 1000 ячейками, редактор зависает на 30 секунд", ("Cyrillic", 1.0)),
    ("The parser fails on the error message Ошибка чтения файла when the file is empty", None),
    ("在使用 DataLoader 时，如果设置 num_workers=4，在 Windows 上程序会一直卡住", "CJK"),
    ("ビルドを v5.0.0 にアップグレードした後、ビルドが失敗します", "CJK"),  # kana count with the ideographs
    ("Build fails with 错误 when the config file is missing after the upgrade", None),
    ("Fix the naïve résumé crash in the café module", None),  # accented Latin is Latin
    ("1234 5678 !!!", None),
])
def test_the_main_script_of_a_body_is_named_when_it_is_not_latin(text, expected):
    found = clean.main_foreign_script(text)
    if expected is None or isinstance(expected, tuple):
        assert found == expected
    else:
        assert found[0] == expected and 0.5 < found[1] <= 1
