"""A model server that speaks TensorFlow Serving's REST and gRPC protocols (the local stand-in for
tensorflow_model_server, which cannot be installed here; on a cluster serving/k8s.py deploys the real one).

    python -m serving.model_server --model_name ghsumm --model_base_path BASE --port 8500 --rest_api_port 8501

REST (http.server, one thread per connection, HTTP/1.1 keep-alive):
  POST /v1/models/<name>[/versions/<v>]:predict   {"instances": [...]} (row) or {"inputs": ...} (columnar);
                                                  bytes as {"b64": "..."}; answers {"predictions"} / {"outputs"}
  GET  /v1/models/<name>[/versions/<v>]           GetModelStatusResponse as JSON (the health/readiness check)
  GET  /v1/models/<name>[/versions/<v>]/metadata  GetModelMetadataResponse as JSON (signature_def)
  GET  /monitoring/prometheus/metrics             Prometheus metrics (ServerMetrics), at tensorflow/serving's path
  Errors are {"error": "..."}: 404 unknown model/version/path, 400 malformed JSON or input, 413 too large.
  Predict answers carry the version used in an `X-Model-Version` header (tensorflow/serving's REST has no
  such field; serving/client.py reads the header when there is one).
gRPC: tensorflow.serving.PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus).
Versions, hot swap and batching: serving/models.py. SIGTERM/SIGINT: stop accepting, finish requests in
flight (up to --shutdown_grace_seconds), exit 0.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import concurrent.futures
import http.server
import json
import logging
import os
import re
import signal
import sys
import threading
import time

from data import project

project.quiet_tensorflow()

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.exposition import choose_encoder  # noqa: E402
from tensorflow.core.protobuf import error_codes_pb2  # noqa: E402
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,  # noqa: E402
                                     predict_pb2, prediction_service_pb2_grpc)

from serving.models import (DEFAULT_SIGNATURE, BadInput, Batcher, ModelManager, NotFound)  # noqa: E402

log = logging.getLogger("serving")

DEFAULT_MAX_REQUEST_BYTES = 16 * 2 ** 20
METRICS_PATH = "/monitoring/prometheus/metrics"  # tensorflow/serving's path (its --monitoring_config_file)


# ---------------------------------------------------------------------------------------------------- shared
def status_proto(manager: ModelManager, name: str, version: int | None) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for v, state, error in manager.status(name, version):
        item = response.model_version_status.add()
        item.version = v
        item.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
        item.status.error_code = error_codes_pb2.UNKNOWN if error else error_codes_pb2.OK
        item.status.error_message = error
    return response


def metadata_proto(manager: ModelManager, name: str, version: int | None) -> get_model_metadata_pb2.GetModelMetadataResponse:
    served = manager.get(name, version)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = name
    response.model_spec.version.value = served.number
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in served.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(sig)
    response.metadata["signature_def"].Pack(sig_map)
    return response


def to_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


# --------------------------------------------------------------------------------------------------- metrics
# The status of a failed REST predict as a gRPC/TensorFlow status name, so that both protocols count errors alike.
_HTTP_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "UNIMPLEMENTED", 411: "INVALID_ARGUMENT",
                413: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
UNKNOWN_LABEL = "_unknown"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServerMetrics:
    """The server's Prometheus metrics, in a registry of its own (GET /monitoring/prometheus/metrics):

    ghsumm_serving_predict_requests_total{model_name, version, entrypoint}       every predict (REST or GRPC)
    ghsumm_serving_predict_errors_total{model_name, version, entrypoint, status} the failed ones, by status
                                                 (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, INTERNAL, ...)
    ghsumm_serving_predict_latency_seconds{model_name, version, entrypoint}     histogram, failed ones included
    ghsumm_serving_model_version{model_name, version, state}  1 for every version the server knows (LOADING,
                                                 AVAILABLE, END: what GET /v1/models/<name> reports), at scrape time
    ghsumm_serving_served_version{model_name}    the version answering requests without a version
    and process_* (CPU, memory, open files).

    `version` is the version that answered; for a failed request the one asked for (the served one when none
    was), and model_name / version are "_unknown" for names and versions the server does not have, so a
    client cannot make the label sets grow without bound.
    """

    def __init__(self, manager: ModelManager):
        self.manager = manager
        self.registry = CollectorRegistry()
        labels = ["model_name", "version", "entrypoint"]
        self.requests = Counter("ghsumm_serving_predict_requests", "Predict requests", labels,
                                registry=self.registry)
        self.errors = Counter("ghsumm_serving_predict_errors", "Predict requests that failed, by status",
                              labels + ["status"], registry=self.registry)
        self.latency = Histogram("ghsumm_serving_predict_latency_seconds", "Predict request latency", labels,
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        ProcessCollector(registry=self.registry)
        self.registry.register(self)  # collect() below: the versions, read when scraped

    def collect(self):
        name = self.manager.name
        versions = GaugeMetricFamily("ghsumm_serving_model_version", "Versions the server knows, by state",
                                     labels=["model_name", "version", "state"])
        try:
            for v, state, _ in self.manager.status(name):
                versions.add_metric([name, str(v), state], 1)
        except NotFound:
            pass
        yield versions
        served = GaugeMetricFamily("ghsumm_serving_served_version", "The version that answers requests without "
                                   "a version", labels=["model_name"])
        try:
            served.add_metric([name], self.manager.get(name).number)
        except NotFound:
            pass
        yield served

    def _labels(self, name: str, version: int | None) -> tuple[str, str]:
        if name != self.manager.name:
            return UNKNOWN_LABEL, UNKNOWN_LABEL
        try:
            known = [v for v, _, _ in self.manager.status(name)]
            if version is None:
                version = self.manager.get(name).number
        except NotFound:
            return name, UNKNOWN_LABEL
        return name, str(version) if version in known else UNKNOWN_LABEL

    def predict(self, entrypoint: str, name: str, version: int | None, status: str, start: float) -> None:
        """Records one predict request: entrypoint REST or GRPC, the version used (or asked for), its status
        ("OK" or a status name), start: its time.perf_counter() at arrival."""
        elapsed = time.perf_counter() - start
        labels = self._labels(name, version) + (entrypoint,)
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(elapsed)
        if status != "OK":
            self.errors.labels(*labels, status).inc()

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) of a scrape, in the format the Accept header asks for (Prometheus' text format
        or OpenMetrics)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


# ------------------------------------------------------------------------------------------------------ REST
_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?/?$")


class HttpError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _decode_value(value):
    """JSON value -> python value; {"b64": ...} objects become bytes (at any depth)."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            if not isinstance(value["b64"], str):
                raise BadInput("'b64' must hold a base64 string")
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise BadInput("'b64' value is not valid base64") from None
        raise BadInput("unexpected object %s where a value was expected" % sorted(value)[:5])
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    return value


def parse_predict_body(body: dict, input_names: list[str]) -> tuple[dict, bool]:
    """A REST predict request -> (input name -> python list, row format?). Raises BadInput."""
    if not isinstance(body, dict):
        raise BadInput("the request must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise BadInput("the request must have exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadInput("'instances' must be a non-empty list")
        named = [isinstance(i, dict) and set(i) != {"b64"} for i in instances]
        if all(named):
            columns = {n: [] for n in input_names}
            for i, instance in enumerate(instances):
                if set(instance) != set(input_names):
                    raise BadInput("instance %d has inputs %s; the signature wants %s"
                                   % (i, sorted(instance), sorted(input_names)))
                for n in input_names:
                    columns[n].append(_decode_value(instance[n]))
            return columns, True
        if any(named) or len(input_names) != 1:
            raise BadInput("instances must all be objects keyed by input name %s" % sorted(input_names))
        return {input_names[0]: [_decode_value(i) for i in instances]}, True
    inputs = body["inputs"]
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        return {k: _decode_value(v) for k, v in inputs.items()}, False
    if len(input_names) != 1:
        raise BadInput("'inputs' must be an object keyed by input name %s" % sorted(input_names))
    return {input_names[0]: _decode_value(inputs)}, False


def _json_value(array: np.ndarray, name: str):
    if array.dtype == object or array.dtype.kind in "SU":
        if name.endswith("_bytes"):
            return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode("ascii")}, otypes=[object])(array).tolist()
        return np.vectorize(lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b,
                            otypes=[object])(array).tolist()
    return array.tolist()


def predict_response(outputs: dict, row_format: bool) -> dict:
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": _json_value(outputs[names[0]], names[0])}
        return {"outputs": {n: _json_value(outputs[n], n) for n in names}}
    rows = {len(v) for v in outputs.values() if v.ndim > 0}
    if len(rows) != 1 or any(v.ndim == 0 for v in outputs.values()):
        raise BadInput("outputs do not share a batch size; use the columnar format ('inputs')")
    values = {n: _json_value(outputs[n], n) for n in names}
    n_rows = rows.pop()
    if len(names) == 1:
        return {"predictions": values[names[0]]}
    return {"predictions": [{n: values[n][i] for n in names} for i in range(n_rows)]}


class RestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ghsumm-model-server"
    manager: ModelManager  # set on the subclass made by make_rest_server
    max_request_bytes: int
    inflight: "InFlight"
    metrics: ServerMetrics

    def log_message(self, fmt, *args):  # access log at DEBUG; errors are logged where they happen
        log.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, code: int, payload: dict | bytes, headers: dict | None = None,
              content_type: str = "application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str):
        if method == "GET" and self.path.split("?", 1)[0] == METRICS_PATH:
            body, content_type = self.metrics.exposition(self.headers.get("Accept"))
            return self._send(200, body, content_type=content_type)
        with self.inflight:
            start, self._predicting, self._body_read = time.perf_counter(), None, False
            try:
                code, payload, headers = self._route(method)
            except HttpError as e:
                code, payload, headers = e.code, {"error": str(e)}, {}
            except NotFound as e:
                code, payload, headers = 404, {"error": str(e)}, {}
            except BadInput as e:
                code, payload, headers = 400, {"error": str(e)}, {}
            except Exception as e:  # noqa: BLE001 - never a traceback to the caller
                log.exception("REST %s %s failed", method, self.path)
                code, payload, headers = 500, {"error": "internal error: %s" % type(e).__name__}, {}
            if code >= 400 and code not in (411, 413):
                log.info("REST %s %s -> %d %s", method, self.path, code, payload.get("error", ""))
            if code == 411 or not self._body_read and (self.headers.get("Content-Length", "0") != "0"
                                                       or "Transfer-Encoding" in self.headers):
                # A body this request did not read (no length, too large, or sent where none is due: a GET, a 404,
                # a 405) would otherwise be parsed as the next request on the connection.
                self.close_connection = True
                headers = dict(headers, Connection="close")
            if self._predicting is not None:
                name, version = self._predicting
                if code == 200:
                    version = int(headers["X-Model-Version"])
                self.metrics.predict("REST", name, version, "OK" if code == 200 else _HTTP_STATUS.get(code, "UNKNOWN"),
                                     start)
            self._send(code, payload, headers)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise HttpError(411, "a Content-Length header is required")
        if int(length) > self.max_request_bytes:
            raise HttpError(413, "request of %s bytes exceeds the limit of %d bytes" % (length, self.max_request_bytes))
        self._body_read = True
        return self.rfile.read(int(length))

    @staticmethod
    def _json(raw: bytes):
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadInput("malformed JSON in the request body: %s" % e) from None

    def _route(self, method: str):
        path = self.path.split("?", 1)[0]
        m = _ROUTE.match(path)
        if not m:
            raise HttpError(404, "Malformed request: %s %s" % (method, path))
        name, version = m["name"], int(m["version"]) if m["version"] else None
        if m["label"]:
            raise NotFound("version labels are not supported by this server (asked for label '%s')" % m["label"])
        if m["verb"]:
            if method != "POST":
                raise HttpError(405, "Malformed request: %s %s (use POST)" % (method, path))
            if m["verb"] != "predict":
                raise BadInput("%s is not supported: this model has a predict signature" % m["verb"])
            self._predicting = (name, version)  # counted in the metrics, failed or not
            raw = self._read_body()  # read even when the model is unknown, for keep-alive
            self.manager.get(name, version)
            return self._predict(name, version, self._json(raw))
        if method != "GET":
            raise HttpError(405, "Malformed request: %s %s (use GET)" % (method, path))
        if m["metadata"]:
            return 200, to_dict(metadata_proto(self.manager, name, version)), {}
        return 200, to_dict(status_proto(self.manager, name, version)), {}

    def _predict(self, name: str, version: int | None, body):
        served = self.manager.get(name, version)
        signature = body.get("signature_name", "") if isinstance(body, dict) else ""
        if not isinstance(signature, str):
            raise BadInput("'signature_name' must be a string")
        input_names = sorted(served.input_specs(served.function(signature)[0]))
        inputs, row_format = parse_predict_body(body, input_names)
        used, outputs = self.manager.predict(name, served.number, signature, inputs)
        return 200, predict_response(outputs, row_format), {"X-Model-Version": str(used)}


class InFlight:
    """Counts requests being handled, so shutdown can wait for them."""

    def __init__(self):
        self._n = 0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            self._n += 1

    def __exit__(self, *exc):
        with self._cond:
            self._n -= 1
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._n == 0, timeout)


def make_rest_server(manager: ModelManager, host: str, port: int, max_request_bytes: int, metrics: ServerMetrics):
    handler = type("Handler", (RestHandler,), {"manager": manager, "max_request_bytes": max_request_bytes,
                                               "inflight": InFlight(), "metrics": metrics})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True  # idle keep-alive connections must not hold the process at exit
    return server


# ------------------------------------------------------------------------------------------------------ gRPC
def _abort(context, e: Exception):
    code = grpc.StatusCode.NOT_FOUND if isinstance(e, NotFound) else grpc.StatusCode.INVALID_ARGUMENT
    context.abort(code, str(e))


def _spec_version(model_spec) -> int | None:
    return model_spec.version.value if model_spec.HasField("version") else None


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager, metrics: ServerMetrics):
        self.manager = manager
        self.metrics = metrics

    def Predict(self, request, context):
        start, spec = time.perf_counter(), request.model_spec
        try:
            response = self._predict(request)
        except (NotFound, BadInput) as e:
            self.metrics.predict("GRPC", spec.name, _spec_version(spec),
                                 "NOT_FOUND" if isinstance(e, NotFound) else "INVALID_ARGUMENT", start)
            _abort(context, e)
        except Exception:
            self.metrics.predict("GRPC", spec.name, _spec_version(spec), "INTERNAL", start)
            raise
        self.metrics.predict("GRPC", spec.name, response.model_spec.version.value, "OK", start)
        return response

    def _predict(self, request) -> predict_pb2.PredictResponse:
        """The answer to a PredictRequest; raises NotFound or BadInput."""
        if request.model_spec.WhichOneof("version_choice") == "version_label":
            raise NotFound("version labels are not supported by this server")
        inputs = {}
        for k, t in request.inputs.items():
            try:
                inputs[k] = tf.make_ndarray(t)
            except (TypeError, ValueError) as e:
                raise BadInput("input '%s' is not a valid TensorProto: %s" % (k, e)) from None
        used, outputs = self.manager.predict(request.model_spec.name, _spec_version(request.model_spec),
                                             request.model_spec.signature_name, inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = used
        response.model_spec.signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        wanted = set(request.output_filter) or set(outputs)
        unknown = wanted - set(outputs)
        if unknown:
            raise BadInput("output_filter names unknown outputs %s" % sorted(unknown))
        for k in sorted(wanted):
            response.outputs[k].CopyFrom(tf.make_tensor_proto(outputs[k]))
        return response

    def GetModelMetadata(self, request, context):
        try:
            if list(request.metadata_field) != ["signature_def"]:
                raise BadInput("metadata_field must be ['signature_def'] (got %s)" % list(request.metadata_field))
            return metadata_proto(self.manager, request.model_spec.name, _spec_version(request.model_spec))
        except (NotFound, BadInput) as e:
            _abort(context, e)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):
        try:
            return status_proto(self.manager, request.model_spec.name, _spec_version(request.model_spec))
        except NotFound as e:
            _abort(context, e)


def make_grpc_server(manager: ModelManager, host: str, port: int, max_request_bytes: int, metrics: ServerMetrics,
                     threads: int = 16):
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
                         options=[("grpc.max_receive_message_length", max_request_bytes),
                                  ("grpc.max_send_message_length", max_request_bytes)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(manager, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), server)
    bound = server.add_insecure_port("%s:%d" % (host, port))
    if not bound:
        raise OSError("cannot bind gRPC port %s:%d" % (host, port))
    return server, bound


# ------------------------------------------------------------------------------------------------------ main
class ModelServer:
    """Both protocols over one ModelManager; start() returns once the ports are bound."""

    def __init__(self, model_name: str, model_base_path: str, host: str = "0.0.0.0", port: int = 8500,
                 rest_api_port: int = 8501, poll_seconds: float = 1.0, enable_batching: bool = False,
                 max_batch_size: int = 8, num_batch_threads: int = 1,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, grpc_threads: int = 16):
        batcher = Batcher(max_batch_size, num_batch_threads) if enable_batching else None
        self.manager = ModelManager(model_name, model_base_path, batcher)
        self.metrics = ServerMetrics(self.manager)
        self.poll_seconds = poll_seconds
        self.rest = make_rest_server(self.manager, host, rest_api_port, max_request_bytes, self.metrics)
        self.grpc, self.grpc_port = make_grpc_server(self.manager, host, port, max_request_bytes, self.metrics,
                                                     grpc_threads)
        self.rest_port = self.rest.server_address[1]
        self._rest_thread = None

    def start(self):
        self.manager.poll()  # the first load happens before the ports answer predict requests
        self.manager.start(self.poll_seconds)
        self.grpc.start()
        self._rest_thread = threading.Thread(target=self.rest.serve_forever, name="rest", daemon=True)
        self._rest_thread.start()
        log.info("serving model '%s' from %s: gRPC on port %d, REST on port %d",
                 self.manager.name, self.manager.base_path, self.grpc_port, self.rest_port)

    def stop(self, grace: float = 10.0) -> bool:
        """Stop accepting, let requests in flight finish (up to grace seconds); True when all finished."""
        start = time.time()
        self.rest.shutdown()  # no new REST connections
        grpc_done = self.grpc.stop(grace)
        rest_idle = self.rest.RequestHandlerClass.inflight.wait_idle(max(0.1, grace - (time.time() - start)))
        grpc_idle = grpc_done.wait(max(0.1, grace - (time.time() - start)))
        self.rest.server_close()
        self.manager.stop()
        return bool(rest_idle and grpc_idle)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m serving.model_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--model_name", default="ghsumm")
    p.add_argument("--model_base_path", required=True, help="dir (local or gs://) with numbered version dirs")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    p.add_argument("--rest_api_port", type=int, default=8501, help="REST port (0: any free port)")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0)
    p.add_argument("--enable_batching", default="false", choices=["true", "false"],
                   help="batch concurrent requests (off by default: a T2T export loses with it, an XLA one gains "
                        "1.5x with 4 clients but compiles each new batch size once: data/warm_start/README.md)")
    p.add_argument("--max_batch_size", type=int, default=8)
    p.add_argument("--num_batch_threads", type=int, default=1)
    p.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    p.add_argument("--shutdown_grace_seconds", type=float, default=10.0)
    p.add_argument("--log_level", default="INFO")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stdout,
                        format=project.LOG_FORMAT)
    logging.getLogger("absl").setLevel(logging.WARNING)
    server = ModelServer(args.model_name, args.model_base_path, args.host, args.port, args.rest_api_port,
                         args.file_system_poll_wait_seconds, args.enable_batching == "true", args.max_batch_size,
                         args.num_batch_threads, args.max_request_bytes)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    server.start()
    while not stop.wait(1.0):
        pass
    log.info("shutting down: finishing requests in flight (up to %.0f s)", args.shutdown_grace_seconds)
    clean = server.stop(args.shutdown_grace_seconds)
    log.info("shut down %s", "cleanly" if clean else "with requests still running after the grace period")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
