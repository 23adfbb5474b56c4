"""Locust load test of the REST predict endpoint with real issue bodies (from the bundled sample).

Run it through `python -m serving.load_test` (it encodes the bodies with the model's vocabulary into
$GHSUMM_LOCUST_REQUESTS, one REST predict body per line, so this file needs neither TensorFlow nor the
vocabulary). Model name: $GHSUMM_MODEL_NAME (default ghsumm).
"""
import itertools
import os

from locust import HttpUser, constant, task

MODEL_NAME = os.environ.get("GHSUMM_MODEL_NAME", "ghsumm")
with open(os.environ["GHSUMM_LOCUST_REQUESTS"], encoding="utf-8") as _f:
    REQUESTS = [line.strip() for line in _f if line.strip()]
_next = itertools.cycle(range(len(REQUESTS)))


class TitleUser(HttpUser):
    wait_time = constant(0)  # each user sends its next issue as soon as it has a title: a closed loop

    @task
    def predict(self):
        body = REQUESTS[next(_next)]
        with self.client.post("/v1/models/%s:predict" % MODEL_NAME, data=body, name="predict",
                              headers={"Content-Type": "application/json"}, catch_response=True) as r:
            if r.status_code != 200:
                r.failure("HTTP %d: %s" % (r.status_code, r.text[:200]))
                return
            try:
                predictions = r.json()["predictions"]
                if not predictions or "outputs" not in predictions[0]:
                    raise ValueError("no outputs")
            except (ValueError, KeyError, TypeError) as e:
                r.failure("bad predict response: %s" % e)
