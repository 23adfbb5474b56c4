"""The web app's Prometheus metrics, served at GET /metrics.

    ghsumm_webapp_requests_total{route, method, status}   every request, by Flask route (the rule, e.g.
                                        /api/summarize; "<unmatched>" for a path no route has) and HTTP status
    ghsumm_webapp_model_server_latency_seconds{call, outcome}   histogram of the calls to the model server:
                                        call title (a title: the page, the API, the webhook) or status (/healthz);
                                        outcome ok, server_down, model_not_found or bad_response
    ghsumm_webapp_github_rate_limit_wait_seconds{source}   histogram of the waits GitHub's rate limit imposed:
                                        source page (a person was answered 429 with Retry-After) or webhook (a
                                        comment was put off until the reset); _count: how many, _sum: how long

Under gunicorn every worker is a process of its own, and a scrape reaches one of them. With PROMETHEUS_MULTIPROC_DIR
set (webapp/gunicorn_conf.py sets it up), prometheus-client keeps each process's values in files there and
/metrics adds up all the workers, the ones that have exited included. Without it (python -m webapp, tests) the
values live in the app's own registry, with the process's CPU and memory beside them.
"""
from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (1, 10, 60, 300, 900, 1800, 3600)
UNMATCHED = "<unmatched>"


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


class WebMetrics:
    """The metrics of one app (create_app makes one): in a registry of its own, so apps made side by side in
    one process (tests) count separately."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("ghsumm_webapp_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.model_server = Histogram("ghsumm_webapp_model_server_latency_seconds", "Calls to the model server",
                                      ["call", "outcome"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rate_limit_waits = Histogram("ghsumm_webapp_github_rate_limit_wait_seconds",
                                          "Waits imposed by GitHub's API rate limit", ["source"],
                                          buckets=WAIT_BUCKETS, registry=self.registry)
        if not multiprocess_dir():
            ProcessCollector(registry=self.registry)

    def request(self, rule: str | None, method: str, status: int) -> None:
        self.requests.labels(rule or UNMATCHED, method, str(status)).inc()

    def model_call(self, call: str, outcome: str, start: float) -> None:
        """One call to the model server that began at time.perf_counter() == start."""
        self.model_server.labels(call, outcome).observe(time.perf_counter() - start)

    def rate_limit_wait(self, source: str, seconds: float) -> None:
        self.rate_limit_waits.labels(source).observe(max(0.0, seconds))

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) of a scrape (Prometheus' text format, or OpenMetrics when asked for): every
        worker's values in multiprocess mode, else this app's."""
        registry = self.registry
        if multiprocess_dir():
            from prometheus_client import multiprocess
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type
