"""The Kubernetes manifests (model server, web app, their Services, the webhook's Ingress): every rendering checked
against the Kubernetes OpenAPI schemas of serving.k8s.KUBERNETES_VERSION (kubernetes-validate, strict), applied
with server-side apply to tests/k8s_api_stub.py, and the Ingress publishing only POST /github/webhook."""
import pytest
import kubernetes_validate

from serving import k8s as serving_k8s
from tests.k8s_api_stub import APPLY_PATCH, K8sApiStub
from webapp import k8s as webapp_k8s


def all_renderings() -> list[dict]:
    """Every shape the code renders: the model server with each storage option, the web app with each secret and
    state option, and the webhook Ingress with and without host, class and TLS."""
    manifests = []
    manifests += serving_k8s.render("ghsumm", "gs://bucket/work/Run_42/export", run="Run_42")
    manifests += serving_k8s.render("ghsumm", "gs://b/e", run="r", gcp_secret="user-gcp-sa", replicas=2,
                                    resources={"requests": {"cpu": "500m", "memory": "2Gi"}})
    manifests += serving_k8s.render("ghsumm", "/models/ghsumm", volume_claim="models-pvc")
    manifests += webapp_k8s.render("ghsumm", "ghsumm-run-42:8501", run="run-42")
    manifests += webapp_k8s.render("ghsumm", "ghsumm-run-42:8500", run="run-42", protocol="grpc",
                                   vocab="gs://b/vocab", issues="gs://b/eval.jsonl", github_api_url="http://gh",
                                   github_token_secret="ghsumm-github-token", gcp_secret="user-gcp-sa",
                                   webhook_state_claim="webhook-state")
    manifests += webapp_k8s.render("ghsumm", "m:8501", webhook_secret=None, webhook_ingress=True)
    manifests += webapp_k8s.render("ghsumm", "m:8501", run="r", webhook_ingress=True, ingress_host="hooks.example.com",
                                   ingress_class="nginx", ingress_tls_secret="hooks-tls")
    return manifests


def schema_errors(manifest: dict) -> list[str]:
    try:
        kubernetes_validate.validate(manifest, serving_k8s.KUBERNETES_VERSION, strict=True)
        return []
    except kubernetes_validate.ValidationError as e:
        return ["%s/%s %s: %s" % (manifest["kind"], manifest["metadata"]["name"], ".".join(map(str, e.path)),
                                  e.message)]


def test_every_manifest_is_valid_against_the_kubernetes_schemas():
    manifests = all_renderings()
    errors = [e for m in manifests for e in schema_errors(m)]
    kinds = sorted({m["kind"] for m in manifests})
    print("%d manifests (%s) validated against Kubernetes %s schemas (kubernetes-validate %s, strict), %d errors"
          % (len(manifests), ", ".join(kinds), serving_k8s.KUBERNETES_VERSION, kubernetes_validate.__version__,
             len(errors)))
    assert errors == []
    assert kinds == ["Deployment", "Ingress", "Service"] and len(manifests) == 16


def test_the_schema_check_catches_what_an_api_server_refuses():
    deployment, service = serving_k8s.render("ghsumm", "gs://b/e")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8500"
    service["spec"]["prots"] = service["spec"].pop("ports")  # a typo: strict schemas refuse unknown fields
    assert len(schema_errors(deployment)) == 1 and "containerPort" in schema_errors(deployment)[0]
    assert len(schema_errors(service)) == 1


@pytest.fixture
def api():
    with K8sApiStub(serving_k8s.KUBERNETES_VERSION) as stub:
        yield stub


def client_for(api):
    from kubernetes import client
    return client.ApiClient(client.Configuration(host=api.url))


def test_apply_is_server_side_apply_with_the_ghsumm_field_manager(api):
    manifests = (serving_k8s.render("ghsumm", "/models/ghsumm", run="r1", volume_claim="models-pvc")
                 + webapp_k8s.render("ghsumm", "ghsumm-r1:8501", run="r1", webhook_ingress=True))
    expected = ["Deployment/ghsumm-r1 applied", "Service/ghsumm-r1 applied", "Deployment/ghsumm-r1-webapp applied",
                "Service/ghsumm-r1-webapp applied", "Ingress/ghsumm-r1-webapp-webhook applied"]
    assert serving_k8s.apply(manifests, "kubeflow", client_for(api)) == expected
    assert serving_k8s.apply(manifests, "kubeflow", client_for(api)) == expected  # again: the same request
    assert [r[1] for r in api.requests[:5]] == [
        "/apis/apps/v1/namespaces/kubeflow/deployments/ghsumm-r1", "/api/v1/namespaces/kubeflow/services/ghsumm-r1",
        "/apis/apps/v1/namespaces/kubeflow/deployments/ghsumm-r1-webapp",
        "/api/v1/namespaces/kubeflow/services/ghsumm-r1-webapp",
        "/apis/networking.k8s.io/v1/namespaces/kubeflow/ingresses/ghsumm-r1-webapp-webhook"]
    assert len(api.requests) == 10
    for method, _, query, content_type, body in api.requests:
        assert (method, content_type, query) == ("PATCH", APPLY_PATCH, {"fieldManager": "ghsumm", "force": "true"})
        assert body in manifests
    assert {o["metadata"]["managedFields"][0]["manager"] for o in api.objects.values()} == {"ghsumm"}


def test_apply_stops_at_a_refused_manifest(api):
    from kubernetes import client
    deployment, service = serving_k8s.render("ghsumm", "gs://b/e", run="bad")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(client.ApiException) as refused:
        serving_k8s.apply([deployment, service], "default", client_for(api))
    assert refused.value.status == 422 and "replicas" in refused.value.body
    assert len(api.requests) == 1 and not api.objects


def test_the_webhook_ingress_routes_only_post_github_webhook():
    deployment, service, ingress = webapp_k8s.render("ghsumm", "m:8501", run="r", webhook_ingress=True,
                                                     ingress_host="hooks.example.com", ingress_class="nginx",
                                                     ingress_tls_secret="hooks-tls")
    spec = ingress["spec"]
    routes = [(rule.get("host"), p["path"], p["pathType"], p["backend"]["service"]["name"],
               p["backend"]["service"]["port"]["number"]) for rule in spec["rules"] for p in rule["http"]["paths"]]
    print("Ingress %s routes: %s" % (ingress["metadata"]["name"], routes))
    assert routes == [("hooks.example.com", "/github/webhook", "Exact", service["metadata"]["name"], 80)]
    assert "defaultBackend" not in spec  # any other path: the controller's 404
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"secretName": "hooks-tls", "hosts": ["hooks.example.com"]}]
    assert service["spec"]["type"] == "ClusterIP"  # the app itself stays inside the cluster
    assert len(webapp_k8s.render("ghsumm", "m:8501")) == 2  # no Ingress unless asked for


def test_the_webhook_route_is_post_only_in_the_app(tmp_path):
    """The Ingress cannot filter methods: the app's route answers 405 to anything but POST there."""
    from webapp import create_app
    app = create_app({"model_server": "http://127.0.0.1:9", "github_token": "", "webhook_dir": str(tmp_path)})
    methods = {m for rule in app.url_map.iter_rules() if rule.rule == webapp_k8s.WEBHOOK_PATH for m in rule.methods}
    assert methods - {"OPTIONS"} == {"POST"}
    assert app.test_client().get(webapp_k8s.WEBHOOK_PATH).status_code == 405
