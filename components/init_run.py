"""init_run: makes the run dir working_dir/<run id> (run id: the run_id parameter, else the KFP job name) and
records the run's parameters in run.json (one entry per attempt: a start_step run appends to it). Every other step
writes under the directory it returns."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def init_run(working_dir: str, run_id: str, job_name: str, start_step: str, data: str, new_data: str,
             new_weight: int, new_eval_percent: float, checkpoint_dir: str, train_steps: int, hparams_set: str,
             hparams: str, model_name: str, deploy_webapp: str, promote_rule: str) -> str:
    import time

    from components import STEPS
    from components import _runtime as rt, rundir
    from trainer import promotion

    run_dir = rundir.run_dir_for(working_dir, run_id, job_name)
    rundir.clear_failures(run_dir)  # an earlier attempt's errors

    def bad(message):
        rt.record_failure(run_dir, "init_run", message)
        raise ValueError(message)

    if start_step not in STEPS:
        bad("start_step %r: must be one of %s" % (start_step, ", ".join(STEPS)))
    if deploy_webapp not in ("true", "false"):
        bad("deploy_webapp %r: must be 'true' or 'false'" % deploy_webapp)
    try:
        promotion.parse_rule(promote_rule)
    except promotion.PromotionError as e:
        bad(str(e))
    if start_step != STEPS[0] and not run_id:
        bad("start_step %r needs run_id: the run whose earlier outputs to reuse" % start_step)
    rid = rundir.run_id_of(run_dir)
    if start_step != STEPS[0] and not rt.exists(rundir.run_json(run_dir)):
        bad("start_step %r: no earlier run %s to reuse" % (start_step, run_dir))
    rt.makedirs(run_dir)
    record = rt.read_json(rundir.run_json(run_dir), {}) or {}
    record.setdefault("run_id", rid)
    record.setdefault("run_dir", run_dir)
    record.setdefault("attempts", []).append({
        "job": job_name, "started": time.strftime(rundir.TIME_FORMAT), "start_step": start_step,
        "parameters": {"working_dir": working_dir, "data": data, "new_data": new_data, "new_weight": new_weight,
                       "new_eval_percent": new_eval_percent, "checkpoint_dir": checkpoint_dir,
                       "train_steps": train_steps, "hparams_set": hparams_set, "hparams": hparams,
                       "model_name": model_name, "deploy_webapp": deploy_webapp,
                       "promote_rule": promote_rule}})
    rt.write_json(rundir.run_json(run_dir), record)
    print("run dir: %s (start step: %s)" % (run_dir, start_step))
    return run_dir
