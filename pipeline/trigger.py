"""`python -m pipeline watch`: event-driven retraining. A trigger is a small JSON file dropped in a trigger dir;
each one starts exactly one pipeline run (the local equivalent of the reference's Cloud Function on a trigger
bucket; pipeline/trigger_function.py is that function).

Trigger format (a file DIR/<name>.json; write it elsewhere and rename it in, or it may be read half-written):

    {"data": ["new/issues-2026-11.jsonl", "/abs/more.csv", "gs://bucket/x.csv"],   # or one string
     "params": {"train_steps": 400, "eval_max_issues": 50}}                          # optional

- data: the run's input files (any shape `python -m pipeline run --data` reads; globs allowed). A relative path
  is relative to the directory holding the trigger file (DIR). Local paths must exist when the trigger is claimed;
  URLs (gs://...) are passed on unchecked.
- params: pipeline parameters for this run only (they override the watcher's own flags; train_node_selector and
  train_tolerations as a JSON object and array). Not allowed: data,
  run_id, start_step, working_dir (the watcher owns them) and anything named like a token. "comment" is ignored.

Each trigger launches `python -m pipeline run --local --data P1,P2 --run_id ID ...` (default), or with --command
retrain `python -m pipeline retrain --new_data P1 --new_data P2 --run_id ID ...` (continues the served model, which
chooses checkpoint_dir and train_steps: a trigger may not set them).

The life of a trigger (local DIR; every move is an os.rename, atomic on one filesystem):

    DIR/x.json -> DIR/processing/<UTC time>-x.json          claimed (a second watcher's rename fails: not twice)
               -> .launch beside it, then the run starts      run id gh-summ-trigger-<UTC time>-x (deterministic)
               -> DIR/processed/<claimed> + <claimed>.run.json (run id, command, started, finished, state) + .log
    malformed  -> DIR/failed/<claimed> + <claimed>.reason.txt

Exactly once even when the watcher is killed at any moment: the run is a child process in its own session
(killing the watcher does not stop it) that inherits an exclusive flock on DIR/processing/<claimed>.lock. A
restarted watcher first takes that lock, so it waits for a run still in progress, then finishes its record; a
trigger whose .launch says it was launched, or whose run dir exists, is never launched again (a run that died
without a status is recorded as INTERRUPTED, with the command that finishes it). Runs go one at a time.

With --host the run is submitted to a Kubeflow Pipelines cluster (kfp.Client, token as in pipeline/submit.py)
under the run name <run id>; a restart looks that name up before submitting, and the record's state is SUBMITTED.

DIR may be gs://bucket/prefix (tested against a local GCS-like server only, never against GCS itself): new objects
prefix/*.json are claimed by a copy to prefix/processing/<generation>-<name> with a must-not-exist precondition
(one claimant wins), mirrored into a local trigger dir (--mirror_dir, default <working_dir>/triggers; relative data
paths made gs:// ones) and then handled as above; the trigger object is deleted and its claim moves to
prefix/processed/. Records and logs stay in the mirror. Run one watcher per gs:// prefix.
"""
from __future__ import annotations

import fcntl
import glob
import json
import os
import re
import subprocess
import sys
import time

from components import rundir
from data.project import REPO

OWNED = ("data", "run_id", "start_step", "working_dir")  # set by the watcher, never by a trigger
BOOL_PARAMS = ("deploy_webapp", "run_load_test")
RUN_PREFIX = "gh-summ-trigger-"
RETRAIN_CHOSEN = ("checkpoint_dir", "train_steps")  # `pipeline retrain` derives them from the served model


class TriggerError(Exception):
    """A malformed trigger: the message is the reason written to failed/."""


def log(message: str) -> None:
    print("%s %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message), flush=True)


# ------------------------------------------------------------------ the trigger file

def _join(base: str, path: str) -> str:
    if "://" in path or os.path.isabs(path) or not base:
        return path
    if "://" in base:
        return base.rstrip("/") + "/" + path
    return os.path.normpath(os.path.join(base, path))


def check_params(params, defaults: dict) -> dict:
    """A trigger's "params" checked against the pipeline's parameters; values typed like their defaults."""
    if not isinstance(params, dict):
        raise TriggerError('"params" must be a JSON object of pipeline parameters')
    out = {}
    for key, value in params.items():
        if "token" in key.lower():
            raise TriggerError('params: %r refused: a token is never a pipeline parameter' % key)
        if key in OWNED:
            raise TriggerError("params: %r is set by the watcher, not by a trigger" % key)
        if key not in defaults:
            raise TriggerError("params: unknown pipeline parameter %r" % key)
        kind = type(defaults[key])
        if key in BOOL_PARAMS:
            value = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
            if value not in ("true", "false"):
                raise TriggerError("params: %s must be true or false" % key)
        elif kind in (list, dict):  # train_node_selector, train_tolerations: a JSON object or array as it is
            if not isinstance(value, kind):
                raise TriggerError("params: %s must be a JSON %s, got %s"
                                   % (key, "array" if kind is list else "object", json.dumps(value)))
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)) or (
                kind is int and not isinstance(value, int)) or (kind is float and isinstance(value, str)) or (
                kind is str and not isinstance(value, str)):
            raise TriggerError("params: %s must be a %s, got %s" % (key, kind.__name__, json.dumps(value)))
        out[key] = kind(value)
    return out


def parse_trigger(raw: bytes, base: str, defaults: dict, check_files: bool = True):
    """(data paths, params) of a trigger file's content; relative data paths are joined to base (the trigger's
    directory). Raises TriggerError with a one-line reason."""
    try:
        doc = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise TriggerError("not valid JSON: %s" % e) from None
    if not isinstance(doc, dict):
        raise TriggerError('a trigger is a JSON object {"data": [...], "params": {...}}')
    unknown = sorted(set(doc) - {"data", "params", "comment"})
    if unknown:
        raise TriggerError("unknown key(s) %s (known: data, params, comment)" % ", ".join(unknown))
    data = doc.get("data")
    if isinstance(data, str):
        data = [data]
    if not data or not isinstance(data, list) or not all(isinstance(p, str) and p.strip() for p in data):
        raise TriggerError('"data" must be a non-empty list of file paths')
    paths = [_join(base, p.strip()) for p in data]
    if any("," in p for p in paths):
        raise TriggerError("data: a path may not contain a comma (the pipeline's data parameter is comma-separated)")
    if check_files:
        missing = [p for p in paths if "://" not in p and not (glob.glob(p) if glob.has_magic(p) else
                                                                os.path.exists(p))]
        if missing:
            raise TriggerError("data file(s) not found: %s" % ", ".join(missing))
    return paths, check_params(doc.get("params", {}), defaults)


def run_id_for(claimed: str) -> str:
    stem = claimed[:-5] if claimed.endswith(".json") else claimed
    return RUN_PREFIX + (re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "trigger")


# ------------------------------------------------------------------ launching a run

def _flags(params: dict) -> list:
    out = []
    for key, value in params.items():
        out += ["--" + key, json.dumps(value) if isinstance(value, (list, dict)) else str(value)]
    return out


class LocalLauncher:
    """`python -m pipeline run --local` (or `retrain`) as a child process, in its own session."""

    def __init__(self, command: str, working_dir: str, params: dict):
        self.command, self.working_dir, self.params = command, os.path.abspath(working_dir), params

    def check(self, params: dict) -> None:
        chosen = sorted(set(params) & set(RETRAIN_CHOSEN)) if self.command == "retrain" else []
        if chosen:
            raise TriggerError("params: %s: chosen by `pipeline retrain` from the served model" % ", ".join(chosen))

    def argv(self, run_id: str, paths: list, params: dict) -> list:
        params = {**self.params, **params}
        if self.command == "retrain":
            head = ["retrain"] + [arg for path in paths for arg in ("--new_data", path)]
        else:
            head = ["run", "--local", "--data", ",".join(paths)]
        return [sys.executable, "-m", "pipeline", *head, "--run_id", run_id, "--working_dir", self.working_dir,
                *_flags(params)]

    def run_dir(self, run_id: str) -> str:
        return rundir.run_dir_for(self.working_dir, run_id)

    def state(self, run_id: str, returncode=None) -> str:
        try:
            with open(rundir.status_json(self.run_dir(run_id)), encoding="utf-8") as f:
                return json.load(f).get("state") or "UNKNOWN"
        except (OSError, ValueError):
            if returncode is not None:
                return "SUCCEEDED" if returncode == 0 else "FAILED (exit %s)" % returncode
            return "INTERRUPTED"


class KfpLauncher:
    """Submits to a Kubeflow Pipelines cluster; the run name is the trigger's run id (looked up before submitting)."""

    def __init__(self, host: str, token, audience, experiment: str, namespace, params: dict):
        self.host, self.experiment, self.namespace, self.params = host, experiment, namespace, params
        self._token, self._audience, self._client, self._package = token, audience, None, None
        self._secret = token

    def redact(self, text: str) -> str:
        return text.replace(self._secret, "<token>") if self._secret else text

    def client(self):
        if self._client is None:
            import warnings

            import kfp
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"kfp\.client\..*")

            from pipeline import submit
            token, source = submit.resolve_token(self._token, self._audience)
            self._secret = token
            log("kfp %s: auth: %s" % (self.host, source))
            self._client = kfp.Client(host=self.host, existing_token=token, namespace=self.namespace or "kubeflow")
        return self._client

    def package(self) -> str:
        if self._package is None:
            from data import files
            from pipeline.gh_summ import compile_pipeline
            self._package = compile_pipeline(os.path.join(files.scratch_dir("ghsumm-trigger-"), "gh_summ.yaml"))
        return self._package

    def find(self, run_name: str):
        return find_run(self.client(), run_name, self.namespace)

    def submit(self, run_name: str, paths: list, params: dict) -> str:
        import contextlib
        import io
        arguments = {**self.params, **params, "data": ",".join(paths)}
        client, package = self.client(), self.package()
        with contextlib.redirect_stdout(io.StringIO()):  # kfp.Client prints its UI links: one line per event here
            result = client.create_run_from_pipeline_package(package, arguments=arguments, run_name=run_name,
                                                             experiment_name=self.experiment, namespace=self.namespace)
        return result.run_id


def find_run(client, run_name: str, namespace=None):
    """The id of an existing KFP run with this display name, or None."""
    flt = json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": run_name}]})
    runs = client.list_runs(filter=flt, page_size=5, namespace=namespace).runs or []
    for run in runs:
        if run.display_name == run_name:
            return run.run_id
    return None


# ------------------------------------------------------------------ the local trigger dir

def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Watcher:
    def __init__(self, trigger_dir: str, launcher, defaults: dict):
        self.dir = os.path.abspath(trigger_dir)
        self.launcher, self.defaults = launcher, defaults
        for sub in ("processing", "processed", "failed"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)

    def _p(self, sub, name=""):
        return os.path.join(self.dir, sub, name)

    def new_triggers(self) -> list:
        return sorted(n for n in os.listdir(self.dir) if n.endswith(".json") and not n.startswith(".")
                      and os.path.isfile(os.path.join(self.dir, n)))

    def in_progress(self) -> list:
        return sorted(n for n in os.listdir(self._p("processing")) if n.endswith(".json"))

    def claim(self, name: str):
        claimed = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + name
        try:
            os.rename(os.path.join(self.dir, name), self._p("processing", claimed))
        except FileNotFoundError:  # another watcher claimed it first
            return None
        log("claimed %s as processing/%s" % (name, claimed))
        return claimed

    def poll(self) -> int:
        """Finishes what a killed watcher left in processing/, then claims and handles every new trigger. Returns
        how many triggers it handled."""
        done = 0
        for claimed in self.in_progress():
            self.handle(claimed)
            done += 1
        for name in self.new_triggers():
            claimed = self.claim(name)
            if claimed:
                self.handle(claimed)
                done += 1
        return done

    def handle(self, claimed: str) -> None:
        lock_path = self._p("processing", claimed + ".lock")
        lock = open(lock_path, "a+")
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                record = _read_json(self._p("processing", claimed + ".launch")) or {}
                log("%s: its run %s is still in progress (pid %s): waiting for it" % (
                    claimed, record.get("run_id"), record.get("pid")))
                fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(self._p("processing", claimed)):  # a second watcher finished it meanwhile
                return
            self._handle_locked(claimed, lock)
        finally:
            lock.close()
        if not os.path.exists(self._p("processing", claimed)):  # done with: its sidecars go too
            for suffix in (".lock", ".launch"):
                try:
                    os.remove(self._p("processing", claimed + suffix))
                except FileNotFoundError:
                    pass

    def _handle_locked(self, claimed: str, lock) -> None:
        launch_path = self._p("processing", claimed + ".launch")
        record = _read_json(launch_path)
        run_id = run_id_for(claimed)
        if record is None:
            try:
                with open(self._p("processing", claimed), "rb") as f:
                    raw = f.read()
                paths, params = parse_trigger(raw, self.dir, self.defaults)
                if hasattr(self.launcher, "check"):
                    self.launcher.check(params)
            except (TriggerError, OSError) as e:
                return self.fail(claimed, str(e))
            record = {"trigger": claimed, "run_id": run_id, "data": paths, "params": params, "claimed": _now()}
            _write_json(launch_path, record)  # the intent, before anything starts
        if isinstance(self.launcher, KfpLauncher):
            return self._submit(claimed, record)
        launcher = self.launcher
        log_path = self._p("processing", claimed + ".log")
        already = record.get("pid") or os.path.isdir(launcher.run_dir(run_id))
        if already:  # launched by an earlier watcher, whose run has ended (its lock is free): never again
            return self.finish(claimed, record, launcher.state(run_id))
        argv = launcher.argv(run_id, record["data"], record["params"])
        with open(log_path, "ab") as out:
            try:
                proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True, pass_fds=(lock.fileno(),))
            except OSError as e:
                return self.fail(claimed, "could not start %s: %s" % (argv[0], e))
        record.update(pid=proc.pid, started=_now(), command=" ".join(argv[1:]), log=log_path)
        _write_json(launch_path, record)
        log("%s: launched run %s (pid %d, log %s)" % (claimed, run_id, proc.pid, log_path))
        returncode = proc.wait()
        record["returncode"] = returncode
        self.finish(claimed, record, launcher.state(run_id, returncode))

    def _submit(self, claimed: str, record: dict) -> None:
        run_name = record["run_id"]
        launch_path = self._p("processing", claimed + ".launch")
        try:
            kfp_run = record.get("kfp_run_id") or self.launcher.find(run_name)
            if kfp_run:
                log("%s: already submitted as KFP run %s" % (claimed, kfp_run))
            else:
                record["started"] = _now()
                _write_json(launch_path, record)
                kfp_run = self.launcher.submit(run_name, record["data"], record["params"])
                log("%s: launched KFP run %s (%s) on %s" % (claimed, kfp_run, run_name, self.launcher.host))
        except Exception as e:  # unreachable host, API error: keep the trigger in processing/ for the next poll
            message = str(e).strip().splitlines()[0] if str(e).strip() else ""
            log("%s: submit failed, will retry: %s: %s" % (claimed, type(e).__name__,
                                                           self.launcher.redact(message)[:300]))
            return
        record.update(kfp_run_id=kfp_run, host=self.launcher.host)
        self.finish(claimed, record, "SUBMITTED")

    def finish(self, claimed: str, record: dict, state: str) -> None:
        record = dict(record, state=state, finished=_now())
        if state == "INTERRUPTED":
            record["resume"] = ("the run stopped without a status: finish it with python -m pipeline run --local "
                                "--working_dir %s --run_id %s --start_step <first step to redo>"
                                % (getattr(self.launcher, "working_dir", "WORKING_DIR"), record["run_id"]))
        log_path = self._p("processing", claimed + ".log")
        if os.path.exists(log_path):
            os.replace(log_path, self._p("processed", claimed + ".log"))
            record["log"] = self._p("processed", claimed + ".log")
        _write_json(self._p("processed", claimed + ".run.json"), record)
        os.replace(self._p("processing", claimed), self._p("processed", claimed))
        log("%s: finished: run %s %s (record processed/%s.run.json)" % (
            claimed, record.get("kfp_run_id") or record["run_id"], state, claimed))

    def fail(self, claimed: str, reason: str) -> None:
        with open(self._p("failed", claimed + ".reason.txt"), "w", encoding="utf-8") as f:
            f.write(reason + "\n")
        os.replace(self._p("processing", claimed), self._p("failed", claimed))
        log("%s: failed: %s (moved to failed/)" % (claimed, reason))


# ------------------------------------------------------------------ a gs:// trigger dir (tested on a GCS-like stub)

def _mirrored(local_dir: str, local_name: str) -> bool:
    return os.path.exists(os.path.join(local_dir, local_name)) or any(
        glob.glob(os.path.join(local_dir, sub, "*-" + glob.escape(local_name)))
        for sub in ("processing", "processed", "failed"))


def mirror_gcs(uri: str, local_dir: str) -> int:
    """Claims new gs://bucket/prefix/*.json objects: a copy to prefix/processing/<generation>-<name> that must not
    exist yet (one claimant wins), then the trigger object is deleted. Each claim (also one a killed watcher left)
    is written into local_dir as the trigger gcs-<generation>-<name> (relative data paths made gs:// ones) unless
    it is there already, then moved to prefix/processed/. Run one watcher per prefix. Returns how many it wrote."""
    from google.api_core import exceptions
    from google.cloud import storage

    bucket_name, _, prefix = uri[len("gs://"):].partition("/")
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    base = "gs://%s/%s" % (bucket_name, prefix.rstrip("/"))
    bucket = storage.Client().bucket(bucket_name)
    for blob in bucket.list_blobs(prefix=prefix, delimiter="/"):
        name = blob.name[len(prefix):]
        if not name.endswith(".json") or name.startswith("."):
            continue
        claim = "%sprocessing/%s-%s" % (prefix, blob.generation, name)
        try:
            bucket.copy_blob(blob, bucket, claim, if_generation_match=0, if_source_generation_match=blob.generation)
        except (exceptions.PreconditionFailed, exceptions.NotFound):
            continue  # claimed by another watcher, or gone
        log("claimed gs://%s/%s as gs://%s/%s" % (bucket_name, blob.name, bucket_name, claim))
        try:
            blob.delete(if_generation_match=blob.generation)
        except (exceptions.PreconditionFailed, exceptions.NotFound):
            pass  # replaced meanwhile: the new generation is a new trigger
    count = 0
    for claim in bucket.list_blobs(prefix=prefix + "processing/", delimiter="/"):
        local_name = "gcs-" + claim.name[len(prefix + "processing/"):]
        if not _mirrored(local_dir, local_name):
            content = claim.download_as_bytes()
            try:
                doc = json.loads(content)
                if isinstance(doc, dict) and isinstance(doc.get("data"), (list, str)):
                    data = doc["data"] if isinstance(doc["data"], list) else [doc["data"]]
                    doc["data"] = [_join(base, p) if isinstance(p, str) else p for p in data]
                    content = json.dumps(doc).encode()
            except ValueError:
                pass  # malformed: the local watcher moves it to failed/ with the reason
            tmp = os.path.join(local_dir, "." + local_name)
            with open(tmp, "wb") as f:
                f.write(content)
            os.replace(tmp, os.path.join(local_dir, local_name))
            count += 1
        bucket.copy_blob(claim, bucket, prefix + "processed/" + claim.name[len(prefix + "processing/"):])
        claim.delete()
    return count


# ------------------------------------------------------------------ the command line

def add_arguments(p, defaults: dict) -> None:
    p.add_argument("--trigger_dir", required=True, help="where trigger files (*.json) are dropped; a local dir, or "
                   "gs://bucket/prefix (claimed there, handled in --mirror_dir)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between polls (default 10)")
    p.add_argument("--once", action="store_true", help="handle what is there now (and what a killed watcher left "
                   "in progress), then exit: for cron")
    p.add_argument("--command", dest="launch_command", choices=("run", "retrain"), default="run",
                   help="what each trigger launches: `python -m pipeline run --local --data PATHS` (default) or "
                        "`python -m pipeline retrain --new_data PATHS` (continues the served model)")
    p.add_argument("--host", default=None, help="submit each run to this Kubeflow Pipelines endpoint instead of "
                   "running it here (token: as `python -m pipeline submit`)")
    p.add_argument("--token", default=None, help="with --host: bearer token (else KFP_TOKEN, a key file, the "
                   "metadata server, or none)")
    p.add_argument("--audience", default=None, help="with --host: ID-token audience (IAP)")
    p.add_argument("--experiment", default="gh-summ", help="with --host: experiment name")
    p.add_argument("--namespace", default=None, help="with --host: Kubernetes namespace")
    p.add_argument("--working_dir", default="work", help="the runs' working dir (default work)")
    p.add_argument("--mirror_dir", default=None, help="with a gs:// trigger_dir: the local trigger dir its claimed "
                   "triggers are mirrored into, with their records (default <working_dir>/triggers, or ./triggers "
                   "when working_dir is remote)")
    for name, default in defaults.items():
        if name not in OWNED:
            p.add_argument("--" + name, default=None, help="for every run (a trigger's params override it); "
                           "pipeline default %r" % (default,))


def watch(args, defaults: dict) -> int:
    launch_params = {}
    for name, default in defaults.items():
        value = getattr(args, name, None)
        if name in OWNED or value is None:
            continue
        try:
            kind = (str if name in BOOL_PARAMS or isinstance(default, str)
                    else json.loads if isinstance(default, (list, dict)) else type(default))
            launch_params.update(check_params({name: kind(value)}, defaults))
        except TriggerError as e:
            print("watch: --%s" % str(e).split(": ", 1)[1], file=sys.stderr)
            return 2
        except ValueError:
            print("watch: --%s: not a %s: %r" % (name, type(default).__name__, value), file=sys.stderr)
            return 2
    if args.host and args.launch_command != "run":
        print("watch: --command retrain runs here; with --host each trigger is submitted as a gh_summ run",
              file=sys.stderr)
        return 2
    if args.host:
        launcher = KfpLauncher(args.host, args.token, args.audience, args.experiment, args.namespace,
                               {**launch_params, "working_dir": args.working_dir})
    else:
        launcher = LocalLauncher(args.launch_command, args.working_dir, launch_params)
        try:
            launcher.check(launch_params)
        except TriggerError as e:
            print("watch: --command retrain: %s" % str(e).replace("params: ", "--"), file=sys.stderr)
            return 2
    gcs = args.trigger_dir if args.trigger_dir.startswith("gs://") else None
    local_dir = args.trigger_dir
    if gcs:
        local_dir = args.mirror_dir or ("triggers" if "://" in args.working_dir else
                                        os.path.join(args.working_dir, "triggers"))
    if not gcs and not os.path.isdir(local_dir):
        print("watch: --trigger_dir %s: no such directory" % local_dir, file=sys.stderr)
        return 2
    os.makedirs(local_dir, exist_ok=True)
    watcher = Watcher(local_dir, launcher, defaults)
    log("watching %s%s (%s), every %gs%s" % (
        gcs or watcher.dir, " via %s" % watcher.dir if gcs else "",
        "submit to %s" % args.host if args.host else "python -m pipeline %s" % args.launch_command,
        args.interval, ", once" if args.once else ""))
    try:
        while True:
            if gcs:
                try:
                    mirror_gcs(gcs, watcher.dir)
                except Exception as e:  # GCS unreachable or no credentials: say so, keep watching
                    log("gcs %s: %s: %s" % (gcs, type(e).__name__, (str(e).strip().splitlines() or [""])[0][:300]))
            watcher.poll()
            if args.once:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        log("watcher stopped; a run in progress keeps going and the next watcher finishes its record")
        return 130
