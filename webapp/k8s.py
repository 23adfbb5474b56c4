"""On a cluster: the web app as a Deployment + Service (port 80 -> 8080), pointed at the model's Service.

    manifests = render("ghsumm", model_server="ghsumm-run-42:8500", protocol="grpc", image="IMAGE",
                       vocab="gs://bucket/work/run-42/export/1300/assets.extra/vocab...subwords")
    print(serving.k8s.to_yaml(manifests))          # kubectl apply -f - takes this as is
    serving.k8s.apply(manifests, namespace="kubeflow")
    kubectl port-forward svc/ghsumm-webapp 8080:80  # then http://localhost:8080

The container runs gunicorn on 8080 (the image is this repository's app environment), with
webapp/gunicorn_conf.py so that GET /metrics counts every worker; the pod's prometheus.io annotations point
Prometheus at it (port 8080, /metrics). The model server address is a Service DNS name (serving/k8s.py names
it model_name[-run]; REST 8501, gRPC 8500). GITHUB_TOKEN comes from a Secret (github_token_secret, key "token"),
never from a literal in the manifest. gs:// vocabularies need credentials: gcp_secret mounts a service-account
key, as serving/k8s.py does.

The GitHub webhook (POST /github/webhook) takes its secret from the Secret webhook_secret (default
"ghsumm-webhook"): key "secret" -> GHSUMM_WEBHOOK_SECRET, optional key "mode" (dry-run | comment) ->
GHSUMM_WEBHOOK_MODE. Both are optional: without the Secret the webhook is off and says so. Its state (delivery
ids, queued work, comments made, the decision log, the retraining file) lives in WEBHOOK_DIR: a
PersistentVolumeClaim when webhook_state_claim names one (it then survives the pod), else an emptyDir (it survives
container restarts only). Keep replicas at 1 for the webhook unless the claim is shared (ReadWriteMany).

    kubectl create secret generic ghsumm-webhook --from-literal=secret="$(openssl rand -hex 32)" \
        --from-literal=mode=comment

GitHub must reach the webhook, and only it: webhook_ingress=True adds an Ingress that routes the one path
/github/webhook (pathType Exact) to the Service and nothing else (docs/webhook.md, "Expose only the webhook").

The decision pages (/suggestions, /api/suggestions) open with the token in the Secret access_secret (default
"ghsumm-access", key "token") -> GHSUMM_ACCESS_TOKEN; without it a web app with a webhook keeps them off:

    kubectl create secret generic ghsumm-access --from-literal=token="$(openssl rand -hex 32)"
"""
from __future__ import annotations

from serving.k8s import apply, deployment_and_service, k8s_name, to_yaml  # noqa: F401  (apply, to_yaml re-exported: one way to apply manifests)
from serving.k8s import scrape_annotations

PORT, SERVICE_PORT = 8080, 80
METRICS_PATH = "/metrics"
DEFAULT_IMAGE = "ghsumm-app:latest"
WEBHOOK_DIR = "/var/lib/ghsumm/webhook"
WEBHOOK_PATH = "/github/webhook"
DEFAULT_WEBHOOK_SECRET = "ghsumm-webhook"
DEFAULT_ACCESS_SECRET = "ghsumm-access"
DEFAULT_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def render(model_name: str, model_server: str, run: str = "", protocol: str = "rest", image: str = DEFAULT_IMAGE,
           vocab: str = "", model_base_path: str = "", issues: str = "", github_api_url: str = "",
           github_token_secret: str | None = None, gcp_secret: str | None = None, replicas: int = 1,
           workers: int = 2, resources: dict | None = None, webhook_secret: str | None = DEFAULT_WEBHOOK_SECRET,
           webhook_state_claim: str | None = None, webhook_ingress: bool = False, ingress_host: str = "",
           ingress_class: str = "", ingress_tls_secret: str = "",
           access_secret: str | None = DEFAULT_ACCESS_SECRET) -> list[dict]:
    """[Deployment, Service] manifests as dicts, and with webhook_ingress the Ingress that publishes only the
    webhook (webhook_ingress()). model_server: host:port of the model's Service; vocab (or model_base_path, to find
    the vocabulary beside the newest version) must be readable from the pod."""
    name = k8s_name(model_name, run, "webapp")
    labels = {"app": "ghsumm-webapp", "model": k8s_name(model_name)}
    if run:
        labels["run"] = k8s_name(run)
    if protocol == "rest" and "://" not in model_server:
        model_server = "http://" + model_server
    env = [{"name": "GHSUMM_MODEL_SERVER", "value": model_server}, {"name": "GHSUMM_PROTOCOL", "value": protocol},
           {"name": "GHSUMM_MODEL_NAME", "value": model_name}, {"name": "GHSUMM_WARM", "value": "true"}]
    for var, value in (("GHSUMM_VOCAB", vocab), ("GHSUMM_MODEL_BASE_PATH", model_base_path),
                       ("GHSUMM_ISSUES", issues), ("GITHUB_API_URL", github_api_url)):
        if value:
            env.append({"name": var, "value": value})
    if github_token_secret:
        env.append({"name": "GITHUB_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": github_token_secret, "key": "token", "optional": True}}})
    if access_secret:  # the decision pages' token (webapp/access.py); without the Secret a public app keeps them off
        env.append({"name": "GHSUMM_ACCESS_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": access_secret, "key": "token", "optional": True}}})
    volumes, mounts = [], []
    if webhook_secret:
        for var, key in (("GHSUMM_WEBHOOK_SECRET", "secret"), ("GHSUMM_WEBHOOK_MODE", "mode")):
            env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": webhook_secret, "key": key,
                                                                    "optional": True}}})
        env.append({"name": "GHSUMM_WEBHOOK_DIR", "value": WEBHOOK_DIR})
        volumes.append({"name": "webhook-state", "persistentVolumeClaim": {"claimName": webhook_state_claim}}
                       if webhook_state_claim else {"name": "webhook-state", "emptyDir": {}})
        mounts.append({"name": "webhook-state", "mountPath": WEBHOOK_DIR})
    if gcp_secret:
        volumes.append({"name": "gcp-credentials", "secret": {"secretName": gcp_secret}})
        mounts.append({"name": "gcp-credentials", "mountPath": "/secret/gcp", "readOnly": True})
        env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secret/gcp/key.json"})
    container = {
        "name": "webapp",
        "image": image,
        "command": ["gunicorn"],
        "args": ["-c", "python:webapp.gunicorn_conf", "-w", str(workers), "-b", "0.0.0.0:%d" % PORT,
                 "--timeout", "60", "--access-logfile", "-", "webapp:create_app()"],
        "ports": [{"name": "http", "containerPort": PORT}],
        # /livez, not /healthz: with the model server down the page must still answer and say so.
        "readinessProbe": {"httpGet": {"path": "/livez", "port": PORT}, "initialDelaySeconds": 3, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": PORT}, "initialDelaySeconds": 10,
                          "periodSeconds": 10, "failureThreshold": 6},
        "resources": resources or DEFAULT_RESOURCES,
        "env": env,
        "volumeMounts": mounts,
    }
    manifests = deployment_and_service(name, labels, container, volumes, replicas,
                                       [{"name": "http", "port": SERVICE_PORT, "targetPort": PORT}],
                                       scrape_annotations(PORT, METRICS_PATH))
    if webhook_secret and webhook_state_claim:
        # A ReadWriteOnce claim is attached to one pod at a time: the old pod goes before the new one starts.
        manifests[0]["spec"]["strategy"] = {"type": "Recreate"}
    if webhook_ingress:
        manifests.append(webhook_ingress_manifest(name, labels, ingress_host, ingress_class, ingress_tls_secret))
    return manifests


def webhook_ingress_manifest(service: str, labels: dict, host: str = "", ingress_class: str = "",
                             tls_secret: str = "") -> dict:
    """An Ingress (named <service>-webhook) with one rule: path /github/webhook, pathType Exact, to the Service's
    port 80. Nothing else of the app is routed: the pages, /api/* and /suggestions stay inside the cluster. The app
    answers only POST there (405 otherwise). host "" matches any host; tls_secret: a TLS Secret for host."""
    path = {"path": WEBHOOK_PATH, "pathType": "Exact",
            "backend": {"service": {"name": service, "port": {"number": SERVICE_PORT}}}}
    rule = {"http": {"paths": [path]}}
    spec = {"rules": [rule]}
    if host:
        rule["host"] = host
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    if tls_secret:
        spec["tls"] = [dict({"secretName": tls_secret}, **({"hosts": [host]} if host else {}))]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": k8s_name(service, "webhook"), "labels": labels}, "spec": spec}
