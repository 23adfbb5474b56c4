"""finalize, the exit handler: runs whatever happened (success, failure, cancel). Writes <run dir>/status.json:
the run's final state, the failing task and its error, and every step's recorded outputs. On failure or cancel
it leaves nothing half-deployed: it stops the local processes this run started and removes the model version
this run published (a server an earlier run started keeps serving the earlier version). Scratch (hidden
temporary dirs of an interrupted publish or export) is removed."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def finalize(working_dir: str, run_id: str, job_name: str, status: dsl.PipelineTaskFinalStatus):
    import glob
    import os
    import shutil
    import time

    from components import STEPS, _deploy, _runtime as rt

    run_dir = rt.run_dir_for(working_dir, run_id, job_name)
    steps = {}
    for step in STEPS:
        record = rt.read_json(os.path.join(run_dir, "steps", step + ".json"))
        if record is not None:
            steps[step] = record
    state = status.state
    failures = [rt.read_json(path) for path in sorted(glob.glob(os.path.join(run_dir, "steps", "*.failed.json")))]
    failures = [f for f in failures if f]
    failed_step, error = "", status.error_message or ""
    if state != "SUCCEEDED" and failures:
        last = max(failures, key=lambda f: f.get("time", ""))
        failed_step, error = last["step"], last["error"]
    rolled_back = []
    if state != "SUCCEEDED":
        for step in ("webapp", "serve"):
            record = steps.get(step, {})
            if record.get("started") and record.get("pid") and _deploy.stop(record["pid"]):
                rolled_back.append("stopped %s (pid %s)" % (step, record["pid"]))
        serve = steps.get("serve", {})
        if serve.get("new") and serve.get("target") == "local":
            _deploy.unpublish(serve["base_path"], serve["version"])
            from pipeline import records
            records.log_event(working_dir, serve["model_name"], {"event": "removed", "version": serve["version"],
                                                                 "run_id": os.path.basename(run_dir),
                                                                 "reason": "run %s" % state})
            rolled_back.append("removed version %s from %s" % (serve["version"], serve["base_path"]))
    if not rt.is_remote(run_dir):
        for scratch in glob.glob(os.path.join(working_dir, "serving", "*", ".tmp-*")) + \
                glob.glob(os.path.join(run_dir, "export", ".*")):
            shutil.rmtree(scratch, ignore_errors=True)
    record = {"state": state, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "run_dir": run_dir,
              "job": status.pipeline_job_resource_name, "failed_task": status.pipeline_task_name
              if state != "SUCCEEDED" else "", "failed_step": failed_step, "error_code": status.error_code,
              "error_message": error, "steps": steps, "rolled_back": rolled_back}
    rt.write_json(os.path.join(run_dir, "status.json"), record)
    print("run %s: %s%s" % (os.path.basename(run_dir.rstrip("/")), state,
                            (" in %s: %s" % (failed_step or status.pipeline_task_name, error)) if error else ""))
    for line in rolled_back:
        print("  rolled back: %s" % line)
