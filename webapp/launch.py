"""Launching the web app for the pipeline's webapp step: `python -m webapp` as a detached local process (one page
per working dir, restarted on the new configuration), or its Deployment + Service on a cluster (webapp/k8s.py).

Its settings (webapp/config.py) come from the environment: GHSUMM_MODEL_SERVER (serve's REST URL),
GHSUMM_PROTOCOL=rest, GHSUMM_MODEL_NAME, GHSUMM_VOCAB (the served version's vocabulary), GHSUMM_MODEL_BASE_PATH,
GHSUMM_ISSUES (this run's eval issues, for "Random issue"); GITHUB_TOKEN passes through from the caller's
environment (a Secret named ghsumm-github-token on a cluster), never as a parameter."""
from __future__ import annotations

import os
import urllib.request

from data import contract, project
from serving import launch

PROCESS_NAME = "webapp"


def settings_env(server_url: str, model_name: str, serve_info: dict, data_dir: str) -> dict:
    return {"GHSUMM_MODEL_SERVER": server_url, "GHSUMM_PROTOCOL": "rest", "GHSUMM_MODEL_NAME": model_name,
            "GHSUMM_VOCAB": serve_info.get("vocab_path", ""), "GHSUMM_MODEL_BASE_PATH": serve_info.get("base_path", ""),
            "GHSUMM_ISSUES": os.path.join(data_dir, contract.EVAL_ISSUES_FILE)}


def deploy_kubernetes(run_id: str, server_url: str, model_name: str, env: dict, namespace: str, image: str) -> dict:
    from webapp import k8s as webapp_k8s
    manifests = webapp_k8s.render(model_name, model_server=server_url, run=run_id, protocol="rest", image=image,
                                  vocab=env["GHSUMM_VOCAB"], model_base_path=env["GHSUMM_MODEL_BASE_PATH"],
                                  issues=env["GHSUMM_ISSUES"], github_token_secret="ghsumm-github-token")
    applied = webapp_k8s.apply(manifests, namespace=namespace)
    name = manifests[-1]["metadata"]["name"]
    return {"url": "http://%s.%s.svc.cluster.local" % (name, namespace), "applied": applied,
            "port_forward": "kubectl -n %s port-forward svc/%s 8080:80" % (namespace, name)}


def start_local(working_dir: str, run_dir: str, env: dict) -> dict:
    """Starts the page detached on 127.0.0.1:8080 (a free port when taken), restarting this working dir's earlier
    one; waits until it answers. Returns url, pid, log, create_time, command."""
    running = launch.live_record(working_dir, PROCESS_NAME)
    if running:  # one page per working dir: restart it on the new configuration
        launch.stop_recorded(running)
    log = launch.log_path(working_dir, PROCESS_NAME + ".log")
    proc, (port,) = launch.start_on_ports(
        [8080], lambda ports: [project.app_python(), "-m", "webapp", "--host", "127.0.0.1", "--port", str(ports[0])],
        log, project.child_env(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **env), "web app", timeout=120)
    url = "http://127.0.0.1:%d" % port
    launch.write_record(working_dir, PROCESS_NAME, dict(proc, url=url, log=log, run_dir=run_dir, env=env))

    def up():
        for path in ("/livez", "/healthz"):
            try:
                with urllib.request.urlopen(url + path, timeout=5) as r:
                    return r.status == 200
            except OSError:
                continue
        return False

    launch.wait_until(up, proc["pid"], 120, "web app", log)
    print("[webapp] the page is up at %s (pid %d, log %s)" % (url, proc["pid"], log), flush=True)
    return dict(proc, url=url, log=log)
