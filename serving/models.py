"""The model side of the server: numbered SavedModel versions under a base path, loaded, watched and batched.

Protocol-free on purpose: serving/model_server.py turns these calls into REST and gRPC.

- `ModelManager` serves the newest loadable version under `base_path` (TF Serving's "latest" policy). `poll()`
  (run every few seconds by a thread) loads a newer version beside the current one, then switches to it; a
  request that already holds the old `Version` finishes on it. A version that fails to load is recorded (state
  END with its error in the status) and skipped until its files change; the current version keeps serving.
  Deleting the newest version rolls back to the next one, as tensorflow/serving does.
- `Batcher` (opt-in: --enable_batching true) runs concurrent requests for the same version and signature as one
  batch: a worker takes what is queued when it becomes free (up to max_batch_size rows) and never waits for
  more, so a lone request is not delayed. Measured on 2 shared cores with real issue bodies it brings no clear
  gain (a batch decodes as long as its longest input), so it is off by default; benchmarks/serving.py
  measures both.
"""
from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import queue
import threading
import time

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from data import files

log = logging.getLogger("serving")

DEFAULT_SIGNATURE = "serving_default"


class NotFound(Exception):
    """Unknown model, version or signature (REST 404, gRPC NOT_FOUND)."""


class BadInput(Exception):
    """The request does not fit the model (REST 400, gRPC INVALID_ARGUMENT)."""


def read_signature_defs(path: str) -> dict:
    """name -> SignatureDef proto of a SavedModel dir (saved_model.pb or .pbtxt), as TF Serving's metadata shows
    them (internal '__...' signatures left out)."""
    proto = saved_model_pb2.SavedModel()
    pb, pbtxt = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    if tf.io.gfile.exists(pb):
        with tf.io.gfile.GFile(pb, "rb") as f:
            proto.ParseFromString(f.read())
    else:
        with tf.io.gfile.GFile(pbtxt, "r") as f:
            text_format.Parse(f.read(), proto)
    defs = proto.meta_graphs[0].signature_def
    return {name: defs[name] for name in sorted(defs) if not name.startswith("__")}


def clean_tf_error(message: str) -> str:
    """A TF op error's message without the Python stack TF prints into it ("Detected at node ... defined at
    (most recent call last): File ...") : what a caller may see."""
    keep = []
    for line in message.splitlines():
        s = line.strip()
        if not s or s == "Graph execution error:" or s.startswith("File \"") or s.startswith("Detected at node"):
            continue
        keep.append(s)
    return " ".join(keep) or "invalid input"


def load_saved_model(path: str):
    """tf.saved_model.load of a local SavedModel directory. T2T exports TF1 reference variables; TF 2's loader
    warns once per variable that it cannot wrap them as Python objects ("Unable to create a python object for
    variable ..."), which the signatures do not need: only TF's errors pass while it loads."""
    tf_log = tf.get_logger()
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)
    try:
        return tf.saved_model.load(path)
    finally:
        tf_log.setLevel(level)


class Version:
    """One loaded SavedModel version: its signatures, callable from any thread."""

    def __init__(self, number: int, path: str):
        self.number = number
        self.path = path
        self.signature_defs = read_signature_defs(path)
        self._loaded = load_saved_model(path)  # keeps the functions' variables alive
        self.functions = dict(self._loaded.signatures)

    def function(self, signature_name: str):
        name = signature_name or DEFAULT_SIGNATURE
        if name not in self.functions:
            raise NotFound("Serving signature name: \"%s\" not found in signature def" % name)
        return name, self.functions[name]

    def input_specs(self, signature_name: str) -> dict:
        return dict(self.function(signature_name)[1].structured_input_signature[1])

    def run(self, signature_name: str, inputs: dict) -> dict:
        """inputs: name -> numpy array (already checked); returns output name -> numpy array."""
        _, fn = self.function(signature_name)
        specs = self.input_specs(signature_name)
        tensors = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in inputs.items()}
        try:
            outputs = fn(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise BadInput(clean_tf_error(getattr(e, "message", None) or str(e))) from None
        return {k: v.numpy() for k, v in outputs.items()}


def check_inputs(version: Version, signature_name: str, inputs: dict) -> dict:
    """Validate and convert inputs (name -> list/array) against the signature; returns name -> numpy array."""
    specs = version.input_specs(signature_name)
    if set(inputs) != set(specs):
        raise BadInput("inputs %s do not match the signature's inputs %s" % (sorted(inputs), sorted(specs)))
    arrays = {}
    for name, value in inputs.items():
        spec = specs[name]
        try:
            if spec.dtype == tf.string:
                array = np.array(value, dtype=object)
                for item in array.reshape(-1):
                    if not isinstance(item, (bytes, str)):
                        raise ValueError("expected strings, got %s" % type(item).__name__)
                array = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s,
                                     otypes=[object])(array) if array.size else array
            else:
                array = np.array(value, dtype=spec.dtype.as_numpy_dtype)
        except (ValueError, TypeError, OverflowError) as e:
            raise BadInput("input '%s' is not a %s tensor: %s" % (name, spec.dtype.name, e)) from None
        if not spec.shape.is_compatible_with(array.shape):
            raise BadInput("input '%s' has shape %s; the signature wants %s"
                           % (name, list(array.shape), spec.shape.as_list() if spec.shape.rank is not None else "any"))
        arrays[name] = array
    return arrays


class Batcher:
    """Runs concurrent calls of one (version, signature) together; rows are split back per caller."""

    def __init__(self, max_batch_size: int = 8, num_threads: int = 1):
        self.max_batch_size = max_batch_size
        self._queue: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name="batcher-%d" % i, daemon=True)
                         for i in range(num_threads)]
        for t in self._threads:
            t.start()
        self.batches = collections.Counter()  # batch size -> count, for the bench and the logs

    def run(self, version: Version, signature_name: str, inputs: dict) -> dict:
        rows = {len(v) for v in inputs.values() if v.ndim > 0}
        if len(rows) != 1:  # not batchable (scalars, ragged leading dims): run as is
            return version.run(signature_name, inputs)
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((version, signature_name, inputs, rows.pop(), future))
        return future.result()

    def stop(self):
        for _ in self._threads:
            self._queue.put(None)

    def _work(self):
        held = collections.deque()  # items taken from the queue that did not fit the last batch
        while True:
            item = held.popleft() if held else self._queue.get()
            if item is None:
                return
            batch, rows = [item], item[3]
            while rows < self.max_batch_size:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is not None and self._fits(item, nxt) and rows + nxt[3] <= self.max_batch_size:
                    batch.append(nxt)
                    rows += nxt[3]
                else:
                    held.append(nxt)
                    break
            self._run_batch(batch)

    @staticmethod
    def _fits(a, b) -> bool:
        return (a[0] is b[0] and a[1] == b[1] and
                all(a[2][k].shape[1:] == b[2][k].shape[1:] for k in a[2]))

    def _run_batch(self, batch):
        self.batches[sum(it[3] for it in batch)] += 1
        version, signature_name = batch[0][0], batch[0][1]
        if len(batch) == 1:
            self._settle(batch[0][4], lambda: version.run(signature_name, batch[0][2]))
            return
        joined = {k: np.concatenate([it[2][k] for it in batch]) for k in batch[0][2]}
        total = len(next(iter(joined.values())))
        try:
            outputs = version.run(signature_name, joined)
        except BadInput:  # one bad request must not fail the others: run each alone
            for it in batch:
                self._settle(it[4], lambda it=it: version.run(signature_name, it[2]))
            return
        except Exception as e:  # noqa: BLE001 (handed to every caller)
            for it in batch:
                it[4].set_exception(e)
            return
        start = 0
        for it in batch:
            end = start + it[3]
            it[4].set_result({k: (v[start:end] if v.ndim and len(v) == total else v) for k, v in outputs.items()})
            start = end

    @staticmethod
    def _settle(future, call):
        try:
            future.set_result(call())
        except Exception as e:  # noqa: BLE001
            future.set_exception(e)


# ModelVersionStatus.State names, as TF Serving reports them.
LOADING, AVAILABLE, END = "LOADING", "AVAILABLE", "END"


def _fingerprint(path: str):
    """What changes when a version dir's files change (so a failed version is retried after a fix)."""
    if not files.tf_reaches(path):  # names only: a store TF cannot reach (see _tf_path)
        return tuple(files.glob(os.path.join(path, "*")) + files.glob(os.path.join(path, "variables", "*")))
    try:
        out = []
        for root in (path, os.path.join(path, "variables")):
            if tf.io.gfile.isdir(root):
                for name in sorted(tf.io.gfile.listdir(root)):
                    full = os.path.join(root, name)
                    if not tf.io.gfile.isdir(full):
                        st = tf.io.gfile.stat(full)
                        out.append((full, st.length, st.mtime_nsec))
        return tuple(out)
    except tf.errors.OpError:
        return None


class ModelManager:
    """Serves the newest loadable numbered version under base_path; see the module docstring."""

    def __init__(self, name: str, base_path: str, batcher: Batcher | None = None):
        self.name = name
        self.base_path = base_path
        self.batcher = batcher
        self._lock = threading.Lock()
        self._current: Version | None = None
        self._status: dict[int, tuple[str, str]] = {}  # version -> (state, error message or "")
        self._failed: dict[int, object] = {}  # version -> fingerprint when it failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scratch: str | None = None  # local copies of versions TF cannot read where they are

    # -- versions on disk ------------------------------------------------------------------------------------
    def versions_on_disk(self) -> list[int]:
        return sorted(int(n) for n in files.listdir(self.base_path)
                      if n.isdigit() and files.isdir(os.path.join(self.base_path, n)))

    def _tf_path(self, path: str) -> str:
        """path, or a local copy of it when TensorFlow cannot read it there (a gs:// base path on a GCS stand-in:
        TF's GCS file system has no endpoint setting), as KFP's /gcs/ mount would; a fresh copy at each load (a
        version that failed half-copied is read again whole)."""
        if files.tf_reaches(path):
            return path
        import tempfile
        if self._scratch is None:
            self._scratch = files.scratch_dir("ghsumm-model-server-")
        return files.local_copy(path, tempfile.mkdtemp(dir=self._scratch))

    def poll(self) -> None:
        """One look at the base path: load and switch to the newest version that has not failed as it is."""
        on_disk = self.versions_on_disk()
        for v in list(self._failed):
            if v not in on_disk or _fingerprint(self._path(v)) != self._failed[v]:
                del self._failed[v]  # gone or changed: forget the failure, try again
        with self._lock:
            for v in list(self._status):
                if v not in on_disk and (self._current is None or v != self._current.number):
                    del self._status[v]
        candidates = [v for v in on_disk if v not in self._failed]
        if not candidates:
            if on_disk == [] and self._current is not None:
                log.warning("%s: no versions left under %s; still serving version %d",
                            self.name, self.base_path, self._current.number)
            return
        target = candidates[-1]
        if self._current is not None and self._current.number == target:
            return
        self._load(target)

    def _path(self, v: int) -> str:
        return os.path.join(self.base_path, str(v))

    def _load(self, v: int) -> None:
        path = self._path(v)
        with self._lock:
            self._status[v] = (LOADING, "")
        log.info("%s: loading version %d from %s", self.name, v, path)
        start = time.time()
        try:
            version = Version(v, self._tf_path(path))
        except Exception as e:  # noqa: BLE001 - any load failure is reported and the old version kept
            message = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
            self._failed[v] = _fingerprint(path)
            with self._lock:
                self._status[v] = (END, "failed to load version %d from %s: %s" % (v, path, message))
            log.error("%s: version %d failed to load (%s); %s", self.name, v, message,
                      "still serving version %d" % self._current.number if self._current else "nothing to serve")
            return
        with self._lock:
            old, self._current = self._current, version
            self._status[v] = (AVAILABLE, "")
            if old is not None:
                self._status[old.number] = (END, "")
        log.info("%s: version %d is serving (loaded in %.1f s)%s", self.name, v, time.time() - start,
                 "; version %d unloaded" % old.number if old else "")

    def start(self, poll_seconds: float) -> None:
        def loop():
            while not self._stop.is_set():
                try:
                    self.poll()
                except Exception:  # noqa: BLE001 - a poll failing (e.g. storage hiccup) must not end polling
                    log.exception("%s: polling %s failed", self.name, self.base_path)
                self._stop.wait(poll_seconds)
        self._thread = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        if self.batcher:
            self.batcher.stop()

    # -- what the protocols call -----------------------------------------------------------------------------
    def _check_name(self, name: str) -> None:
        if name != self.name:
            raise NotFound("Servable not found for request: Latest(%s)" % name)

    def get(self, name: str, version: int | None = None) -> Version:
        self._check_name(name)
        current = self._current
        if current is None:
            raise NotFound("Servable not found for request: Latest(%s)" % name)
        if version is not None and version != current.number:
            raise NotFound("Servable not found for request: Specific(%s, %d)" % (name, version))
        return current

    def status(self, name: str, version: int | None = None) -> list[tuple[int, str, str]]:
        """[(version, state, error message)], newest first; NotFound when there is nothing to report."""
        self._check_name(name)
        with self._lock:
            items = sorted(self._status.items(), reverse=True)
        if version is not None:
            items = [(v, s) for v, s in items if v == version]
            if not items:
                raise NotFound("Could not find version %d of model %s" % (version, name))
        if not items:
            raise NotFound("Could not find any versions of model %s" % name)
        return [(v, state, err) for v, (state, err) in items]

    def predict(self, name: str, version: int | None, signature_name: str, inputs: dict) -> tuple[int, dict]:
        """(version number used, outputs); inputs: name -> list/array."""
        served = self.get(name, version)
        signature_name = served.function(signature_name)[0]
        arrays = check_inputs(served, signature_name, inputs)
        if self.batcher is not None:
            return served.number, self.batcher.run(served, signature_name, arrays)
        return served.number, served.run(signature_name, arrays)
