"""evaluate: the trained model scored on the eval sets and judged against the served model and the model the run
started from; the work is trainer/judge.py's judge() (metrics.json, report.html, gate.txt, promotion.json and
start.json in <run dir>/eval). Returns the gate, "true" or "false": its only parameter output, the one named
Output, which the pipeline's dsl.If reads (kfp.local 2.17.0 resolves a condition on <task>-Output, and silently
skips a dsl.If on any other named output). It runs in the t2t image (it may export the start model). It takes
export's Model artifact and outputs the scores as a Metrics artifact, report.html as an HTML artifact and a
Markdown summary, for the run page (components/artifacts.py)."""
from kfp import dsl

from components.images import T2T_IMAGE


@dsl.component(base_image=T2T_IMAGE, install_kfp_package=False)
def evaluate(run_dir: str, export_dir: str, data_dir: str, max_issues: int, min_rouge_l: float,
             baseline_metrics: str, start_step: str, working_dir: str, model_name: str,
             promote_rule: str, saved_model: dsl.Input[dsl.Model], eval_metrics: dsl.Output[dsl.Metrics],
             report: dsl.Output[dsl.HTML], summary: dsl.Output[dsl.Markdown]) -> str:
    from components import _runtime as rt, artifacts, rundir
    from trainer import judge

    record = rt.reused(run_dir, "evaluate", start_step)
    if record:
        artifacts.evaluation(eval_metrics, report, summary, record)
        return record["gate"]

    def run(step: str, args: list, python: str = None) -> str:
        return rt.run_cli(step, run_dir, args, python=python)

    info = judge.judge(run, rundir.output_dir(run_dir, "eval"), export_dir,
                       data_dir, working_dir, model_name,
                       rundir.read_step(run_dir, "copy_checkpoint", {}).get("checkpoint_dir", ""), promote_rule,
                       own_serve_record=rundir.read_step(run_dir, "serve"), max_issues=max_issues,
                       min_rouge_l=min_rouge_l, baseline_metrics=baseline_metrics)
    rt.record_step(run_dir, "evaluate", **info)
    artifacts.evaluation(eval_metrics, report, summary, rundir.read_step(run_dir, "evaluate"))
    return info["gate"]
