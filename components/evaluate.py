"""evaluate: `python -m trainer.evaluate` on the newest exported version: ROUGE against the lead baselines,
metrics.json, report.html and gate.txt in <run dir>/eval. Returns the gate, "true" or "false": its only
parameter output, the one named Output, which the pipeline's dsl.If reads (kfp.local 2.17.0 resolves a condition
on <task>-Output, and silently skips a dsl.If on any other named output).
min_rouge_l > 0: the gate also asks for that ROUGE-L; baseline_metrics: a previous metrics.json to match.
Promotion: when a version of model_name is already served (working_dir/serving/<model_name>), it is scored on the
same eval issues into <run dir>/eval/served/, and promote_rule decides whether the new model replaces it
(trainer/promotion.py); the decision and both scores go into eval/promotion.json and the step record.
It takes export's Model artifact and outputs the scores as a Metrics artifact, report.html as an HTML artifact
and a Markdown summary, for the run page (components/artifacts.py)."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def evaluate(run_dir: str, export_dir: str, data_dir: str, max_issues: int, min_rouge_l: float,
             baseline_metrics: str, start_step: str, working_dir: str, model_name: str,
             promote_rule: str, saved_model: dsl.Input[dsl.Model], eval_metrics: dsl.Output[dsl.Metrics],
             report: dsl.Output[dsl.HTML], summary: dsl.Output[dsl.Markdown]) -> str:
    import os

    from components import _runtime as rt, artifacts, rundir
    from serving import versions
    from trainer import promotion as promo

    record = rt.reused(run_dir, "evaluate", start_step)
    if record:
        artifacts.evaluation(eval_metrics, report, summary, record)
        return record["gate"]
    out = rundir.output_dir(run_dir, "eval")
    limit = ["--max_issues", max_issues] if max_issues > 0 else []
    args = ["-m", "trainer.evaluate", "--saved_model", export_dir, "--data_dir", data_dir, "--out", out] + limit
    if min_rouge_l > 0:
        args += ["--threshold_rouge_l", min_rouge_l]
    if baseline_metrics:
        args += ["--baseline_metrics", baseline_metrics]
    rt.run_cli("evaluate", run_dir, args)
    gate = rt.read_text(os.path.join(out, "gate.txt")).strip()
    metrics = rt.read_json(os.path.join(out, "metrics.json"), {})
    reasons = metrics.get("gate", {}).get("reasons", [])
    promotion = None
    served = promo.served_to_compare(versions.base_path(working_dir, model_name), rundir.read_step(run_dir, "serve"))
    if served:
        version, path = served
        served_out = os.path.join(out, "served")
        rt.run_cli("evaluate_served", run_dir, ["-m", "trainer.evaluate", "--saved_model", path, "--data_dir",
                                                 data_dir, "--out", served_out] + limit)
        promotion = promo.decide(promote_rule, metrics, rt.read_json(os.path.join(served_out, "metrics.json")),
                                 version)
        rt.write_json(os.path.join(out, "promotion.json"), promotion)
        print("[evaluate] %s: %s" % ("promote" if promotion["promote"] else "do not promote", promotion["reason"]))
        reasons = reasons + ["promotion: %s" % promotion["reason"]]
        gate = gate if promotion["promote"] else "false"
    rt.record_step(run_dir, "evaluate", gate=gate, eval_dir=out, metrics_path=os.path.join(out, "metrics.json"),
                   report_path=os.path.join(out, "report.html"), rouge=metrics.get("rouge", {}),
                   gate_reasons=reasons, promotion=promotion)
    artifacts.evaluation(eval_metrics, report, summary, rundir.read_step(run_dir, "evaluate"))
    return gate
