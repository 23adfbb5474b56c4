"""webapp: the Flask page that calls the model server (`python -m webapp`, port 8080, configured from the
environment; webapp/launch.py starts it, or applies its Deployment + Service on a cluster). Runs only when
deploy_webapp == 'true', after serve. Returns the page's URL ("" when the web app is not available in this
checkout: the step says so and records it, the run still succeeds)."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def webapp(run_dir: str, working_dir: str, server_url: str, data_dir: str, model_name: str,
           deploy_target: str) -> str:
    import importlib.util
    import os

    from components import _runtime as rt, rundir
    from serving import deploy

    where = deploy.target(deploy_target)
    if importlib.util.find_spec("webapp") is None or importlib.util.find_spec("webapp.__main__") is None:
        print("[webapp] the web app (python -m webapp) is not in this checkout: skipped; the model server is at %s"
              % server_url)
        rt.record_step(run_dir, "webapp", url="", available=False)
        return ""
    from webapp import launch

    env = launch.settings_env(server_url, model_name, rundir.read_step(run_dir, "serve", {}), data_dir)
    if where == "kubernetes":
        if importlib.util.find_spec("webapp.k8s") is None:
            print("[webapp] webapp.k8s (its Deployment + Service) is not in this image: skipped")
            rt.record_step(run_dir, "webapp", url="", available=False, target=where)
            return ""
        from components.images import APP_IMAGE
        info = launch.deploy_kubernetes(rundir.run_id_of(run_dir), server_url, model_name, env,
                                        rundir.read_step(run_dir, "serve", {}).get("namespace", "default"),
                                        os.environ.get("GHSUMM_APP_IMAGE", APP_IMAGE))
    else:
        info = dict(launch.start_local(working_dir, run_dir, env), started=True)
    rt.record_step(run_dir, "webapp", target=where, available=True, **info)
    return info["url"]
