"""Shared pytest fixtures. Each group is for the tests named in its heading; add new groups below, separately."""
import csv
import io
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# ================================================================ data/ package
# (tests/test_readers.py, test_clean.py, test_preprocess.py, test_vocab.py)
#
# Real rows of the bundled Kaggle/BigQuery sample, data/sample/github_issues.csv (columns: index, issue_url,
# issue_title, body; issue_url carries the dump's stray double quotes). Every other input shape the tests need
# is built from these rows' text.

SAMPLE_CSV = REPO / "data" / "sample" / "github_issues.csv"
KAGGLE_HEADER = ["", "issue_url", "issue_title", "body"]


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    assert SAMPLE_CSV.exists(), f"bundled sample missing: {SAMPLE_CSV}"
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def sample_rows(sample_csv) -> list:
    """The sample's records as dicts: index, issue_url (as stored, with its quotes), url (clean), title, body."""
    with open(sample_csv, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == KAGGLE_HEADER
        rows = [{"index": index, "issue_url": issue_url, "url": issue_url.strip('"'), "title": title, "body": body}
                for index, issue_url, title, body in reader]
    assert len(rows) == 2000
    return rows


def _kaggle_csv_text(rows, extra_lines=()) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KAGGLE_HEADER)
    for row in rows:
        writer.writerow([row["index"], row["issue_url"], row["title"], row["body"]])
    return out.getvalue() + "".join(line if line.endswith("\n") else line + "\n" for line in extra_lines)


@pytest.fixture(scope="session")
def kaggle_csv_text():
    """kaggle_csv_text(rows, extra_lines=()) -> the text of a Kaggle-format CSV of those sample rows, the dump's
    header first, then each of extra_lines (raw CSV lines, for malformed rows) as is."""
    return _kaggle_csv_text


@pytest.fixture(scope="session")
def write_kaggle_csv():
    """write_kaggle_csv(path, rows, extra_lines=()) writes a Kaggle-format CSV of sample rows; returns the path."""
    def write(path, rows, extra_lines=()):
        path = Path(path)
        path.write_text(_kaggle_csv_text(rows, extra_lines), encoding="utf-8", newline="")
        return path
    return write


# ================================================================ preprocessed data and the t2t environment
# (tests/test_t2t_trainer.py, test_trainer.py, and any test that needs a T2T data dir or the t2t interpreter)

T2T_PYTHON = os.environ.get("GHSUMM_T2T_PYTHON") or str(REPO / ".venv" / "t2t" / "bin" / "python")


def run_t2t(args, timeout=900, **kwargs):
    """Runs the t2t environment's interpreter with the repo importable (as the pipeline does); returns the
    CompletedProcess with stdout and stderr together in .stdout."""
    assert Path(T2T_PYTHON).exists(), f"t2t environment missing at {T2T_PYTHON} (make test creates it)"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([T2T_PYTHON] + [str(a) for a in args], cwd=REPO, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def check_ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}; output tail:\n{proc.stdout[-6000:]}"
    return proc


@pytest.fixture(scope="session")
def preprocessed_sample(tmp_path_factory) -> Path:
    """The preprocessing job's real output (Beam, its local runner) on the first 300 issues of the bundled sample,
    with 2 train shards: a T2T data dir for problem github_issue_summarization."""
    from data import preprocess
    root = tmp_path_factory.mktemp("preprocessed_sample")
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:301]
    with open(root / "issues.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    out = root / "data"
    stats = preprocess.run(["--input", str(root / "issues.csv"), "--output_dir", str(out), "--train_shards", "2"])
    assert stats["steps"]["train"] > 200 and stats["steps"]["eval"] > 10
    return out


# ================================================================ a tiny exported SavedModel
# (tests/test_evaluate.py, test_serving.py, and any test that needs a real SavedModel with T2T's serving signature)
#
# The project's trainer on `preprocessed_sample`: `python -m trainer train` for 5 steps of the tiny set, then
# `python -m trainer export` (beam 4, alpha 0.6) into a model base path. Its titles are junk; every part is real.
# About a minute on 2 cores, once per session.

@pytest.fixture(scope="session")
def tiny_saved_model(preprocessed_sample, tmp_path_factory) -> Path:
    """The SavedModel version directory (<base path>/5/, with assets.extra/ holding the vocabulary and model
    card) of a 5-step tiny transformer trained on preprocessed_sample (whose vocabulary it uses)."""
    from benchmarks.tiny_model import train_and_export
    return Path(train_and_export(str(preprocessed_sample), str(tmp_path_factory.mktemp("tiny_saved_model"))))


# ================================================================ serving/ package
# (tests/test_serving.py)
#
# The tiny real model above (tiny_saved_model, built once per session) with its vocabulary from
# preprocessed_sample. Its titles are junk; its vocabulary and predict signature are the real ones.

@pytest.fixture(scope="session")
def tiny_title_model(tiny_saved_model, preprocessed_sample):
    """(export dir of the SavedModel, vocabulary path), as strings."""
    from benchmarks.tiny_model import VOCAB_NAME
    vocab = preprocessed_sample / VOCAB_NAME
    assert vocab.exists(), vocab
    return str(tiny_saved_model), str(vocab)


# ================================================================ web app
# (tests/test_webapp.py, test_webapp_browser.py)
#
# The real model server (serving/launch.py's ServerProcess) on the tiny SavedModel, published as version 5 of
# its own base path, once per session; a stub model server speaking TF Serving's REST protocol that answers
# chosen token ids (to make "the model" say markup, or answer garbage); the environment cleared of the web
# app's variables, so a developer's GITHUB_TOKEN or GHSUMM_* never leaks into a test. GitHub's API is
# tests/github_api_stub.py.

def _webapp_env_vars() -> tuple:
    from webapp.config import Settings  # the one list of the web app's variables (webhook ones included)
    return tuple(Settings.ENV.values())


WEBAPP_ENV_VARS = _webapp_env_vars()


@pytest.fixture
def clean_webapp_env(monkeypatch):
    for var in WEBAPP_ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def webapp_model_server(tiny_saved_model, tmp_path_factory):
    """A running model server (REST and gRPC) serving the tiny model as version 5 of base_path; yields
    (ServerProcess, base_path)."""
    from serving.launch import ServerProcess
    from benchmarks.tiny_model import publish_version
    root = tmp_path_factory.mktemp("webapp_models")
    base = root / "ghsumm"
    publish_version(str(tiny_saved_model), str(base), 5)
    with ServerProcess(str(base), log_path=str(root / "server.log")) as server:
        yield server, base


@pytest.fixture(scope="session")
def webapp_config(webapp_model_server, tiny_title_model):
    """create_app() overrides for the real model server over REST (GitHub: an unreachable API unless a test
    sets github_api_url)."""
    from serving.launch import free_port
    server, base = webapp_model_server
    return {"model_server": server.rest_url, "protocol": "rest", "model_name": "ghsumm", "vocab": tiny_title_model[1],
            "model_base_path": str(base), "github_token": "", "github_host": "github.com",
            "github_api_url": "http://127.0.0.1:%d" % free_port(), "github_timeout": 2, "model_timeout": 60}


class StubModelServer:
    """TF Serving's REST protocol answering fixed output ids: POST /v1/models/<name>:predict -> {"predictions":
    [{"outputs": ids, "scores": score}] per instance} with X-Model-Version; GET /v1/models/<name> -> AVAILABLE.
    candidates: [(ids, score), ...] answered as a minimum Bayes risk export's "candidates" and "candidate_scores"
    (the first should be the title's). status/body override the predict answer (e.g. 500 and a non-JSON body)."""

    def __init__(self, ids, score=-1.5, version=7, model_name="ghsumm", status=200, body=None, candidates=None):
        import http.server
        import json
        import threading
        stub = self
        self.calls = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, data: bytes, headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models/%s" % model_name:
                    status_ = [{"version": str(version), "state": "AVAILABLE",
                                "status": {"error_code": "OK", "error_message": ""}}]
                    return self._send(200, json.dumps({"model_version_status": status_}).encode(),
                                      [("Content-Type", "application/json")])
                self._send(404, b'{"error": "Servable not found"}', [("Content-Type", "application/json")])

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                stub.calls += 1
                if body is not None:
                    return self._send(status, body.encode(), [("Content-Type", "text/plain")])
                predictions = [{"outputs": list(ids), "scores": score} for _ in request["instances"]]
                if candidates:
                    length = max(len(c) for c, _ in candidates)
                    for p in predictions:
                        p["candidates"] = [list(c) + [0] * (length - len(c)) for c, _ in candidates]
                        p["candidate_scores"] = [s for _, s in candidates]
                self._send(200, json.dumps({"predictions": predictions}).encode(),
                           [("Content-Type", "application/json"), ("X-Model-Version", str(version))])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_model_server():
    """stub_model_server(ids, score=..., version=..., status=..., body=...) -> a running StubModelServer."""
    started = []

    def start(*args, **kwargs):
        started.append(StubModelServer(*args, **kwargs))
        return started[-1]
    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def title_codec(tiny_title_model):
    """serving.client.Codec on the tiny model's vocabulary (text <-> ids)."""
    from serving.client import Codec
    return Codec(tiny_title_model[1])


# ================================================================ the pipeline, run locally
# (tests/test_pipeline_local.py)
#
# `python -m pipeline run --local` as a user runs it (a subprocess, kfp.local SubprocessRunner), in a working dir
# of the test's own, tiny settings (5 train steps of the tiny set, 10 eval issues). The model servers and web
# apps the runs start are stopped when the session ends (`python -m pipeline stop`).

# The test files that continue the base run below (test_pipeline_local, test_retrain) share one pytest-xdist
# worker (`make test` runs two), so that it is made once for all of them. Other runs may go on beside them: the
# model servers and web apps choose their ports under one lock of the machine (serving.launch.start_on_ports).
PIPELINE_RUNS = pytest.mark.xdist_group("pipeline_runs")

# The tiny set from scratch, whatever the pipeline's defaults are (they follow the shipped warm start).
PIPELINE_TINY = ["--train_steps", "5", "--hparams_set", "transformer_ghsumm_tiny", "--checkpoint_dir", "",
                 "--hparams", "batch_size=256,max_length=64", "--gpus", "0", "--eval_max_issues", "10"]


@pytest.fixture(scope="session")
def pipeline_sample_csv(tmp_path_factory) -> Path:
    """The first 300 issues of the bundled sample, as a Kaggle-format CSV (the pipeline's raw input)."""
    root = tmp_path_factory.mktemp("pipeline_sample")
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:301]
    path = root / "issues.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(scope="session")
def pipeline_working_dir(tmp_path_factory):
    """A working dir for local pipeline runs; whatever they left running is stopped at the end of the session."""
    import sys
    working_dir = tmp_path_factory.mktemp("pipeline_work")
    yield working_dir
    subprocess.run([sys.executable, "-m", "pipeline", "stop", "--working_dir", str(working_dir)], cwd=REPO,
                   timeout=120)


@pytest.fixture(scope="session")
def run_pipeline():
    """run_pipeline(working_dir, *flags, timeout=900) -> (CompletedProcess with the output in .stdout, the run's
    status.json as a dict or None). The run id is fixed by --run_id when given, else read from the output."""
    import json
    import re
    import sys

    def run(working_dir, *flags, timeout=900):
        args = [sys.executable, "-m", "pipeline", "run", "--local", "--working_dir", str(working_dir)]
        args += [str(f) for f in flags]
        env = dict(os.environ, GHSUMM_T2T_PYTHON=T2T_PYTHON, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
        proc = subprocess.run(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
        found = re.findall(r"^== gh_summ run (\S+): working dir", proc.stdout, re.M)
        status = None
        if found:
            path = Path(working_dir) / found[-1] / "status.json"
            status = json.loads(path.read_text()) if path.exists() else None
        return proc, status
    return run


# ================================================================ a served base run, shared
# (tests/test_pipeline_local.py, test_retrain.py)
#
# One real local run in pipeline_working_dir (run id gh-summ-test-run: the sample CSV, tiny settings, the web app),
# whose version is then served by the model server it started. test_pipeline_local checks the run itself;
# test_retrain continues its model. PIPELINE_TINY makes checkpoint_dir and hparams_set explicit.

PIPELINE_BASE_RUN_ID = "gh-summ-test-run"


@pytest.fixture(scope="session")
def pipeline_base_run(run_pipeline, pipeline_working_dir, pipeline_sample_csv):
    """(CompletedProcess, status.json) of the base run."""
    proc, status = run_pipeline(pipeline_working_dir, "--data", pipeline_sample_csv, "--run_id", PIPELINE_BASE_RUN_ID,
                                "--deploy_webapp", "true", *PIPELINE_TINY)
    assert proc.returncode == 0, proc.stdout[-8000:]
    return proc, status


# ================================================================ kfp.local's own record of a run
# (tests/test_pipeline_local.py, test_retrain.py)
#
# kfp.local writes each task's outputs (parameters, and artifacts with their URIs and metadata) to
# <pipeline root>/<pipeline>-<time>/<task>/executor_output.json; `python -m pipeline run --local` puts the
# pipeline root at <working dir>/.kfp. The tests read the runs they already made there.

def kfp_task_outputs(working_dir, run_dir, which=0) -> dict:
    """{task name: its executor_output.json} of a kfp.local run in working_dir whose init_run made run_dir: the
    first such run (which=0), or the last (which=-1)."""
    import json
    runs = []
    for run in sorted((Path(working_dir) / ".kfp").glob("gh-summ-*")):
        init = run / "init-run" / "executor_output.json"
        if init.exists() and json.loads(init.read_text())["parameterValues"]["Output"] == str(run_dir):
            runs.append(run)
    assert runs, "no kfp.local run made %s under %s/.kfp" % (run_dir, working_dir)
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(runs[which].glob("*/executor_output.json"))}


def kfp_artifact(outputs: dict, task: str, name: str) -> dict:
    """{"uri": ..., "metadata": {...}} of a task's output artifact, from kfp_task_outputs."""
    assert task in outputs, "task %s did not run (ran: %s)" % (task, ", ".join(outputs))
    return outputs[task]["artifacts"][name]["artifacts"][0]
