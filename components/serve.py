"""serve: publish the newest exported version into the model base path <working dir>/serving/<model name> (one
base path across runs: the server hot-loads each new version), then make sure it is served, and send one real
request (an eval issue) through serving/client.py. Returns the server's REST URL.

- local (deploy_target auto off a cluster, or local): the project's TF-Serving-protocol server
  (`python -m serving.model_server`) on 127.0.0.1:8501/8500 (free ports when taken), started detached so it
  outlives the pipeline; a server a previous run left for this base path is reused and picks the version up.
- kubernetes: a real tensorflow/serving Deployment + Service (serving/k8s.py) applied in the pod's namespace."""
from kfp import dsl

from components.images import APP_IMAGE


@dsl.component(base_image=APP_IMAGE, install_kfp_package=False)
def serve(run_dir: str, working_dir: str, export_dir: str, data_dir: str, model_name: str,
          deploy_target: str) -> str:
    import glob
    import json
    import os
    import sys

    from components import _deploy, _runtime as rt
    from data import contract
    from pipeline import records

    base_path = os.path.join(working_dir, "serving", model_name)
    pub = _deploy.publish(export_dir, base_path, run_dir)
    if pub["new"]:
        records.log_published(working_dir, model_name, run_dir, pub)
    version = pub["version"]
    print("[serve] version %s (from %s) %s %s" % (version, pub["source"], "published in" if pub["new"] else
                                                  "already in", base_path), flush=True)
    where = _deploy.target(deploy_target)
    info = dict(pub, target=where, model_name=model_name, started=False)
    if where == "kubernetes":
        from serving import k8s
        ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
        namespace = os.environ.get("POD_NAMESPACE") or (open(ns_file).read().strip() if os.path.exists(ns_file)
                                                        else "default")
        run_id = os.path.basename(run_dir.rstrip("/"))
        manifests = k8s.render(model_name, base_path, run=run_id)
        info["applied"] = k8s.apply(manifests, namespace=namespace)
        name = manifests[1]["metadata"]["name"]
        info.update(rest_url="http://%s.%s.svc.cluster.local:%d" % (name, namespace, k8s.REST_PORT),
                    grpc_address="%s.%s.svc.cluster.local:%d" % (name, namespace, k8s.GRPC_PORT),
                    namespace=namespace, service=name)
        print("[serve] %s" % "; ".join(info["applied"]))
    else:
        running = _deploy.live_record(working_dir, model_name)
        if running and running.get("base_path") == base_path:
            info.update(rest_url=running["rest_url"], grpc_address=running["grpc_address"], pid=running["pid"],
                        log=running["log"])
            print("[serve] reusing the model server %s (pid %s), which loads new versions itself"
                  % (running["rest_url"], running["pid"]), flush=True)
        else:
            rest, grpc = _deploy.pick_port(8501), _deploy.pick_port(8500)
            log = os.path.join(working_dir, "serving", model_name + ".server.log")
            cmd = [rt.app_python(), "-m", "serving.model_server", "--model_name", model_name, "--model_base_path",
                   base_path, "--host", "127.0.0.1", "--port", str(grpc), "--rest_api_port", str(rest),
                   "--file_system_poll_wait_seconds", "1"]
            pid = _deploy.start_detached(cmd, log, rt.child_env())
            info.update(rest_url="http://127.0.0.1:%d" % rest, grpc_address="127.0.0.1:%d" % grpc, pid=pid, log=log,
                        started=True, command=cmd)
            rt.write_json(_deploy.process_record_path(working_dir, model_name),
                          {"pid": pid, "rest_url": info["rest_url"], "grpc_address": info["grpc_address"],
                           "base_path": base_path, "log": log, "run_dir": run_dir, "command": cmd})
            print("[serve] started the model server, pid %d, REST %s, gRPC %s, log %s"
                  % (pid, info["rest_url"], info["grpc_address"], log), flush=True)
        status_url = "%s/v1/models/%s/versions/%d" % (info["rest_url"], model_name, version)
        _deploy.wait_until(lambda: any(s["state"] == "AVAILABLE" for s in
                                       _deploy.http_get_json(status_url)["model_version_status"]),
                           info["pid"], 300, "model server", info["log"])
        print("[serve] version %d is AVAILABLE" % version, flush=True)
    # one real request: an eval issue's body through the client the web app uses
    vocab = (glob.glob(contract.model_vocab_path(pub["source"], contract.VOCAB_GLOB))
             or glob.glob(os.path.join(data_dir, contract.VOCAB_GLOB)))[0]
    info["vocab_path"] = vocab
    sample = {}
    eval_issues = os.path.join(data_dir, "eval_issues.jsonl")
    if where == "local" and os.path.exists(eval_issues):
        from serving.client import TitleClient
        with open(eval_issues, encoding="utf-8") as f:
            issue = json.loads(f.readline())
        body = issue.get("body", "")
        with TitleClient(info["rest_url"], model_name=model_name, vocab_path=vocab) as client:
            title = client.generate(body)
        sample = {"body": body[:300], "true_title": issue.get("title", ""), "generated_title": title[0],
                  "score": title[1], "version": title[2]}
        print("[serve] one request: %r -> %r (version %s)" % (body[:80], title[0], title[2]), flush=True)
    info["sample_request"] = sample
    rt.record_step(run_dir, "serve", **info)
    sys.stdout.flush()
    return info["rest_url"]
