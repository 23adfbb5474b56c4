"""Prometheus metrics: the model server's /monitoring/prometheus/metrics (a real server process on the tiny
SavedModel, real REST and gRPC predict requests) and the web app's /metrics (through Flask's test client, and
under gunicorn with two worker processes in multiprocess mode). After a known set of requests, the endpoints must
report exactly the counts those requests give; the scrape annotations of both Deployments point at them."""
import base64
import collections
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import grpc
import psutil
import pytest
import requests
import tensorflow as tf
from github_api_stub import GitHubApiStub, issue_json
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import k8s as serving_k8s
from benchmarks import tiny_model
from serving.client import Codec
from serving.launch import ServerProcess, free_port
from webapp import create_app
from webapp import k8s as webapp_k8s

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = ("when i run the training script with a batch size of 64 the process crashes with an out of memory "
        "error on the gpu, even though the same script worked last week")
SERVER_METRICS = "/monitoring/prometheus/metrics"

pytestmark = pytest.mark.usefixtures("clean_webapp_env")


def samples(text: str) -> dict:
    """{(sample name, frozenset of label items): value} of a Prometheus text exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: dict, name: str, **labels) -> float:
    """The sample with exactly these labels (0 when there is none: a counter never incremented)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


def with_prefix(scraped: dict, prefix: str) -> dict:
    return {k: v for k, v in scraped.items() if k[0].startswith(prefix)}


def by_labels(scraped: dict, name: str) -> dict:
    """{frozenset of label items: value} of the samples of one name."""
    return {labels: v for (n, labels), v in scraped.items() if n == name}


def labelset(**labels) -> frozenset:
    return frozenset(labels.items())


# ============================================================================================ model server
@pytest.fixture(scope="module")
def codec(tiny_title_model):
    return Codec(tiny_title_model[1])


@pytest.fixture(scope="module")
def server(tiny_title_model, tmp_path_factory):
    """A server of its own (no other test sends it requests) on version 1 of the tiny model."""
    base = tmp_path_factory.mktemp("metrics_served") / "models"
    tiny_model.publish_version(tiny_title_model[0], str(base), 1)
    with ServerProcess(str(base), log_path=str(base.parent / "server.log")) as s:
        yield s, base


def scrape_server(server) -> dict:
    r = requests.get(server.rest_url + SERVER_METRICS, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    return samples(r.text)


def rest_predict(server, payload, version=None, raw=None):
    path = "/v1/models/ghsumm%s:predict" % ("/versions/%d" % version if version else "")
    if raw is not None:
        return requests.post(server.rest_url + path, data=raw, timeout=60)
    return requests.post(server.rest_url + path, json=payload, timeout=60)


def grpc_predict(stub, codec, name="ghsumm", inputs=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["input"].CopyFrom(tf.make_tensor_proto(inputs or [codec.example(BODY)], dtype=tf.string))
    return stub.Predict(request, timeout=60)


def test_model_server_counts_predict_requests_latency_and_errors_per_model_and_version(server, codec):
    s, _ = server
    before = scrape_server(s)
    assert with_prefix(before, "ghsumm_serving_predict") == {}  # nothing asked yet: no label set exists
    assert value(before, "ghsumm_serving_model_version", model_name="ghsumm", version="1", state="AVAILABLE") == 1
    assert value(before, "ghsumm_serving_served_version", model_name="ghsumm") == 1

    example = {"instances": [{"input": {"b64": base64.b64encode(codec.example(BODY)).decode("ascii")}}]}
    n_rest, n_grpc = 3, 2
    for i in range(n_rest):
        assert rest_predict(s, example, version=1 if i == 0 else None).status_code == 200
    assert rest_predict(s, None, raw=b"{not json").status_code == 400           # INVALID_ARGUMENT
    assert rest_predict(s, example, version=99).status_code == 404             # NOT_FOUND, a version it lacks
    assert requests.get(s.rest_url + "/v1/models/ghsumm", timeout=10).status_code == 200  # not a predict
    channel = grpc.insecure_channel(s.grpc_address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    for _ in range(n_grpc):
        assert grpc_predict(stub, codec).model_spec.version.value == 1
    with pytest.raises(grpc.RpcError) as e:
        grpc_predict(stub, codec, inputs=[b"\x00\x01garbage"])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        grpc_predict(stub, codec, name="some-other-model")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    channel.close()

    after = scrape_server(s)
    requests_ = by_labels(after, "ghsumm_serving_predict_requests_total")
    assert requests_ == {labelset(model_name="ghsumm", version="1", entrypoint="REST"): n_rest + 1,
                         labelset(model_name="ghsumm", version="_unknown", entrypoint="REST"): 1,
                         labelset(model_name="ghsumm", version="1", entrypoint="GRPC"): n_grpc + 1,
                         labelset(model_name="_unknown", version="_unknown", entrypoint="GRPC"): 1}
    assert by_labels(after, "ghsumm_serving_predict_errors_total") == {
        labelset(model_name="ghsumm", version="1", entrypoint="REST", status="INVALID_ARGUMENT"): 1,
        labelset(model_name="ghsumm", version="_unknown", entrypoint="REST", status="NOT_FOUND"): 1,
        labelset(model_name="ghsumm", version="1", entrypoint="GRPC", status="INVALID_ARGUMENT"): 1,
        labelset(model_name="_unknown", version="_unknown", entrypoint="GRPC", status="NOT_FOUND"): 1}
    for labels, n in requests_.items():  # the latency histogram saw every request, and each took some time
        assert after[("ghsumm_serving_predict_latency_seconds_count", labels)] == n
        assert after[("ghsumm_serving_predict_latency_seconds_sum", labels)] > 0
        assert after[("ghsumm_serving_predict_latency_seconds_bucket", labels | {("le", "+Inf")})] == n
    assert value(after, "process_resident_memory_bytes") > 0

    r = requests.get(s.rest_url + SERVER_METRICS, headers={"Accept": "application/openmetrics-text"}, timeout=10)
    assert r.headers["Content-Type"].startswith("application/openmetrics-text") and r.text.endswith("# EOF\n")


def test_model_server_version_gauge_follows_a_new_version(server, codec, tiny_title_model):
    s, base = server
    tiny_model.publish_version(tiny_title_model[0], str(base), 2)
    deadline = time.time() + 90
    while value(scrape_server(s), "ghsumm_serving_served_version", model_name="ghsumm") != 2:
        assert time.time() < deadline, "version 2 was not served"
        time.sleep(0.3)
    example = {"instances": [{"input": {"b64": base64.b64encode(codec.example(BODY)).decode("ascii")}}]}
    assert rest_predict(s, example).headers["X-Model-Version"] == "2"
    after = scrape_server(s)
    versions = {dict(labels)["version"]: (dict(labels)["state"], v) for (name, labels), v in after.items()
                if name == "ghsumm_serving_model_version"}
    assert versions == {"2": ("AVAILABLE", 1), "1": ("END", 1)}
    assert value(after, "ghsumm_serving_predict_requests_total", model_name="ghsumm", version="2",
                 entrypoint="REST") == 1


# ============================================================================================ web app
@pytest.fixture
def app(webapp_config):
    return create_app(dict(webapp_config))


def scrape_app(client) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    return samples(r.get_data(as_text=True))


def test_webapp_counts_requests_by_route_and_status_and_times_the_model_server(app):
    c = app.test_client()
    assert with_prefix(scrape_app(c), "ghsumm_webapp_") == {}
    for _ in range(2):
        assert c.get("/").status_code == 200
    for _ in range(3):
        assert c.post("/api/summarize", json={"body": BODY}).status_code == 200  # the real model server
    assert c.post("/api/summarize", json={"body": ""}).status_code == 400
    assert c.post("/api/summarize", data="not json").status_code == 400
    assert c.post("/summary", data={"issue_text": BODY}).status_code == 200
    assert c.get("/healthz").status_code == 200
    assert c.get("/livez").status_code == 200
    assert c.get("/no/such/page").status_code == 404
    assert c.delete("/api/summarize").status_code == 405

    after = scrape_app(c)
    expected = {("/", "GET", "200"): 2, ("/api/summarize", "POST", "200"): 3, ("/api/summarize", "POST", "400"): 2,
                ("/summary", "POST", "200"): 1, ("/healthz", "GET", "200"): 1, ("/livez", "GET", "200"): 1,
                ("<unmatched>", "GET", "404"): 1, ("<unmatched>", "DELETE", "405"): 1,  # no route took them
                ("/metrics", "GET", "200"): 1}  # the first scrape (a scrape is counted once it is answered)
    assert by_labels(after, "ghsumm_webapp_requests_total") == {
        labelset(route=route, method=method, status=status): n for (route, method, status), n in expected.items()}
    # the model server: 4 titles (3 + /summary) and 1 status call (/healthz), all answered
    assert value(after, "ghsumm_webapp_model_server_latency_seconds_count", call="title", outcome="ok") == 4
    assert value(after, "ghsumm_webapp_model_server_latency_seconds_count", call="status", outcome="ok") == 1
    assert value(after, "ghsumm_webapp_model_server_latency_seconds_sum", call="title", outcome="ok") > 0
    assert with_prefix(after, "ghsumm_webapp_github") == {}


def test_webapp_counts_a_model_server_that_is_down(webapp_config):
    c = create_app(dict(webapp_config, model_server="http://127.0.0.1:%d" % free_port(), model_timeout=2)).test_client()
    assert c.post("/api/summarize", json={"body": BODY}).status_code == 503
    assert c.get("/healthz").status_code == 503
    after = scrape_app(c)
    assert value(after, "ghsumm_webapp_model_server_latency_seconds_count", call="title", outcome="server_down") == 1
    assert value(after, "ghsumm_webapp_model_server_latency_seconds_count", call="status", outcome="server_down") == 1
    assert value(after, "ghsumm_webapp_requests_total", route="/api/summarize", method="POST", status="503") == 1


def test_webapp_counts_github_rate_limit_waits_of_the_page_and_the_webhook(webapp_config, tmp_path,
                                                                           stub_model_server, title_codec):
    secret = "whsec-metrics-test"
    model = stub_model_server(title_codec.encoder.encode("parser crashes on empty files") + [1], score=-0.4)
    with GitHubApiStub() as api:
        reset = api.rate_limited(reset_in=120)
        app = create_app(dict(webapp_config, github_api_url=api.url, github_token="ghp_metricstest",
                              model_server=model.url, webhook_secret=secret, webhook_mode="comment",
                              webhook_dir=str(tmp_path / "webhook"), suggest_min_score=-1e9))
        try:
            c = app.test_client()
            r = c.post("/api/summarize", json={"url": "https://github.com/octo/hello/issues/1"})
            assert r.status_code == 429
            # a new issue through the webhook: its title is suggested, the comment waits for the reset
            body = json.dumps({"action": "opened", "repository": {"full_name": "octo/hello"},
                               "issue": issue_json(api.url, "octo", "hello", 7, "Crash", BODY)}).encode()
            headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
                       "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
            assert c.post("/github/webhook", data=body, headers=headers,
                          content_type="application/json").status_code == 202
            deadline = time.time() + 60
            while value(scrape_app(c), "ghsumm_webapp_github_rate_limit_wait_seconds_count", source="webhook") < 1:
                assert time.time() < deadline, "the webhook's comment did not meet the rate limit"
                time.sleep(0.1)
        finally:
            app.extensions["ghsumm"]["suggester"].stop()
    after = scrape_app(c)
    assert value(after, "ghsumm_webapp_github_rate_limit_wait_seconds_count", source="page") == 1
    assert 115 <= value(after, "ghsumm_webapp_github_rate_limit_wait_seconds_sum", source="page") <= 120
    assert value(after, "ghsumm_webapp_github_rate_limit_wait_seconds_count", source="webhook") == 1
    waited = value(after, "ghsumm_webapp_github_rate_limit_wait_seconds_sum", source="webhook")
    assert reset - time.time() < waited <= 122  # until the reset (and a second)
    assert value(after, "ghsumm_webapp_requests_total", route="/api/summarize", method="POST", status="429") == 1
    assert value(after, "ghsumm_webapp_requests_total", route="/github/webhook", method="POST", status="202") == 1


# --------------------------------------------------------------------------- gunicorn, several workers
def test_webapp_metrics_add_up_every_gunicorn_worker(webapp_model_server, tmp_path):
    """`gunicorn -c python:webapp.gunicorn_conf -w 2`: whichever worker answers a scrape, it reports the requests
    of both workers, also those of a worker that has since been replaced."""
    server, base = webapp_model_server
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left by an earlier server")  # must be cleared at start
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GHSUMM_", "GITHUB_", "PROMETHEUS_"))}
    env.update(PYTHONPATH=REPO, GHSUMM_MODEL_SERVER=server.rest_url, GHSUMM_MODEL_BASE_PATH=str(base),
               GITHUB_API_URL="http://127.0.0.1:%d" % free_port(), TF_CPP_MIN_LOG_LEVEL="2",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    answered, lock = collections.Counter(), threading.Lock()  # (route, status) -> answers gunicorn gave

    def get(path, route=None):
        try:
            r = requests.get(url + path, timeout=30)
        except requests.ConnectionError:
            return None
        with lock:
            answered[(route or path, str(r.status_code))] += 1
        return r

    def workers(proc) -> list[int]:
        return sorted(p.pid for p in psutil.Process(proc.pid).children())

    def answers(path) -> bool:
        r = get(path)
        return r is not None and r.ok

    def wait_ready(proc, what, gone=None):
        deadline = time.time() + 90
        while len(workers(proc)) != 2 or gone in workers(proc) or not answers("/livez"):
            assert proc.poll() is None and time.time() < deadline, what + ":\n" + log.read_text()[-3000:]
            time.sleep(0.3)

    def check():
        scrapes_before = answered[("/metrics", "200")]
        r = get("/metrics")
        assert r.status_code == 200
        got = by_labels(samples(r.text), "ghsumm_webapp_requests_total")
        expected = dict(answered)
        expected[("/metrics", "200")] = scrapes_before
        assert got == {labelset(route=route, method="GET", status=status): n for (route, status), n in expected.items()
                       if n}
        status_calls = value(samples(r.text), "ghsumm_webapp_model_server_latency_seconds_count", call="status",
                             outcome="ok")
        assert status_calls == answered[("/healthz", "200")]

    log = tmp_path / "gunicorn.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:webapp.gunicorn_conf", "-w", "2",
                                 "-b", "127.0.0.1:%d" % port, "--timeout", "120", "webapp:create_app()"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(proc, "gunicorn did not start")
        first = workers(proc)

        def client(i):  # 4 clients at once, so that both workers answer some
            for j in range(10):
                assert get("/healthz" if (i + j) % 2 else "/livez").ok
        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert get("/no/such/page", route="<unmatched>").status_code == 404
        assert answered[("/healthz", "200")] == 20
        served_by = {int(p.stem.split("_")[-1]) for p in metrics_dir.glob("counter_*.db")}
        assert served_by == set(first), "both workers should have answered some of the 40 concurrent requests"
        for _ in range(4):  # scrapes answered by either worker: the same totals
            check()
        os.kill(first[0], signal.SIGTERM)  # gunicorn starts a new worker; the old one's counts stay in the totals
        wait_ready(proc, "the worker was not replaced", gone=first[0])
        for _ in range(4):
            check()
    finally:
        proc.terminate()
        proc.wait(30)
    assert "multiprocess mode in %s" % metrics_dir in log.read_text()


# ============================================================================================ Kubernetes
def test_deployments_carry_the_prometheus_scrape_annotations():
    deployment, _ = serving_k8s.render("ghsumm", "gs://bucket/work/run/export", run="run")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": "8501",
                                              "prometheus.io/path": SERVER_METRICS}
    [c] = pod["spec"]["containers"]
    assert "--monitoring_config_file=%s" % serving_k8s.MONITORING_CONFIG_FILE in c["args"]
    assert serving_k8s.MONITORING_CONFIG in c["command"][2] and c["command"][:2] == ["/bin/sh", "-c"]
    # the container's command writes tensorflow/serving's monitoring config, then runs the server with its args
    fake = [part.replace("/usr/bin/tensorflow_model_server", "echo") for part in c["command"]]
    fake = [part.replace(serving_k8s.MONITORING_CONFIG_FILE, "/dev/stderr") for part in fake]
    ran = subprocess.run(fake + c["args"], capture_output=True, text=True, timeout=10)
    assert ran.stdout.split() == c["args"] and ran.stderr.strip() == serving_k8s.MONITORING_CONFIG

    deployment, _ = webapp_k8s.render("ghsumm", "ghsumm-run:8501", run="run")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                                              "prometheus.io/path": "/metrics"}
    [c] = pod["spec"]["containers"]
    assert c["args"][:2] == ["-c", "python:webapp.gunicorn_conf"] and c["args"][-1] == "webapp:create_app()"
