"""How good is the shipped warm-start model? ROUGE-1/2/L of data/warm_start/ against the lead baselines, on the
eval split of the bundled sample and on nlbse24 (raw markdown issues of 2022-23), each as an HTML report.

    make quality
    .venv/app/bin/python -m trainer.quality [--checkpoint_dir data/warm_start] [--out work/quality]
        [--nlbse ../shared/data/nlbse24/issues_train.csv] [--max_issues N]

Steps, all with the project's own commands, so what is measured is what `make run` serves:
  1. export the checkpoint as a SavedModel (`python -m trainer export`, t2t environment);
  2. preprocess each eval source with the checkpoint's vocabulary (`python -m data.preprocess --vocab_file`):
     the eval split is the same hash split as in training, so none of these issues was trained on;
  3. `trainer.evaluate` on each eval split: decode through the SavedModel, score, write metrics.json and
     report.html under --out/<name>/eval.
Prints one table per eval set, what a reader sees (verbatim spans, dangling ends, the most common title) and
whether each quality target (TARGET_ROUGE_L, MAX_*_SHARE) is met, and writes --out/quality.md. Runs in the
app environment. Exit status 1 when a target is missed, 2 on bad inputs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from data import contract
from data.project import REPO, SAMPLE_CSV, run_logged, t2t_python

DEFAULT_CHECKPOINT = os.path.join(REPO, "data", "warm_start")
DEFAULT_NLBSE = os.path.join(os.path.dirname(REPO), "shared", "data", "nlbse24", "issues_train.csv")


def vocabulary(checkpoint_dir: str) -> str:
    names = sorted(n for n in os.listdir(checkpoint_dir) if contract.VOCAB_FILE_PATTERN.match(n))
    if not names:
        raise FileNotFoundError("%s has no vocab.*.subwords beside its checkpoint" % checkpoint_dir)
    return os.path.join(checkpoint_dir, names[0])


def export(checkpoint_dir: str, out: str, tag: str = "quality") -> str:
    """The newest checkpoint of checkpoint_dir exported under out/export (log: out/export.log); that base path.
    Always a new export: one made before of the same step may decode by other rules (export skips a version that
    is there)."""
    base = os.path.join(out, "export")
    shutil.rmtree(base, ignore_errors=True)
    run_logged([t2t_python(), "-m", "trainer", "export", "--model_dir", checkpoint_dir, "--model_base_path", base],
               os.path.join(out, "export.log"), "export %s" % checkpoint_dir, tag)
    return base


def evaluate_on(name: str, source: str, saved_model: str, vocab: str, out: str, max_issues: int | None) -> dict:
    from trainer import evaluate
    data_dir, eval_dir = os.path.join(out, name, "data"), os.path.join(out, name, "eval")
    os.makedirs(os.path.join(out, name), exist_ok=True)
    run_logged([sys.executable, "-m", "data.preprocess", "--input", source, "--vocab_file", vocab, "--output_dir",
                data_dir], os.path.join(out, name, "preprocess.log"), "preprocess %s (%s)" % (name, source))
    print("[quality] decode and score %s" % name, flush=True)
    return evaluate.evaluate(saved_model, data_dir, eval_dir, max_issues=max_issues, vocab_file=vocab,
                             progress_stream=sys.stdout)


# What the shipped model must reach (issue 12), per eval set: ROUGE-L, and on both, what a reader sees.
TARGET_ROUGE_L = {"sample": 22.0, "nlbse24": 16.5}
MAX_VERBATIM_SHARE = 0.60      # titles that are only a verbatim span of the body
MAX_DANGLING_SHARE = 0.10      # titles ending on a dangling word or punctuation
MAX_MOST_COMMON_SHARE = 0.01   # issues given the most common title


def targets(name: str, metrics: dict) -> list[tuple[str, bool]]:
    """(what, met) for each quality target of this eval set."""
    reading, collapse = metrics["reading"], metrics["collapse"]
    checks = []
    if name in TARGET_ROUGE_L:
        rouge_l = metrics["rouge"]["model"]["rougeL"]
        checks.append(("ROUGE-L %.2f >= %.1f" % (rouge_l, TARGET_ROUGE_L[name]), rouge_l >= TARGET_ROUGE_L[name]))
    checks += [
        ("verbatim body spans %.1f%% <= %.0f%%" % (100 * reading["verbatim_span_share"], 100 * MAX_VERBATIM_SHARE),
         reading["verbatim_span_share"] <= MAX_VERBATIM_SHARE),
        ("dangling ends %.1f%% <= %.0f%%" % (100 * reading["dangling_share"], 100 * MAX_DANGLING_SHARE),
         reading["dangling_share"] <= MAX_DANGLING_SHARE),
        ("most common title %.1f%% of issues <= %.0f%%" % (100 * collapse["most_common_share"],
                                                          100 * MAX_MOST_COMMON_SHARE),
         collapse["most_common_share"] <= MAX_MOST_COMMON_SHARE)]
    return checks


def scores_line(quartiles: dict | None) -> str:
    if not quartiles:
        return "model scores: none (the export has no scores output)"
    return ("model scores (length-normalized log-probability): first quartile %.2f, median %.2f; on the bundled "
            "sample the first quartile is the webhook's GHSUMM_SUGGEST_MIN_SCORE (webapp/suggestions.py)"
            % (quartiles["first_quartile"], quartiles["median"]))


def summary(name: str, source: str, metrics: dict) -> str:
    from trainer.evaluate import format_reading, format_rouge_table
    rouge, collapse = metrics["rouge"], metrics["collapse"]
    best_name, best = max(((k, v["rougeL"]) for k, v in rouge.items() if k != "model"), key=lambda kv: kv[1])
    model = rouge["model"]["rougeL"]
    return "\n".join([
        "## %s: %d eval issues of %s" % (name, metrics["data"]["n_issues"], source),
        "",
        "```",
        format_rouge_table(rouge),
        "```",
        "",
        "model ROUGE-L %.2f vs best baseline (%s) %.2f: %s by %.2f; distinct titles %d/%d; report %s"
        % (model, best_name, best, "above" if model > best else "below", abs(model - best),
           collapse["distinct_titles"], metrics["data"]["n_issues"],
           os.path.join(os.path.dirname(metrics["data"]["data_dir"]), "eval", "report.html")),
        "titles: %s; most common: %r" % (format_reading(metrics["reading"]), collapse["most_common_title"]),
        scores_line(metrics.get("model_scores")),
        "targets: " + "; ".join("%s %s" % ("met" if ok else "MISSED", what) for what, ok in targets(name, metrics)),
        ""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint_dir", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--out", default="work/quality")
    parser.add_argument("--sample", default=SAMPLE_CSV, help="the bundled Kaggle-style sample")
    parser.add_argument("--nlbse", default=DEFAULT_NLBSE, help="nlbse24 issues_train.csv (skipped if absent)")
    parser.add_argument("--max_issues", type=int, help="score only the first N eval issues of each set")
    args = parser.parse_args(argv)
    started = time.time()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    try:
        vocab = vocabulary(args.checkpoint_dir)
        saved_model = export(args.checkpoint_dir, out)
        sets = [("sample", args.sample)]
        if os.path.exists(args.nlbse):
            sets.append(("nlbse24", args.nlbse))
        else:
            print("[quality] %s not found: nlbse24 skipped" % args.nlbse)
        parts = ["# Shipped model quality: %s\n" % os.path.abspath(args.checkpoint_dir)]
        missed = []
        for name, source in sets:
            metrics = evaluate_on(name, source, saved_model, vocab, out, args.max_issues)
            parts.append(summary(name, source, metrics))
            missed += ["%s: %s" % (name, what) for what, ok in targets(name, metrics) if not ok]
    except (FileNotFoundError, RuntimeError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    text = "\n".join(parts)
    with open(os.path.join(out, "quality.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    print("wrote %s; run time %.0f s (export, preprocessing, decoding and scoring)"
          % (os.path.join(out, "quality.md"), time.time() - started))
    if missed:
        print("quality targets missed: %s" % "; ".join(missed), file=sys.stderr)
        return 1
    print("every quality target is met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
