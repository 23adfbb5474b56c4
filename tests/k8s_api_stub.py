"""A local stand-in for the Kubernetes API server's server-side apply, for tests (no cluster is reachable here).

    with K8sApiStub() as api:                  # http://127.0.0.1:PORT, in a thread
        kubernetes.client.ApiClient(kubernetes.client.Configuration(host=api.url))  -> serving.k8s.apply(...)
        api.requests                           # [(method, path, query dict, content type, body dict or None)]
        api.objects                            # {object path: the object as last applied}

It answers PATCH /api/v1/... and /apis/GROUP/VERSION/... namespaced object paths as the API server answers an
apply: 415 unless the Content-Type is application/apply-patch+yaml, 422 without a fieldManager, 422 when the
body's kind, name or namespace do not match the path or the body fails the Kubernetes OpenAPI schema of
`version` (kubernetes-validate, strict: unknown fields are errors), else 201 (created) or 200 (updated) with the
object and its managedFields. Any other method: 405.
"""
from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse

import kubernetes_validate
import yaml

APPLY_PATCH = "application/apply-patch+yaml"
PATH = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)/namespaces/([^/]+)/([^/]+)/([^/]+)$")
PLURALS = {"deployments": "Deployment", "services": "Service", "ingresses": "Ingress"}


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
            "message": message}


class K8sApiStub:
    def __init__(self, version: str):
        self.version = version
        self.requests: list[tuple] = []
        self.objects: dict[str, dict] = {}
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _other(self):
                stub.requests.append((self.command, self.path, {}, self.headers.get("Content-Type"), None))
                self._send(405, status(405, "MethodNotAllowed", "the stand-in answers server-side apply only"))
            do_GET = do_POST = do_PUT = do_DELETE = _other

            def do_PATCH(self):
                path, _, query = self.path.partition("?")
                params = dict(urllib.parse.parse_qsl(query))
                content_type = self.headers.get("Content-Type")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = yaml.safe_load(raw) if raw else None  # an apply patch is YAML (JSON is YAML too)
                stub.requests.append(("PATCH", path, params, content_type, body))
                self._send(*stub.apply(path, params, content_type, body))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def apply(self, path: str, params: dict, content_type: str | None, body) -> tuple[int, dict]:
        if content_type != APPLY_PATCH:
            return 415, status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: ..., %s" % APPLY_PATCH)
        if not params.get("fieldManager"):
            return 422, status(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                               "value: is required for apply patch")
        m = PATH.match(path)
        if not m or not isinstance(body, dict):
            return 404, status(404, "NotFound", "no such resource path %s" % path)
        namespace, plural, name = m.groups()
        meta = body.get("metadata") or {}
        if PLURALS.get(plural) != body.get("kind") or meta.get("name") != name or \
                meta.get("namespace", namespace) != namespace:
            return 422, status(422, "Invalid", "the body's kind, name or namespace do not match the path %s" % path)
        try:
            kubernetes_validate.validate(body, self.version, strict=True)
        except kubernetes_validate.ValidationError as e:
            return 422, status(422, "Invalid", "%s: %s" % (".".join(map(str, e.path)), e.message))
        created = path not in self.objects
        obj = json.loads(json.dumps(body))
        obj["metadata"].update(namespace=namespace, managedFields=[
            {"manager": params["fieldManager"], "operation": "Apply", "apiVersion": body["apiVersion"]}])
        self.objects[path] = obj
        return (201 if created else 200), obj

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
