"""A small local HTTP server that answers like the Google Cloud Storage JSON API for object reads, for tests (no
GCS reachable here). google-cloud-storage talks to it when STORAGE_EMULATOR_HOST is its URL (anonymous
credentials, as for the official emulators).

    with GcsApiStub() as gcs:                              # http://127.0.0.1:PORT, in a thread
        gen = gcs.put("bucket", "triggers/new.json", b'{"data": ...}')   # a new generation each time
        os.environ["STORAGE_EMULATOR_HOST"] = gcs.url
        gcs.requests                                       # [(method, path with query)]

It implements what a trigger reader and the watcher's gs:// claim use, with GCS's answers (404 unknown object or
generation, 412 failed precondition): GET /storage/v1/b/{bucket}/o (list: prefix, delimiter), GET .../o/{object}
(metadata), GET /download/storage/v1/b/{bucket}/o/{object}?alt=media[&generation=N] (content), POST
.../o/{object}/copyTo/b/{bucket}/o/{object} (ifGenerationMatch, ifSourceGenerationMatch) and DELETE .../o/{object}
(ifGenerationMatch). No versioning: an object's live generation is its newest; DELETE removes the object.
"""
import http.server
import json
import threading
import time
from urllib.parse import parse_qs, unquote, urlparse


class GcsApiStub:
    def __init__(self):
        self.objects = {}  # (bucket, name) -> {generation: bytes}
        self.requests = []
        self._next_generation = int(time.time() * 1e6)
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json"):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status, message):
                return self._send(status, {"error": {"code": status, "message": message}})

            def _parse(self):
                """(bucket, object name or None, the rest after the name or None, query) of a JSON API path."""
                url = urlparse(self.path)
                path = url.path[len("/download"):] if url.path.startswith("/download/") else url.path
                parts = path.split("/", 6)  # '', storage, v1, b, bucket, o[, name[/copyTo/b/B/o/N]]
                if len(parts) < 6 or parts[1:4] != ["storage", "v1", "b"] or parts[5] != "o":
                    return None
                name, rest = (parts[6].split("/", 1) + [None])[:2] if len(parts) == 7 else (None, None)
                return parts[4], unquote(name) if name else None, rest, parse_qs(url.query)

            def do_GET(self):
                stub.requests.append(("GET", self.path))
                parsed = self._parse()
                if not parsed:
                    return self._error(404, "Not Found")
                bucket, name, _, query = parsed
                if name is None:  # list the live objects
                    prefix, delim = query.get("prefix", [""])[0], query.get("delimiter", [""])[0]
                    items, prefixes = [], set()
                    for (b, n), versions in sorted(stub.objects.items()):
                        if b != bucket or not n.startswith(prefix) or not versions:
                            continue
                        rest = n[len(prefix):]
                        if delim and delim in rest:
                            prefixes.add(prefix + rest.split(delim, 1)[0] + delim)
                        else:
                            items.append(stub.resource(b, n, max(versions)))
                    return self._send(200, {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)})
                versions = stub.objects.get((bucket, name), {})
                generation = int(query["generation"][0]) if "generation" in query else max(versions, default=None)
                if generation not in versions:
                    return self._error(404, "No such object: %s/%s" % (bucket, name))
                if self.path.startswith("/download/") or query.get("alt") == ["media"]:
                    return self._send(200, versions[generation], "application/octet-stream")
                return self._send(200, stub.resource(bucket, name, generation))

            def do_POST(self):
                stub.requests.append(("POST", self.path))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parsed = self._parse()
                if not parsed or not parsed[2] or not parsed[2].startswith("copyTo/b/"):
                    return self._error(404, "Not Found")
                bucket, name, rest, query = parsed
                _, _, dest_bucket, _, dest_name = rest.split("/", 4)
                dest_name = unquote(dest_name)
                source = stub.objects.get((bucket, name), {})
                if not source:
                    return self._error(404, "No such object: %s/%s" % (bucket, name))
                if "ifSourceGenerationMatch" in query and int(query["ifSourceGenerationMatch"][0]) != max(source):
                    return self._error(412, "Precondition Failed")
                dest = stub.objects.get((dest_bucket, dest_name), {})
                if "ifGenerationMatch" in query and int(query["ifGenerationMatch"][0]) != max(dest, default=0):
                    return self._error(412, "Precondition Failed")
                generation = stub.put(dest_bucket, dest_name, source[max(source)])
                return self._send(200, stub.resource(dest_bucket, dest_name, generation))

            def do_DELETE(self):
                stub.requests.append(("DELETE", self.path))
                parsed = self._parse()
                if not parsed or not parsed[1] or parsed[2]:
                    return self._error(404, "Not Found")
                bucket, name, _, query = parsed
                versions = stub.objects.get((bucket, name), {})
                if not versions:
                    return self._error(404, "No such object: %s/%s" % (bucket, name))
                if "ifGenerationMatch" in query and int(query["ifGenerationMatch"][0]) != max(versions):
                    return self._error(412, "Precondition Failed")
                del stub.objects[(bucket, name)]
                self.send_response(204)
                self.end_headers()

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]

    def resource(self, bucket: str, name: str, generation: int) -> dict:
        content = self.objects[(bucket, name)][generation]
        return {"kind": "storage#object", "bucket": bucket, "name": name, "generation": str(generation),
                "metageneration": "1", "size": str(len(content)), "contentType": "application/json"}

    def live(self, bucket: str, prefix: str = "") -> dict:
        """{name: content} of the bucket's objects under prefix."""
        return {n: v[max(v)] for (b, n), v in self.objects.items() if b == bucket and n.startswith(prefix) and v}

    def put(self, bucket: str, name: str, content: bytes) -> int:
        """Stores a new generation of the object; returns its generation number."""
        self._next_generation += 1
        self.objects.setdefault((bucket, name), {})[self._next_generation] = content
        return self._next_generation

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
