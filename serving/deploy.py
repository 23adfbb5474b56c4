"""The serve step's work: publish the newest exported version into the model base path
<working dir>/serving/<model name> (one base path across runs: the server hot-loads each new version), make sure
it is served, and send one real request (an eval issue) through serving/client.py.

- local (deploy_target auto off a cluster, or local): the project's TF-Serving-protocol server
  (`python -m serving.model_server`) on 127.0.0.1:8501/8500 (free ports when taken), started detached so it
  outlives the pipeline; a server a previous run left for this base path is reused and picks the version up.
- kubernetes: a real tensorflow/serving Deployment + Service (serving/k8s.py) applied in the pod's namespace."""
from __future__ import annotations

import json
import os

from data import contract, files, project
from serving import launch, versions


def target(deploy_target: str) -> str:
    """auto -> kubernetes inside a cluster, else local."""
    if deploy_target == "auto":
        return "kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local"
    if deploy_target not in ("local", "kubernetes"):
        raise ValueError("deploy_target %r: auto, local or kubernetes" % deploy_target)
    return deploy_target


def pod_namespace() -> str:
    ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if os.path.exists(ns_file):
        with open(ns_file) as f:
            return f.read().strip()
    return "default"


def start_local_server(working_dir: str, model_name: str, base: str, run_dir: str) -> dict:
    """The model server of this base path: the running one a previous run left, else a new detached one (its
    process record written). Returns rest_url, grpc_address, pid, log (+ started, create_time, command)."""
    running = launch.live_record(working_dir, model_name)
    if running and running.get("base_path") == base:
        print("[serve] reusing the model server %s (pid %s), which loads new versions itself"
              % (running["rest_url"], running["pid"]), flush=True)
        return {k: running[k] for k in ("rest_url", "grpc_address", "pid", "log")}
    log = launch.log_path(working_dir, model_name + ".server.log")

    def command(ports):
        return [project.app_python(), "-m", "serving.model_server", "--model_name", model_name, "--model_base_path",
                base, "--host", "127.0.0.1", "--rest_api_port", str(ports[0]), "--port", str(ports[1]),
                "--file_system_poll_wait_seconds", "1"]
    proc, (rest, grpc) = launch.start_on_ports([8501, 8500], command, log, project.child_env(
        TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1"), "model server")
    info = dict(proc, rest_url="http://127.0.0.1:%d" % rest, grpc_address="127.0.0.1:%d" % grpc, log=log,
                started=True)
    launch.write_record(working_dir, model_name, dict(proc, rest_url=info["rest_url"],
                                                      grpc_address=info["grpc_address"], base_path=base, log=log,
                                                      run_dir=run_dir))
    print("[serve] started the model server, pid %d, REST %s, gRPC %s, log %s"
          % (proc["pid"], info["rest_url"], info["grpc_address"], log), flush=True)
    return info


def sample_request(rest_url: str, model_name: str, vocab: str, eval_issues: str) -> dict:
    """One real request: the first eval issue's body through the client the web app uses."""
    from serving.client import TitleClient
    issue = json.loads(files.read_text(eval_issues).split("\n", 1)[0])
    body = issue.get("body", "")
    # the first request builds the model's graph functions: minutes on a machine busy with other work
    with TitleClient(rest_url, model_name=model_name, vocab_path=vocab, timeout=300) as client:
        title = client.generate(body)
    print("[serve] one request: %r -> %r (version %s)" % (body[:80], title[0], title[2]), flush=True)
    return {"body": body[:300], "true_title": issue.get("title", ""), "generated_title": title[0],
            "score": title[1], "version": title[2]}


def serve(working_dir: str, export_dir: str, data_dir: str, model_name: str, deploy_target: str, run_dir: str,
          previous: dict | None = None, evaluate: dict | None = None) -> dict:
    """Publishes and serves; returns the serve step's record. previous: this run's earlier serve record (a re-run
    finds its version again); evaluate: this run's evaluate record (its scores go into the history)."""
    base = versions.base_path(working_dir, model_name)
    pub = versions.publish(export_dir, base, previous)
    if pub["new"]:
        versions.log_published(working_dir, model_name, run_dir, pub, evaluate or {})
    version = pub["version"]
    print("[serve] version %s (from %s) %s %s" % (version, pub["source"], "published in" if pub["new"] else
                                                  "already in", base), flush=True)
    where = target(deploy_target)
    info = dict(pub, target=where, model_name=model_name, started=False)
    if where == "kubernetes":
        from serving import k8s
        namespace = pod_namespace()
        manifests = k8s.render(model_name, base, run=os.path.basename(run_dir.rstrip("/")))
        info["applied"] = k8s.apply(manifests, namespace=namespace)
        name = manifests[1]["metadata"]["name"]
        info.update(rest_url="http://%s.%s.svc.cluster.local:%d" % (name, namespace, k8s.REST_PORT),
                    grpc_address="%s.%s.svc.cluster.local:%d" % (name, namespace, k8s.GRPC_PORT),
                    namespace=namespace, service=name)
        print("[serve] %s" % "; ".join(info["applied"]))
    else:
        info.update(start_local_server(working_dir, model_name, base, run_dir))
        status_url = "%s/v1/models/%s/versions/%d" % (info["rest_url"], model_name, version)
        launch.wait_until(lambda: any(s["state"] == "AVAILABLE" for s in
                                      launch.http_get_json(status_url)["model_version_status"]),
                          info["pid"], 300, "model server", info["log"])
        print("[serve] version %d is AVAILABLE" % version, flush=True)
    vocab = (files.glob(contract.model_vocab_path(pub["source"], contract.VOCAB_GLOB))
             or files.glob(os.path.join(data_dir, contract.VOCAB_GLOB)))[0]
    info["vocab_path"] = vocab
    eval_issues = os.path.join(data_dir, contract.EVAL_ISSUES_FILE)
    info["sample_request"] = (sample_request(info["rest_url"], model_name, vocab, eval_issues)
                              if where == "local" and files.exists(eval_issues) else {})
    return info


def roll_back(working_dir: str, run_id: str, steps: dict, reason: str) -> list[str]:
    """After a failed or cancelled run: stops the local processes it started (serve, webapp step records) and
    removes the version it published; returns what it did."""
    done = []
    for step in ("webapp", "serve"):
        record = steps.get(step, {})
        if record.get("started") and record.get("pid") and launch.stop_recorded(record):
            done.append("stopped %s (pid %s)" % (step, record["pid"]))
    serve_record = steps.get("serve", {})
    if serve_record.get("new") and serve_record.get("target") == "local":
        versions.unpublish(serve_record["base_path"], serve_record["version"])
        versions.log_event(working_dir, serve_record["model_name"], {
            "event": "removed", "version": serve_record["version"], "run_id": run_id, "reason": reason})
        done.append("removed version %s from %s" % (serve_record["version"], serve_record["base_path"]))
    return done


def remove_scratch(working_dir: str, export_dir: str) -> None:
    """Hidden temporary dirs of an interrupted publish (.tmp-* in a base path) or export (.* in export_dir)."""
    for scratch in files.glob(os.path.join(versions.serving_dir(working_dir), "*", ".tmp-*")) + \
            files.glob(os.path.join(export_dir, ".*")):
        files.rmtree(scratch)
