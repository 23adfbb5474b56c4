"""Turning an issue's markdown into the text the model learns from. Every choice here is deliberate:

- HTML comments (<!-- ... -->) are removed: issue templates put their instructions in them.
- Issue-template boilerplate is removed, so that no template line can become a title:
  - template sections: a label line (a markdown heading "### Steps to reproduce", a bold-only line, italics
    inside included, "**Do you want to request a *feature* or report a *bug*?**", or a bold label before its
    answer "**OS:** Windows") goes; its section goes with it when the label names the environment (versions,
    OS, platform, browser, device, compiler, CUDA, "Issue type", "Custom code", ...) or when its answer is a
    short form value of at most SHORT_ANSWER_WORDS words ("Bug", "No", "binary", "2.13.0") on lines of its own;
    otherwise the text under it (or after it on its line) stays;
  - the labels of `<details>` blocks ("<summary>Click to expand!</summary>"; the block's text stays: TensorFlow's
    form puts the whole issue in one), markdown tables (environment tables), environment bullets ("- OS: Windows 10"), task-list lines
    ("- [x] I searched existing issues", with the indented lines that continue them) and the sections under a
    checklist label ("### Pull Request Readiness Checklist", OpenCV's), placeholder answers ("_No response_", "N/A", "NULL", "none") and the
    instructions templates leave in ("A clear and concise description of what the bug is.");
  - greetings and thanks before the problem ("Hi, thanks for the great library! I have a question."): leading
    sentences that are only pleasantries are dropped, so the problem statement comes first.
- Code: a fenced block (``` or ~~~, and Jira's {code}/{noformat}) keeps its first CODE_LINES_KEPT lines and
  drops the rest. The first line of a log or trace usually names the error, which titles often quote; the rest
  is noise for a title and would crowd the body out of the model's input window.
- Long logs outside fences: a run of more than LOG_LINES_KEPT log-like lines (stack frames, timestamped lines,
  a Python traceback) keeps its first LOG_LINES_KEPT - 1 lines and its last one (Java and JavaScript traces name
  the error first, Python's last); the rest is dropped, for the same reason.
- Markdown images are removed, links keep their text, other HTML/Jira markup tags are removed (their text
  stays), URLs are shortened to their host (a full URL is a long unique token that teaches nothing).
- Whitespace is collapsed to single spaces: the model sees one line. Text is lowercased by default (the
  Kaggle-style data, which most of the corpus is, is already lowercase).
- The body is cut to max_body_words words (default 300): the signal for a title is mostly at the start, and
  shorter inputs train faster.
"""
from __future__ import annotations

import re
from typing import Optional

from data.readers import MAX_RAW_CHARS
from data.records import Issue, Reject

CODE_LINES_KEPT = 3
LOG_LINES_KEPT = 3
MAX_BODY_WORDS = 300
MAX_TITLE_WORDS = 40

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_JIRA_BLOCK = re.compile(r"\{(code|noformat)(?::[^}]*)?\}(.*?)(?:\{\1\}|\Z)", re.S | re.I)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t].*$|^[ \t]*h[1-6]\.[ \t].*$", re.M)
_BOLD_LINE = re.compile(r"^[ \t]*(\*\*|__)[^\n*_]{1,80}(\*\*|__)[ \t]*:?[ \t]*$", re.M)
SHORT_ANSWER_WORDS = 3
ENV_VALUE_CHARS = 60  # an environment answer on its label's line is at most this long
# a label line: a heading, or a bold-only line (italics inside allowed), optionally ending in a colon
_LABEL_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+(?P<h>.+?)[ \t#]*|h[1-6]\.[ \t]+(?P<j>.+?)"
                         r"|(?:\*\*|__)(?P<b>(?:[^*_\n]|\*(?!\*)|_(?!_)){1,120}?)(?:\*\*|__)[ \t]*:?)[ \t]*$")
# a bold label and its answer on one line: "**OS:** Windows 10", "**Version**: 1.2"
_INLINE_LABEL = re.compile(r"^[ \t]*[-*]?[ \t]*(?:\*\*|__)(?P<label>[^*_\n]{1,60}?):?(?:\*\*|__):?[ \t]*(?P<value>\S.*)$")
_ENV_WORDS = (r"versions?|os|platform|operating system|browser|device|environment|env|system info\w*|python|node"
              r"|npm|yarn|java|jdk|bazel|gcc|compiler|cuda|cudnn|gpu|cpu|ram|hardware|kernel|distribution|distro"
              r"|architecture|issue type|custom code|reproduced|nightly|package manager|toolchain|vs ?code"
              r"|desktop|smartphone|mobile|react native")
_ENV_LABEL = re.compile(r"\b(?:%s)\b" % _ENV_WORDS, re.I)
_ENV_BULLET = re.compile(r"^[ \t]*(?:[-*+][ \t]+)?(?:\*\*|__)?(?:[\w ./&()-]{0,30}?\b(?:%s)\b[\w ./&()-]{0,20}?)"
                         r"(?:\*\*|__)?[ \t]*[:=][ \t]*\S.{0,59}$" % _ENV_WORDS, re.I | re.M)
_SUMMARY = re.compile(r"<summary\b[^>]*>.*?(?:</summary>|\Z)", re.S | re.I)
_TABLE_LINE = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.M)
_TEMPLATE_SENTENCE = re.compile(
    r"a clear and concise description of [^.\n]*[.\n]|steps to reproduce the behaviou?r:?"
    r"|if applicable, add [^.\n]*[.\n]|add any other context [^.\n]*[.\n]|please (?:complete|provide) the "
    r"following information[^.\n]*[.:\n]|\(?please fill (?:in|out) [^.\n]*[.\n]", re.I)
# Whole leading sentences (or clauses ending in a comma) that are only pleasantries: "Hi, ", "Thanks for ...!".
_PLEASANTRY = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening)|dear [\w .-]{1,30})\b[^.!?,]{0,40}"
    r"|(?:first of all,? )?(?:many |big )?(?:thanks|thank you|thx|kudos)\b(?! to\b)[^.!?]{0,80}"
    r"|(?:i|we) (?:really )?(?:love|like|enjoy|appreciate) [^.!?]{0,60}"
    r"|i(?: have|'ve got| got) a (?:quick |small |simple )?question(?: about [^.!?]{0,60})?"
    r"|(?:quick|small|simple) question|i hope (?:you|this|all)[^.!?]{0,60}"
    r"|(?:i am|i'm) (?:new to [^.!?]{0,40}|a (?:beginner|newbie)[^.!?]{0,40}))[ \t]*(?:[.!?,:;)]+\s+|[.!?]*$)", re.I)
# A task-list item with the lines that continue it (indented deeper, not an item of their own).
_TASK_LINE = re.compile(r"^([ \t]*)[-*][ \t]+\[[ xX]\][^\n]*(?:\n\1[ \t]+(?![-*+][ \t])\S[^\n]*)*$", re.M)
# A section under such a label is a checklist's instructions ("### Pull Request Readiness Checklist").
_CHECKLIST_LABEL = re.compile(r"\bcheck ?list\b", re.I)
_PLACEHOLDER = re.compile(r"^[ \t]*(_no response_|n/?a|null|none|no|-)[ \t]*\.?[ \t]*$", re.M | re.I)
_AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*://[^<>\s]+)>")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^)]*)\)")
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>|\{(?:html|quote|color(?::[^}]*)?|panel(?::[^}]*)?)\}")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://([^/\s)\]>\"']+)[^\s)\]>\"']*")
_LOG_LINE = re.compile(
    r"^\s*(at\s+\S+[.(]|File \".*\", line \d+|\S+Error(?::|\b)|\S+Exception\b|Traceback \(most recent|"
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\[?\d\d:\d\d:\d\d|#\d+\s+0x[0-9a-f]+|\s*\^+\s*$)")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _keep_head(block: str) -> str:
    lines = [line for line in block.splitlines() if line.strip()]
    return "\n".join(lines[:CODE_LINES_KEPT]) + "\n"


def _trim_log_runs(text: str) -> str:
    """Runs of more than LOG_LINES_KEPT log-like lines keep their first LOG_LINES_KEPT - 1 lines and their last
    (a Java/JS trace names the error first, a Python traceback last)."""
    out, run, after_frame = [], [], False

    def flush():
        out.extend(run if len(run) <= LOG_LINES_KEPT else run[:LOG_LINES_KEPT - 1] + run[-1:])
        run.clear()

    for line in text.split("\n"):
        # a Python traceback's source line (indented, after its `File "...", line N`) continues the run
        is_log = bool(_LOG_LINE.match(line)) or (after_frame and line.startswith("    "))
        after_frame = line.lstrip().startswith('File "')
        if is_log:
            run.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


def _label(line: str) -> Optional[str]:
    """The text of a label line (heading or bold-only line), or None."""
    m = _LABEL_LINE.match(line)
    return None if not m else (m.group("h") or m.group("j") or m.group("b") or "").strip()


def _is_short_answer(lines: list) -> bool:
    text = " ".join(line.strip() for line in lines if line.strip())
    return bool(text) and len(text.split()) <= SHORT_ANSWER_WORDS and len(text) <= 40


def drop_template_sections(text: str) -> str:
    """Removes label lines; with them, sections about the environment and short form answers (module doc)."""
    out: list = []
    label, section = None, []

    def flush():
        if label is None or not (_ENV_LABEL.search(label) or _CHECKLIST_LABEL.search(label)
                                 or _is_short_answer(section)):
            out.extend(section)
        section.clear()

    for line in text.split("\n"):
        found = _label(line)
        if found is not None:
            flush()
            label = found
            continue
        inline = _INLINE_LABEL.match(line)
        if inline:
            value = inline.group("value")
            if not (_ENV_LABEL.search(inline.group("label")) and len(value) <= ENV_VALUE_CHARS):
                section.append(value)  # (a long value is text, as in the Kaggle dump's one-line bodies)
            continue
        section.append(line)
    flush()
    return "\n".join(out)


def drop_pleasantries(text: str) -> str:
    """The one-line text without the greetings and thanks it starts with (module doc)."""
    for _ in range(4):
        shorter = _PLEASANTRY.sub("", text, count=1)
        if shorter == text or not shorter.strip():
            break
        text = shorter
    return text


def clean_body(text: Optional[str], lowercase: bool = True, max_words: int = MAX_BODY_WORDS) -> str:
    text = _CONTROL.sub(" ", (text or "").replace("\r\n", "\n").replace("\r", "\n"))
    text = _HTML_COMMENT.sub(" ", text)
    text = _SUMMARY.sub("\n", text)
    text = _FENCE.sub(lambda m: _keep_head(m.group(2)), text)
    text = _JIRA_BLOCK.sub(lambda m: _keep_head(m.group(2)), text)
    text = _TABLE_LINE.sub("", text)
    text = _ENV_BULLET.sub("", text)
    text = drop_template_sections(text)
    text = _TEMPLATE_SENTENCE.sub(" ", text)
    text = _HEADING.sub("", text)
    text = _BOLD_LINE.sub("", text)
    text = _TASK_LINE.sub("", text)
    text = _PLACEHOLDER.sub("", text)
    text = _trim_log_runs(text)
    text = _AUTOLINK.sub(r" \1 ", text)
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _URL.sub(r"\1", text)
    words = drop_pleasantries(_SPACES.sub(" ", text).strip()).split(" ")
    text = " ".join(words[:max_words]) if max_words else " ".join(words)
    return text.lower() if lowercase else text


def clean_title(text: Optional[str], lowercase: bool = True) -> str:
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text or "")).strip()
    return text.lower() if lowercase else text


def clean_issue(issue: Issue, lowercase: bool = True, max_body_words: int = MAX_BODY_WORDS) -> Issue | Reject:
    """The cleaned issue, or a Reject saying why it cannot be a training example."""
    title = clean_title(issue.title, lowercase)
    body = clean_body(issue.body, lowercase, max_body_words)
    reason = ("empty_title" if not title else
              "title_too_long" if len(title.split()) > MAX_TITLE_WORDS else
              "empty_body" if not body else "")
    if reason:
        raw = f"title: {issue.title}\nbody: {issue.body}"[:MAX_RAW_CHARS]
        return Reject(reason, issue.source, 0, raw, f"id {issue.id}")
    return issue.replace(title=title, body=body)


MOSTLY = 0.5  # a body whose letters are more than this share of one other script is "mostly" in that script


def main_foreign_script(text: str) -> Optional[tuple[str, float]]:
    """The script most of the text's letters are written in, and its share of them, when that is not Latin
    (("Cyrillic", 0.93) for a Russian body; None for English, or for a body under half of whose letters share a
    non-Latin script). The model learned from English issues: a body in another script gets a title that may not
    make sense, and the web page says so. A letter's script is the first word of its Unicode name ("CJK",
    "HIRAGANA", "CYRILLIC", ...); Japanese kana count with CJK ideographs, and each counts as two letters (a
    Chinese character carries about what a short English word does: 21 of them beside "DataLoader",
    "num_workers" and "Windows" make a Chinese body)."""
    import unicodedata
    counts: dict = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        script = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
        script = "CJK" if script in ("HIRAGANA", "KATAKANA") else script
        weight = 2 if script == "CJK" else 1
        letters += weight
        if script != "LATIN":
            counts[script] = counts.get(script, 0) + weight
    if not counts:
        return None
    script, n = max(counts.items(), key=lambda kv: kv[1])
    share = n / letters
    if share <= MOSTLY:
        return None
    return ("CJK" if script == "CJK" else script.capitalize()), share
