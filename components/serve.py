"""serve: publish the newest exported version (or, when evaluate says so, the export of the model the run started
from) into the model base path <working dir>/serving/<model name>, make
sure it is served (the project's model server locally, tensorflow/serving on a cluster) and send one real request.
The work is serving/deploy.py's serve(). Returns the server's REST URL; outputs the served version as a Model
artifact pointing at the exported Model it was published from (components/artifacts.py)."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def serve(run_dir: str, working_dir: str, export_dir: str, data_dir: str, model_name: str,
          deploy_target: str, saved_model: dsl.Input[dsl.Model], served_model: dsl.Output[dsl.Model]) -> str:
    from components import _runtime as rt, artifacts, rundir
    from serving import deploy

    evaluated = rundir.read_step(run_dir, "evaluate", {})
    # the first run of a working dir serves the model it started from when its own did not beat it (evaluate)
    export_dir = (evaluated.get("start") or {}).get("served_instead") or export_dir
    info = deploy.serve(working_dir, export_dir, data_dir, model_name, deploy_target, run_dir,
                        previous=rundir.read_step(run_dir, "serve", {}), evaluate=evaluated)
    rt.record_step(run_dir, "serve", **info)
    artifacts.served_model(served_model, info, saved_model)
    return info["rest_url"]
