"""The one client for the title model: issue text in, title out, over TF Serving's REST or gRPC protocol.

    client = TitleClient("http://127.0.0.1:8501", vocab_path=".../vocab.github_issue_summarization.8192.subwords")
    title = client.generate(body)   # .title, .score, .model_version, .candidates
    TitleClient("127.0.0.1:8500", protocol="grpc", vocab_path=...)    # same answers over gRPC

Works against serving/model_server.py and against a real tensorflow/serving (over REST the version comes from
our server's X-Model-Version header, so it is None with tensorflow/serving). The body is cleaned exactly as for
training (data.clean.clean_body), encoded with the run's SubwordTextEncoder, cut to max_input_ids, ended with
EOS, and sent as a serialized tf.train.Example with an int64 "inputs" feature (what the T2T export parses).
Connection failures and 502/503/504 / UNAVAILABLE are retried with exponential backoff; then ServerDown.
Unknown model or version: ModelNotFound. Anything else unexpected: BadResponse (with the server's message).
An export that decodes by minimum Bayes risk also answers its ranked candidate titles (trainer/export.py); a
Title's `candidates` are then the distinct ones with their scores, the title first (else empty).
"""
from __future__ import annotations

import base64
import collections
import os
import re
import time

import requests

from data import contract, files
from data.titles import finish_title, tokens, truecase

DEFAULT_MAX_INPUT_IDS = 512


class ServingError(Exception):
    """Base of the client's errors."""


class ServerDown(ServingError):
    """The server cannot be reached (after the retries) or did not answer in time."""


class ModelNotFound(ServingError):
    """The server does not serve this model name (or version)."""


class BadResponse(ServingError):
    """The server answered, but not with a usable prediction (its message, if any, is included)."""


class _Transient(Exception):
    """Internal: worth retrying."""


# candidates: ((title, score), ...) distinct, in the model's order, the title first; () when the model has none
Title = collections.namedtuple("Title", "title score model_version candidates", defaults=((),))
CANDIDATES, CANDIDATE_SCORES = "candidates", "candidate_scores"  # the export's optional outputs


class Codec:
    """Issue text <-> the model's ids and serialized tf.train.Example, with the run's subword vocabulary."""

    def __init__(self, vocab_path: str, max_input_ids: int = DEFAULT_MAX_INPUT_IDS):
        from tensor2tensor.data_generators import text_encoder  # imports TensorFlow: ~7 s, once
        with files.tf_path(vocab_path) as path:  # T2T reads through TF's file system (local or real GCS)
            self.encoder = text_encoder.SubwordTextEncoder(path)
        self.max_input_ids = max_input_ids

    def encode(self, body: str) -> list[int]:
        from data.clean import clean_body
        return contract.serving_input_ids(self.encoder, clean_body(body or ""), self.max_input_ids)

    def example(self, body: str) -> bytes:
        from tensorflow.core.example import example_pb2
        ex = example_pb2.Example()
        ex.features.feature[contract.INPUTS_FEATURE].int64_list.value.extend(self.encode(body))
        return ex.SerializeToString()

    def decode(self, ids) -> str:
        return ids_to_title(self.encoder, ids)


def ids_to_title(encoder, ids) -> str:
    """The model's output ids -> the title: up to the first EOS, padding dropped, then tidy_title and
    data.titles.finish_title (no dangling end). The one decoding used by the web app, the pipeline's sample
    request and the evaluation alike. (The web app's client also truecases it from the issue's text.)"""
    return finish_title(tidy_title(encoder.decode(contract.output_ids(ids))))


_LOOP = re.compile(r"(\S{2,}?)\1{2,}")  # a piece of 2+ characters three or more times back to back


MAX_LOOP_WORDS = 4  # the longest run of words collapsed when it repeats back to back


def tidy_title(text: str) -> str:
    """Collapses words repeated back to back ("a user user user" -> "a user"; "disk fill via disk fill via" ->
    "disk fill via", runs of up to MAX_LOOP_WORDS words) and a piece repeated inside a word
    ("go/analysis/analysis/analysis/" -> "go/analysis/"): T2T's beam search has no repetition penalty, and a small
    model loops. (data.titles.finish_title then drops a dangling end.)"""
    text = _LOOP.sub(lambda m: m.group(1) if any(c.isalpha() for c in m.group(1)) else m.group(0), text)
    words: list = []
    keys: list = []  # the words without the quotes and brackets around them, as compared
    for word in text.split():
        words.append(word)
        keys.append(word.strip("\"'`()[]{}"))
        for n in range(1, MAX_LOOP_WORDS + 1):
            if len(keys) >= 2 * n and keys[-n:] == keys[-2 * n:-n]:
                del words[-n:], keys[-n:]
                break
    return " ".join(words)


def distinct(titles) -> tuple:
    """(title, score) pairs without the empty titles and the repeats (the same words, whatever their case and
    punctuation: "Crash on start." repeats "crash on start"): the first of each stays."""
    out, seen = [], set()
    for title, score in titles:
        words = tuple(tokens(title))
        if words and words not in seen:
            seen.add(words)
            out.append((title, score))
    return tuple(out)


_VOCAB = contract.VOCAB_FILE_PATTERN


def find_vocab(model_base_path: str) -> str | None:
    """assets.extra/vocab.*.subwords of the newest numbered version under model_base_path that has one."""
    from serving import versions
    try:
        numbers = versions.versions(model_base_path)
    except OSError:
        return None
    for v in reversed(numbers):
        extra = os.path.join(model_base_path, str(v), contract.ASSETS_EXTRA)
        try:
            names = files.listdir(extra)
        except OSError:
            continue
        for name in sorted(names):
            if _VOCAB.match(name):
                return os.path.join(extra, name)
    return None


def rest_predict_body(examples: list[bytes]) -> dict:
    """The REST predict request (row format) for serialized Examples."""
    return {"instances": [{"input": {"b64": base64.b64encode(e).decode("ascii")}} for e in examples]}


class RestTransport:
    def __init__(self, address: str, model_name: str, version: int | None, timeout: float):
        self.base = (address if "://" in address else "http://" + address).rstrip("/")
        self.model = "%s/v1/models/%s%s" % (self.base, model_name, "/versions/%d" % version if version else "")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, url: str, **kw):
        try:
            r = self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.exceptions.ConnectionError as e:  # refused, reset, DNS, connect timeout
            raise _Transient("cannot reach %s: %s" % (self.base, e)) from None
        except requests.exceptions.Timeout:
            raise ServerDown("no answer from %s within %.1f s" % (self.base, self.timeout)) from None
        try:
            payload = r.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if r.status_code in (502, 503, 504):
            raise _Transient("%s answered %d: %s" % (self.base, r.status_code, error or r.text[:200]))
        if r.status_code == 404:
            raise ModelNotFound(error or "404 from %s" % url)
        if r.status_code != 200 or not isinstance(payload, dict):
            raise BadResponse("%s answered %d: %s" % (url, r.status_code, error or r.text[:200]))
        return r, payload

    def predict(self, examples: list[bytes]):
        r, payload = self._call("POST", self.model + ":predict", json=rest_predict_body(examples))
        try:
            rows = [(p["outputs"], float(p["scores"]), list(zip(p.get(CANDIDATES, []), p.get(CANDIDATE_SCORES, []))))
                    for p in payload["predictions"]]
        except (KeyError, TypeError, ValueError) as e:
            raise BadResponse("unexpected predict response (%s): %s" % (e, str(payload)[:200])) from None
        version = r.headers.get("X-Model-Version")
        return rows, int(version) if version and version.isdigit() else None

    def status(self) -> list[dict]:
        return self._call("GET", self.model)[1].get("model_version_status", [])

    def close(self):
        self.session.close()


class GrpcTransport:
    def __init__(self, address: str, model_name: str, version: int | None, timeout: float):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
        self.grpc = grpc
        self.address = address.split("://", 1)[-1]
        self.model_name, self.version, self.timeout = model_name, version, timeout
        self.channel = grpc.insecure_channel(self.address)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _spec(self, spec):
        spec.name = self.model_name
        if self.version:
            spec.version.value = self.version

    def _call(self, method, request):
        grpc = self.grpc
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise _Transient("cannot reach %s: %s" % (self.address, details)) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ServerDown("no answer from %s within %.1f s" % (self.address, self.timeout)) from None
            if code == grpc.StatusCode.NOT_FOUND:
                raise ModelNotFound(details) from None
            raise BadResponse("%s answered %s: %s" % (self.address, code.name, details)) from None

    def predict(self, examples: list[bytes]):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec)
        request.model_spec.signature_name = "serving_default"
        request.inputs["input"].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))
        response = self._call(self.predictions.Predict, request)
        try:
            outputs = tf.make_ndarray(response.outputs["outputs"])
            scores = tf.make_ndarray(response.outputs["scores"])
            candidates = [[]] * len(examples)
            if CANDIDATES in response.outputs and CANDIDATE_SCORES in response.outputs:
                candidates = [list(zip(ids, s)) for ids, s in zip(tf.make_ndarray(response.outputs[CANDIDATES]),
                                                                 tf.make_ndarray(response.outputs[CANDIDATE_SCORES]))]
            rows = [(list(outputs[i]), float(scores[i]), candidates[i]) for i in range(len(examples))]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise BadResponse("unexpected predict response: %s" % e) from None
        return rows, response.model_spec.version.value if response.model_spec.HasField("version") else None

    def status(self) -> list[dict]:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        response = self._call(self.models.GetModelStatus, request)
        return json_format.MessageToDict(response, preserving_proto_field_name=True,
                                      always_print_fields_with_no_presence=True).get("model_version_status", [])

    def close(self):
        self.channel.close()


class TitleClient:
    """Text in, title out; see the module docstring. `codec` may be shared between clients (one vocabulary load)."""

    def __init__(self, address: str, protocol: str = "rest", model_name: str = "ghsumm", vocab_path: str | None = None,
                 codec: Codec | None = None, version: int | None = None, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.25, max_input_ids: int = DEFAULT_MAX_INPUT_IDS):
        if protocol not in ("rest", "grpc"):
            raise ValueError("protocol must be 'rest' or 'grpc', not %r" % protocol)
        if codec is None and vocab_path is None:
            raise ValueError("give vocab_path (the run's vocab.*.subwords) or a Codec")
        self.codec = codec or Codec(vocab_path, max_input_ids)
        transport = RestTransport if protocol == "rest" else GrpcTransport
        self.transport = transport(address, model_name, version, timeout)
        self.protocol, self.retries, self.backoff = protocol, retries, backoff

    def _with_retries(self, call):
        for attempt in range(self.retries + 1):
            try:
                return call()
            except _Transient as e:
                if attempt == self.retries:
                    raise ServerDown("%s (after %d attempts)" % (e, attempt + 1)) from None
                time.sleep(self.backoff * 2 ** attempt)

    def generate_many(self, bodies: list[str]) -> list[Title]:
        examples = [self.codec.example(b) for b in bodies]
        rows, version = self._with_retries(lambda: self.transport.predict(examples))
        titles = []
        for (ids, score, candidates), body in zip(rows, bodies, strict=True):
            title = truecase(self.codec.decode(ids), body)
            ranked = [(truecase(self.codec.decode(c), body), float(s)) for c, s in candidates]
            titles.append(Title(title, score, version, distinct([(title, score)] + ranked) if ranked else ()))
        return titles

    def generate(self, body: str) -> Title:
        return self.generate_many([body])[0]

    def status(self) -> list[dict]:
        """The model's version status (TF Serving's model_version_status entries)."""
        return self._with_retries(self.transport.status)

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
