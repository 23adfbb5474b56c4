"""`python -m pipeline submit` against a local recording endpoint that answers like the KFP v2beta1 REST API as
far as kfp.Client needs (healthz, experiments list/create, runs, recurring runs), plus an OAuth token endpoint and a
fake GCE metadata server on the same port for the service-account key file and metadata-server token paths (no
network: the key file's token_uri and GCE_METADATA_HOST/IP point here): tests/kfp_api_stub.py. Access tokens come from
google.auth.default(), ID tokens (--audience, IAP) from google.oauth2.id_token.fetch_id_token. No cluster is
reachable here."""
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest

from tests import kfp_api_stub
from tests.conftest import REPO
from tests.kfp_api_stub import META_TOKEN, SA_TOKEN, TOKEN, Recorder


@pytest.fixture(scope="module")
def kfp_endpoint():
    with kfp_api_stub.serve() as url:
        yield url


@pytest.fixture
def submit(kfp_endpoint, tmp_path):
    """Runs `python -m pipeline submit --host <endpoint> ...` with a clean auth environment; returns (proc,
    the requests the endpoint received)."""
    def go(*args, env=None):
        Recorder.reset()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KFP_", "GHSUMM_KFP", "KF_PIPELINES",
                                                                          "GOOGLE_APPLICATION", "GCE_METADATA"))}
        base.update(HOME=str(tmp_path), NO_GCE_CHECK="true")  # HOME: no ~/.config/kfp/context.json
        base.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "pipeline", "submit", "--host", kfp_endpoint,
                               "--working_dir", str(tmp_path / "work"), *args], cwd=REPO,
                              env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        return proc, list(Recorder.requests)
    return go


def _calls(reqs, method, path):
    return [r for r in reqs if r[0] == method and urlparse(r[1]).path == path]


def _auth(reqs):
    return {r[2].get("authorization") for r in reqs if r[1].startswith("/apis/")}


def test_run_carries_spec_parameters_and_bearer_token(submit):
    proc, reqs = submit("--token", TOKEN, "--experiment", "nightly", "--run_name", "try-1",
                        "--param", "train_steps=50", "--param", "deploy_webapp=false", "--param", "data=gs://b/x.csv")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = _calls(reqs, "POST", "/apis/v2beta1/runs")
    body = run[3]
    spec = body["pipeline_spec"]["pipeline_spec"]  # with the platform spec beside it (kfp-kubernetes)
    assert spec["pipelineInfo"]["name"] == "gh-summ"
    assert "train" in json.dumps(spec["root"])
    train = body["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert set(train) == {"nodeSelector", "tolerations"}
    assert body["runtime_config"]["parameters"] == {"train_steps": 50, "deploy_webapp": "false", "data": "gs://b/x.csv"}
    assert body["display_name"] == "try-1"
    # the experiment was looked up by name, then created
    (created,) = _calls(reqs, "POST", "/apis/v2beta1/experiments")
    assert created[3]["display_name"] == "nightly" and body["experiment_id"] == "exp-1"
    assert _auth(reqs) == {"Bearer " + TOKEN}
    assert "auth: --token" in proc.stdout and "run run-1" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.parametrize("env_name", ["KFP_TOKEN", "GHSUMM_KFP_TOKEN"])
def test_token_from_the_environment(submit, env_name):
    proc, reqs = submit(env={env_name: TOKEN})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _calls(reqs, "POST", "/apis/v2beta1/runs")
    assert _auth(reqs) == {"Bearer " + TOKEN}
    assert "auth: environment variable %s" % env_name in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


def test_no_token_submits_without_auth(submit):
    proc, reqs = submit()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = _calls(reqs, "POST", "/apis/v2beta1/runs")
    assert run[3]["runtime_config"].get("parameters", {}) == {}  # the pipeline's defaults
    assert _auth(reqs) == {None}
    assert "without auth" in proc.stdout


def test_schedule_creates_a_recurring_run(submit):
    proc, reqs = submit("--token", TOKEN, "--schedule", "0 3 * * 1", "--run_name", "weekly",
                        "--param", "train_steps=1000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not _calls(reqs, "POST", "/apis/v2beta1/runs")
    (job,) = _calls(reqs, "POST", "/apis/v2beta1/recurringruns")
    body = job[3]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * 1"  # 5 fields -> KFP's 6 (second 0)
    assert body["display_name"] == "weekly" and body["mode"] == "ENABLE" and body["experiment_id"] == "exp-1"
    assert body["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "gh-summ"
    assert body["runtime_config"]["parameters"] == {"train_steps": 1000}
    assert _auth(reqs) == {"Bearer " + TOKEN}
    assert "recurring run rr-1" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


@pytest.mark.parametrize("param", ["github_token=ghp_abcdef123456", "GITHUB_TOKEN=ghp_abcdef123456"])
def test_github_token_is_refused(submit, param):
    proc, reqs = submit("--param", param)
    assert proc.returncode == 2
    assert "GitHub token is never a pipeline parameter" in proc.stderr
    assert "ghp_abcdef123456" not in proc.stdout + proc.stderr
    assert not reqs  # nothing was sent


@pytest.mark.parametrize("param, message", [("no_such=1", "unknown pipeline parameter"),
                                            ("train_steps=many", "not a int"),
                                            ("deploy_webapp=yes", "'true' or 'false'"),
                                            ("train_steps", "KEY=VALUE")])
def test_bad_params_fail_before_submitting(submit, param, message):
    proc, reqs = submit("--param", param)
    assert proc.returncode == 2 and message in proc.stderr and not reqs


@pytest.fixture
def key_file(kfp_endpoint, tmp_path):
    """A fake service-account key (a fresh RSA key) whose token_uri is the local endpoint; returns (path, pem)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = tmp_path / "sa.json"
    key.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                               "private_key": pem, "client_email": "kfp@p.iam.gserviceaccount.com",
                               "client_id": "1", "token_uri": kfp_endpoint + "/oauth2/token"}))
    return key, pem


def test_token_from_a_service_account_key_file(submit, key_file):
    """google.auth.default() finds the key file; refreshing its credentials signs a JWT assertion and exchanges it at
    the local token_uri for an access token, which goes out as the bearer token."""
    key, pem = key_file
    proc, reqs = submit(env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (grant,) = _calls(reqs, "POST", "/oauth2/token")
    assert grant[3]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert _auth(reqs) == {"Bearer " + SA_TOKEN}
    assert "key file %s (access token, cloud-platform scope)" % key in proc.stdout
    assert SA_TOKEN not in proc.stdout + proc.stderr and pem not in proc.stdout + proc.stderr


def test_id_token_for_iap_from_a_service_account_key_file(submit, key_file):
    """--audience: google.oauth2.id_token.fetch_id_token exchanges the key's assertion for an ID token."""
    key, pem = key_file
    audience = "1234-iap.apps.googleusercontent.com"
    proc, reqs = submit("--audience", audience, env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (grant,) = _calls(reqs, "POST", "/oauth2/token")
    assert kfp_api_stub._claims(grant[3]["assertion"][0])["target_audience"] == audience
    token = kfp_api_stub.id_token(audience, "key")
    assert _auth(reqs) == {"Bearer " + token}
    assert "auth: key file %s (ID token for audience %s)" % (key, audience) in proc.stdout
    assert token not in proc.stdout + proc.stderr and pem not in proc.stdout + proc.stderr


def test_a_broken_key_file_fails_before_submitting(submit, tmp_path):
    bad = tmp_path / "not-a-key.json"
    bad.write_text("{not json")
    proc, reqs = submit(env={"GOOGLE_APPLICATION_CREDENTIALS": str(bad)})
    assert proc.returncode == 2 and not reqs
    assert "submit: could not get a token from %s: DefaultCredentialsError" % bad in proc.stderr
    assert "Traceback" not in proc.stderr


def test_only_google_auths_public_api_is_used():
    source = (REPO / "pipeline" / "submit.py").read_text()
    assert "_metadata" not in source and "compute_engine._" not in source


def test_token_from_the_metadata_server(submit, kfp_endpoint):
    host = kfp_endpoint.split("//")[1]
    proc, reqs = submit(env={"NO_GCE_CHECK": "false", "GCE_METADATA_IP": host, "GCE_METADATA_HOST": host})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(r[1].startswith("/computeMetadata/v1/instance/service-accounts/default") for r in reqs)
    assert _auth(reqs) == {"Bearer " + META_TOKEN}
    assert "auth: GCE metadata server (access token)" in proc.stdout
    assert META_TOKEN not in proc.stdout + proc.stderr


def test_id_token_for_iap_from_the_metadata_server(submit, kfp_endpoint):
    host = kfp_endpoint.split("//")[1]
    audience = "1234-iap.apps.googleusercontent.com"
    proc, reqs = submit("--audience", audience,
                        env={"NO_GCE_CHECK": "false", "GCE_METADATA_IP": host, "GCE_METADATA_HOST": host})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(r[1].startswith("/computeMetadata/v1/instance/service-accounts/default/identity?audience=")
               for r in reqs)
    token = kfp_api_stub.id_token(audience, "metadata")
    assert _auth(reqs) == {"Bearer " + token}
    assert "auth: GCE metadata server (ID token for audience %s)" % audience in proc.stdout
    assert token not in proc.stdout + proc.stderr


def test_no_metadata_server_is_found_quickly(submit):
    """Off Google Cloud the probe gives up at once (here: a closed port) and the run goes without auth."""
    start = time.time()
    proc, reqs = submit(env={"NO_GCE_CHECK": "false", "GCE_METADATA_IP": "127.0.0.1:9"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _auth(reqs) == {None} and "without auth" in proc.stdout
    assert time.time() - start < 30


def test_unreachable_host_fails_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KFP_", "GHSUMM_KFP", "GOOGLE_APPLICATION"))}
    env.update(HOME=str(tmp_path), NO_GCE_CHECK="true")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "submit", "--host", "http://127.0.0.1:9", "--token",
                           TOKEN], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "submit: failed against http://127.0.0.1:9" in proc.stderr and "Traceback" not in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_submission_leaves_a_local_record_without_the_token(submit, tmp_path):
    proc, _ = submit("--token", TOKEN, "--run_name", "rec-1", "--param", "train_steps=7")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = (tmp_path / "work" / "submitted").glob("*.json")
    record = json.loads(path.read_text())
    assert record["kind"] == "run" and record["parameters"] == {"train_steps": 7} and record["host"].startswith("http")
    assert record["run_id"] and TOKEN not in path.read_text()
    listed = subprocess.run([sys.executable, "-m", "pipeline", "runs", "--working_dir", str(tmp_path / "work")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert record["run_id"] in listed.stdout and "SUBMITTED" in listed.stdout
