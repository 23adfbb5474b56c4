"""serve: publish the newest exported version into the model base path <working dir>/serving/<model name>, make
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

    info = deploy.serve(working_dir, export_dir, data_dir, model_name, deploy_target, run_dir,
                        previous=rundir.read_step(run_dir, "serve", {}),
                        evaluate=rundir.read_step(run_dir, "evaluate", {}))
    rt.record_step(run_dir, "serve", **info)
    artifacts.served_model(served_model, info, saved_model)
    return info["rest_url"]
