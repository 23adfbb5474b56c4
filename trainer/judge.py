"""The pipeline's evaluate step: score the trained model, then judge it against the served model and the model it
started from.

- The trained model is scored by `python -m trainer.evaluate` on the general set (eval/) and, in a retrain, on the
  new issues' held-out part (eval/new/): metrics.json, report.html and gate.txt (the evaluation gate).
- When a version is served, it is scored on the same sets (eval/served/) and trainer/promotion.py decides whether
  the trained model replaces it: eval/promotion.json.
- The model the run started from (its checkpoint_dir), when it is not the served version, is exported once per
  working dir and scored on the general set (eval/start/): eval/start.json. In the first run of a working dir the
  promote rule judges the trained model against it, and serve publishes the start model when the rule refuses.
- The served and the start model's scorings are kept per model and issue set (working_dir/scores/) and reused by
  later runs; the trained model is always scored.

The step's commands run through `run(step, args, python)` (components/_runtime.run_cli in the component: their
output in the run's logs), so this module knows nothing of KFP.
"""
from __future__ import annotations

import os
from typing import Callable

from data import contract, files, project
from serving import versions
from trainer import evaluate as scores, promotion as promo

Runner = Callable[..., str]  # run(step, args, python=None): runs `python -m ...args` for a step; its output


class Judge:
    """One evaluate step: where it writes (out), what it reads (data_dir, working_dir) and how it runs commands."""

    def __init__(self, run: Runner, out: str, data_dir: str, working_dir: str, max_issues: int = 0):
        self.run, self.out, self.data_dir, self.working_dir, self.max_issues = (
            run, out, data_dir, working_dir, max_issues)
        self.new_issues = os.path.join(data_dir, contract.NEW_EVAL_ISSUES_FILE)
        has_new = files.exists(self.new_issues) and files.read_text(self.new_issues).strip()
        self.sets = [promo.GENERAL] + ([promo.NEW] if has_new else [])

    @staticmethod
    def set_dir(where: str, eval_set: str) -> str:
        """Where a scoring on eval_set goes: where itself for the general set, where/new for the new issues."""
        return where if eval_set == promo.GENERAL else os.path.join(where, eval_set)

    def score(self, step: str, model: str, where: str, eval_set: str, extra: list = (), reuse: bool = True) -> str:
        """trainer.evaluate of a model on one eval set, into set_dir(where, eval_set); that dir. A kept scoring of
        the same model on the same issues is reused when reuse (the served and the start model)."""
        issues = [] if eval_set == promo.GENERAL else ["--eval_issues", self.new_issues]
        target = self.set_dir(where, eval_set)
        issues_file = self.new_issues if issues else os.path.join(self.data_dir, contract.EVAL_ISSUES_FILE)
        kept = promo.kept_scoring(self.working_dir, promo.scoring_key(model, issues_file, self.max_issues))
        if reuse and files.exists(os.path.join(kept, scores.PREDICTIONS)):
            _copy_scoring(kept, target)
            print("[evaluate] %s: the same model's scoring on the same issues, reused from %s" % (step, kept))
            return target
        self.run(step + ("" if eval_set == promo.GENERAL else "_" + eval_set),
                 ["-m", "trainer.evaluate", "--saved_model", model, "--data_dir", self.data_dir, "--out", target]
                 + issues + (["--max_issues", self.max_issues] if self.max_issues > 0 else []) + list(extra))
        _copy_scoring(target, kept)
        return target

    def trained(self, export_dir: str, gate_args: list) -> tuple[str, dict]:
        """The trained model scored on every set (gate_args for the general set's gate): (gate, metrics)."""
        for eval_set in self.sets:
            self.score("evaluate", export_dir, self.out, eval_set,
                       gate_args if eval_set == promo.GENERAL else [], reuse=False)
        return (files.read_text(os.path.join(self.out, "gate.txt")).strip(),
                files.read_json(os.path.join(self.out, "metrics.json"), {}))

    def against_served(self, served: tuple[int, str], promote_rule: str) -> dict:
        """The served version scored on the same sets, paired with the trained model per set, and the promote
        rule's decision (eval/promotion.json)."""
        version, path = served
        compared = {s: promo.comparison(s, "served version %d" % version, self.set_dir(self.out, s),
                                        self.score("evaluate_served", path, os.path.join(self.out, "served"), s))
                    for s in self.sets}
        title_check = (promo.titles_follow_bodies(scores.load_eval_issues(self.new_issues))
                       if promo.NEW in self.sets else None)
        promotion = promo.decide(promote_rule, version, compared[promo.GENERAL], compared.get(promo.NEW),
                                 title_check=title_check)
        files.write_json(os.path.join(self.out, "promotion.json"), promotion)
        print("[evaluate] %s: %s" % ("promote" if promotion["promote"] else "do not promote", promotion["reason"]))
        return promotion

    def against_start(self, checkpoint_dir: str, step: int, promote_rule: str, first_run: bool) -> dict:
        """The model the run started from, exported once per working dir and scored on the general set, paired with
        the trained model (eval/start.json). first_run: nothing is served, so the promote rule judges the trained
        model against it, and served_instead names the start model's export when the rule refuses."""
        base = promo.start_model_base(self.working_dir, checkpoint_dir, step)
        if not promo.is_exported(base, step):  # TF's file system: local paths, or local copies (data/files.py)
            with files.tf_path(checkpoint_dir) as checkpoint_here, files.tf_path(base, write_back=True) as base_here:
                self.run("export_start", ["-m", "trainer", "export", "--model_dir", checkpoint_here,
                                          "--model_base_path", base_here], python=project.t2t_python())
        start_dir = self.score("evaluate_start", base, os.path.join(self.out, "start"), promo.GENERAL)
        start = dict(promo.comparison(promo.GENERAL, "start model step %d" % step, self.out, start_dir), step=step,
                     checkpoint_dir=checkpoint_dir)
        print("[evaluate] trained model vs the model it started from (step %d), %s"
              % (step, promo.format_comparison(start)))
        if first_run:
            decision = promo.decide(promote_rule, step, start, versus="vs the model it started from (step %d)" % step)
            start.update(rule=promote_rule, promote=decision["promote"], reason=decision["reason"])
            if not decision["promote"]:
                start["served_instead"] = base  # serve publishes the model it started from
                print("[evaluate] the model it started from is served: %s" % decision["reason"])
        files.write_json(os.path.join(self.out, "start.json"), start)
        return start


def judge(run: Runner, out: str, export_dir: str, data_dir: str, working_dir: str, model_name: str,
          checkpoint_dir: str, promote_rule: str, own_serve_record: dict | None = None, max_issues: int = 0,
          min_rouge_l: float = 0.0, baseline_metrics: str = "") -> dict:
    """The whole evaluate step (the module's docstring): the step record's fields (gate "true"/"false", eval_dir,
    metrics_path, report_path, rouge, gate_reasons, promotion, start). own_serve_record: this run's serve record
    when it ran before (a start_step re-run), so its own version is not taken for the served one."""
    j = Judge(run, out, data_dir, working_dir, max_issues)
    gate_args = (["--threshold_rouge_l", min_rouge_l] if min_rouge_l > 0 else []) + (
        ["--baseline_metrics", baseline_metrics] if baseline_metrics else [])
    gate, metrics = j.trained(export_dir, gate_args)
    reasons = metrics.get("gate", {}).get("reasons", [])
    promotion = start = None
    served = promo.served_to_compare(versions.base_path(working_dir, model_name), own_serve_record)
    if served:
        promotion = j.against_served(served, promote_rule)
        reasons = reasons + ["promotion: %s" % promotion["reason"]]
        gate = gate if promotion["promote"] else "false"
    step = promo.start_checkpoint(checkpoint_dir)
    if step is not None and not (served and promo.is_served_checkpoint(checkpoint_dir, step, served[1])):
        start = j.against_start(checkpoint_dir, step, promote_rule, first_run=not served)
    scores.add_comparisons(out, (promotion or {}).get("comparisons", []) + ([start] if start else []), promotion)
    return {"gate": gate, "eval_dir": out, "metrics_path": os.path.join(out, "metrics.json"),
            "report_path": os.path.join(out, "report.html"), "rouge": metrics.get("rouge", {}),
            "gate_reasons": reasons, "promotion": promotion, "start": start}


def _copy_scoring(src: str, dst: str) -> None:
    """trainer.evaluate's predictions and metrics, from one dir to another (a kept scoring, an eval dir)."""
    for name in (scores.PREDICTIONS, "metrics.json"):
        if files.exists(os.path.join(src, name)):
            files.copy(os.path.join(src, name), os.path.join(dst, name))
