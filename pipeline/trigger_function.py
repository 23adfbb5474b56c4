"""A Cloud Function (2nd gen, CloudEvents) that submits one gh_summ run to Kubeflow Pipelines for each trigger file
written to a bucket: the reference's trigger-bucket function, for `python -m pipeline watch`'s trigger format
(pipeline/trigger.py: {"data": [...], "params": {...}}; relative data paths are relative to the trigger's own
gs:// folder).

on_object_finalized(cloud_event) handles a google.cloud.storage.object.v1.finalized event:
- objects other than <GHSUMM_TRIGGER_PREFIX>*.json (default triggers/*.json, not in sub-folders) are ignored;
- exactly once per object generation: the run's name is deterministic, "gh-summ-trigger gs://B/NAME#GENERATION",
  and a run with that name already in KFP means a redelivered event: nothing is submitted again. (GCS delivers at
  least once; two deliveries of one generation at the same instant could both pass the check: retries are
  spaced, so in practice they do not.)
- the trigger is read at that generation (google-cloud-storage); a malformed one is logged with its reason and
  dropped without a retry (fix it and upload it again: a new generation);
- the KFP token: KFP_TOKEN / GHSUMM_KFP_TOKEN, else the function's service account through the metadata server
  (an ID token for GHSUMM_KFP_AUDIENCE, the IAP client id), as pipeline/submit.py resolves it; never logged.
An unreachable KFP raises, so that the event is retried (deploy with --retry).

Deploy (from the repository root; functions-framework is provided by the runtime, requirements: kfp==2.17.0,
google-cloud-storage, google-auth):

    gcloud functions deploy ghsumm-trigger --gen2 --runtime python311 --region us-central1 --source . \\
        --entry-point on_object_finalized --trigger-bucket BUCKET --retry \\
        --service-account ghsumm-trigger@PROJECT.iam.gserviceaccount.com \\
        --set-env-vars GHSUMM_KFP_HOST=https://HOST,GHSUMM_KFP_AUDIENCE=IAP_CLIENT_ID,\\
GHSUMM_PIPELINE_PARAMS='{"working_dir":"gs://BUCKET/work","train_steps":20000}'

with a main.py at the source root holding `from pipeline.trigger_function import on_object_finalized`.
Environment: GHSUMM_KFP_HOST (required), GHSUMM_KFP_AUDIENCE, GHSUMM_KFP_EXPERIMENT (gh-summ),
GHSUMM_KFP_NAMESPACE, GHSUMM_TRIGGER_PREFIX (triggers/), GHSUMM_PIPELINE_PARAMS (JSON: parameters of every run,
working_dir included; a trigger's params override them), GHSUMM_PIPELINE_PACKAGE (a compiled gh_summ.yaml; else
compiled on the first event).
"""
from __future__ import annotations

import json
import os

from data import files
from pipeline import trigger

try:  # the Cloud Functions runtime has it; this module works without it (tests, other runtimes)
    import functions_framework
    _cloud_event = functions_framework.cloud_event
except ImportError:  # pragma: no cover - depends on the installation
    def _cloud_event(func):
        return func

_package = None


def log(message: str) -> None:
    print("ghsumm-trigger: %s" % message, flush=True)


def _event_data(event) -> dict:
    """The event's data: a functions-framework CloudEvent (.data), a CloudEvent-shaped dict ({"data": ...}), or
    the data itself."""
    data = getattr(event, "data", None)
    if data is None and isinstance(event, dict):
        data = event.get("data", event)
    if isinstance(data, (bytes, str)):
        data = json.loads(data)
    return data if isinstance(data, dict) else {}


def is_trigger(name: str, prefix: str) -> bool:
    rest = name[len(prefix):] if name.startswith(prefix) else None
    return bool(rest) and rest.endswith(".json") and "/" not in rest and not rest.startswith(".")


def run_name_for(bucket: str, name: str, generation) -> str:
    return "gh-summ-trigger gs://%s/%s#%s" % (bucket, name, generation)


def read_object(bucket: str, name: str, generation) -> bytes:
    from google.cloud import storage
    return storage.Client().bucket(bucket).blob(name, generation=int(generation)).download_as_bytes()


def _pipeline_package() -> str:
    global _package
    if os.environ.get("GHSUMM_PIPELINE_PACKAGE"):
        return os.environ["GHSUMM_PIPELINE_PACKAGE"]
    if _package is None:
        from pipeline.gh_summ import compile_pipeline
        _package = compile_pipeline(os.path.join(files.scratch_dir("ghsumm-fn-"), "gh_summ.yaml"))
    return _package


def _base_params(defaults: dict) -> dict:
    raw = os.environ.get("GHSUMM_PIPELINE_PARAMS") or "{}"
    try:
        params = json.loads(raw)
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        raise trigger.TriggerError("GHSUMM_PIPELINE_PARAMS: %s" % e) from None
    working_dir = params.pop("working_dir", None)
    params = trigger.check_params(params, defaults)
    if working_dir:
        params["working_dir"] = str(working_dir)
    return params


@_cloud_event
def on_object_finalized(cloud_event) -> dict:
    """Submits one run per new trigger object generation. Returns what it did: {"action": "ignored" | "rejected" |
    "duplicate" | "submitted", ...} (the runtime ignores it; tests read it)."""
    import warnings

    import kfp
    from google.api_core import exceptions

    from pipeline import submit
    from pipeline.gh_summ import parameters as pipeline_parameters
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"kfp\.client\..*")

    data = _event_data(cloud_event)
    bucket, name, generation = data.get("bucket"), data.get("name") or "", data.get("generation")
    prefix = os.environ.get("GHSUMM_TRIGGER_PREFIX", "triggers/")
    if not bucket or not generation or not is_trigger(name, prefix):
        log("ignored gs://%s/%s: not a trigger (%s*.json)" % (bucket, name, prefix))
        return {"action": "ignored"}
    uri = "gs://%s/%s" % (bucket, name)
    host = os.environ.get("GHSUMM_KFP_HOST")
    if not host:
        raise RuntimeError("GHSUMM_KFP_HOST is not set: the Kubeflow Pipelines endpoint to submit to")
    run_name = run_name_for(bucket, name, generation)
    namespace = os.environ.get("GHSUMM_KFP_NAMESPACE") or None
    token, source = submit.resolve_token(None, os.environ.get("GHSUMM_KFP_AUDIENCE") or None)
    client = kfp.Client(host=host, existing_token=token, namespace=namespace or "kubeflow")
    existing = trigger.find_run(client, run_name, namespace)
    if existing:
        log("%s#%s: already submitted as run %s: nothing to do" % (uri, generation, existing))
        return {"action": "duplicate", "run_id": existing, "run_name": run_name}
    defaults = pipeline_parameters()
    try:
        raw = read_object(bucket, name, generation)
    except exceptions.NotFound:
        log("%s#%s: ignored: that generation no longer exists" % (uri, generation))
        return {"action": "ignored"}
    try:
        paths, params = trigger.parse_trigger(raw, "gs://%s/%s" % (bucket, os.path.dirname(name)), defaults,
                                              check_files=False)
        params = {**_base_params(defaults), **params, "data": ",".join(paths)}
    except trigger.TriggerError as e:
        log("%s#%s: rejected: %s" % (uri, generation, e))
        return {"action": "rejected", "reason": str(e)}
    result = client.create_run_from_pipeline_package(
        _pipeline_package(), arguments=params, run_name=run_name,
        experiment_name=os.environ.get("GHSUMM_KFP_EXPERIMENT", "gh-summ"), namespace=namespace)
    log("%s#%s: submitted run %s (%s; auth: %s)" % (uri, generation, result.run_id, run_name, source))
    return {"action": "submitted", "run_id": result.run_id, "run_name": run_name, "data": paths}
