"""`python -m pipeline submit`: compile gh_summ and submit it to a Kubeflow Pipelines cluster with kfp.Client, as
a one-off run (create_run_from_pipeline_package) or, with --schedule, a recurring run (create_recurring_run).

The bearer token comes from the first of (the four ways the seeds describe for notebooks, laptops and serverless
functions):
  1. --token
  2. the environment: KFP_TOKEN, else GHSUMM_KFP_TOKEN
  3. google-auth's application default credentials, through its public API: with --audience (an IAP-protected
     endpoint: the IAP OAuth client id) an ID token from google.oauth2.id_token.fetch_id_token (a service-account
     key file in GOOGLE_APPLICATION_CREDENTIALS, else the metadata server), else google.auth.default()'s
     credentials refreshed for an access token with the cloud-platform scope (that key file, gcloud's
     `gcloud auth application-default login` file, else on Google Cloud the metadata server; google-auth's
     NO_GCE_CHECK=true, GCE_METADATA_IP, GCE_METADATA_TIMEOUT and GCE_METADATA_DETECT_RETRIES apply)
and none at all submits without auth (an in-cluster or port-forwarded KFP). The token is never printed or logged:
only its source is.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_ENVS = ("KFP_TOKEN", "GHSUMM_KFP_TOKEN")
BOOL_PARAMS = ("deploy_webapp", "run_load_test")


class SubmitError(Exception):
    """A bad flag or a token that could not be had: the message is for the user (never carries a secret)."""


def add_arguments(p) -> None:
    p.add_argument("--host", required=True, help="the KFP API endpoint, e.g. https://<id>.pipelines.googleusercontent"
                   ".com or http://localhost:8080 (port-forward)")
    p.add_argument("--token", help="bearer token (else KFP_TOKEN / GHSUMM_KFP_TOKEN, a service-account key file in "
                   "GOOGLE_APPLICATION_CREDENTIALS, the GCE metadata server, or no auth)")
    p.add_argument("--audience", "--client_id", dest="audience",
                   help="ID-token audience for the key file / metadata server (IAP: its OAuth client id); "
                        "without it they give an access token")
    p.add_argument("--experiment", default="gh-summ", help="experiment name (created if missing; default gh-summ)")
    p.add_argument("--namespace", default=None, help="Kubernetes namespace (multi-user KFP)")
    p.add_argument("--run_name", default=None, help="run name (recurring: the job name)")
    p.add_argument("--schedule", default=None, metavar="CRON",
                   help="a recurring run on this cron schedule: KFP's 6 fields (sec min hour dom mon dow); "
                        "a 5-field crontab line gets '0 ' (second 0) in front")
    p.add_argument("--working_dir", default="work", help="a local record of the submission goes to "
                   "<working_dir>/submitted/<KFP id>.json (python -m pipeline runs lists it); default work")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a pipeline parameter (repeatable); the others keep the pipeline's defaults")


def parse_params(items: list, defaults: dict) -> dict:
    """--param key=value items -> {key: value typed like the pipeline's default}. Refuses the GitHub token and
    unknown names; never echoes a value."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if "token" in key.lower():
            raise SubmitError("--param %s refused: the GitHub token is never a pipeline parameter (it would be stored "
                              "in the run's spec in clear); the web app reads GITHUB_TOKEN from its environment, a "
                              "Kubernetes Secret on a cluster" % key)
        if not sep or not key:
            raise SubmitError("--param wants KEY=VALUE, got %r" % item)
        if key not in defaults:
            raise SubmitError("unknown pipeline parameter %r (known: %s)" % (key, ", ".join(defaults)))
        kind = type(defaults[key])
        if key in BOOL_PARAMS and value not in ("true", "false"):
            raise SubmitError("--param %s: 'true' or 'false', got %r" % (key, value))
        try:
            params[key] = kind(value) if kind not in (dict, list) else json.loads(value)
            if not isinstance(params[key], kind):
                raise ValueError(value)
        except ValueError:
            raise SubmitError("--param %s: not a %s: %r" % (key, kind.__name__, value)) from None
    return params


def cron_expression(schedule: str) -> str:
    fields = schedule.split()
    if len(fields) == 5:
        fields = ["0"] + fields
    if len(fields) not in (6, 7):
        raise SubmitError("--schedule %r: a cron expression of 6 fields (sec min hour dom mon dow) or 5" % schedule)
    return " ".join(fields)


def _from_google_auth(audience: str | None):
    """(token, source) from google-auth's public API, or None when it finds no credentials. With audience an ID
    token (google.oauth2.id_token.fetch_id_token: a service-account key file in GOOGLE_APPLICATION_CREDENTIALS,
    else the metadata server), else an access token (google.auth.default(): that key file, gcloud's application
    default credentials, else the metadata server)."""
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests
    import google.oauth2.id_token
    from google.auth import compute_engine

    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    request = google.auth.transport.requests.Request()
    try:
        if audience:
            if not key_file and os.environ.get("NO_GCE_CHECK") == "true":  # fetch_id_token would probe anyway
                return None
            token = google.oauth2.id_token.fetch_id_token(request, audience)
            where = "key file %s" % key_file if key_file else "GCE metadata server"
            return token, "%s (ID token for audience %s)" % (where, audience)
        creds, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
        creds.refresh(request)
    except google.auth.exceptions.DefaultCredentialsError:
        if key_file:
            raise
        return None
    if key_file:
        return creds.token, "key file %s (access token, cloud-platform scope)" % key_file
    if isinstance(creds, compute_engine.Credentials):
        return creds.token, "GCE metadata server (access token)"
    return creds.token, "application default credentials (%s, access token)" % type(creds).__module__


def resolve_token(token: str | None, audience: str | None = None):
    """(token or None, a description of its source that never includes the token)."""
    import google.auth.exceptions
    if token:
        return token, "--token"
    for name in TOKEN_ENVS:
        if os.environ.get(name):
            return os.environ[name], "environment variable %s" % name
    try:
        found = _from_google_auth(audience)
    except google.auth.exceptions.GoogleAuthError as e:
        where = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or "the GCE metadata server"
        raise SubmitError("could not get a token from %s: %s" % (where, type(e).__name__)) from None
    if found:
        return found
    return None, "none: submitting without auth (an in-cluster or port-forwarded KFP)"


def submit(args, compile_pipeline, defaults: dict) -> int:
    """Compiles with compile_pipeline(path) (what `python -m pipeline compile` calls) and submits."""
    import warnings

    try:
        params = parse_params(args.param, defaults)
        cron = cron_expression(args.schedule) if args.schedule else None
        token, source = resolve_token(args.token, args.audience)
    except SubmitError as e:
        print("submit: %s" % e, file=sys.stderr)
        return 2
    print("auth: %s" % source, flush=True)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"kfp\.client\..*")
    try:
        return _submit(args, compile_pipeline, params, cron, token)
    except Exception as e:  # an unreachable host, an API error: one line, the token cut out of it
        message = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
        print("submit: failed against %s: %s" % (args.host, message.replace(token, "<token>") if token else message),
              file=sys.stderr)
        return 1


def _submit(args, compile_pipeline, params: dict, cron: str | None, token: str | None) -> int:
    import kfp
    with tempfile.TemporaryDirectory() as tmp:
        package = compile_pipeline(os.path.join(tmp, "gh_summ.yaml"))
        client = kfp.Client(host=args.host, existing_token=token, namespace=args.namespace or "kubeflow")
        if cron:
            experiment = client.create_experiment(name=args.experiment, namespace=args.namespace)
            job = client.create_recurring_run(experiment_id=experiment.experiment_id,
                                              job_name=args.run_name or "gh-summ (%s)" % cron,
                                              cron_expression=cron, params=params, pipeline_package_path=package)
            print("recurring run %s on %r in experiment %s (%s)" % (job.recurring_run_id, cron, args.experiment,
                                                                   experiment.experiment_id))
            kind, kfp_id = "recurring_run", job.recurring_run_id
        else:
            result = client.create_run_from_pipeline_package(package, arguments=params, run_name=args.run_name,
                                                             experiment_name=args.experiment,
                                                             namespace=args.namespace)
            print("run %s in experiment %s" % (result.run_id, args.experiment))
            kind, kfp_id = "run", result.run_id
    from pipeline import records
    path = records.record_submission(os.path.abspath(args.working_dir), {
        "run_id": kfp_id, "kind": kind, "host": args.host, "experiment": args.experiment, "run_name": args.run_name,
        "namespace": args.namespace, "schedule": cron, "parameters": params})
    print("record: %s" % path)
    return 0
