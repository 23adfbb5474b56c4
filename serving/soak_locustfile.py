"""Locust users of the soak test (serving/soak.py): each asks the web app for titles of real issue bodies, in a closed
loop, and appends every request to $GHSUMM_SOAK_LOG as one JSON line {"start", "end" (Unix times), "status",
"code" (the error code the web app answered, or a connection error's name), "message"}, so that soak.py can place
every failure against the outage window. Bodies: $GHSUMM_SOAK_BODIES, a JSON list of strings.
"""
import itertools
import json
import os
import threading
import time

from locust import HttpUser, constant, task

with open(os.environ["GHSUMM_SOAK_BODIES"], encoding="utf-8") as _f:
    BODIES = json.load(_f)
_next = itertools.cycle(range(len(BODIES)))
_log = open(os.environ["GHSUMM_SOAK_LOG"], "a", encoding="utf-8", buffering=1)
_lock = threading.Lock()


class TitleUser(HttpUser):
    wait_time = constant(0.2)

    @task
    def summarize(self):
        start = time.time()
        with self.client.post("/api/summarize", json={"body": BODIES[next(_next)]}, name="/api/summarize",
                              catch_response=True, timeout=60) as r:
            code, message = "", ""
            if r.status_code != 200:
                try:
                    answer = r.json()
                    code, message = answer.get("code", ""), answer.get("error", "")
                except (ValueError, AttributeError):
                    code = type(r.error).__name__ if r.error else "not_json"
                r.failure("HTTP %d %s" % (r.status_code, code))
            line = json.dumps({"start": start, "end": time.time(), "status": r.status_code, "code": code,
                               "message": message[:200]})
        with _lock:
            _log.write(line + "\n")
