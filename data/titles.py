"""What a title looks like: the checks evaluation reports and the finishing the served title gets.

A generated title is judged by what a reader sees (issue 12): is it only a verbatim span of the body (copied,
not written), does it end on a dangling word or punctuation ("... fails with", "... the build,"), and how often
does one title come back. The same rules finish every title the model writes (serving.client.ids_to_title):

- finish_title: drops a trailing dangling word or punctuation (repeatedly: "fails with the," -> "fails"), and
  closes nothing it cannot see: an unclosed quote or backtick at the end is dropped with its word;
- taken_words / word_spans: the title's words that the body has too, and where they stand in the body (the web
  page highlights them, so a reader sees what the title took from the body);
- truecase: the model reads and writes lowercase text (most of its data is the lowercased Kaggle dump), so the
  served title takes each word's case from the issue's own text where the word appears there ("typeerror" ->
  "TypeError", "dataloader" -> "DataLoader"), and its first letter is capitalised when the author writes in
  mixed case.

Standard library only: data, serving and trainer all use it.
"""
from __future__ import annotations

import collections
import re

# Words a title does not end on: articles, prepositions, conjunctions, auxiliaries, pronouns that need an object.
DANGLING_WORDS = frozenset("""
a an the of to for with without in into on onto at by from as than and or but nor so yet if when while whether
that which who whom whose where because since until unless after before about over under between through via
is are was were be been being am do does did has have had can could should would will shall may might must
not no my your our their its his her this these those i we you he she they it's there's what how why
e.g i.e etc vs like such using also just very more most
""".split())
TRAILING_PUNCTUATION = ",:;-–—/(\\[{<|&+=*#@~^"
_WORD = re.compile(r"[\w][\w.+#/'-]*[\w+#]|[\w]", re.UNICODE)
_TOKEN = re.compile(r"\w+", re.UNICODE)


def _last_word(title: str) -> str:
    words = title.split()
    return words[-1].lower().strip("\"'`.!?)") if words else ""


def _unbalanced(title: str) -> bool:
    return title.count("`") % 2 == 1 or title.count('"') % 2 == 1 or title.count("(") > title.count(")")


def is_dangling(title: str) -> bool:
    """Does the title end mid-phrase: on a dangling word, on punctuation that expects more, or with a quote,
    backtick or parenthesis left open?"""
    title = title.strip()
    if not title:
        return False
    return title[-1] in TRAILING_PUNCTUATION or _last_word(title) in DANGLING_WORDS or _unbalanced(title)


def finish_title(title: str) -> str:
    """The title without what leaves it hanging (module doc); unchanged when fewer than two words would be
    left (a one-word stub says less than the dangling title)."""
    words = title.split()
    while words:
        last = words[-1]
        stripped = last.rstrip(TRAILING_PUNCTUATION)
        if stripped != last:
            if stripped:
                words[-1] = stripped
            else:
                words.pop()
            continue
        if _last_word(last) in DANGLING_WORDS or _unbalanced(" ".join(words)):
            if len(words) == 1:
                break
            words.pop()
            continue
        break
    finished = " ".join(words)
    return finished if len(finished.split()) >= 2 or not title.strip() else title.strip()


def tokens(text: str) -> list[str]:
    """Lowercase word tokens (letters and digits), the unit of the verbatim check."""
    return _TOKEN.findall(text.lower())


def is_verbatim_span(title: str, body: str) -> bool:
    """Is the title (as words, case and punctuation aside) a contiguous run of the body's words?"""
    t, b = tokens(title), tokens(body)
    if not t:
        return False
    n = len(t)
    return any(b[i:i + n] == t for i in range(len(b) - n + 1))


def taken_words(title: str, body: str) -> list[str]:
    """The title's words (lowercase tokens of 2+ characters, not DANGLING_WORDS) that are words of the body too:
    what the title took from the body, in the title's order, each once."""
    in_body = set(tokens(body))
    out: list[str] = []
    for word in tokens(title):
        if len(word) > 1 and word not in DANGLING_WORDS and word in in_body and word not in out:
            out.append(word)
    return out


def word_spans(words: list[str], body: str, limit: int = 200) -> list[list[int]]:
    """[start, end) character offsets (code points) in body of each whole-word occurrence of words (lowercase, as
    taken_words gives them), in the body's order, at most limit of them."""
    wanted = set(words)
    spans = []
    for match in _TOKEN.finditer(body):
        if match.group(0).lower() in wanted:
            spans.append([match.start(), match.end()])
            if len(spans) == limit:
                break
    return spans


def truecase(title: str, body: str) -> str:
    """Each word of the title in the case the body writes it (the most common cased form); the first letter
    upper-cased when the body is written in mixed case. A lowercase body leaves the title as it is."""
    if not body or body == body.lower():
        return title
    forms = collections.defaultdict(collections.Counter)
    for word in _WORD.findall(body):
        forms[word.lower()][word] += 1

    def case_of(match):
        word = match.group(0)
        seen = forms.get(word.lower())
        if not seen:
            return word
        (best, count), = seen.most_common(1)
        lower = seen.get(word.lower(), 0)
        return word if lower >= count else best
    cased = _WORD.sub(case_of, title)
    return cased[:1].upper() + cased[1:] if cased else cased
