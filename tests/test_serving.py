"""serving/: the TF-Serving-protocol model server as a real subprocess (real HTTP, real gRPC, a real T2T
SavedModel), the client over both protocols, hot swap, a corrupt version, SIGTERM, Locust, and the
Kubernetes manifests (rendered and applied against a stub API server: no cluster is reachable here)."""
import base64
import json
import os
import threading
import time

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

from benchmarks import tiny_model
from serving import k8s, load_test
from data.contract import EOS_ID
from serving.client import Codec, ModelNotFound, ServerDown, TitleClient
from serving.launch import ServerProcess

BODY = ("when i run the training script with a batch size of 64 the process crashes with an out of memory "
        "error on the gpu, even though the same script worked last week")
MAX_REQUEST_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def codec(tiny_title_model):
    return Codec(tiny_title_model[1])


@pytest.fixture(scope="module")
def server(tiny_title_model, tmp_path_factory):
    """A server on version 1, for the read-only tests (batching on, so its path is tested too)."""
    base = tmp_path_factory.mktemp("served") / "models"
    tiny_model.publish_version(tiny_title_model[0], str(base), 1)
    with ServerProcess(str(base), log_path=str(base.parent / "server.log"),
                       extra_args=["--max_request_bytes", str(MAX_REQUEST_BYTES), "--enable_batching", "true"]) as s:
        yield s


def example_b64(codec, body=BODY):
    return base64.b64encode(codec.example(body)).decode("ascii")


def title_ids(outputs):
    """A prediction's ids up to its first EOS: what a title is made of. What follows is padding, whose length
    depends on the batch and on when beam search stopped (T2T stops early once no beam can improve)."""
    outputs = list(outputs)
    return outputs[:outputs.index(EOS_ID) + 1] if EOS_ID in outputs else outputs


def predict(server, payload, path=":predict", **kw):
    return requests.post("%s/v1/models/ghsumm%s" % (server.rest_url, path), timeout=60, **kw,
                         **({} if "data" in kw else {"json": payload}))


# ---------------------------------------------------------------------------------------------- REST
def test_rest_status_and_metadata(server):
    r = requests.get(server.rest_url + "/v1/models/ghsumm", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = requests.get(server.rest_url + "/v1/models/ghsumm/versions/1/metadata", timeout=10).json()
    assert meta["model_spec"]["name"] == "ghsumm" and meta["model_spec"]["version"] == "1"
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["input"]["dtype"] == "DT_STRING"
    assert {"outputs", "scores"} <= set(sig["outputs"])


def test_rest_predict_row_and_columnar_formats(server, codec):
    row = predict(server, {"instances": [{"input": {"b64": example_b64(codec)}}]})
    assert row.status_code == 200, row.text
    assert row.headers["X-Model-Version"] == "1"
    [prediction] = row.json()["predictions"]
    assert isinstance(prediction["scores"], float) and all(isinstance(i, int) for i in prediction["outputs"])
    columnar = predict(server, {"inputs": {"input": [{"b64": example_b64(codec)}]}}, path="/versions/1:predict")
    assert columnar.status_code == 200, columnar.text
    [columnar_outputs] = columnar.json()["outputs"]["outputs"]
    assert title_ids(columnar_outputs) == title_ids(prediction["outputs"])
    # A bare value per instance is accepted too when the signature has one input, as TF Serving does.
    bare = predict(server, {"instances": [{"b64": example_b64(codec)}, {"b64": example_b64(codec, "another issue")}]})
    assert bare.status_code == 200 and len(bare.json()["predictions"]) == 2
    assert title_ids(bare.json()["predictions"][0]["outputs"]) == title_ids(prediction["outputs"])


@pytest.mark.parametrize("case, path, kwargs, code, words", [
    ("unknown model", "/v1/models/nope:predict", {"json": {"instances": [{"b64": "CgA="}]}}, 404, "nope"),
    ("unknown version", "/v1/models/ghsumm/versions/7:predict", {"json": {"instances": [{"b64": "CgA="}]}}, 404, "7"),
    ("unknown version status", "/v1/models/ghsumm/versions/7", None, 404, "version 7"),
    ("unknown path", "/v2/whatever", None, 404, "Malformed request"),
    ("malformed JSON", "/v1/models/ghsumm:predict", {"data": b'{"instances": [', "headers": {"Content-Type": "application/json"}}, 400, "malformed JSON"),
    ("no instances or inputs", "/v1/models/ghsumm:predict", {"json": {"signature_name": "serving_default"}}, 400, "instances"),
    ("both formats", "/v1/models/ghsumm:predict", {"json": {"instances": [], "inputs": []}}, 400, "exactly one"),
    ("wrong input name", "/v1/models/ghsumm:predict", {"json": {"instances": [{"text": "x"}]}}, 400, "input"),
    ("invalid base64", "/v1/models/ghsumm:predict", {"json": {"instances": [{"input": {"b64": "!!!"}}]}}, 400, "base64"),
    ("not an Example", "/v1/models/ghsumm:predict", {"json": {"instances": [{"input": {"b64": "AAAA"}}]}}, 400, "parse"),
    ("number for a string", "/v1/models/ghsumm:predict", {"json": {"instances": [{"input": 5}]}}, 400, "string"),
    ("unknown signature", "/v1/models/ghsumm:predict", {"json": {"signature_name": "x", "instances": ["a"]}}, 404, "signature"),
    ("too large", "/v1/models/ghsumm:predict", {"data": b"x" * (MAX_REQUEST_BYTES + 1)}, 413, "exceeds"),
])
def test_rest_errors_are_json_with_the_right_code(server, case, path, kwargs, code, words):
    url = server.rest_url + path
    r = requests.post(url, timeout=60, **kwargs) if kwargs is not None else requests.get(url, timeout=10)
    assert r.status_code == code, (case, r.status_code, r.text)
    error = r.json()["error"]
    assert words.lower() in error.lower(), (case, error)
    assert "Traceback" not in error and 'File "' not in error, error


def test_a_body_no_route_reads_does_not_become_the_next_request(server, codec):
    """A body sent where none is read (a GET, a 404, a 405) once stayed on the keep-alive connection and was parsed
    as the next request (501 "Unsupported method", an HTML page): found by tests/test_fuzz.py."""
    http = requests.Session()
    good = {"instances": [{"input": {"b64": example_b64(codec)}}]}
    for method, path in (("GET", "/v1/models/ghsumm"), ("POST", "/v1/models/nope"), ("GET", "/v1/models/ghsumm:predict"),
                         ("POST", "/v2/whatever")):
        first = http.request(method, server.rest_url + path, data=b'{"instances": []}', timeout=30)
        assert first.status_code in (200, 404, 405) and first.json()
        after = http.post(server.rest_url + "/v1/models/ghsumm:predict", json=good, timeout=60)
        assert after.status_code == 200 and after.json()["predictions"], (method, path, after.text[:200])


def test_concurrent_requests_are_all_answered_like_a_single_one(server, codec):
    single = predict(server, {"instances": [{"input": {"b64": example_b64(codec)}}]}).json()["predictions"][0]
    results, errors = [], []

    def call():
        try:
            r = predict(server, {"instances": [{"input": {"b64": example_b64(codec)}}]})
            results.append(r.json()["predictions"][0])
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    assert all(title_ids(r["outputs"]) == title_ids(single["outputs"]) for r in results)
    assert all(abs(r["scores"] - single["scores"]) < 1e-3 for r in results)


# ---------------------------------------------------------------------------------------------- gRPC
def test_grpc_predict_status_and_metadata(server, codec):
    channel = grpc.insecure_channel(server.grpc_address)
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    models = model_service_pb2_grpc.ModelServiceStub(channel)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ghsumm"
    request.inputs["input"].CopyFrom(tf.make_tensor_proto([codec.example(BODY)], dtype=tf.string))
    response = predictions.Predict(request, timeout=60)
    assert response.model_spec.version.value == 1
    rest = predict(server, {"instances": [{"input": {"b64": example_b64(codec)}}]}).json()["predictions"][0]
    assert title_ids(tf.make_ndarray(response.outputs["outputs"])[0].tolist()) == title_ids(rest["outputs"])

    status = models.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": "ghsumm"}), timeout=10)
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]

    meta = predictions.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": "ghsumm"}, metadata_field=["signature_def"]), timeout=10)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    meta.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["serving_default"].inputs["input"].dtype == tf.string.as_datatype_enum

    request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as e:
        predictions.Predict(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    request.model_spec.name = "ghsumm"
    request.inputs["input"].CopyFrom(tf.make_tensor_proto([b"\x00\x01garbage"], dtype=tf.string))
    with pytest.raises(grpc.RpcError) as e:
        predictions.Predict(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and 'File "' not in e.value.details()
    channel.close()


# ---------------------------------------------------------------------- client conformance: REST and gRPC
def address(server, protocol):
    return server.rest_url if protocol == "rest" else server.grpc_address


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_generates_a_title(server, codec, protocol):
    with TitleClient(address(server, protocol), protocol, codec=codec) as client:
        title = client.generate(BODY)
        assert isinstance(title.title, str)  # the tiny model's title may be empty: a test of the real one is in
        # test_pipeline_local (the shipped warm start) and of an empty one in test_webapp
        assert isinstance(title.score, float)
        assert title.model_version == 1
        assert client.generate_many([BODY, "x"])[0].title == title.title
        assert client.status()[0]["state"] == "AVAILABLE"


def test_client_gives_the_same_title_over_both_protocols(server, codec):
    rest = TitleClient(server.rest_url, "rest", codec=codec).generate(BODY)
    grpc_ = TitleClient(server.grpc_address, "grpc", codec=codec).generate(BODY)
    assert rest.title == grpc_.title and abs(rest.score - grpc_.score) < 1e-3


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_model_not_found(server, codec, protocol):
    with pytest.raises(ModelNotFound):
        TitleClient(address(server, protocol), protocol, model_name="nope", codec=codec).generate(BODY)
    with pytest.raises(ModelNotFound):
        TitleClient(address(server, protocol), protocol, version=99, codec=codec).generate(BODY)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_server_down_after_retries(codec, protocol):
    from serving.launch import free_port
    dead = "http://127.0.0.1:%d" % free_port() if protocol == "rest" else "127.0.0.1:%d" % free_port()
    start = time.time()
    with pytest.raises(ServerDown, match="after 3 attempts"):
        TitleClient(dead, protocol, codec=codec, retries=2, backoff=0.2, timeout=5).generate(BODY)
    assert time.time() - start >= 0.2 + 0.4  # backed off between attempts


def test_codec_cuts_long_bodies_and_ends_with_eos(codec):
    short = Codec.__new__(Codec)
    short.encoder, short.max_input_ids = codec.encoder, 16
    ids = short.encode(BODY * 20)
    assert len(ids) == 16 and ids[-1] == 1
    assert codec.decode(codec.encoder.encode("out of memory") + [1, 55, 0]) == "out of memory"


# ------------------------------------------------------------------ lifecycle: bad version, hot swap, SIGTERM
@pytest.fixture(scope="module")
def live(tiny_title_model, tmp_path_factory):
    """A server whose base path the tests below change, in order: corrupt version 2, good version 3, SIGTERM."""
    base = tmp_path_factory.mktemp("live") / "models"
    tiny_model.publish_version(tiny_title_model[0], str(base), 1)
    s = ServerProcess(str(base), log_path=str(base.parent / "server.log")).start()
    yield s, base
    s.stop()


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


def states(server):
    return {int(s["version"]): (s["state"], s["status"]["error_message"])
            for s in server.status()["model_version_status"]}


def test_corrupt_version_is_reported_and_the_previous_keeps_serving(live, codec):
    server, base = live
    bad = base / ".tmp-2"
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    os.rename(bad, base / "2")
    wait_for(lambda: states(server).get(2, ("",))[0] == "END", what="version 2 to fail")
    state, error = states(server)[2]
    assert "failed to load version 2" in error
    assert states(server)[1] == ("AVAILABLE", "")
    title = TitleClient(server.rest_url, codec=codec).generate(BODY)
    assert title.model_version == 1
    assert "version 2 failed to load" in server.log()


def test_new_version_is_hot_swapped_without_failed_requests(live, codec, tiny_title_model):
    server, base = live
    stop, seen, errors = threading.Event(), [], []

    def keep_asking(protocol):
        client = TitleClient(address(server, protocol), protocol, codec=codec, retries=0)
        while not stop.is_set():
            try:
                seen.append(client.generate(BODY).model_version)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
    threads = [threading.Thread(target=keep_asking, args=(p,)) for p in ("rest", "grpc")]
    for t in threads:
        t.start()
    wait_for(lambda: len(seen) >= 2, what="requests on version 1")
    tiny_model.publish_version(tiny_title_model[0], str(base), 3)
    wait_for(lambda: seen.count(3) >= 4, what="answers from version 3")
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert seen[0] == 1 and seen[-1] == 3 and set(seen) == {1, 3}
    st = states(server)
    assert st[3] == ("AVAILABLE", "") and st[1][0] == "END"


def test_sigterm_finishes_requests_in_flight_and_exits_cleanly(live, codec):
    server, _ = live
    result = {}

    def slow_request():  # 8 instances: longer than the moment between sending and SIGTERM
        result["r"] = predict(server, {"instances": [{"input": {"b64": example_b64(codec)}}] * 8})
    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.3)
    assert server.stop() == 0
    t.join()
    assert result["r"].status_code == 200 and len(result["r"].json()["predictions"]) == 8
    assert "shut down cleanly" in server.log()


# ---------------------------------------------------------------------------------------------- Locust
def test_locust_load_test_writes_its_report(server, tiny_title_model, tmp_path):
    out = tmp_path / "load"
    r = load_test.run(server.rest_url, tiny_title_model[1], str(out), users=2, run_time="4s", issues=20)
    assert r["requests"] > 0 and r["failures"] == 0, r
    assert r["p50_ms"] > 0 and r["requests_per_s"] > 0
    html = (out / "report.html").read_text()
    assert "predict" in html and "<html" in html.lower()
    assert (out / "locust_stats.csv").exists() and (out / "locust_stats_history.csv").exists()


# ---------------------------------------------------------------------------------------------- Kubernetes
def deserialize(manifest, kind):
    from kubernetes import client

    class Response:
        data = json.dumps(manifest)
    return client.ApiClient().deserialize(Response(), kind)


def test_manifests_are_valid_kubernetes_objects_with_paths_and_ports():
    deployment, service = k8s.render("ghsumm", "gs://bucket/work/Run_42/export", run="Run_42",
                                     image="tensorflow/serving:2.18.0", gcp_secret="user-gcp-sa")
    d = deserialize(deployment, "V1Deployment")
    assert d.metadata.name == "ghsumm-run-42" and d.spec.selector.match_labels == d.spec.template.metadata.labels
    [c] = d.spec.template.spec.containers
    assert c.image == "tensorflow/serving:2.18.0"
    assert "--model_base_path=gs://bucket/work/Run_42/export" in c.args and "--model_name=ghsumm" in c.args
    assert "--port=8500" in c.args and "--rest_api_port=8501" in c.args
    assert "--xla_cpu_compilation_enabled=true" in c.args  # the XLA-compiled decoding loop (trainer/fast_decode.py)
    assert {p.name: p.container_port for p in c.ports} == {"grpc": 8500, "rest": 8501}
    assert c.readiness_probe.http_get.path == "/v1/models/ghsumm" and c.readiness_probe.http_get.port == 8501
    assert c.liveness_probe.tcp_socket.port == 8500
    assert c.resources.requests["cpu"] and c.resources.limits["memory"]
    assert [e.name for e in c.env] == ["GOOGLE_APPLICATION_CREDENTIALS"]
    s = deserialize(service, "V1Service")
    assert s.spec.selector == d.spec.template.metadata.labels
    assert {p.name: (p.port, p.target_port) for p in s.spec.ports} == {"grpc": (8500, 8500), "rest": (8501, 8501)}
    import yaml
    assert list(yaml.safe_load_all(k8s.to_yaml([deployment, service]))) == [deployment, service]


def test_k8s_names_are_dns_1123():
    assert k8s.k8s_name("GH_summ", "Run 42/x") == "gh-summ-run-42-x"
    assert len(k8s.k8s_name("a" * 100)) == 63


def test_a_load_test_in_which_no_request_finished_is_summarized_with_zeros(tmp_path):
    """Locust writes N/A for the latencies when no request finished (3 s on a busy machine): a summary, not a crash."""
    from serving import load_test
    (tmp_path / "locust_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
        "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
        "99.99%,100%\n,Aggregated,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n")
    r = load_test.summary(str(tmp_path))
    assert r["requests"] == 0 and r["p50_ms"] == 0 and r["p99_ms"] == 0 and r["requests_per_s"] == 0
