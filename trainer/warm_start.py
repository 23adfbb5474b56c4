"""How the shipped warm start (data/warm_start/) is made, as one command (hours on 2 CPU cores):

    .venv/app/bin/python -m trainer.warm_start --base work/base/data/warm_start [--shared ../shared/data]
        [--work work/warm_start] [--lead_steps 750] [--extract_steps 4250] [--every 250] [--out data/warm_start]

The curriculum (data/warm_start/README.md says why; QUALITY-NOTES.md what fails without it):
  0. base: a plain transformer_ghsumm_small checkpoint (the first warm start: 4000 steps on real titles, all
     issue data, then GitHub only) and its vocabulary, which every step below keeps;
  1. lead: train on pseudo titles = the body's first sentence (`python -m data.pseudo_titles --task lead`), all
     sources in --shared: the model learns to copy from the body;
  2. extract: convert to transformer_copy (copy mechanism, trainer/copy_model.py) and train on pseudo titles =
     the title-sized span of the body that best matches the real title (`--task extract`): it learns which
     span a title takes;
  3. select: export every --every steps of phase 2 and score ROUGE-L on the dev set, the eval split of
     github_issues_medium.csv (never trained on, and not the bundled sample that `make quality` reports on);
     the best checkpoint is written slim to --out with selection.json (every score) and the loss curve.
Each phase is a project command (data.pseudo_titles, data.preprocess, trainer copy_checkpoint / train / export,
trainer.evaluate); a killed run started again resumes: training continues from its newest checkpoint and
finished exports and scores are reused. Runs in the app environment; training in the t2t environment.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys

from trainer import quality
from trainer.quality import REPO, t2t_python, vocabulary

_run = functools.partial(quality.run_logged, tag="warm_start")

SOURCES = ("kubeflow_gh_issues_samples/*.csv", "hf_datasets_issues_kardwalker/datasets-issues.zip",
           "nlbse24/issues_train.csv", "jira_storypoint_choetkiertikul/*.csv", "gitbugs_jira_bugzilla/*.csv")
DEV_SOURCE = "kubeflow_gh_issues_samples/github_issues_medium.csv"
COPY_HPARAMS_SET = "transformer_ghsumm_copy"


def prepare_data(shared: str, work: str, vocab: str) -> dict:
    """Pseudo-titled train sets (lead, extract) and the dev set, encoded with the base vocabulary."""
    dirs = {}
    inputs = [a for s in SOURCES for a in ("--input", os.path.join(shared, s))]
    for task in ("lead", "extract"):
        data_dir = os.path.join(work, "data_" + task)
        if not os.path.exists(os.path.join(data_dir, "stats.json")):
            _run([sys.executable, "-m", "data.pseudo_titles", "--task", task, "--out", os.path.join(work, "pseudo")]
                 + inputs, os.path.join(work, f"pseudo_{task}.log"), f"pseudo titles: {task}")
            _run([sys.executable, "-m", "data.preprocess", "--input", os.path.join(work, "pseudo", task + ".jsonl"),
                  "--vocab_file", vocab, "--output_dir", data_dir], os.path.join(work, f"preprocess_{task}.log"),
                 f"preprocess {task}")
        dirs[task] = data_dir
    dirs["dev"] = os.path.join(work, "data_dev")
    if not os.path.exists(os.path.join(dirs["dev"], "stats.json")):
        _run([sys.executable, "-m", "data.preprocess", "--input", os.path.join(shared, DEV_SOURCE), "--vocab_file",
              vocab, "--output_dir", dirs["dev"]], os.path.join(work, "preprocess_dev.log"), "preprocess dev")
    return dirs


def train_phase(name: str, checkpoint_dir: str, model_dir: str, data_dir: str, steps: int, hparams_set: str,
                work: str, every: int) -> int:
    """copy_checkpoint (once) then train `steps` more steps; returns the final step."""
    log = os.path.join(work, f"train_{name}.log")
    if not os.path.exists(os.path.join(model_dir, "checkpoint")):
        _run([t2t_python(), "-m", "trainer", "copy_checkpoint", "--checkpoint_dir", checkpoint_dir, "--model_dir",
              model_dir, "--data_dir", data_dir, "--hparams_set", hparams_set], log + ".copy", f"{name}: warm start")
    phase_file = os.path.join(model_dir, "phase.json")  # the phase's first step, kept for a resumed run
    if not os.path.exists(phase_file):
        with open(phase_file, "w") as f:
            json.dump({"phase": name, "start": _checkpoint_step(model_dir)}, f)
    with open(phase_file) as f:
        start = json.load(f)["start"]
    _run([t2t_python(), "-m", "trainer", "train", "--data_dir", data_dir, "--model_dir", model_dir,
          "--train_steps", str(start + steps), "--hparams_set", hparams_set, "--save_checkpoints_steps", str(every),
          "--keep_checkpoint_max", "1000", "--progress_secs", "60"], log,
         f"{name}: train steps {start}..{start + steps} (progress in the log)")
    return start + steps


def _checkpoint_step(model_dir: str) -> int:
    with open(os.path.join(model_dir, "checkpoint")) as f:
        return int(f.readline().split('"')[1].rsplit("-", 1)[1])


def _one_checkpoint_dir(model_dir: str, step: int, out: str) -> str:
    """A directory holding only checkpoint `step` of model_dir (with its vocabulary and run file)."""
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(model_dir):
        if name.startswith(f"model.ckpt-{step}.") or name.startswith("vocab.") or name == "ghsumm_model.json":
            shutil.copy(os.path.join(model_dir, name), out)
    with open(os.path.join(out, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "model.ckpt-{step}"\n')
    return out


def score(model_dir: str, step: int, dev_dir: str, work: str) -> float:
    """ROUGE-L of checkpoint `step` on the dev set (exported and decoded as it would be served)."""
    from trainer import evaluate
    where = os.path.join(work, "select", str(step))
    metrics_path = os.path.join(where, "eval", "metrics.json")
    if not os.path.exists(metrics_path):
        ckpt = _one_checkpoint_dir(model_dir, step, os.path.join(where, "checkpoint"))
        evaluate.evaluate(quality.export(ckpt, where, tag="warm_start"), dev_dir, os.path.join(where, "eval"))
    with open(metrics_path) as f:
        rouge_l = json.load(f)["rouge"]["model"]["rougeL"]
    print(f"[warm_start] step {step}: dev ROUGE-L {rouge_l:.2f}", flush=True)
    return rouge_l


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.warm_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    parser.add_argument("--base", required=True,
                        help="a plain transformer_ghsumm_small checkpoint dir, whose vocabulary is kept: the first "
                             "warm start, `git archive 5660f6b data/warm_start | tar -x -C work/base` gives it "
                             "in work/base/data/warm_start")
    parser.add_argument("--work", default="work/warm_start")
    parser.add_argument("--lead_steps", type=int, default=750)
    parser.add_argument("--extract_steps", type=int, default=4250)
    parser.add_argument("--every", type=int, default=250, help="checkpoint and score every N steps of phase 2")
    parser.add_argument("--out", default=os.path.join(REPO, "work", "warm_start", "shipped"),
                        help="where the selected slim checkpoint goes (data/warm_start to ship it)")
    args = parser.parse_args(argv)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    try:
        vocab = vocabulary(args.base)
        data = prepare_data(args.shared, work, vocab)
        lead, copy = os.path.join(work, "model_lead"), os.path.join(work, "model_copy")
        train_phase("lead", args.base, lead, data["lead"], args.lead_steps, "transformer_ghsumm_small", work,
                    args.lead_steps)
        end = train_phase("extract", lead, copy, data["extract"], args.extract_steps, COPY_HPARAMS_SET, work,
                          args.every)
        start = end - args.extract_steps
        scores = {step: score(copy, step, data["dev"], work)
                  for step in range(start + args.every, end + 1, args.every)}
    except (FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    best = max(scores, key=scores.get)
    chosen = _one_checkpoint_dir(copy, best, os.path.join(work, "chosen"))
    _run([t2t_python(), "-m", "trainer", "slim_checkpoint", "--model_dir", chosen, "--out", args.out],
         os.path.join(work, "slim.log"), f"slim checkpoint of step {best} -> {args.out}")
    shutil.copy(os.path.join(copy, "loss_curve.png"), args.out)
    with open(os.path.join(args.out, "selection.json"), "w") as f:
        json.dump({"dev_set": DEV_SOURCE + " (eval split)", "extract_phase_dev_rouge_l_by_step": scores,
                   "chosen_step": best},
                  f, indent=2)
    print(f"[warm_start] chose step {best} (dev ROUGE-L {scores[best]:.2f}) -> {args.out}; "
          f"`make quality` reports it on the bundled sample and nlbse24")
    return 0


if __name__ == "__main__":
    sys.exit(main())
