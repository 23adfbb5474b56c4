"""finalize, the exit handler: runs whatever happened (success, failure, cancel). Writes <run dir>/status.json:
the run's final state, the failing task and its error, and every step's recorded outputs. On failure or cancel
it leaves nothing half-deployed: it stops the local processes this run started and removes the model version
this run published (a server an earlier run started keeps serving the earlier version). Scratch (hidden
temporary dirs of an interrupted publish or export) is removed."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def finalize(working_dir: str, run_id: str, job_name: str, status: dsl.PipelineTaskFinalStatus):
    import os
    import time

    from components import rundir
    from serving import deploy

    run_dir = rundir.run_dir_for(working_dir, run_id, job_name)
    steps, state = rundir.step_records(run_dir), status.state
    failed_step, error = "", status.error_message or ""
    failures = rundir.failures(run_dir)
    if state != "SUCCEEDED" and failures:
        last = max(failures, key=lambda f: f.get("time", ""))
        failed_step, error = last["step"], last["error"]
    rolled_back = [] if state == "SUCCEEDED" else deploy.roll_back(working_dir, rundir.run_id_of(run_dir), steps,
                                                                   "run %s" % state)
    deploy.remove_scratch(working_dir, os.path.join(run_dir, "export"))
    record = {"state": state, "finished": time.strftime(rundir.TIME_FORMAT), "run_dir": run_dir,
              "job": status.pipeline_job_resource_name, "failed_task": status.pipeline_task_name
              if state != "SUCCEEDED" else "", "failed_step": failed_step, "error_code": status.error_code,
              "error_message": error, "rolled_back": rolled_back}
    rundir.write_status(run_dir, record, steps)
    print("run %s: %s%s" % (rundir.run_id_of(run_dir), state,
                            (" in %s: %s" % (failed_step or status.pipeline_task_name, error)) if error else ""))
    for line in rolled_back:
        print("  rolled back: %s" % line)
