"""Local-or-gs:// files, the one storage layer of the app side: a path is local, or a gs://bucket/name URI reached
through google-cloud-storage (which talks to a GCS stand-in when STORAGE_EMULATOR_HOST names one, as the tests'
tests/gcs_api_stub.py). The JSON records of runs and model versions are written and read here.

An object store has no directories: a "directory" is the prefix of the objects under it (and the zero-byte
"dir/" object makedirs writes, as the console and gsutil do, so an empty one exists too). Writes of one object are
atomic; a "move" of a directory is a copy and a delete, not atomic.

TensorFlow (tensor2tensor, tf.saved_model, TFRecord readers) reads gs:// itself through its own GCS file system,
which has no endpoint setting: with a stand-in (STORAGE_EMULATOR_HOST) it cannot reach the store, so a tool is
given a local scratch copy instead (tf_path / staged), the way KFP's /gcs/ mount presents a bucket as local files.
"""
from __future__ import annotations

import atexit
import contextlib
import fnmatch
import glob as local_glob
import json
import os
import shutil
import tempfile

SCHEME = "gs://"


def is_remote(path: str) -> bool:
    return "://" in path


# ---------------------------------------------------------------------------------------------- gs:// objects
_clients = {}  # STORAGE_EMULATOR_HOST (None: GCS itself) -> its google-cloud-storage client


def _bucket_and_name(uri: str) -> tuple:
    if not uri.startswith(SCHEME):
        raise ValueError("%s: only local paths and gs:// URIs are supported" % uri)
    bucket, _, name = uri[len(SCHEME):].partition("/")
    return bucket, name


def _bucket(uri: str):
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST")
    if endpoint not in _clients:
        from google.cloud import storage
        _clients[endpoint] = storage.Client()
    bucket, name = _bucket_and_name(uri)
    return _clients[endpoint].bucket(bucket), name


def _blobs_under(uri: str) -> list:
    """Every object under the directory uri (recursively), placeholders included."""
    bucket, name = _bucket(uri)
    prefix = name.rstrip("/") + "/" if name.strip("/") else ""
    return list(bucket.client.list_blobs(bucket, prefix=prefix))


def _uri(bucket, name: str) -> str:
    return "%s%s/%s" % (SCHEME, bucket.name, name)


def _is_object(uri: str) -> bool:
    bucket, name = _bucket(uri)
    return bool(name) and not name.endswith("/") and bucket.blob(name).exists()


# ---------------------------------------------------------------------------------------------- the layer
def makedirs(path: str) -> None:
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)
        return
    bucket, name = _bucket(path)
    if name.strip("/") and not isdir(path):
        bucket.blob(name.rstrip("/") + "/").upload_from_string(b"")


def exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    return _is_object(path) or isdir(path)


def isdir(path: str) -> bool:
    if not is_remote(path):
        return os.path.isdir(path)
    bucket, name = _bucket(path)
    prefix = name.rstrip("/") + "/" if name.strip("/") else ""
    return not prefix or bool(list(bucket.client.list_blobs(bucket, prefix=prefix, max_results=1)))


def isfile(path: str) -> bool:
    return _is_object(path) if is_remote(path) else os.path.isfile(path)


def listdir(path: str) -> list[str]:
    """Names in a directory, sorted ([] when it does not exist)."""
    if not is_remote(path):
        return sorted(os.listdir(path)) if os.path.isdir(path) else []
    bucket, name = _bucket(path)
    prefix = name.rstrip("/") + "/" if name.strip("/") else ""
    names = {b.name[len(prefix):].split("/", 1)[0] for b in _blobs_under(path)}
    return sorted(n for n in names if n)


def glob(pattern: str) -> list[str]:
    """The files and directories matching a glob (*, ?, [..] within one path segment), sorted."""
    if not is_remote(pattern):
        return sorted(local_glob.glob(pattern))
    bucket, name = _bucket(pattern)
    magic = min([i for i, c in enumerate(name) if c in "*?["] or [len(name)])
    root = name[:magic].rsplit("/", 1)[0] if "/" in name[:magic] else ""
    wanted = name.rstrip("/").split("/")
    found = set()
    for blob in _blobs_under(_uri(bucket, root)):
        parts = blob.name.rstrip("/").split("/")
        for depth in range(1, len(parts) + 1):  # the object and the directories above it
            candidate = parts[:depth]
            if len(candidate) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(candidate, wanted)):
                found.add(_uri(bucket, "/".join(candidate)))
    return sorted(found)


def read_bytes(path: str) -> bytes:
    if is_remote(path):
        from google.api_core import exceptions
        bucket, name = _bucket(path)
        try:
            return bucket.blob(name).download_as_bytes()
        except exceptions.NotFound:
            raise FileNotFoundError(path) from None
    with open(path, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file at once (a local file through a temporary one beside it, then renamed)."""
    if is_remote(path):
        bucket, name = _bucket(path)
        bucket.blob(name).upload_from_string(data)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str, default=None):
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError):
        return default


def append_line(path: str, line: str) -> None:
    """Appends one line (remote files are rewritten whole: object stores cannot append)."""
    if is_remote(path):
        write_text(path, (read_text(path) if isfile(path) else "") + line + "\n")
        return
    makedirs(os.path.dirname(path))
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def remove(path: str) -> None:
    """Removes one file (nothing when it is not there)."""
    if is_remote(path):
        from google.api_core import exceptions
        bucket, name = _bucket(path)
        try:
            bucket.blob(name).delete()
        except exceptions.NotFound:
            pass
    elif os.path.isfile(path):
        os.remove(path)


def rmtree(path: str) -> None:
    if not is_remote(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    for blob in _blobs_under(path):
        blob.delete()


def _files_in(root: str) -> list[str]:
    """The relative paths of every file under a directory (placeholders of empty directories left out)."""
    if not is_remote(root):
        return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)
    bucket, name = _bucket(root)
    prefix = name.rstrip("/") + "/" if name.strip("/") else ""
    return sorted(b.name[len(prefix):] for b in _blobs_under(root) if not b.name.endswith("/"))


def copy(src: str, dst: str) -> None:
    """Copies one file, local or gs:// on either side."""
    if not is_remote(src) and not is_remote(dst):
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        shutil.copyfile(src, dst)
    elif is_remote(src) and is_remote(dst):
        (src_bucket, src_name), (dst_bucket, dst_name) = _bucket(src), _bucket(dst)
        src_bucket.copy_blob(src_bucket.blob(src_name), dst_bucket, dst_name)
    elif is_remote(dst):
        bucket, name = _bucket(dst)
        bucket.blob(name).upload_from_filename(src)
    else:
        bucket, name = _bucket(src)
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        bucket.blob(name).download_to_filename(dst)


def copytree(src: str, dst: str) -> None:
    """Copies a directory's files into dst (made; files already there are overwritten): local -> local,
    local -> gs:// (upload), gs:// -> local (download), gs:// -> gs://."""
    if not is_remote(src) and not is_remote(dst) and not os.path.exists(dst):
        shutil.copytree(src, dst)  # empty directories too
        return
    makedirs(dst)
    for rel in _files_in(src):
        copy(os.path.join(src, rel), os.path.join(dst, rel))


def move(src: str, dst: str) -> None:
    """Renames a file or directory (on gs://: copied, then the source removed)."""
    if not is_remote(src) and not is_remote(dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)
    elif isfile(src):
        copy(src, dst)
        remove(src)
    else:
        copytree(src, dst)
        rmtree(src)


# ---------------------------------------------------------------------------------------------- for TensorFlow
def tf_reaches(path: str) -> bool:
    """Whether TensorFlow's own file system reads and writes this path: local paths, and gs:// on real GCS (not
    with a stand-in: TF's GCS file system always calls storage.googleapis.com)."""
    return not is_remote(path) or not os.environ.get("STORAGE_EMULATOR_HOST")


def local_copy(path: str, scratch: str) -> str:
    """A local copy of path (a file or a directory) under the dir scratch, made once (a second call returns it);
    path itself when it is local."""
    if not is_remote(path):
        return path
    _, name = _bucket_and_name(path)
    local = os.path.join(scratch, _bucket_and_name(path)[0], name.strip("/"))
    if not os.path.exists(local):
        if isfile(path):
            copy(path, local)
        else:
            copytree(path, local + ".part")
            os.replace(local + ".part", local)
    return local


def scratch_dir(prefix: str) -> str:
    """A new local temporary directory that lives as long as the process: removed when it exits (not when it is
    killed). For what a long-lived process keeps for its whole life (a compiled pipeline, a model's local copy)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


@contextlib.contextmanager
def tf_path(path: str, write_back: bool = False):
    """A path TensorFlow can use for path: itself when TF reaches it (tf_reaches), else a local scratch copy of its
    content (none when it does not exist yet), copied back to path on success when write_back (a tool's output
    dir). The scratch copy is removed at the end."""
    if not path or tf_reaches(path):
        yield path
        return
    scratch = tempfile.mkdtemp(prefix="ghsumm-staged-")
    try:
        local = os.path.join(scratch, "dir")
        if exists(path):
            local = local_copy(path, scratch)
        yield local
        if write_back and os.path.exists(local):
            (copytree if os.path.isdir(local) else copy)(local, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
