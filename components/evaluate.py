"""evaluate: `python -m trainer.evaluate` on the newest exported version: ROUGE against the lead baselines,
metrics.json, report.html and gate.txt in <run dir>/eval (and in eval/new/ on the new issues' held-out part, when
the data dir has new_eval_issues.jsonl: a retrain's). Returns the gate, "true" or "false": its only parameter
output, the one named Output, which the pipeline's dsl.If reads (kfp.local 2.17.0 resolves a condition on
<task>-Output, and silently skips a dsl.If on any other named output).
min_rouge_l > 0: the gate also asks for that ROUGE-L; baseline_metrics: a previous metrics.json to match.
Promotion: when a version of model_name is already served (working_dir/serving/<model_name>), it is scored on the
same eval sets into eval/served/ (and eval/served/new/), and promote_rule decides from the paired comparisons
whether the new model replaces it (trainer/promotion.py); the decision and the comparisons go into
eval/promotion.json and the step record.
The model the run started from (copy_checkpoint's checkpoint_dir), when it is not the served version: exported once
per working dir (working_dir/start_models/, `python -m trainer export` in the t2t environment: this step runs in
the t2t image) and scored on the general set into eval/start/; the paired comparison goes into eval/start.json and
the step record. report.html shows every comparison. In the first run of a working dir (nothing served) promote_rule
judges the trained model against it: when the rule refuses, serve publishes the model the run started from
(start.json's served_instead) and a retrain continues that one.
It takes export's Model artifact and outputs the scores as a Metrics artifact, report.html as an HTML artifact
and a Markdown summary, for the run page (components/artifacts.py)."""
from kfp import dsl

from components.images import T2T_IMAGE


@dsl.component(base_image=T2T_IMAGE, install_kfp_package=False)
def evaluate(run_dir: str, export_dir: str, data_dir: str, max_issues: int, min_rouge_l: float,
             baseline_metrics: str, start_step: str, working_dir: str, model_name: str,
             promote_rule: str, saved_model: dsl.Input[dsl.Model], eval_metrics: dsl.Output[dsl.Metrics],
             report: dsl.Output[dsl.HTML], summary: dsl.Output[dsl.Markdown]) -> str:
    import os

    from components import _runtime as rt, artifacts, rundir
    from data import contract, files
    from serving import versions
    from trainer import evaluate as scores, promotion as promo

    record = rt.reused(run_dir, "evaluate", start_step)
    if record:
        artifacts.evaluation(eval_metrics, report, summary, record)
        return record["gate"]
    out = rundir.output_dir(run_dir, "eval")
    new_issues = os.path.join(data_dir, contract.NEW_EVAL_ISSUES_FILE)
    sets = [promo.GENERAL] + ([promo.NEW] if rt.exists(new_issues) and rt.read_text(new_issues).strip() else [])

    def set_dir(where: str, eval_set: str) -> str:
        return where if eval_set == promo.GENERAL else os.path.join(where, eval_set)  # eval/, eval/new/

    def copy_scoring(src: str, dst: str) -> None:
        """trainer.evaluate's predictions and metrics, from one dir to another (a kept scoring, an eval dir)."""
        for name in (scores.PREDICTIONS, "metrics.json"):
            if rt.exists(os.path.join(src, name)):
                files.copy(os.path.join(src, name), os.path.join(dst, name))

    def score(step: str, model: str, where: str, eval_set: str, extra: list, reuse: bool = True) -> str:
        """trainer.evaluate of a model on one eval set, into set_dir(where, eval_set); that dir. A scoring of the
        same model on the same issues in an earlier run of the working dir is reused when reuse (the served and the
        start model; the model under evaluation is always scored, its report and gate written)."""
        issues = [] if eval_set == promo.GENERAL else ["--eval_issues", new_issues]
        target = set_dir(where, eval_set)
        kept = promo.kept_scoring(working_dir, promo.scoring_key(
            model, new_issues if issues else os.path.join(data_dir, contract.EVAL_ISSUES_FILE), max_issues))
        if reuse and rt.exists(os.path.join(kept, scores.PREDICTIONS)):
            copy_scoring(kept, target)
            print("[evaluate] %s: the same model's scoring on the same issues, reused from %s" % (step, kept))
            return target
        rt.run_cli(step + ("" if eval_set == promo.GENERAL else "_" + eval_set), run_dir,
                   ["-m", "trainer.evaluate", "--saved_model", model, "--data_dir", data_dir, "--out",
                    target] + issues + (["--max_issues", max_issues] if max_issues > 0 else []) + extra)
        copy_scoring(target, kept)
        return target

    gate_args = (["--threshold_rouge_l", min_rouge_l] if min_rouge_l > 0 else []) + (
        ["--baseline_metrics", baseline_metrics] if baseline_metrics else [])
    for eval_set in sets:
        score("evaluate", export_dir, out, eval_set, gate_args if eval_set == promo.GENERAL else [], reuse=False)
    gate = rt.read_text(os.path.join(out, "gate.txt")).strip()
    metrics = rt.read_json(os.path.join(out, "metrics.json"), {})
    reasons = metrics.get("gate", {}).get("reasons", [])
    promotion = start = None
    served = promo.served_to_compare(versions.base_path(working_dir, model_name), rundir.read_step(run_dir, "serve"))
    if served:
        version, path = served
        compared = {s: promo.comparison(s, "served version %d" % version, set_dir(out, s),
                                        score("evaluate_served", path, os.path.join(out, "served"), s, []))
                    for s in sets}
        title_check = promo.titles_follow_bodies(scores.load_eval_issues(new_issues)) if promo.NEW in sets else None
        promotion = promo.decide(promote_rule, version, compared[promo.GENERAL], compared.get(promo.NEW),
                                 title_check=title_check)
        rt.write_json(os.path.join(out, "promotion.json"), promotion)
        print("[evaluate] %s: %s" % ("promote" if promotion["promote"] else "do not promote", promotion["reason"]))
        reasons = reasons + ["promotion: %s" % promotion["reason"]]
        gate = gate if promotion["promote"] else "false"
    checkpoint_dir = rundir.read_step(run_dir, "copy_checkpoint", {}).get("checkpoint_dir", "")
    step = promo.start_checkpoint(checkpoint_dir)
    if step is not None and not (served and promo.is_served_checkpoint(checkpoint_dir, step, served[1])):
        base = promo.start_model_base(working_dir, checkpoint_dir, step)
        if not promo.is_exported(base, step):  # TF's file system: local paths, or local copies (data/files.py)
            with files.tf_path(checkpoint_dir) as checkpoint_here, files.tf_path(base, write_back=True) as base_here:
                rt.run_cli("export_start", run_dir, ["-m", "trainer", "export", "--model_dir", checkpoint_here,
                                                     "--model_base_path", base_here], python=rt.t2t_python())
        start_dir = score("evaluate_start", base, os.path.join(out, "start"), promo.GENERAL, [])
        start = dict(promo.comparison(promo.GENERAL, "start model step %d" % step, out, start_dir), step=step,
                     checkpoint_dir=checkpoint_dir)
        print("[evaluate] trained model vs the model it started from (step %d), %s"
              % (step, promo.format_comparison(start)))
        if not served:  # the first run of a working dir: the model it continued is the one to beat
            decision = promo.decide(promote_rule, step, start, versus="vs the model it started from (step %d)" % step)
            start.update(rule=promote_rule, promote=decision["promote"], reason=decision["reason"])
            if not decision["promote"]:
                start["served_instead"] = base  # serve publishes the model it started from
                print("[evaluate] the model it started from is served: %s" % decision["reason"])
        rt.write_json(os.path.join(out, "start.json"), start)
    scores.add_comparisons(out, (promotion or {}).get("comparisons", []) + ([start] if start else []), promotion)
    rt.record_step(run_dir, "evaluate", gate=gate, eval_dir=out, metrics_path=os.path.join(out, "metrics.json"),
                   report_path=os.path.join(out, "report.html"), rouge=metrics.get("rouge", {}),
                   gate_reasons=reasons, promotion=promotion, start=start)
    artifacts.evaluation(eval_metrics, report, summary, rundir.read_step(run_dir, "evaluate"))
    return gate
