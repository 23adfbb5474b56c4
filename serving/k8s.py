"""On a cluster: a real tensorflow/serving Deployment + Service per model and run, and the code that applies them.

    manifests = render("ghsumm", run="run-42", model_base_path="gs://bucket/work/run-42/export")
    print(to_yaml(manifests))                       # kubectl apply --server-side -f - would take this as is
    apply(manifests, namespace="kubeflow")          # what the pipeline's serve step calls: server-side apply

model_base_path holds the numbered version dirs the export writes; tensorflow_model_server loads the newest
and picks up new ones itself. gs:// paths need credentials in the pod: gcp_secret names a Secret holding a
service-account key (mounted, GOOGLE_APPLICATION_CREDENTIALS set); a path on a volume needs volume_claim
(a PersistentVolumeClaim mounted at mount_path). Ports: gRPC 8500, REST 8501, the same as the local server.

Metrics: tensorflow_model_server serves Prometheus metrics only when a --monitoring_config_file enables them, so
the container writes that file (MONITORING_CONFIG) before it starts the server, and the pod carries the
prometheus.io/scrape, /port and /path annotations (REST port, /monitoring/prometheus/metrics) that a
Prometheus with the usual kubernetes-pods scrape job follows. The local server serves the same path.

apply() is server-side apply with the field manager "ghsumm", forcing conflicts: ghsumm owns the fields its
manifests set; fields they do not set (a Service's clusterIP) stay as the cluster has them. The tests check the
manifests against the Kubernetes API schemas of KUBERNETES_VERSION.
"""
from __future__ import annotations

import re

import yaml

GRPC_PORT, REST_PORT = 8500, 8501
DEFAULT_IMAGE = "tensorflow/serving:2.18.0"
METRICS_PATH = "/monitoring/prometheus/metrics"  # serving/model_server.py's METRICS_PATH (that module loads TF)
MONITORING_CONFIG_FILE = "/tmp/monitoring.config"
MONITORING_CONFIG = 'prometheus_config { enable: true, path: "%s" }' % METRICS_PATH
# sh -c SCRIPT NAME ARGS...: write the monitoring config, then exec the server with the container's args.
START_SCRIPT = "printf '%%s\\n' '%s' > %s && exec /usr/bin/tensorflow_model_server \"$@\"" % (
    MONITORING_CONFIG, MONITORING_CONFIG_FILE)
DEFAULT_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
# The Kubernetes release whose API schemas the rendered manifests are validated against (tests/test_k8s_manifests.py).
KUBERNETES_VERSION = "1.33"
FIELD_MANAGER = "ghsumm"
APPLY_PATCH = "application/apply-patch+yaml"
PLURALS = {"Deployment": "deployments", "Service": "services", "Ingress": "ingresses"}


def k8s_name(*parts: str) -> str:
    """A DNS-1123 name (lowercase letters, digits, '-', at most 63 chars) from the parts."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(p for p in parts if p).lower()).strip("-")
    return re.sub(r"-+", "-", name)[:63].rstrip("-") or "model"


def render(model_name: str, model_base_path: str, run: str = "", image: str = DEFAULT_IMAGE, replicas: int = 1,
           resources: dict | None = None, gcp_secret: str | None = None, volume_claim: str | None = None,
           mount_path: str = "/models") -> list[dict]:
    """[Deployment, Service] manifests as dicts (the shapes `kubectl apply` and the kubernetes client take)."""
    name = k8s_name(model_name, run)
    labels = {"app": "ghsumm-serving", "model": k8s_name(model_name)}
    if run:
        labels["run"] = k8s_name(run)
    env, volumes, mounts = [], [], []
    if gcp_secret:
        volumes.append({"name": "gcp-credentials", "secret": {"secretName": gcp_secret}})
        mounts.append({"name": "gcp-credentials", "mountPath": "/secret/gcp", "readOnly": True})
        env.append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secret/gcp/key.json"})
    if volume_claim:
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": volume_claim, "readOnly": True}})
        mounts.append({"name": "models", "mountPath": mount_path, "readOnly": True})
    container = {
        "name": "tensorflow-serving",
        "image": image,
        "command": ["/bin/sh", "-c", START_SCRIPT, "tensorflow_model_server"],
        "args": ["--port=%d" % GRPC_PORT, "--rest_api_port=%d" % REST_PORT, "--model_name=%s" % model_name,
                 "--model_base_path=%s" % model_base_path, "--file_system_poll_wait_seconds=30",
                 "--monitoring_config_file=%s" % MONITORING_CONFIG_FILE,
                 # the shipped model's export decodes in one XLA-compiled loop (trainer/fast_decode.py), which
                 # TF Serving runs on CPU only with this flag
                 "--xla_cpu_compilation_enabled=true"],
        "ports": [{"name": "grpc", "containerPort": GRPC_PORT}, {"name": "rest", "containerPort": REST_PORT}],
        "readinessProbe": {"httpGet": {"path": "/v1/models/%s" % model_name, "port": REST_PORT},
                           "initialDelaySeconds": 5, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"tcpSocket": {"port": GRPC_PORT}, "initialDelaySeconds": 30, "periodSeconds": 10,
                          "failureThreshold": 6},
        "resources": resources or DEFAULT_RESOURCES,
        "env": env,
        "volumeMounts": mounts,
    }
    return deployment_and_service(name, labels, container, volumes, replicas,
                                  [{"name": "grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT},
                                   {"name": "rest", "port": REST_PORT, "targetPort": REST_PORT}],
                                  scrape_annotations(REST_PORT, METRICS_PATH))


def scrape_annotations(port: int, path: str) -> dict:
    """The pod annotations by which Prometheus' kubernetes-pods scrape job finds a metrics endpoint."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}


def deployment_and_service(name: str, labels: dict, container: dict, volumes: list, replicas: int,
                           service_ports: list[dict], pod_annotations: dict | None = None) -> list[dict]:
    """A Deployment running one container and a ClusterIP Service in front of it, both named `name`."""
    pod_metadata = {"labels": labels}
    if pod_annotations:
        pod_metadata["annotations"] = pod_annotations
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": pod_metadata,
                              "spec": {"containers": [container], "volumes": volumes}}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": labels, "ports": service_ports},
    }
    return [deployment, service]


def to_yaml(manifests: list[dict]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=False)


def resource_path(manifest: dict, namespace: str) -> str:
    """The API path of a namespaced object, e.g. /apis/apps/v1/namespaces/NS/deployments/NAME."""
    api_version = manifest["apiVersion"]
    group = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    return "%s/namespaces/%s/%s/%s" % (group, namespace, PLURALS[manifest["kind"]], manifest["metadata"]["name"])


def apply(manifests: list[dict], namespace: str = "default", api_client=None) -> list[str]:
    """Server-side apply of each manifest (what `kubectl apply --server-side --force-conflicts
    --field-manager=ghsumm` does): one PATCH with Content-Type application/apply-patch+yaml, fieldManager=ghsumm,
    force=true, creating or updating the object; returns "Kind/name applied". api_client: a
    kubernetes.client.ApiClient; default: from ~/.kube/config, else the in-cluster config."""
    from kubernetes import client, config
    if api_client is None:
        try:
            config.load_kube_config()
        except config.ConfigException:
            config.load_incluster_config()
        api_client = client.ApiClient()
    done = []
    for m in manifests:
        api_client.call_api(resource_path(m, namespace), "PATCH",
                            query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                            header_params={"Content-Type": APPLY_PATCH, "Accept": "application/json"},
                            body=m, response_type="object", auth_settings=["BearerToken"],
                            _return_http_data_only=True)
        done.append("%s/%s applied" % (m["kind"], m["metadata"]["name"]))
    return done
