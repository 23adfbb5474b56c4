"""Pseudo-titled issues: the lessons of the warm start's curriculum (docs/model-history.md, "The previous warm starts").

QUALITY-NOTES.md: a Transformer trained on ~15-40k (body, title) pairs never learns to attend to the body and
writes vague stock titles. Two tasks that are easier to learn teach it to copy from the body (lead), then which
span of the body a title takes (extract). Training on the real titles afterwards undoes it (measured: the
history above).

  lead     the title is the body's first sentence, cut to LEAD_WORDS words: pure copying from the start of the
           input (any issue with a body will do, so every source in ../shared/data counts);
  extract  the title is the window of the body's first WINDOW_SCOPE words that best matches the real title (the
           highest ROUGE-L F1 over windows of MIN_WINDOW..MAX_WINDOW words, about a title's length): copying the
           span a title would take. Issues whose best window matches less than MIN_WINDOW_F1 take the lead
           (FALLBACK_WORDS words), so every pseudo title is a title-sized span of the body.

    python -m data.pseudo_titles --task lead|extract --input FILE [--input ...] --out DIR

Writes DIR/<task>.jsonl in the GitHub REST shape the readers accept (html_url = the issue's id, so the train/eval
hash split of `python -m data.preprocess` is the same as for the real titles) and DIR/<task>.dead_letter.jsonl
for rows that cannot be used, with the reason. Only the train split is written: no eval issue, not even its body,
is trained on. Bodies are cleaned here (data/clean.py) exactly as the preprocessing job cleans them.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from typing import Iterable, Optional

from data import clean, readers
from data.records import Issue, Reject, split_of

LEAD_WORDS = 14
WINDOW_SCOPE = 40         # about the 64 subwords transformer_ghsumm_small reads
MIN_WINDOW, MAX_WINDOW = 6, 12
MIN_WINDOW_F1 = 0.2
FALLBACK_WORDS = 10
TASKS = ("lead", "extract")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def lead_title(body: str, max_words: int = LEAD_WORDS) -> str:
    """The body's first sentence (a sentence of under 3 words runs into the next), at most max_words words."""
    words = []
    for sentence in _SENTENCE_END.split(body):
        words += sentence.split()
        if len(words) >= 3:
            break
    return " ".join(words[:max_words])


def _keys(words: list[str]) -> list[str]:
    return [_NOT_WORD.sub("", w.lower()) for w in words]


def _lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous = 0
        for j, y in enumerate(b):
            previous, row[j + 1] = row[j + 1], previous + 1 if x == y else max(row[j + 1], row[j])
    return row[-1]


def best_window(body: str, title: str, scope: int = WINDOW_SCOPE, min_window: int = MIN_WINDOW,
                max_window: int = MAX_WINDOW) -> tuple[str, float]:
    """The window of the body's first `scope` words with the highest ROUGE-L F1 against the title (words compared
    without case and punctuation), and that F1; the earliest, then shortest, wins a tie."""
    words = body.split()[:scope]
    keys, title_keys = _keys(words), [k for k in _keys(title.split()) if k]
    best, best_f1 = "", 0.0
    shortest = min(min_window, len(words))  # a body shorter than a window is one window
    if not title_keys:
        return best, best_f1
    for start in range(len(words)):
        if not keys[start] or keys[start] not in title_keys:
            continue  # a best window starts with a matching word
        for end in range(start + shortest, min(start + max_window, len(words)) + 1):
            window = [k for k in keys[start:end] if k]
            common = _lcs(window, title_keys)
            if not common:
                continue
            precision, recall = common / len(window), common / len(title_keys)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best, best_f1 = " ".join(words[start:end]), f1
    return best, best_f1


def pseudo_title(task: str, issue: Issue) -> str:
    if task == "lead":
        return lead_title(issue.body)
    window, f1 = best_window(issue.body, issue.title)
    return window if f1 >= MIN_WINDOW_F1 else lead_title(issue.body, FALLBACK_WORDS)


def pseudo_issues(task: str, paths: Iterable[str], eval_percent: float, counts: Counter,
                  rejects: list) -> Iterable[dict]:
    """GitHub-REST-shaped rows with pseudo titles, train split only; counts says what happened to every row."""
    for path in paths:
        for row in readers.read_issues(path):
            counts["rows"] += 1
            if not isinstance(row, (Issue, Reject)):
                counts["skipped." + row.reason] += 1
                continue
            cleaned = row if isinstance(row, Reject) else clean.clean_issue(row)
            if isinstance(cleaned, Reject):
                counts["rejected." + cleaned.reason] += 1
                rejects.append(cleaned.to_dict())
                continue
            if split_of(cleaned.id, eval_percent) == "eval":
                counts["eval_split_left_out"] += 1
                continue
            title = pseudo_title(task, cleaned)
            if not title:
                counts["rejected.no_pseudo_title"] += 1
                rejects.append({"reason": "no_pseudo_title", "source": cleaned.source, "id": cleaned.id})
                continue
            counts["written"] += 1
            yield {"html_url": cleaned.id, "title": title, "body": cleaned.body, "created_at": cleaned.created_at}


def write(task: str, inputs: list[str], out_dir: str, eval_percent: float = 10.0) -> tuple[str, Counter]:
    os.makedirs(out_dir, exist_ok=True)
    counts, rejects = Counter(), []
    path = os.path.join(out_dir, f"{task}.jsonl")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for row in pseudo_issues(task, readers.expand_inputs(inputs), eval_percent, counts, rejects):
            f.write(json.dumps(row) + "\n")
    os.replace(path + ".tmp", path)
    with open(os.path.join(out_dir, f"{task}.dead_letter.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rejects)
    return path, counts


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.pseudo_titles", description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--input", action="append", required=True, help="issue file or glob; repeat for more")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--eval_percent", type=float, default=10.0, help="as in data.preprocess")
    args = parser.parse_args(argv)
    try:
        path, counts = write(args.task, args.input, args.out, args.eval_percent)
    except (FileNotFoundError, readers.FormatError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.task}: wrote {counts['written']} issues to {path}; counts {dict(sorted(counts.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
