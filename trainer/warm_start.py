"""How the shipped warm start (data/warm_start/) is made, as one command (hours on 2 CPU cores):

    .venv/app/bin/python -m trainer.warm_start [--shared ../shared/data] [--work work/warm_start]
        [--steps 20000] [--every 1000] [--out data/warm_start]
    .venv/app/bin/python -m trainer.warm_start --score_only      # score the checkpoints written so far
    .venv/app/bin/python -m trainer.warm_start --continue_from data/warm_start --steps 20000 --work work/ws3
                                                                 # train the shipped model further
    .venv/app/bin/python -m trainer.warm_start --hparams_set transformer_ghsumm_write_big \
        --vocabulary_from data/warm_start --work work/wsbig      # a new model, on data in the shipped vocabulary
    .venv/app/bin/python -m trainer.warm_start --leave_out nlbse24/issues_train.csv ...
                                                                 # a base that never saw a source (make adapt-unseen)

The recipe (docs/model-history.md says why, and what did not work):
  1. data: every issue-shaped source in --shared (GitHub issues of the Kaggle dump, huggingface/datasets issues
     without their PRs, nlbse24, Jira story-point projects, GitBugs) and the pull-request and commit pairs of
     pr_commit_titles (read as change_jsonl: prefixes stripped, a [pull request]/[commit] tag before the body),
     cleaned and split by `python -m data.preprocess`, one new vocabulary built from the train split; the issue
     sources' train examples twice (oversample_issues); two dev sets encoded with the vocabulary: the eval
     split of github_issues_medium.csv, and that of github_issues_sample.csv without the bundled sample's rows;
  2. train: `transformer_ghsumm_write` (a Transformer with a copy mechanism, the body's first 128 subwords) from
     scratch on the real titles, checkpoint every --every steps; a killed run started again resumes; then
     (`--continue_from data/warm_start --train_on issues --hparams learning_rate_constant=0.2`) a fine-tuning
     phase on the issue sources only, at a lower learning rate;
  3. select: every checkpoint exported and scored on both dev sets (ROUGE-L, what a reader sees), and the mean
     weights of the last --average of them (trainer average_checkpoints); the best on both together (773
     issues; one alone cannot tell candidates apart) whose most common title is given to at most 1% of each
     set's issues is written slim to --out with selection.json (every score) and the loss curve; a run that
     continues a checkpoint ships only a candidate better than it by more than two standard errors, and a new
     model only one that much better than the model already in --out (scored on the dev sets alongside).
Each step is a project command (data.preprocess, trainer train / export / slim_checkpoint, trainer.evaluate);
finished steps are reused. Runs in the app environment; training in the t2t environment.
"""
from __future__ import annotations

import argparse
import csv
import functools
import glob
import json
import os
import re
import shutil
import sys

from data import contract
from data.project import REPO, SAMPLE_CSV, run_logged, t2t_python
from trainer import quality

_run = functools.partial(run_logged, tag="warm_start")

GITHUB_SOURCES = ("kubeflow_gh_issues_samples/*.csv", "hf_datasets_issues_kardwalker/datasets-issues.zip",
                  "nlbse24/issues_train.csv")
ISSUE_SOURCES = GITHUB_SOURCES + ("jira_storypoint_choetkiertikul/*.csv", "gitbugs_jira_bugzilla/*.csv")
CHANGE_SOURCES = ("pr_commit_titles/*.jsonl",)
DEV_SOURCE = "kubeflow_gh_issues_samples/github_issues_medium.csv"
# The second dev set: the eval split of the bundled sample's own source without the bundled sample's rows (which
# `make quality` reports on). Its train split is trained on (ISSUE_SOURCES), its eval split never.
DEV2_SOURCE = "kubeflow_gh_issues_samples/github_issues_sample.csv"
HPARAMS_SET = "transformer_ghsumm_write"
MAX_MOST_COMMON_SHARE = quality.MAX_MOST_COMMON_SHARE


def prepare_data(shared: str, work: str, vocab_file: str | None = None, train_on: str = "all",
                 leave_out: tuple[str, ...] = ()) -> dict:
    """The training set (real titles, issues twice), the issue sources alone (the fine-tuning phase's), the
    GitHub issue sources alone when train_on is "github", and the two dev sets, encoded with one vocabulary: a
    new one, or vocab_file (the vocabulary of the checkpoint a run continues). Each is made once. leave_out:
    source patterns of ISSUE_SOURCES not trained on at all (the adaptation benchmark's unseen sources)."""
    def sources(patterns) -> list[str]:
        return [os.path.join(shared, s) for s in patterns if s not in leave_out]

    data_dir, issues_dir, github_dir, dev_dir, dev2_dir = (
        os.path.join(work, name) for name in ("data_all", "data_issues", "data_github", "data_dev", "data_dev2"))
    if not _preprocessed(data_dir):
        _preprocess(sources(ISSUE_SOURCES + CHANGE_SOURCES), data_dir, vocab_file, work, "all",
                    "all sources (%s)" % ("vocabulary %s" % vocab_file if vocab_file else "new vocabulary"),
                    ("--workers", "2"))
    vocab = quality.vocabulary(data_dir)
    if not _preprocessed(issues_dir):
        _preprocess(sources(ISSUE_SOURCES), issues_dir, vocab, work, "issues",
                    "the issue sources again (same vocabulary)")
    oversample_issues(issues_dir, data_dir)
    if train_on == "github" and not _preprocessed(github_dir):
        _preprocess(sources(GITHUB_SOURCES), github_dir, vocab, work, "github",
                    "the GitHub issue sources (same vocabulary)")
    if not _preprocessed(dev_dir):
        _preprocess(sources([DEV_SOURCE]), dev_dir, vocab, work, "dev", "dev")
    if not _preprocessed(dev2_dir):
        dev2_source = without_bundled_sample(os.path.join(shared, DEV2_SOURCE), os.path.join(work, "dev2.csv"))
        _preprocess([dev2_source], dev2_dir, vocab, work, "dev2", "dev2")
    return {"all": data_dir, "issues": issues_dir, "github": github_dir, "dev": [dev_dir, dev2_dir], "vocab": vocab}


def _preprocessed(data_dir: str) -> bool:
    return os.path.exists(os.path.join(data_dir, "stats.json"))


def _preprocess(inputs: list[str], data_dir: str, vocab: str | None, work: str, name: str, what: str,
                flags: tuple[str, ...] = ()) -> None:
    """`python -m data.preprocess` of inputs into data_dir with vocab (None: a new vocabulary); its log is
    work/preprocess_<name>.log."""
    vocab_flags = ["--vocab_file", vocab] if vocab else []
    _run([sys.executable, "-m", "data.preprocess", "--output_dir", data_dir] + list(flags) + vocab_flags
         + [a for path in inputs for a in ("--input", path)], os.path.join(work, "preprocess_%s.log" % name),
         "preprocess " + what)


def bundled_urls() -> set[str]:
    """The bundled sample's issue_url values, as written there."""
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        return {row[1] for row in csv.reader(f)}


def without_bundled_sample(source: str, out: str) -> str:
    """source (a Kaggle-style CSV: index, issue_url, issue_title, body) without the rows of the bundled sample,
    written to out; out."""
    bundled = bundled_urls()
    with open(source, newline="", encoding="utf-8") as f, open(out, "w", newline="", encoding="utf-8") as g:
        rows = csv.reader(f)
        writer = csv.writer(g)
        writer.writerow(next(rows))
        writer.writerows(row for row in rows if row[1] not in bundled)
    return out


def write_dev_set(shared: str, out: str, eval_percent: float = 10.0) -> int:
    """The two dev sets' raw rows (DEV_SOURCE's eval split, DEV2_SOURCE's without the bundled sample's rows) as one
    Kaggle-style CSV (index, issue_url, issue_title, body): data/sample/github_issues_dev.csv, which the pipeline's
    default data adds to the bundled sample. Every row hashes into the eval split, so it only ever grows the general
    eval set. Returns the row count."""
    from data.readers import kaggle_url
    from data.records import split_of
    bundled = bundled_urls()
    csv.field_size_limit(sys.maxsize)
    kept = []
    for source in (DEV_SOURCE, DEV2_SOURCE):
        with open(os.path.join(shared, source), newline="", encoding="utf-8") as f:
            rows = csv.DictReader(f)
            kept += [(r["issue_url"], r["issue_title"], r["body"]) for r in rows
                     if r["issue_url"] not in bundled
                     and split_of(kaggle_url(r["issue_url"]), eval_percent) == "eval"]
    with open(out, "w", newline="", encoding="utf-8") as g:
        writer = csv.writer(g)
        writer.writerow(["", "issue_url", "issue_title", "body"])
        writer.writerows([n] + list(row) for n, row in enumerate(kept))
    return len(kept)


def oversample_issues(issues_dir: str, data_dir: str) -> None:
    """A second copy of the issue sources' train shards in the training data dir (T2T reads every
    github_issue_summarization-train* file): pull requests and commits are three quarters of the pairs, and
    without it the model wrote change titles ("add X", "remove unused") for issues (dev set, step 1500)."""
    for path in sorted(glob.glob(os.path.join(issues_dir, contract.split_prefix("train") + "-*"))):
        target = os.path.join(data_dir, os.path.basename(path).replace("-train-", "-train-issues-"))
        if not os.path.exists(target):
            shutil.copy(path, target)


def train(model_dir: str, data_dir: str, steps: int, every: int, work: str, continue_from: str | None,
          hparams: str = "", hparams_set: str = HPARAMS_SET) -> None:
    if continue_from and not os.path.exists(os.path.join(model_dir, "checkpoint")):
        _run([t2t_python(), "-m", "trainer", "copy_checkpoint", "--checkpoint_dir", continue_from, "--model_dir",
              model_dir, "--data_dir", data_dir, "--hparams_set", hparams_set], os.path.join(work, "copy.log"),
             "continue from %s" % continue_from)
    _run([t2t_python(), "-m", "trainer", "train", "--data_dir", data_dir, "--model_dir", model_dir,
          "--train_steps", str(steps), "--hparams_set", hparams_set, "--hparams", hparams,
          "--save_checkpoints_steps", str(every),
          "--keep_checkpoint_max", "1000", "--progress_secs", "60", "--random_seed", "1"],
         os.path.join(work, "train.log"), "train %s to step %d (progress in the log)" % (hparams_set, steps))


def continued_hparams_set(continue_from: str | None) -> str:
    """The hyper-parameter set of the checkpoint a run continues (its model card's), HPARAMS_SET for a new model."""
    if not continue_from:
        return HPARAMS_SET
    with open(os.path.join(continue_from, contract.MODEL_CARD_FILE)) as f:
        return json.load(f).get("hparams_set", HPARAMS_SET)


def checkpoint_steps(model_dir: str) -> list[int]:
    return sorted({int(m.group(1)) for p in glob.glob(os.path.join(model_dir, "model.ckpt-*.index"))
                   for m in [re.search(r"model\.ckpt-(\d+)\.index$", p)] if m and int(m.group(1)) > 0})


def _one_checkpoint_dir(model_dir: str, step: int, out: str) -> str:
    """A directory holding only checkpoint `step` of model_dir (with its vocabulary and run file)."""
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(model_dir):
        if name.startswith(f"model.ckpt-{step}.") or name.startswith("vocab.") or name == contract.MODEL_CARD_FILE:
            shutil.copy(os.path.join(model_dir, name), out)
    with open(os.path.join(out, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "model.ckpt-{step}"\n')
    return out


def candidate_dir(work: str, candidate) -> str:
    """Where a candidate (a step, or an average's name) is exported and scored: work/select/<step or name>."""
    return os.path.join(work, "select", str(candidate).replace(" ", "-"))


def score(model_dir: str, step: int, dev_dirs: list[str], work: str) -> list[dict]:
    """Checkpoint `step` exported and evaluated on the dev sets as it would be served; its metrics (reused)."""
    where = candidate_dir(work, step)
    if not _scored(where) and not _exported(where):
        _one_checkpoint_dir(model_dir, step, os.path.join(where, "checkpoint"))
    return score_dir(where, "step %d" % step, dev_dirs, keep_checkpoint=False)


def score_incumbent(out: str, dev_dirs: list[str], work: str) -> str | None:
    """The model a new one would replace (the checkpoint in --out, data/warm_start when shipping) exported and
    scored on the dev sets like a candidate, in work/select/shipped-<step>; its name there ("shipped 14000"), or
    None when out holds no checkpoint. Evaluation reads the dev sets' text, so its vocabulary may differ."""
    try:
        with open(os.path.join(out, "checkpoint")) as f:
            step = contract.checkpoint_step(f.read())
    except FileNotFoundError:
        return None
    if step is None:
        return None
    name = "shipped %d" % step
    where = candidate_dir(work, name)
    if not _scored(where) and not _exported(where):
        _one_checkpoint_dir(out, step, os.path.join(where, "checkpoint"))
    score_dir(where, name, dev_dirs, keep_checkpoint=False)
    return name


def average(model_dir: str, steps: list[int], dev_dirs: list[str], work: str) -> tuple[str, list[dict]]:
    """The mean weights of checkpoints `steps` (a slim checkpoint in work/select/<name>/checkpoint, kept: it is
    shipped as it is when chosen), scored like a step; its name ("avg 17000-20000") and metrics."""
    name = "avg %d-%d" % (steps[0], steps[-1])
    where = candidate_dir(work, name)
    if not os.path.exists(os.path.join(where, "checkpoint", "checkpoint")):
        _run([t2t_python(), "-m", "trainer", "average_checkpoints", "--model_dir", model_dir, "--steps",
              ",".join(map(str, steps)), "--out", os.path.join(where, "checkpoint")],
             os.path.join(work, "average.log"), "average the checkpoints of steps %s" % ", ".join(map(str, steps)))
    return name, score_dir(where, name, dev_dirs, keep_checkpoint=True)


DEV_EVAL_DIRS = ("eval", "eval_dev2")  # a candidate's scores on the dev sets, in the order of prepare_data's


def _scored(where: str) -> bool:
    return all(os.path.exists(os.path.join(where, e, "metrics.json")) for e in DEV_EVAL_DIRS)


def _exported(where: str) -> bool:
    return bool(glob.glob(os.path.join(where, "export", "*", "saved_model.pb")))


def score_dir(where: str, name: str, dev_dirs: list[str], keep_checkpoint: bool) -> list[dict]:
    """where/checkpoint exported (where/export) and evaluated on each dev set into where/eval, where/eval_dev2;
    the metrics of each (reused when there)."""
    from trainer import evaluate
    export = os.path.join(where, "export")
    results = []
    for dev_dir, eval_name in zip(dev_dirs, DEV_EVAL_DIRS):
        metrics_path = os.path.join(where, eval_name, "metrics.json")
        if not os.path.exists(metrics_path):
            if not _exported(where):
                quality.export(os.path.join(where, "checkpoint"), where, tag="warm_start")
            evaluate.evaluate(export, dev_dir, os.path.join(where, eval_name))
        with open(metrics_path) as f:
            metrics = json.load(f)
        print("[warm_start] %s on %s: ROUGE-L %.2f; %s; most common title %.1f%%"
              % (name, os.path.basename(dev_dir), metrics["rouge"]["model"]["rougeL"],
                 evaluate.format_reading(metrics["reading"]), 100 * metrics["collapse"]["most_common_share"]),
              flush=True)
        results.append(metrics)
    if not keep_checkpoint:
        shutil.rmtree(os.path.join(where, "checkpoint"), ignore_errors=True)
    return results


def summary_of(metrics: list[dict]) -> dict:
    """A candidate's scores on the dev sets together (each issue counts once; `rougeL` is what selects) and on
    each ("dev", "dev2")."""
    sizes = [m["data"]["n_issues"] for m in metrics]

    def together(value) -> float:
        return sum(n * value(m) for n, m in zip(sizes, metrics)) / sum(sizes)

    summary = {"rougeL": round(together(lambda m: m["rouge"]["model"]["rougeL"]), 2),
               "verbatim_span_share": round(together(lambda m: m["reading"]["verbatim_span_share"]), 3),
               "dangling_share": round(together(lambda m: m["reading"]["dangling_share"]), 3),
               "most_common_share": round(max(m["collapse"]["most_common_share"] for m in metrics), 3)}
    for label, m in zip(("dev", "dev2"), metrics):
        summary[label + "_rougeL"] = round(m["rouge"]["model"]["rougeL"], 2)
    return summary


def choose(scores: dict):
    """The candidate (a step, or an average's name) with the best ROUGE-L on the dev sets together among those
    that do not collapse (most common title <= 1% on each)."""
    fine = {s: m for s, m in scores.items() if m["most_common_share"] <= MAX_MOST_COMMON_SHARE} or scores
    return max(fine, key=lambda s: fine[s]["rougeL"])


MIN_GAIN_STANDARD_ERRORS = 2.0  # a candidate replaces the checkpoint it continues only when it gains this many


def paired_gain(work: str, candidate, incumbent) -> tuple[float, float]:
    """The mean per-issue ROUGE-L gain of candidate over incumbent on the dev sets together (each issue counts
    once: their predictions.jsonl, paired by issue; trainer/promotion.compare_predictions), and its standard error.
    Between checkpoints of one run that error is 0.33-0.45 on the 773 issues, more than most of their differences:
    the best is often best by chance."""
    from trainer import promotion

    def predictions(name) -> list[str]:
        return [os.path.join(candidate_dir(work, name), eval_name, "predictions.jsonl") for eval_name in DEV_EVAL_DIRS]
    paired = promotion.compare_predictions(predictions(candidate), predictions(incumbent))
    return paired["gain"], paired["standard_error"]


def surely_better(work: str, candidate, incumbent) -> tuple[bool, float, float]:
    """Whether candidate gains more than MIN_GAIN_STANDARD_ERRORS standard errors over incumbent on the dev sets
    (paired_gain); the gain and its standard error."""
    if candidate == incumbent:
        return False, 0.0, 0.0
    gain, error = paired_gain(work, candidate, incumbent)
    return gain > MIN_GAIN_STANDARD_ERRORS * error, gain, error


def ship_slim(slim_dir: str, out: str) -> None:
    """Copies a slim checkpoint dir into out, whose older checkpoint files go (the rest of out stays)."""
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "model.ckpt-*")):
        os.remove(old)
    for name in os.listdir(slim_dir):
        shutil.copy(os.path.join(slim_dir, name), out)
    print(f"[warm_start] {slim_dir} -> {out}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.warm_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    parser.add_argument("--work", default="work/warm_start")
    parser.add_argument("--write_dev_set", metavar="CSV",
                        help="only write the two dev sets' rows to CSV (data/sample/github_issues_dev.csv), then exit")
    parser.add_argument("--steps", type=int, default=20000, help="TOTAL training steps")
    parser.add_argument("--every", type=int, default=1000, help="checkpoint and score every N steps")
    parser.add_argument("--score_only", action="store_true", help="score the checkpoints so far; no training")
    parser.add_argument("--average", type=int, default=4,
                        help="also score the mean weights of the last N scored checkpoints (0: do not)")
    parser.add_argument("--continue_from", help="a checkpoint dir to continue (data/warm_start): its vocabulary "
                                                "encodes the data, its weights start the training")
    parser.add_argument("--out", default=os.path.join(REPO, "work", "warm_start", "shipped"),
                        help="where the selected slim checkpoint goes (data/warm_start to ship it)")
    parser.add_argument("--train_on", choices=("all", "issues", "github"), default="all",
                        help="all: issues (twice), pull requests and commits; issues: the issue sources only; "
                             "github: the GitHub issue sources only, no Jira or Bugzilla (fine-tuning phases "
                             "after the mixed one)")
    parser.add_argument("--hparams_set",
                        help="the model's T2T hyper-parameter set (trainer/hparams.py; default: the --continue_from "
                             "checkpoint's, else %s)" % HPARAMS_SET)
    parser.add_argument("--vocabulary_from",
                        help="a checkpoint dir whose vocabulary encodes the data of a new model (default: a new "
                             "vocabulary built from the train split)")
    parser.add_argument("--leave_out", action="append", default=[], choices=ISSUE_SOURCES, metavar="SOURCE",
                        help="an issue source not to train on (one of %s; repeatable): a base model for the "
                             "adaptation benchmark's unseen sources" % ", ".join(ISSUE_SOURCES))
    parser.add_argument("--hparams", default="",
                        help="T2T overrides of the training, e.g. learning_rate_constant=0.2 (a fine-tuning phase)")
    args = parser.parse_args(argv)
    if args.write_dev_set:
        print("[warm_start] %d dev issues -> %s" % (write_dev_set(args.shared, args.write_dev_set), args.write_dev_set))
        return 0
    work = os.path.abspath(args.work)
    model_dir = os.path.join(work, "model")
    os.makedirs(work, exist_ok=True)
    try:
        from_dir = args.continue_from or args.vocabulary_from
        vocab = quality.vocabulary(from_dir) if from_dir else None
        hparams_set = args.hparams_set or continued_hparams_set(args.continue_from)
        data = prepare_data(args.shared, work, vocab, args.train_on, tuple(args.leave_out))
        if not args.score_only:
            train(model_dir, data[args.train_on], args.steps, args.every, work,
                  args.continue_from, args.hparams, hparams_set)
        # every checkpoint the run wrote (every --every steps from where it started: 10500, 11500, ... when it
        # continues step 9500)
        scores = {step: summary_of(score(model_dir, step, data["dev"], work)) for step in checkpoint_steps(model_dir)}
        last = sorted(scores)[-args.average:]
        if args.average > 1 and len(last) == args.average:
            name, metrics = average(model_dir, last, data["dev"], work)
            scores[name] = summary_of(metrics)
        # what the best must beat: the run's first checkpoint when it continues one (copy_checkpoint put the
        # weights it continued there), else the model in --out (a new model replaces the shipped one only when
        # surely better)
        if args.continue_from:
            steps = [s for s in scores if isinstance(s, int)]
            incumbent, what = (min(steps) if steps else None), "which continued %s" % args.continue_from
        else:
            incumbent, what = score_incumbent(args.out, data["dev"], work), "in %s" % args.out
    except (FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not scores:
        print("error: no checkpoint to score in %s" % model_dir, file=sys.stderr)
        return 2
    best = choose(scores)
    if incumbent is None:
        better, verdict = True, "%s holds no model to beat" % args.out
    else:
        better, gain, error = surely_better(work, best, incumbent)
        verdict = "%s gains %+.2f ROUGE-L (standard error %.2f) on the dev sets over %s, %s" % (
            best, gain, error, incumbent if isinstance(incumbent, str) else "step %d" % incumbent, what)
    if args.score_only:
        print(f"[warm_start] best so far: {best} {scores[best]}; {verdict}")
        return 0
    if not better:
        print(f"[warm_start] no candidate is surely better (by {MIN_GAIN_STANDARD_ERRORS:g} standard errors): "
              f"{verdict}; nothing shipped to {args.out}")
        return 0
    if isinstance(best, int):
        chosen = _one_checkpoint_dir(model_dir, best, os.path.join(work, "chosen"))
        _run([t2t_python(), "-m", "trainer", "slim_checkpoint", "--model_dir", chosen, "--out", args.out],
             os.path.join(work, "slim.log"), f"slim checkpoint of step {best} -> {args.out}")
    else:  # an average: already a slim checkpoint
        ship_slim(os.path.join(candidate_dir(work, best), "checkpoint"), args.out)
    shutil.copy(os.path.join(model_dir, "loss_curve.png"), args.out)
    with open(os.path.join(args.out, "selection.json"), "w") as f:
        json.dump({"dev_sets": {"dev": DEV_SOURCE + " (eval split)",
                                "dev2": DEV2_SOURCE + " (eval split) without the bundled sample's rows"},
                   "dev_scores_by_step": scores, "chosen_step": best},
                  f, indent=2)
    print(f"[warm_start] chose step {best} {scores[best]} -> {args.out}; "
          f"`make quality` reports it on the bundled sample and nlbse24")
    return 0


if __name__ == "__main__":
    sys.exit(main())
