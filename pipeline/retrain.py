"""`python -m pipeline retrain`: an ordinary gh_summ run whose parameters continue the served model.

    python -m pipeline retrain --new_data FILE [--new_data FILE ...] [--old_data PATHS] [--since YYYY-MM-DD]
                               [--new_weight K] [--new_eval_percent P] [--more_steps N] [--working_dir work]
                               [--model_name ghsumm] [--dry_run] [--<other pipeline parameter> VALUE ...]

From the version served now (the highest under working_dir/serving/<model_name>) and the run that produced it:
  data           the old data, replayed so that the model does not forget: its data parameter plus its own
                 new_data (when it was a retrain itself), or --old_data
  new_data       the --new_data files: a separate input whose train examples are written new_weight times
                 (--new_weight, default the pipeline's, 2) and of which new_eval_percent (--new_eval_percent,
                 default 20) is held out as the new issues' eval set (data/preprocess.py --new_input); the old
                 data's eval split stays the general dev set. --since DATE keeps only issues created on or after
                 DATE, old and new (data/preprocess.py --since, through beam_args)
  vocabulary     its model's (preprocess encodes with checkpoint_dir's vocabulary)
  checkpoint_dir its model dir (the warm start: copy_checkpoint checks vocabulary and layer sizes); the model that
                 run started from when that run served it instead of its own
  hparams_set, hparams   its own
  train_steps    its checkpoint's step + --more_steps
The run gets a new run id (working_dir/<run id>/, with retrain.json saying what it was chosen from); evaluate
scores the served version on the same eval issues and promote_rule decides (default here better_on_new: better on
the new issues' held-out part, not worse beyond noise on the general dev set; trainer/promotion.py); the served
version is untouched until serve publishes the new one. Runs locally (pipeline/local.py); --dry_run prints the
parameters instead.
"""
from __future__ import annotations

import datetime
import glob
import json
import os
import time

from components import rundir
from data import contract, files
from pipeline import records
from serving import versions
from trainer import promotion

CHOSEN = ("data", "new_data", "checkpoint_dir", "train_steps", "working_dir", "model_name")
OWN_FLAGS = ("new_weight", "new_eval_percent")  # pipeline parameters with a flag of their own here
# Steps past the served checkpoint (each model of the pair trains them; trainer/continuation.py says how gently):
# on ~1,100 new issues twice and ~1,800 replayed, 400 steps gained the later issues +0.52 +- 0.27 ROUGE-L, 600
# steps at 2.5 times the rate +0.04 (data/warm_start/README.md, "Continued training")
MORE_STEPS = 400
PROMOTE_RULE = "better_on_new"  # a retrain's default promote_rule (a plain run's: at_least_as_good)


class RetrainError(Exception):
    """Why no retrain run can be chosen: one line for the user."""


def add_arguments(p, pipeline_defaults: dict) -> None:
    p.add_argument("--new_data", action="append", default=[], metavar="FILE",
                   help="new issue files or globs (repeatable): the run's new_data, beside the served run's data")
    p.add_argument("--old_data", help="the old data instead of the served run's data and new_data (comma-separated)")
    p.add_argument("--new_weight", type=int, default=pipeline_defaults["new_weight"], metavar="K",
                   help="each new train example is written K times into the train records (default %(default)s)")
    p.add_argument("--new_eval_percent", type=float, default=pipeline_defaults["new_eval_percent"], metavar="P",
                   help="the share of the new issues held out as their own eval set (default %(default)s)")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="only issues created on or after this date")
    p.add_argument("--more_steps", type=int, default=MORE_STEPS, help="train this many steps past the served "
                   "checkpoint (default %(default)s)")
    p.add_argument("--working_dir", default="work")
    p.add_argument("--model_name", default="ghsumm")
    p.add_argument("--dry_run", action="store_true", help="print the chosen parameters, run nothing")
    p.add_argument("--train_retries", type=int, default=0)
    p.add_argument("--verbose", action="store_true", default=None, help="print kfp.local's whole output (as "
                   "GHSUMM_VERBOSE=1), not only each step's start, progress and end")
    for name, default in pipeline_defaults.items():
        if name not in CHOSEN + OWN_FLAGS:
            p.add_argument("--" + name, type=json.loads if isinstance(default, (dict, list)) else type(default),
                           default=None,
                           help="default: %r" % PROMOTE_RULE if name == "promote_rule" else
                           "default: the served run's (hparams_set, hparams) or the pipeline's (%r)" % (default,))


def checkpoint_step(model_dir: str) -> int:
    """The step of the newest checkpoint in a T2T model dir, from its 'checkpoint' index file."""
    path = os.path.join(model_dir, "checkpoint")
    text = files.read_text(path) if files.exists(path) else ""
    step = contract.checkpoint_step(text)
    if step is None:
        raise RetrainError("no checkpoint in %s (the served model's model dir): cannot continue its training"
                           % model_dir)
    return step


def _check_inputs(paths: list[str]) -> None:
    for path in paths:
        if not files.is_remote(path) and not glob.glob(path):
            raise RetrainError("--new_data %s: no such file" % path)


def choose(working_dir: str, model_name: str, new_data: list[str], old_data: str | None = None,
           since: str | None = None, more_steps: int | None = None, overrides: dict | None = None,
           defaults: dict | None = None) -> tuple[dict, dict]:
    """(pipeline parameters, what they were chosen from) for a retrain of the served model."""
    if not new_data and not since:
        raise RetrainError("give --new_data FILE (repeatable) and/or --since YYYY-MM-DD")
    more_steps = MORE_STEPS if more_steps is None else more_steps
    if more_steps < 1:
        raise RetrainError("--more_steps must be at least 1")
    base = versions.base_path(working_dir, model_name)
    on_disk = versions.versions(base)
    if not on_disk:
        raise RetrainError("nothing is served under %s: run the pipeline first (python -m pipeline run --local "
                           "--working_dir %s), then retrain" % (base, working_dir))
    served = on_disk[-1]
    source = records.version_source(working_dir, model_name, served)
    run_dir = source.get("run_dir")
    run = files.read_json(rundir.run_json(run_dir)) if run_dir else None
    if not run or not run.get("attempts"):
        raise RetrainError("served version %d of %s has no run record (no published event in %s, no run under %s "
                           "that served it): cannot tell its data, model dir and hyper-parameters"
                           % (served, model_name, versions.history_path(working_dir, model_name), working_dir))
    # data: as the attempt that ran preprocess got it; hyper-parameters: as train recorded them (a start_step
    # re-run records its own, unused, parameters)
    parent = [a for a in run["attempts"] if a.get("start_step") == "preprocess"][-1:] or run["attempts"][-1:]
    parent = parent[0]["parameters"]
    train = rundir.read_step(run_dir, "train", {})
    parent.update({k: train[k] for k in ("hparams_set", "hparams") if k in train})
    model_dir = train.get("model_dir") or rundir.output_dir(run_dir, "model")
    start = rundir.read_step(run_dir, "evaluate", {}).get("start") or {}
    if start.get("served_instead"):  # that run served the model it started from, not its own (components/evaluate)
        model_dir = start["checkpoint_dir"]
    step = checkpoint_step(model_dir)
    # the old data: everything the served model learned from (a retrain's own new data included), replayed
    if old_data is None:
        old_data = ",".join([parent.get("data", ""), parent.get("new_data", "")])
    old = list(dict.fromkeys(p.strip() for p in old_data.split(",") if p.strip()))
    for path in old:
        if files.isdir(path) and files.glob(os.path.join(path, contract.VOCAB_GLOB)) and new_data:
            raise RetrainError("the old data %s is a preprocessed data dir, which cannot be merged with new files: "
                               "pass the raw issue files with --old_data" % path)
    _check_inputs(new_data)
    params = dict(defaults or {})
    params.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for key in ("hparams_set", "hparams"):
        if (overrides or {}).get(key) is None:
            params[key] = parent.get(key, params.get(key, ""))
    if (overrides or {}).get("promote_rule") is None:
        params["promote_rule"] = PROMOTE_RULE
    new = list(dict.fromkeys(p if files.is_remote(p) else os.path.abspath(p) for p in new_data))
    old = [p for p in old if p not in new]  # a file given again as it grows: its issues are new
    params.update(working_dir=working_dir, model_name=model_name, checkpoint_dir=model_dir,
                  train_steps=step + more_steps, data=",".join(old), new_data=",".join(new))
    if since:
        try:
            datetime.date.fromisoformat(since)
        except ValueError:
            raise RetrainError("--since %r: a date YYYY-MM-DD" % since) from None
        params["beam_args"] = (params.get("beam_args", "") + " --since " + since).strip()
    promotion.parse_rule(params["promote_rule"])
    info = {"served_version": served, "served_run": source.get("run_id"), "served_run_dir": run_dir,
            "served_rouge_l": start.get("old_rouge_l") if start.get("served_instead") else source.get("rouge_l"),
            "checkpoint_dir": model_dir, "checkpoint_step": step,
            "more_steps": more_steps, "old_data": old, "new_data": new_data, "since": since,
            "new_weight": params.get("new_weight"), "new_eval_percent": params.get("new_eval_percent")}
    return params, info


def decision_line(status: dict) -> str:
    steps = rundir.status_steps(status)
    evaluate, serve = steps.get("evaluate", {}), steps.get("serve", {})
    decision = evaluate.get("promotion") or {}
    if status.get("state") != "SUCCEEDED":
        return "retrain: the run %s (failed in %s); the served version is unchanged" % (
            status.get("state"), status.get("failed_step") or status.get("failed_task") or "?")
    if serve and decision:
        return "retrain: PROMOTED: version %s now served (%s)" % (serve["version"], decision["reason"])
    if serve:
        return "retrain: version %s served (nothing was served when it was evaluated)" % serve["version"]
    if decision:
        return "retrain: NOT PROMOTED: version %s keeps serving (%s)" % (decision["served_version"],
                                                                        decision["reason"])
    return "retrain: NOT PROMOTED: the evaluation gate did not pass (%s)" % "; ".join(evaluate.get("gate_reasons",
                                                                                                   []))


def main(args, pipeline_defaults: dict) -> int:
    from pipeline import local
    overrides = {k: getattr(args, k) for k in pipeline_defaults if k not in CHOSEN}
    working_dir = os.path.abspath(args.working_dir)
    try:
        params, info = choose(working_dir, args.model_name, args.new_data, args.old_data, args.since,
                              args.more_steps, overrides, pipeline_defaults)
    except (RetrainError,) + records.USER_ERRORS as e:
        print("retrain: %s" % e)
        return 2
    params["run_id"] = params.get("run_id") or time.strftime("gh-summ-%Y%m%d-%H%M%S")
    print("retrain: served version %(served_version)s (run %(served_run)s, checkpoint step %(checkpoint_step)s, "
          "ROUGE-L %(served_rouge_l)s) -> %(more_steps)s more steps" % info)
    print("retrain: parameters %s" % json.dumps(params, sort_keys=True))
    if args.dry_run:
        return 0
    files.write_json(rundir.retrain_json(rundir.run_dir_for(working_dir, params["run_id"])), info)
    status = local.run(params, train_retries=args.train_retries, verbose=args.verbose)
    print(local.summary(status, working_dir))
    print(decision_line(status))
    return 0 if status["state"] == "SUCCEEDED" else 1
