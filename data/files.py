"""Local-or-remote files: a path is local, or a URI (gs://...) reached through TensorFlow's file system layer,
which the images have. The JSON records of runs and model versions are written and read here."""
from __future__ import annotations

import json
import os


def is_remote(path: str) -> bool:
    return "://" in path


def makedirs(path: str) -> None:
    if not is_remote(path):
        os.makedirs(path, exist_ok=True)
    else:  # gs:// and friends: through TF's file system layer, which the images have
        import tensorflow as tf
        tf.io.gfile.makedirs(path)


def exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    import tensorflow as tf
    return tf.io.gfile.exists(path)


def listdir(path: str) -> list[str]:
    """Names in a directory ([] when it does not exist)."""
    if is_remote(path):
        import tensorflow as tf
        return [n.rstrip("/") for n in tf.io.gfile.listdir(path)] if tf.io.gfile.exists(path) else []
    return os.listdir(path) if os.path.isdir(path) else []


def write_json(path: str, obj) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    if is_remote(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_json(path: str, default=None):
    try:
        if is_remote(path):
            import tensorflow as tf
            with tf.io.gfile.GFile(path) as f:
                return json.load(f)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def read_text(path: str) -> str:
    if is_remote(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def append_line(path: str, line: str) -> None:
    """Appends one line (remote files are rewritten whole: object stores cannot append)."""
    makedirs(os.path.dirname(path))
    if is_remote(path):
        import tensorflow as tf
        text = read_text(path) if exists(path) else ""
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text + line + "\n")
    else:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def move(src: str, dst: str) -> None:
    makedirs(os.path.dirname(dst))
    if is_remote(src):
        import tensorflow as tf
        tf.io.gfile.rename(src, dst)
    else:
        os.replace(src, dst)


def copytree(src: str, dst: str) -> None:
    if not is_remote(src) and not is_remote(dst):
        import shutil
        shutil.copytree(src, dst)
        return
    import tensorflow as tf
    for root, _, names in tf.io.gfile.walk(src):
        rel = os.path.relpath(root, src)
        target_dir = dst if rel == "." else os.path.join(dst, rel)
        tf.io.gfile.makedirs(target_dir)
        for name in names:
            tf.io.gfile.copy(os.path.join(root, name), os.path.join(target_dir, name), overwrite=True)


def rmtree(path: str) -> None:
    if is_remote(path):
        import tensorflow as tf
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)
    else:
        import shutil
        shutil.rmtree(path, ignore_errors=True)
