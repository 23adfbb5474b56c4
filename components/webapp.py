"""webapp: the Flask page that calls the model server (`python -m webapp`, port 8080, configured from the
environment). Runs only when deploy_webapp == 'true', after serve. Returns the page's URL ("" when the web app
is not available in this checkout: the step says so and records it, the run still succeeds).

Its settings (webapp/config.py) come from the environment: GHSUMM_MODEL_SERVER (serve's REST URL),
GHSUMM_PROTOCOL=rest, GHSUMM_MODEL_NAME, GHSUMM_VOCAB (the served version's vocabulary), GHSUMM_MODEL_BASE_PATH,
GHSUMM_ISSUES (this run's eval issues, for "Random issue"); GITHUB_TOKEN passes through from the caller's
environment (a Secret named ghsumm-github-token on a cluster), never as a pipeline parameter. On a cluster it
applies webapp/k8s.py's Deployment + Service (port 80 -> 8080)."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def webapp(run_dir: str, working_dir: str, server_url: str, data_dir: str, model_name: str,
           deploy_target: str) -> str:
    import importlib.util
    import os
    import urllib.request

    from components import _deploy, _runtime as rt

    serve_info = rt.read_json(os.path.join(run_dir, "steps", "serve.json"), {}) or {}
    where = _deploy.target(deploy_target)
    available = importlib.util.find_spec("webapp") is not None and \
        importlib.util.find_spec("webapp.__main__") is not None
    if not available:
        print("[webapp] the web app (python -m webapp) is not in this checkout: skipped; the model server is at %s"
              % server_url)
        rt.record_step(run_dir, "webapp", url="", available=False)
        return ""
    env = {"GHSUMM_MODEL_SERVER": server_url, "GHSUMM_PROTOCOL": "rest", "GHSUMM_MODEL_NAME": model_name,
           "GHSUMM_VOCAB": serve_info.get("vocab_path", ""), "GHSUMM_MODEL_BASE_PATH": serve_info.get("base_path", ""),
           "GHSUMM_ISSUES": os.path.join(data_dir, "eval_issues.jsonl")}
    if where == "kubernetes":
        try:
            from webapp import k8s as webapp_k8s
        except ImportError:
            print("[webapp] webapp.k8s (its Deployment + Service) is not in this image: skipped")
            rt.record_step(run_dir, "webapp", url="", available=False, target=where)
            return ""
        namespace = serve_info.get("namespace", "default")
        from components.images import APP_IMAGE
        manifests = webapp_k8s.render(model_name, model_server=server_url, run=os.path.basename(run_dir.rstrip("/")),
                                      protocol="rest", image=os.environ.get("GHSUMM_APP_IMAGE", APP_IMAGE),
                                      vocab=env["GHSUMM_VOCAB"], model_base_path=env["GHSUMM_MODEL_BASE_PATH"],
                                      issues=env["GHSUMM_ISSUES"], github_token_secret="ghsumm-github-token")
        applied = webapp_k8s.apply(manifests, namespace=namespace)
        name = manifests[-1]["metadata"]["name"]
        url = "http://%s.%s.svc.cluster.local" % (name, namespace)
        rt.record_step(run_dir, "webapp", url=url, applied=applied, target=where, available=True,
                       port_forward="kubectl -n %s port-forward svc/%s 8080:80" % (namespace, name))
        return url
    running = _deploy.live_record(working_dir, "webapp")
    if running:  # one page per working dir: restart it on the new configuration
        _deploy.stop(running["pid"])
    port = _deploy.pick_port(8080)
    log = os.path.join(working_dir, "serving", "webapp.log")
    cmd = [rt.app_python(), "-m", "webapp", "--host", "127.0.0.1", "--port", str(port)]
    pid = _deploy.start_detached(cmd, log, rt.child_env(**env))
    url = "http://127.0.0.1:%d" % port
    rt.write_json(_deploy.process_record_path(working_dir, "webapp"),
                  {"pid": pid, "url": url, "log": log, "run_dir": run_dir, "command": cmd, "env": env})

    def up():
        for path in ("/livez", "/healthz"):
            try:
                with urllib.request.urlopen(url + path, timeout=5) as r:
                    return r.status == 200
            except OSError:
                continue
        return False

    _deploy.wait_until(up, pid, 120, "web app", log)
    print("[webapp] the page is up at %s (pid %d, log %s)" % (url, pid, log), flush=True)
    rt.record_step(run_dir, "webapp", url=url, pid=pid, log=log, started=True, target=where, available=True)
    return url
