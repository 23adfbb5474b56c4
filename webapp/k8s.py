"""On a cluster: the web app as a Deployment + Service (port 80 -> 8080), pointed at the model's Service.

    manifests = render("ghsumm", model_server="ghsumm-run-42:8500", protocol="grpc", image="IMAGE",
                       vocab="gs://bucket/work/run-42/export/1300/assets.extra/vocab...subwords")
    print(serving.k8s.to_yaml(manifests))          # kubectl apply -f - takes this as is
    serving.k8s.apply(manifests, namespace="kubeflow")
    kubectl port-forward svc/ghsumm-webapp 8080:80  # then http://localhost:8080

The container runs gunicorn on 8080 (the image is this repository's app environment). The model server
address is a Service DNS name (serving/k8s.py names it model_name[-run]; REST 8501, gRPC 8500). GITHUB_TOKEN
comes from a Secret (github_token_secret, key "token"), never from a literal in the manifest. gs:// vocabularies
need credentials: gcp_secret mounts a service-account key, as serving/k8s.py does.
"""
from __future__ import annotations

from serving.k8s import apply, deployment_and_service, k8s_name, to_yaml  # noqa: F401  (apply, to_yaml re-exported: one way to apply manifests)

PORT, SERVICE_PORT = 8080, 80
DEFAULT_IMAGE = "ghsumm-app:latest"
DEFAULT_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


def render(model_name: str, model_server: str, run: str = "", protocol: str = "rest", image: str = DEFAULT_IMAGE,
           vocab: str = "", model_base_path: str = "", issues: str = "", github_api_url: str = "",
           github_token_secret: str | None = None, gcp_secret: str | None = None, replicas: int = 1,
           workers: int = 2, resources: dict | None = None) -> list[dict]:
    """[Deployment, Service] manifests as dicts. model_server: host:port of the model's Service; vocab (or
    model_base_path, to find the vocabulary beside the newest version) must be readable from the pod."""
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
    volumes, mounts = [], []
    if gcp_secret:
        volumes.append({"name": "gcp-credentials", "secret": {"secretName": gcp_secret}})
        mounts.append({"name": "gcp-credentials", "mountPath": "/secret/gcp", "readOnly": True})
        env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secret/gcp/key.json"})
    container = {
        "name": "webapp",
        "image": image,
        "command": ["gunicorn"],
        "args": ["-w", str(workers), "-b", "0.0.0.0:%d" % PORT, "--timeout", "60", "--access-logfile", "-",
                 "webapp:create_app()"],
        "ports": [{"name": "http", "containerPort": PORT}],
        # /livez, not /healthz: with the model server down the page must still answer and say so.
        "readinessProbe": {"httpGet": {"path": "/livez", "port": PORT}, "initialDelaySeconds": 3, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": PORT}, "initialDelaySeconds": 10,
                          "periodSeconds": 10, "failureThreshold": 6},
        "resources": resources or DEFAULT_RESOURCES,
        "env": env,
        "volumeMounts": mounts,
    }
    return deployment_and_service(name, labels, container, volumes, replicas,
                                  [{"name": "http", "port": SERVICE_PORT, "targetPort": PORT}])
