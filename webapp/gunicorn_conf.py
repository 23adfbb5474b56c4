"""gunicorn's settings for the web app: the metrics of all its worker processes in one /metrics.

    gunicorn -c python:webapp.gunicorn_conf -w 2 -b 0.0.0.0:8080 'webapp:create_app()'

Each gunicorn worker is a process with its own memory, and a Prometheus scrape of /metrics reaches one of them.
prometheus-client's multiprocess mode makes the answer cover them all: every process writes its values to files
in the directory PROMETHEUS_MULTIPROC_DIR names, and /metrics adds them up (webapp/metrics.py). This module, read
by gunicorn's master before it starts a worker:
- uses PROMETHEUS_MULTIPROC_DIR when it is set (e.g. an emptyDir on Kubernetes), else makes a temporary directory
  and sets the variable, which the workers inherit (prometheus-client reads it when it is imported);
- empties the directory when gunicorn starts (values of an earlier server would otherwise be added in) and
  removes a directory it made when gunicorn exits;
- tells prometheus-client when a worker exits (mark_process_dead: what live gauges need; the counts of an exited
  worker stay in the totals).
The command-line flags (-w, -b, --timeout, ...) work as usual beside it.
"""
import glob
import os
import shutil
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # webapp.metrics.MULTIPROC_ENV (not imported: that would import Flask here)

_made = not os.environ.get(MULTIPROC_ENV)
if _made:
    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="ghsumm-webapp-metrics-")


def on_starting(server):
    path = os.environ[MULTIPROC_ENV]
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    server.log.info("metrics of all workers: prometheus-client multiprocess mode in %s", path)


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made:
        shutil.rmtree(os.environ[MULTIPROC_ENV], ignore_errors=True)
