"""A small local HTTP server that answers like the Google Cloud Storage JSON API, for tests (no GCS reachable
here). google-cloud-storage (and so Beam's gs:// file system and data/files.py) talks to it when
STORAGE_EMULATOR_HOST is its URL (anonymous credentials, as for the official emulators).

    with GcsApiStub() as gcs:                              # http://127.0.0.1:PORT, in a thread
        gen = gcs.put("bucket", "triggers/new.json", b'{"data": ...}')   # a new generation each time
        os.environ["STORAGE_EMULATOR_HOST"] = gcs.url
        gcs.requests                                       # [(method, path with query)]

It implements what the project's clients use, with GCS's answers (404 unknown object or generation, 412 failed
precondition): GET /storage/v1/b/{bucket} (bucket metadata), GET /storage/v1/b/{bucket}/o (list: prefix,
delimiter; one page), GET .../o/{object} (metadata: size, md5Hash, crc32c, updated), GET
/download/storage/v1/b/{bucket}/o/{object}?alt=media[&generation=N] (content; a Range header gives 206 and that
part), uploads POST /upload/storage/v1/b/{bucket}/o?uploadType=media|multipart|resumable (resumable: PUT the
chunks to the session URL, 308 until the last), POST .../o/{object}/copyTo/b/{bucket}/o/{object}
(ifGenerationMatch, ifSourceGenerationMatch) and .../rewriteTo/... (done in one call), DELETE .../o/{object}
(ifGenerationMatch), and POST /batch/storage/v1 (multipart/mixed: each part one of the requests above, as
Beam's copy_batch and delete_batch send them). No versioning: an object's live generation is its newest; DELETE
removes the object.
"""
import base64
import hashlib
import http.server
import json
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, unquote, urlparse


def _crc32c(data: bytes) -> str:
    import google_crc32c
    return base64.b64encode(struct.pack(">I", google_crc32c.value(data))).decode()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing its kept-alive connection: fine
            super().handle_error(request, client_address)


class GcsApiStub:
    def __init__(self):
        self.objects = {}  # (bucket, name) -> {generation: bytes}
        self.uploads = {}  # resumable upload id -> {"bucket", "name", "data": bytearray}
        self.requests = []
        self._next_generation = int(time.time() * 1e6)
        self._lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self, method):
                stub.requests.append((method, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, data = stub.handle(method, self.path, self.headers, body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_PUT(self):
                self._serve("PUT")

            def do_DELETE(self):
                self._serve("DELETE")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]

    # ------------------------------------------------------------------ the API
    @staticmethod
    def _json(status, body, headers=None):
        return status, dict({"Content-Type": "application/json"}, **(headers or {})), json.dumps(body).encode()

    def _error(self, status, message):
        return self._json(status, {"error": {"code": status, "message": message}})

    @staticmethod
    def _parse(path):
        """(bucket, object name or None, the rest after the name or None) of a JSON API path."""
        for prefix in ("/download", "/upload"):
            if path.startswith(prefix + "/"):
                path = path[len(prefix):]
        parts = path.split("/", 6)  # '', storage, v1, b, bucket, o[, name[/copyTo/b/B/o/N]]
        if len(parts) < 5 or parts[1:4] != ["storage", "v1", "b"]:
            return None
        if len(parts) == 5:
            return parts[4], None, "bucket"
        if parts[5] != "o":
            return None
        name, rest = (parts[6].split("/", 1) + [None])[:2] if len(parts) == 7 and parts[6] else (None, None)
        return parts[4], unquote(name) if name else None, rest

    def handle(self, method, raw_path, headers, body):
        """(status, headers, body) of one request."""
        url = urlparse(raw_path)
        query = parse_qs(url.query)
        if method == "POST" and url.path == "/batch/storage/v1":
            return self._batch(headers, body)
        parsed = self._parse(url.path)
        if not parsed:
            return self._error(404, "Not Found")
        bucket, name, rest = parsed
        with self._lock:
            if rest == "bucket":
                return self._json(200, {"kind": "storage#bucket", "name": bucket, "id": bucket,
                                        "projectNumber": "1", "location": "LOCAL"})
            if url.path.startswith("/upload/"):
                return self._upload(method, bucket, query, headers, body)
            if method == "GET":
                return self._get(url.path, bucket, name, query, headers)
            if method == "POST" and rest and rest.split("/", 1)[0] in ("copyTo", "rewriteTo"):
                return self._copy(bucket, name, rest, query)
            if method == "DELETE" and name and not rest:
                return self._delete(bucket, name, query)
        return self._error(404, "Not Found")

    def _get(self, path, bucket, name, query, headers):
        if name is None:  # list the live objects
            prefix, delim = query.get("prefix", [""])[0], query.get("delimiter", [""])[0]
            items, prefixes = [], set()
            for (b, n), versions in sorted(self.objects.items()):
                if b != bucket or not n.startswith(prefix) or not versions:
                    continue
                rest = n[len(prefix):]
                if delim and delim in rest:
                    prefixes.add(prefix + rest.split(delim, 1)[0] + delim)
                else:
                    items.append(self.resource(b, n, max(versions)))
            return self._json(200, {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)})
        versions = self.objects.get((bucket, name), {})
        generation = int(query["generation"][0]) if "generation" in query else max(versions, default=None)
        if generation not in versions:
            return self._error(404, "No such object: %s/%s" % (bucket, name))
        if not (path.startswith("/download/") or query.get("alt") == ["media"]):
            return self._json(200, self.resource(bucket, name, generation))
        content = versions[generation]
        out = {"Content-Type": "application/octet-stream", "X-Goog-Generation": str(generation)}
        wanted = headers.get("Range", "")
        if wanted.startswith("bytes="):
            first, _, last = wanted[len("bytes="):].partition("-")
            first, last = int(first or 0), min(int(last) if last else len(content) - 1, len(content) - 1)
            if first >= len(content) and content:
                return 416, {"Content-Range": "bytes */%d" % len(content)}, b""
            out["Content-Range"] = "bytes %d-%d/%d" % (first, last, len(content))
            return 206, out, content[first:last + 1]
        out["X-Goog-Hash"] = "crc32c=%s,md5=%s" % (_crc32c(content),
                                                   base64.b64encode(hashlib.md5(content).digest()).decode())
        return 200, out, content

    def _copy(self, bucket, name, rest, query):
        op, _, dest_bucket, _, dest_name = rest.split("/", 4)
        dest_name = unquote(dest_name)
        source = self.objects.get((bucket, name), {})
        if not source:
            return self._error(404, "No such object: %s/%s" % (bucket, name))
        if "ifSourceGenerationMatch" in query and int(query["ifSourceGenerationMatch"][0]) != max(source):
            return self._error(412, "Precondition Failed")
        dest = self.objects.get((dest_bucket, dest_name), {})
        if "ifGenerationMatch" in query and int(query["ifGenerationMatch"][0]) != max(dest, default=0):
            return self._error(412, "Precondition Failed")
        content = source[max(source)]
        resource = self.resource(dest_bucket, dest_name, self._store(dest_bucket, dest_name, content))
        if op == "rewriteTo":
            return self._json(200, {"kind": "storage#rewriteResponse", "done": True, "resource": resource,
                                    "totalBytesRewritten": str(len(content)), "objectSize": str(len(content))})
        return self._json(200, resource)

    def _delete(self, bucket, name, query):
        versions = self.objects.get((bucket, name), {})
        if not versions:
            return self._error(404, "No such object: %s/%s" % (bucket, name))
        if "ifGenerationMatch" in query and int(query["ifGenerationMatch"][0]) != max(versions):
            return self._error(412, "Precondition Failed")
        del self.objects[(bucket, name)]
        return 204, {}, b""

    def _upload(self, method, bucket, query, headers, body):
        kind = query.get("uploadType", [""])[0]
        if method == "POST" and kind == "media":
            name = query["name"][0]
            return self._json(200, self.resource(bucket, name, self._store(bucket, name, body)))
        if method == "POST" and kind == "multipart":
            meta, content = self._multipart_related(headers.get("Content-Type", ""), body)
            name = meta.get("name") or query["name"][0]
            return self._json(200, self.resource(bucket, name, self._store(bucket, name, content)))
        if method == "POST" and kind == "resumable":
            meta = json.loads(body or b"{}")
            upload_id = "u%d" % len(self.uploads)
            self.uploads[upload_id] = {"bucket": bucket, "name": meta.get("name") or query["name"][0],
                                       "data": bytearray()}
            location = "%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s" % (self.url, bucket, upload_id)
            return 200, {"Location": location}, b""
        if method == "PUT" and kind == "resumable":
            upload = self.uploads.get(query.get("upload_id", [""])[0])
            if upload is None:
                return self._error(404, "No such upload")
            spec = headers.get("Content-Range", "bytes */*")[len("bytes "):]
            span, _, total = spec.partition("/")
            if span != "*":
                first = int(span.split("-")[0])
                del upload["data"][first:]
                upload["data"] += body
            if total != "*" and len(upload["data"]) == int(total):
                content = bytes(upload["data"])
                return self._json(200, self.resource(upload["bucket"], upload["name"],
                                                     self._store(upload["bucket"], upload["name"], content)))
            got = {"Range": "bytes=0-%d" % (len(upload["data"]) - 1)} if upload["data"] else {}
            return 308, got, b""
        return self._error(400, "uploadType %r with %s" % (kind, method))

    @staticmethod
    def _multipart_related(content_type, body):
        """(the JSON metadata, the content) of a multipart/related upload body."""
        boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
        parts = [p for p in body.split(b"--" + boundary) if p not in (b"", b"--", b"--\r\n", b"\r\n")]
        sections = []
        for part in parts:
            _, _, payload = part.partition(b"\r\n\r\n")
            sections.append(payload[:-2] if payload.endswith(b"\r\n") else payload)
        return json.loads(sections[0]), sections[1]

    def _batch(self, headers, body):
        """multipart/mixed: each part an HTTP request; the answer, one application/http part per request."""
        boundary = headers.get("Content-Type", "").split("boundary=", 1)[1].strip('"')
        text = body.decode("utf-8")
        answers = []
        for i, part in enumerate(p for p in text.split("--" + boundary) if p.strip() not in ("", "--")):
            _, _, request = part.lstrip("\r\n").partition("\n\n") if "\r\n\r\n" not in part else \
                part.lstrip("\r\n").partition("\r\n\r\n")
            head, _, sub_body = request.replace("\r\n", "\n").partition("\n\n")
            request_line = head.split("\n", 1)[0]
            method, uri = request_line.split(" ")[:2]
            parsed = urlparse(uri)
            path = parsed.path + ("?" + parsed.query if parsed.query else "")
            self.requests.append((method, path))
            status, out_headers, data = self.handle(method, path, {}, sub_body.strip().encode())
            reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("",))[0]
            lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % kv for kv in out_headers.items()]
            answers.append("Content-Type: application/http\r\nContent-ID: <response-%d>\r\n\r\n%s\r\n\r\n%s\r\n"
                           % (i + 1, "\r\n".join(lines), data.decode("utf-8")))
        out_boundary = "batch_stub_boundary"
        payload = "".join("--%s\r\n%s" % (out_boundary, a) for a in answers) + "--%s--\r\n" % out_boundary
        return 200, {"Content-Type": "multipart/mixed; boundary=%s" % out_boundary}, payload.encode()

    # ------------------------------------------------------------------ the tests' side
    def resource(self, bucket: str, name: str, generation: int) -> dict:
        content = self.objects[(bucket, name)][generation]
        updated = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(generation / 1e6))
        return {"kind": "storage#object", "bucket": bucket, "name": name, "generation": str(generation),
                "metageneration": "1", "size": str(len(content)), "contentType": "application/json",
                "md5Hash": base64.b64encode(hashlib.md5(content).digest()).decode(), "crc32c": _crc32c(content),
                "updated": updated, "timeCreated": updated, "id": "%s/%s/%d" % (bucket, name, generation)}

    def live(self, bucket: str, prefix: str = "") -> dict:
        """{name: content} of the bucket's objects under prefix."""
        return {n: v[max(v)] for (b, n), v in self.objects.items() if b == bucket and n.startswith(prefix) and v}

    def put(self, bucket: str, name: str, content: bytes) -> int:
        """Stores a new generation of the object; returns its generation number."""
        with self._lock:
            return self._store(bucket, name, content)

    def _store(self, bucket: str, name: str, content: bytes) -> int:
        self._next_generation += 1
        self.objects.setdefault((bucket, name), {})[self._next_generation] = content
        return self._next_generation

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
