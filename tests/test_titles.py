"""data/titles.py: what a reader sees in a title (verbatim spans, dangling ends) and the finishing every served
title gets (no dangling end; the issue's own case)."""
import pytest

from data import titles
from serving.client import ids_to_title


# The endings the served model gave five ordinary issues (issue 12) and what finishing makes of them.
@pytest.mark.parametrize("raw, finished", [
    ("after upgrading to v5.0.0 the build fails with `typeerror:", "after upgrading to v5.0.0 the build fails"),
    ("when i open a notebook with more than 1000 cells,", "when i open a notebook with more than 1000 cells"),
    ("memory usage grows steadily when the server runs for", "memory usage grows steadily when the server runs"),
    ("crash in the parser (", "crash in the parser"),
    ("support for --json output", "support for --json output"),
    ("dataloader hangs on windows", "dataloader hangs on windows"),
])
def test_finish_title_drops_dangling_words_and_punctuation(raw, finished):
    assert titles.is_dangling(raw) == (raw != finished)
    assert titles.finish_title(raw) == finished
    assert not titles.is_dangling(finished)


def test_finish_title_keeps_a_title_it_would_empty():
    assert titles.finish_title("the") == "the"
    assert titles.finish_title("with the") == "with the"
    assert titles.finish_title("") == ""


def test_verbatim_span_ignores_case_and_punctuation_but_not_order():
    body = "After upgrading to v5.0.0, the build fails with TypeError: cannot read 'map'."
    assert titles.is_verbatim_span("the build fails with typeerror", body)
    assert titles.is_verbatim_span("After upgrading to v5.0.0", body)
    assert not titles.is_verbatim_span("build fails after upgrading", body)
    assert not titles.is_verbatim_span("", body)


def test_truecase_takes_each_words_case_from_the_issue():
    body = "I use the DataLoader with num_workers=4 on Windows and get a TypeError from PyTorch."
    assert titles.truecase("dataloader hangs on windows with typeerror", body) == \
        "DataLoader hangs on Windows with TypeError"
    assert titles.truecase("memory leak in the server", "the server leaks memory") == "memory leak in the server"


def test_served_titles_are_finished(preprocessed_sample):
    from tensor2tensor.data_generators import text_encoder
    from benchmarks.tiny_model import VOCAB_NAME
    encoder = text_encoder.SubwordTextEncoder(str(preprocessed_sample / VOCAB_NAME))
    ids = encoder.encode("the build fails with") + [1, 0, 0]
    assert ids_to_title(encoder, ids) == "the build fails"


@pytest.mark.parametrize("looped, tidy", [
    ("a user user user", "a user"),
    ('render "disk fill via disk fill via disk fill via logging"', 'render "disk fill via logging"'),
    ("add foo to foo bar to bar", "add foo to foo bar to bar"),  # not back to back: kept
    ("go/analysis/analysis/analysis/analysis/passes", "go/analysis/passes"),
    ("use highghghghghghscores", "use highscores"),
    ("timeout after 1000000 ms", "timeout after 1000000 ms"),  # numbers are not loops
])
def test_loops_are_collapsed(looped, tidy):
    from serving.client import tidy_title
    assert tidy_title(looped) == tidy


def test_the_words_a_title_took_from_the_body_and_where_they_stand():
    body = "When I use a DataLoader with num_workers=4 on Windows, it hangs. On Windows only: dataloader 4ever."
    words = titles.taken_words("Windows: DataLoader with num_workers=4 on Linux", body)
    assert words == ["windows", "dataloader", "num_workers"]  # stop words, 1-letter tokens and "linux" are not
    spans = titles.word_spans(words, body)
    assert [body[s:e] for s, e in spans] == ["DataLoader", "num_workers", "Windows", "Windows", "dataloader"]
    assert titles.word_spans(words, body, limit=2) == spans[:2]
    # offsets count code points, as the page's Array.from(body) does
    assert titles.word_spans(["bug"], "😀 bug") == [[2, 5]]
    assert titles.taken_words("Crash on start", "") == []
