"""Evaluate an exported model: decode the eval split through the SavedModel, score ROUGE against lead baselines, gate.

    python -m trainer.evaluate --saved_model MODEL/export --data_dir DATA --out EVAL [--eval_issues FILE] \
        [--max_issues N] [--max_input_length 256] [--batch_size 32] \
        [--threshold_rouge_l X] [--baseline_metrics PREV/metrics.json] [--min_improvement 0.0]
    python -m trainer.evaluate --baselines_only --data_dir DATA [--max_issues N]

Runs in the app environment (TF 2.21). What is evaluated is what is served: the SavedModel is loaded in-process
with tf.saved_model.load and called through its serving_default signature (a batch of serialized tf.train.Example
with int64 "inputs" = body subword ids ending in EOS), exactly as the model server calls it.

Inputs
  --saved_model   a SavedModel version directory (holds saved_model.pb or .pbtxt), or a model base path / T2T
                  export dir holding numbered versions: the highest number is evaluated (as TF Serving does).
  --data_dir      the preprocessing job's output: eval_issues.jsonl (the eval split as cleaned text).
  --eval_issues   the issues to score instead (same row format), e.g. a retrain's new_eval_issues.jsonl (the
                  held-out part of the new issues), so one model is scored on either eval set.
  vocabulary      the text is encoded with the model's own vocabulary: --vocab_file if given, else the one
                  `python -m trainer export` puts in <version>/assets.extra/, else the one in --data_dir. Its
                  size is checked against the SavedModel's embedding before decoding.
Issues are taken in id order (eval_issues.jsonl's line order is not stable across Beam runs), the first
--max_issues of them, so two runs on the same data score the same issues.

Decoding options
  --max_input_length  the encoded body is cut to this many subword ids, EOS included (as t2t-decoder's
                      max_input_size does).
  Beam size, alpha and extra decode length are baked into the export by T2T (`--decode_hparams=beam_size=4,
  alpha=0.6` at export time, or `python -m trainer export --beam_size`; titles are cut at input length +
  extra_length ids). They cannot be changed here. metrics.json records them: from the model card
  <version>/assets.extra/ghsumm_model.json when the export wrote one, otherwise the beam size read from the
  graph (the beam search tiles its state by the beam size; a graph without that tiling decodes greedily).

Scores: ROUGE-1/2/L F1 (rouge-score, Porter stemmer on), mean over issues, in percent, for the model and for
three lead baselines on the same issues: the body's first 8 words, first 12 words, and first sentence. Plus a
collapse check (QUALITY-NOTES.md): distinct generated titles / N, and the share of issues given the most
common generated title; and what a reader sees (data/titles.py): the share of titles that are verbatim spans of
the body the model read, the share ending on a dangling word or punctuation, the mean title length.

Outputs in --out: metrics.json (every number, the model, the options, 20 sample rows), predictions.jsonl (every
issue: id, body as the model read it, true_title, generated_title, rougeL, and score: the model's own score of
its title, whose first quartile and median metrics.json keeps as model_scores), report.html (a self-contained
page), gate.txt ("true" or "false", for a pipeline condition).

Gate: passes when ROUGE-L >= --threshold_rouge_l (if given) and, if --baseline_metrics is given, ROUGE-L >=
that file's model ROUGE-L + --min_improvement ("at least as good as the previous model" with the default 0).
With neither it passes. Exit status 0 whether the gate passes or not; 2 for bad inputs (missing SavedModel,
missing eval_issues.jsonl or vocabulary, vocabulary that is not the model's, unreadable previous metrics).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import logging
import os
import re
import sys
import time
from typing import Callable, Iterable, Optional

from data import contract, files, project

project.quiet_tensorflow()  # make quality, warm_start and the evaluate step load the SavedModel in-process

log = logging.getLogger("ghsumm.evaluate")
EVAL_ISSUES = contract.EVAL_ISSUES_FILE
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
N_SAMPLES = 20
BODY_EXCERPT_CHARS = 300
MODEL_CARD = contract.model_card_path("")  # assets.extra/<card>, written by `python -m trainer export`
MODEL_VOCAB = contract.model_vocab_path("")  # the model's vocabulary, same export


class InputError(Exception):
    """A bad input (missing SavedModel, data, vocabulary mismatch): the CLI exits 2 with this message."""


# ---------------------------------------------------------------- data

def load_eval_issues(path: str, max_issues: Optional[int] = None) -> list[dict]:
    """The eval issues (dicts with at least id, title, body) in id order, the first max_issues of them."""
    if not files.isfile(path):
        raise InputError("eval issues not found: %s (written by `python -m data.preprocess` as %s in its "
                         "--output_dir)" % (path, EVAL_ISSUES))
    issues = []
    for number, line in enumerate(files.read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            issue = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError("%s line %d is not JSON: %s" % (path, number, e)) from None
        if not all(isinstance(issue.get(k), str) for k in ("title", "body")) or "id" not in issue:
            raise InputError("%s line %d lacks a string id, title or body" % (path, number))
        issues.append(issue)
    issues.sort(key=lambda i: str(i["id"]))
    if max_issues is not None:
        issues = issues[:max_issues]
    if not issues:
        raise InputError("no eval issues in %s" % path)
    return issues


def issues_fingerprint(issues: list[dict]) -> str:
    """sha1 over the issues' ids: two metrics files with the same fingerprint scored the same issues."""
    return hashlib.sha1("\n".join(str(i["id"]) for i in issues).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- lead baselines and ROUGE

def lead_words(body: str, n: int) -> str:
    """The body's first n whitespace-separated words."""
    return " ".join(body.split()[:n])


_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def first_sentence(body: str) -> str:
    """The body up to the first '.', '!' or '?' followed by whitespace, or the first line break; the whole
    body if it has neither."""
    return _SENTENCE_END.split(body.strip(), maxsplit=1)[0].strip()


BASELINES: dict[str, Callable[[str], str]] = {
    "lead_8_words": lambda body: lead_words(body, 8),
    "lead_12_words": lambda body: lead_words(body, 12),
    "first_sentence": first_sentence,
}


def rouge_per_issue(references: list[str], predictions: list[str]) -> list[dict]:
    """ROUGE-1/2/L F1 in percent of each prediction against its reference (Porter stemmer on)."""
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    return [{t: 100.0 * s.fmeasure for t, s in scorer.score(ref, pred).items()}
            for ref, pred in zip(references, predictions, strict=True)]


def mean_rouge(per_issue: list[dict]) -> dict:
    return {t: sum(s[t] for s in per_issue) / len(per_issue) for t in ROUGE_TYPES}


def baseline_titles(issues: list[dict]) -> dict[str, list[str]]:
    return {name: [make(i["body"]) for i in issues] for name, make in BASELINES.items()}


def compute_baselines(issues: list[dict]) -> dict[str, dict]:
    """{baseline name: mean ROUGE-1/2/L F1 in percent} over the issues."""
    titles = [i["title"] for i in issues]
    return {name: mean_rouge(rouge_per_issue(titles, preds)) for name, preds in baseline_titles(issues).items()}


def collapse_stats(generated: list[str]) -> dict:
    """Does the model's output depend on its input? Distinct titles / N and the most common title's share."""
    counts = collections.Counter(generated)
    title, count = counts.most_common(1)[0]
    return {"distinct_titles": len(counts), "distinct_ratio": len(counts) / len(generated),
            "most_common_title": title, "most_common_count": count, "most_common_share": count / len(generated)}


def reading_stats(generated: list[str], bodies_read: list[str]) -> dict:
    """What a reader sees (data/titles.py): the share of titles that are only a verbatim span of the body the
    model read, the share that end on a dangling word or punctuation, and the mean title length in words."""
    from data import titles
    n = len(generated)
    return {"verbatim_span_share": sum(titles.is_verbatim_span(t, b) for t, b in zip(generated, bodies_read)) / n,
            "dangling_share": sum(titles.is_dangling(t) for t in generated) / n,
            "mean_title_words": sum(len(t.split()) for t in generated) / n}


# ---------------------------------------------------------------- the SavedModel

def find_saved_model(path: str) -> str:
    """The SavedModel version directory: path itself, or its highest-numbered subdirectory holding one."""
    def is_saved_model(d):
        return any(files.isfile(os.path.join(d, n)) for n in ("saved_model.pb", "saved_model.pbtxt"))
    if not files.isdir(path):
        raise InputError("SavedModel not found: %s is not a directory" % path)
    if is_saved_model(path):
        return path
    from serving import versions
    found = [v for v in versions.versions(path) if is_saved_model(os.path.join(path, str(v)))]
    if not found:
        raise InputError("no SavedModel in %s (neither saved_model.pb(txt) there nor a numbered version "
                         "directory holding one)" % path)
    return os.path.join(path, str(found[-1]))


def load_saved_model(version_dir: str):
    """The SavedModel loaded as the model server loads it (serving.models.load_saved_model: without TF's warning
    per T2T variable); keep the result alive while using its signatures."""
    from serving import models
    with files.tf_path(version_dir) as path:  # a local copy where TF cannot read it (data/files.py)
        return models.load_saved_model(path)


def model_vocab_size(version_dir: str) -> Optional[int]:
    """The vocabulary size the model was built for, from its T2T embedding variables'
    name (transformer/symbol_modality_<vocab>_<hidden>/...); None if no such variable."""
    import tensorflow as tf
    with files.tf_path(os.path.join(version_dir, "variables")) as variables:  # as load_saved_model
        names = [name for name, _ in tf.train.list_variables(os.path.join(variables, "variables"))]
    sizes = {int(m.group(1)) for name in names for m in [re.search(r"symbol_modality_(\d+)_\d+", name)] if m}
    if len(sizes) > 1:
        raise InputError("the SavedModel has embeddings for several vocabulary sizes %s; evaluate supports a "
                         "shared subword vocabulary only" % sorted(sizes))
    return sizes.pop() if sizes else None


def vocabulary_path(version_dir: str, data_dir: str, vocab_file: Optional[str] = None) -> str:
    """--vocab_file, else the vocabulary exported with the model, else the data dir's."""
    if vocab_file:
        return vocab_file
    exported = os.path.join(version_dir, MODEL_VOCAB)
    return exported if files.isfile(exported) else os.path.join(data_dir, contract.VOCAB_FILENAME)


def load_vocabulary(path: str):
    if not files.isfile(path):
        raise InputError("vocabulary not found: %s" % path)
    from tensor2tensor.data_generators import text_encoder
    with files.tf_path(path) as local:  # T2T reads through TF's file system
        return text_encoder.SubwordTextEncoder(local)


def decode_settings(version_dir: str, signature) -> dict:
    """How the export decodes (T2T bakes decode_hparams into the graph at export time): beam_size, and alpha,
    extra_length and the copy model's decoding rules (contract.DECODE_RULES) where known, with where they were
    read: the model card `python -m trainer export` writes into assets.extra/, else the graph (T2T's beam search
    tiles its state to [batch, beam, ...]; a transformer graph without that tiling decodes greedily, beam 1)."""
    card_path = os.path.join(version_dir, MODEL_CARD)
    if files.isfile(card_path):
        card = json.loads(files.read_text(card_path))
        if card.get("beam_size") is not None:
            return {"beam_size": int(card["beam_size"]), "alpha": card.get("alpha"),
                    "extra_length": card.get("extra_length"), "source": MODEL_CARD,
                    "rules": {rule: card[rule] for rule in contract.DECODE_RULES if rule in card}}
    from tensorflow.python.framework import tensor_util
    ks = collections.Counter()
    for op in signature.graph.get_operations():
        if op.type == "Tile" and op.inputs[1].op.type == "Const":
            multiples = tensor_util.MakeNdarray(op.inputs[1].op.get_attr("value")).tolist()
            if (isinstance(multiples, list) and len(multiples) >= 2 and multiples[1] > 1
                    and multiples[0] == 1 and all(m == 1 for m in multiples[2:])):
                ks[multiples[1]] += 1
    if ks:
        return {"beam_size": ks.most_common(1)[0][0], "alpha": None, "extra_length": None,
                "source": "graph (beam search tiling)"}
    return {"beam_size": 1, "alpha": None, "extra_length": None, "source": "graph (no beam search tiling: greedy)"}


def encode_body(encoder, body: str, max_input_length: int) -> list[int]:
    """Body subword ids as the model takes them: cut to max_input_length ids including the final EOS."""
    return contract.serving_input_ids(encoder, body, max_input_length)


def decode_title(encoder, ids: Iterable[int]) -> str:
    """Output ids -> text exactly as the web app shows it (serving.client.ids_to_title: up to the first EOS,
    padding dropped, a word repeated back to back collapsed)."""
    from serving.client import ids_to_title
    return ids_to_title(encoder, ids)


def serialize_inputs(ids: list[int]) -> bytes:
    import tensorflow as tf
    return tf.train.Example(features=tf.train.Features(feature={
        contract.INPUTS_FEATURE: tf.train.Feature(int64_list=tf.train.Int64List(value=ids))})).SerializeToString()


class Progress:
    """Reports 'decoded i/N issues, x issues/s, ETA': written to stream when one is given, else logged."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream, self.start = total, stream, time.time()

    def update(self, done: int) -> None:
        elapsed = max(time.time() - self.start, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        message = "decoded %d/%d issues, %.2f issues/s, elapsed %s, ETA %s" % (done, self.total, rate, _hms(elapsed),
                                                                             _hms(eta))
        if self.stream:
            self.stream.write(message + "\n")
            self.stream.flush()
        else:
            log.info(message)


def _hms(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    return str(datetime.timedelta(seconds=int(round(seconds))))


def decode_issues(signature, encoder, inputs: list[list[int]], batch_size: int,
                  progress: Optional[Progress] = None) -> tuple[list[str], list[Optional[float]]]:
    """Generated titles for the encoded bodies (encode_body), in their order, through the serving signature in
    batches, and the model's score of each (the beam search's length-normalized log-probability, as served;
    None where the export has no scores output). Batches are formed from bodies of similar encoded length (less
    padding, shorter decodes), then put back in order."""
    import tensorflow as tf
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    titles: list[Optional[str]] = [None] * len(inputs)
    scores: list[Optional[float]] = [None] * len(inputs)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        result = signature(input=tf.constant([serialize_inputs(inputs[i]) for i in batch]))
        batch_scores = (result["scores"].numpy().reshape(len(batch), -1)[:, 0] if "scores" in result
                        else [None] * len(batch))
        for i, ids, score in zip(batch, result["outputs"].numpy(), batch_scores):
            titles[i] = decode_title(encoder, ids)
            scores[i] = None if score is None else round(float(score), 4)
        if progress:
            progress.update(start + len(batch))
    return titles, scores


def score_quartiles(scores: list[Optional[float]]) -> Optional[dict]:
    """The first quartile and the median of the model's scores (None without scores): the webhook suggests a title
    only above GHSUMM_SUGGEST_MIN_SCORE, the first quartile on the bundled sample (webapp/suggestions.py)."""
    import numpy as np
    known = [s for s in scores if s is not None]
    if not known:
        return None
    return {"first_quartile": round(float(np.percentile(known, 25)), 2), "median": round(float(np.median(known)), 2)}


# ---------------------------------------------------------------- gate

def read_previous_rouge_l(path: str) -> tuple[float, Optional[str]]:
    """(model ROUGE-L, issues fingerprint) from an earlier metrics.json."""
    try:
        previous = json.loads(files.read_text(path))
        return float(previous["rouge"]["model"]["rougeL"]), previous.get("data", {}).get("issues_sha1")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError("cannot read the previous model's ROUGE-L from %s (%s: %s)"
                         % (path, type(e).__name__, e)) from None


def gate(rouge_l: float, threshold: Optional[float] = None, previous_rouge_l: Optional[float] = None,
         min_improvement: float = 0.0) -> dict:
    """Passes when rouge_l >= threshold (if given) and rouge_l >= previous_rouge_l + min_improvement (if
    given). ROUGE-L values are rounded to 6 decimals first, so a re-run of the same model counts as equal."""
    rouge_l = round(rouge_l, 6)
    reasons, passed = [], True
    if threshold is not None:
        ok = rouge_l >= threshold
        passed &= ok
        reasons.append("ROUGE-L %.2f %s threshold %.2f" % (rouge_l, ">=" if ok else "<", threshold))
    if previous_rouge_l is not None:
        needed = round(previous_rouge_l + min_improvement, 6)
        ok = rouge_l >= needed
        passed &= ok
        reasons.append("ROUGE-L %.2f %s previous %.2f + min improvement %.2f"
                       % (rouge_l, ">=" if ok else "<", previous_rouge_l, min_improvement))
    if not reasons:
        reasons.append("no threshold and no previous metrics: passes")
    return {"passed": bool(passed), "rouge_l": rouge_l, "threshold_rouge_l": threshold,
            "previous_rouge_l": previous_rouge_l, "min_improvement": min_improvement, "reasons": reasons}


# ---------------------------------------------------------------- the whole evaluation

def evaluate(saved_model: str, data_dir: str, out: str, max_issues: Optional[int] = None,
             max_input_length: int = 256, batch_size: int = 32, threshold_rouge_l: Optional[float] = None,
             baseline_metrics: Optional[str] = None, min_improvement: float = 0.0,
             vocab_file: Optional[str] = None, progress_stream=None, eval_issues: Optional[str] = None) -> dict:
    """Decode, score, gate; write metrics.json, report.html and gate.txt into out; return the metrics. The issues:
    eval_issues, else the data dir's eval_issues.jsonl."""
    if max_input_length < 2:
        raise InputError("--max_input_length must be at least 2 (one id plus EOS)")
    if batch_size < 1:
        raise InputError("--batch_size must be at least 1")
    # Every input is checked before the (slow) decode starts.
    version_dir = find_saved_model(saved_model)
    eval_issues = eval_issues or os.path.join(data_dir, EVAL_ISSUES)
    issues = load_eval_issues(eval_issues, max_issues)
    vocab_file = vocabulary_path(version_dir, data_dir, vocab_file)
    encoder = load_vocabulary(vocab_file)
    model_vocab = model_vocab_size(version_dir)
    if model_vocab is not None and model_vocab != encoder.vocab_size:
        raise InputError("vocabulary mismatch: %s has %d subwords but the SavedModel %s was trained with %d; "
                         "pass the model's own vocabulary with --vocab_file"
                         % (vocab_file, encoder.vocab_size, version_dir, model_vocab))
    previous_rouge_l, previous_sha1 = (read_previous_rouge_l(baseline_metrics) if baseline_metrics
                                       else (None, None))

    loaded = load_saved_model(version_dir)
    if "serving_default" not in loaded.signatures:
        raise InputError("the SavedModel %s has no serving_default signature" % version_dir)
    signature = loaded.signatures["serving_default"]
    decoding = decode_settings(version_dir, signature)

    start = time.time()
    inputs = [encode_body(encoder, i["body"], max_input_length) for i in issues]
    generated, title_scores = decode_issues(signature, encoder, inputs, batch_size,
                                            Progress(len(issues), progress_stream))
    seconds = time.time() - start

    titles = [i["title"] for i in issues]
    model_scores = rouge_per_issue(titles, generated)
    bodies_read = [encoder.decode(ids[:-1]) for ids in inputs]  # the text the model read: cut, EOS dropped
    predictions = [{"id": issue["id"], "body_read": body, "true_title": issue["title"], "generated_title": title,
                    "rougeL": score["rougeL"], "score": title_score}
                   for issue, body, title, score, title_score in zip(issues, bodies_read, generated, model_scores,
                                                                     title_scores)]
    rouge = {"model": mean_rouge(model_scores)}
    rouge.update(compute_baselines(issues))
    sha1 = issues_fingerprint(issues)
    decision = gate(rouge["model"]["rougeL"], threshold_rouge_l, previous_rouge_l, min_improvement)
    if previous_sha1 is not None and previous_sha1 != sha1:
        decision["reasons"].append("warning: the previous metrics scored different issues")

    metrics = {
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"saved_model": _absolute(version_dir), "version": os.path.basename(version_dir),
                  "vocab_size": model_vocab, "decode": decoding},
        "data": {"data_dir": _absolute(data_dir), "eval_issues": _absolute(eval_issues),
                 "vocab_file": _absolute(vocab_file), "n_issues": len(issues), "issues_sha1": sha1},
        "options": {"max_issues": max_issues, "max_input_length": max_input_length, "batch_size": batch_size,
                    "threshold_rouge_l": threshold_rouge_l, "baseline_metrics": baseline_metrics,
                    "min_improvement": min_improvement},
        "rouge": rouge,
        "collapse": collapse_stats(generated),
        "reading": reading_stats(generated, bodies_read),
        "model_scores": score_quartiles(title_scores),
        "speed": {"seconds": seconds, "issues_per_second": len(issues) / max(seconds, 1e-9)},
        "gate": decision,
        "samples": [{"id": issue["id"], "body_excerpt": _excerpt(issue["body"]), "true_title": issue["title"],
                     "generated_title": title, "rougeL": score["rougeL"]}
                    for issue, title, score in list(zip(issues, generated, model_scores))[:N_SAMPLES]],
    }
    write_outputs(metrics, out, predictions)
    return metrics


def _absolute(path: str) -> str:
    return path if files.is_remote(path) else os.path.abspath(path)


def _excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def _write_atomic(path: str, text: str) -> None:
    files.write_text(path, text)  # locally through a temporary file, renamed; one object on gs://


PREDICTIONS = "predictions.jsonl"


def write_outputs(metrics: dict, out: str, predictions: Optional[list[dict]] = None) -> None:
    """predictions.jsonl, metrics.json, report.html, then gate.txt (last: a reader that sees it sees the rest)."""
    from trainer import report_html
    files.makedirs(out)
    if predictions is not None:
        _write_atomic(os.path.join(out, PREDICTIONS),
                      "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in predictions))
    _write_atomic(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    _write_atomic(os.path.join(out, "report.html"), report_html.render(metrics))
    _write_atomic(os.path.join(out, "gate.txt"), "true" if metrics["gate"]["passed"] else "false")


def add_comparisons(out: str, comparisons: list[dict], promotion: Optional[dict] = None) -> None:
    """report.html in out again, with the paired comparisons of this model against others on the same issues
    (trainer/promotion.py: the served version, the model the run started from) and the promotion decision."""
    from trainer import report_html
    metrics = json.loads(files.read_text(os.path.join(out, "metrics.json")))
    _write_atomic(os.path.join(out, "report.html"), report_html.render(metrics, comparisons, promotion))


# ---------------------------------------------------------------- CLI

def format_rouge_table(rouge: dict) -> str:
    lines = ["%-16s %8s %8s %8s" % ("", "ROUGE-1", "ROUGE-2", "ROUGE-L")]
    for name, scores in rouge.items():
        lines.append("%-16s %8.2f %8.2f %8.2f" % ((name,) + tuple(scores[t] for t in ROUGE_TYPES)))
    return "\n".join(lines)


def format_reading(reading: dict) -> str:
    return ("verbatim body spans %.0f%%, ending on a dangling word or punctuation %.0f%%, mean %.1f words"
            % (100 * reading["verbatim_span_share"], 100 * reading["dangling_share"], reading["mean_title_words"]))


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--saved_model", help="SavedModel version dir, or a base path of numbered versions")
    parser.add_argument("--data_dir", required=True, help="preprocessed data dir (eval_issues.jsonl, vocabulary)")
    parser.add_argument("--out", help="output dir for metrics.json, report.html, gate.txt")
    parser.add_argument("--eval_issues", help="the issues to score (default: --data_dir's %s)" % EVAL_ISSUES)
    parser.add_argument("--vocab_file", help="the model's vocabulary (default: the one in --data_dir)")
    parser.add_argument("--max_issues", type=int, help="evaluate the first N eval issues in id order")
    parser.add_argument("--max_input_length", type=int, default=256, help="max body subword ids, EOS included")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threshold_rouge_l", type=float, help="gate: ROUGE-L must reach this")
    parser.add_argument("--baseline_metrics", help="gate: a previous metrics.json whose ROUGE-L must be matched")
    parser.add_argument("--min_improvement", type=float, default=0.0,
                        help="gate: ROUGE-L must be >= previous ROUGE-L + this")
    parser.add_argument("--baselines_only", action="store_true",
                        help="print the lead baselines' ROUGE for --data_dir; no model")
    args = parser.parse_args(argv)
    if not args.baselines_only and not (args.saved_model and args.out):
        parser.error("--saved_model and --out are required (or use --baselines_only)")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=project.LOG_FORMAT, force=True)
    logging.getLogger("absl").setLevel(logging.WARNING)  # "Fingerprint not found", "Using default tokenizer" x4
    try:
        if args.baselines_only:
            issues = load_eval_issues(args.eval_issues or os.path.join(args.data_dir, EVAL_ISSUES), args.max_issues)
            print("lead baselines on %d eval issues of %s" % (len(issues), args.eval_issues or args.data_dir))
            print(format_rouge_table(compute_baselines(issues)))
            return 0
        metrics = evaluate(args.saved_model, args.data_dir, args.out, args.max_issues, args.max_input_length,
                           args.batch_size, args.threshold_rouge_l, args.baseline_metrics, args.min_improvement,
                           args.vocab_file, eval_issues=args.eval_issues)
    except InputError as e:
        sys.stderr.write("error: %s\n" % e)
        return 2
    collapse = metrics["collapse"]
    print("model %s (version %s, beam %s) on %d eval issues"
          % (metrics["model"]["saved_model"], metrics["model"]["version"], metrics["model"]["decode"]["beam_size"],
             metrics["data"]["n_issues"]))
    print(format_rouge_table(metrics["rouge"]))
    print("distinct generated titles: %d/%d; most common (%.0f%% of issues): %r"
          % (collapse["distinct_titles"], metrics["data"]["n_issues"], 100 * collapse["most_common_share"],
             _excerpt(collapse["most_common_title"], 80)))
    print(format_reading(metrics["reading"]))
    print("gate: %s (%s)" % ("true" if metrics["gate"]["passed"] else "false", "; ".join(metrics["gate"]["reasons"])))
    print("wrote %s" % ", ".join(os.path.join(args.out, n)
                                 for n in ("metrics.json", PREDICTIONS, "report.html", "gate.txt")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
