"""A local recording endpoint that answers like the Kubeflow Pipelines v2beta1 REST API as far as kfp.Client needs
(healthz, experiments list/create, runs create/list, recurring runs), plus an OAuth token endpoint and a fake GCE
metadata server on the same port for the service-account key file and metadata-server token paths (no network:
a key file's token_uri and GCE_METADATA_HOST/IP point here). No cluster is reachable here.

    with serve() as url:            # http://127.0.0.1:PORT, in a thread
        Recorder.reset()
        kfp.Client(host=url) ...
        Recorder.requests           # [(method, path, headers (lower-case names), json body or None)]
        Recorder.runs               # the runs created since the reset, in order (run-1, run-2, ...)

Used by tests/test_pipeline_submit.py and tests/test_trigger.py.
"""
import base64
import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN = "s3cr3t-kfp-token-0123456789"
META_TOKEN = "m3tadata-access-token-9876"
SA_TOKEN = "sa-access-token-5555"


def _jwt(claims: dict) -> str:
    """An unsigned JWT (google-auth reads an ID token's expiry without checking its signature)."""
    def part(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return "%s.%s.c2ln" % (part({"alg": "RS256", "typ": "JWT"}), part(claims))


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def id_token(audience: str, source: str) -> str:
    """The ID token the stub issues for an audience, from "metadata" or "key" (a service-account key file)."""
    return _jwt({"aud": audience, "iss": source, "exp": 4102444800, "iat": 1700000000})


def _filter_value(query: dict):
    """The stringValue of a list call's first filter predicate (kfp.Client's display_name EQUALS), or None."""
    if "filter" not in query:
        return None
    return json.loads(query["filter"][0])["predicates"][0]["stringValue"]


class Recorder(BaseHTTPRequestHandler):
    requests = []  # (method, path, headers (lower-case names), json body or None), reset per test
    experiments = {}
    runs = []

    @classmethod
    def reset(cls):
        cls.requests, cls.experiments, cls.runs = [], {}, []

    def log_message(self, *args):
        pass

    def _answer(self, body, status=200, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = parse_qs(raw.decode())
        Recorder.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        return urlparse(self.path), body

    def do_GET(self):
        url, _ = self._record()
        flavor = [("Metadata-Flavor", "Google")]
        if url.path == "/apis/v2beta1/healthz":
            return self._answer({"multi_user": False})
        if url.path == "/apis/v2beta1/experiments":
            name = _filter_value(parse_qs(url.query))
            found = [e for e in Recorder.experiments.values() if e["display_name"] == name]
            return self._answer({"experiments": found, "total_size": len(found)} if found else {})
        if url.path == "/apis/v2beta1/runs":
            name = _filter_value(parse_qs(url.query))
            found = [r for r in Recorder.runs if name is None or r["display_name"] == name]
            return self._answer({"runs": found, "total_size": len(found)} if found else {})
        if url.path in ("/", "/computeMetadata/v1/"):  # google-auth's metadata-server probe
            return self._answer({}, headers=flavor)
        if url.path.startswith("/computeMetadata/v1/instance/service-accounts/default"):
            if url.path.endswith("/identity"):  # an ID token, as text
                data = id_token(parse_qs(url.query)["audience"][0], "metadata").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            if url.path.endswith("/token"):
                return self._answer({"access_token": META_TOKEN, "expires_in": 3600, "token_type": "Bearer"},
                                    headers=flavor)
            return self._answer({"email": "vm@example.iam.gserviceaccount.com", "scopes": [
                "https://www.googleapis.com/auth/cloud-platform"], "aliases": ["default"]}, headers=flavor)
        self._answer({"error": "not recorded: %s" % url.path}, status=404)

    def do_POST(self):
        url, body = self._record()
        if url.path == "/apis/v2beta1/experiments":
            exp = {"experiment_id": "exp-%d" % (len(Recorder.experiments) + 1), "display_name": body["display_name"]}
            Recorder.experiments[exp["experiment_id"]] = exp
            return self._answer(exp)
        if url.path == "/apis/v2beta1/runs":
            run = {"run_id": "run-%d" % (len(Recorder.runs) + 1), "display_name": body.get("display_name"),
                   "experiment_id": body.get("experiment_id"), "state": "PENDING"}
            Recorder.runs.append(run)
            return self._answer(run)
        if url.path == "/apis/v2beta1/recurringruns":
            return self._answer({"recurring_run_id": "rr-1", "display_name": body.get("display_name"),
                                 "experiment_id": body.get("experiment_id"), "mode": "ENABLE"})
        if url.path == "/oauth2/token":  # a service-account key file's token_uri
            audience = _claims(body["assertion"][0]).get("target_audience")
            if audience:  # an ID token grant
                return self._answer({"id_token": id_token(audience, "key")})
            return self._answer({"access_token": SA_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        self._answer({"error": "not recorded: %s" % url.path}, status=404)


@contextlib.contextmanager
def serve():
    """The recording endpoint in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
