"""copy_checkpoint (the warm start) and the compatibility checks that run before any training graph is built.

    python -m trainer copy_checkpoint --checkpoint_dir gs://bucket/model --model_dir work/run1/model \
        --data_dir work/run1/data [--hparams_set ...] [--hparams ...]

A model dir carries what it was trained with: its vocabulary file and ghsumm_model.json (hyper-parameter set and
overrides), written by `trainer train`. A checkpoint is compatible with a data dir when both have the same
vocabulary (byte for byte: ids mean the same subwords) and with a training run when the hyper-parameters that
shape the variables agree. Anything else is a clear error before training starts, not a crash inside T2T.
A "slim" checkpoint (`python -m trainer slim_checkpoint`) holds the model's weights without the optimizer's
moment slots, stored as float16: a sixth of the size. The shipped warm start (data/warm_start/) is one.
copy_checkpoint turns it back into a full float32 checkpoint, with the slots as zeros and the optimizer's
iteration count at 0, which is what a fresh optimizer would have, so training continues from the weights with a
correctly bias-corrected Adam; export reads its weights as float32 (servable_checkpoint). float16 keeps 11
significant bits: the shipped model's titles on the dev sets are the same but one in 774.
A plain Transformer checkpoint can warm-start a transformer_copy model (trainer/copy_model.py): copy_checkpoint
renames its variables into the copy model's scope and adds the copy gate, starting half open (g = 0.5).
Runs in the t2t environment (any path tf.io.gfile understands: local, gs://).
"""
from __future__ import annotations

import json
import logging
import os

from trainer.problem import VOCAB_FILENAME  # applies trainer/compat.py's shims first
from data.contract import MODEL_CARD_FILE, SECOND_MODEL_DIR  # noqa: E402

import tensorflow.compat.v1 as tf  # noqa: E402  (after the shims)

from trainer import continuation  # noqa: E402
from trainer.copy_model import MODEL_NAME as COPY_MODEL, SECOND_MODEL_SCOPE  # noqa: E402
from trainer.hparams import DEFAULT_MODEL, MODEL_HPARAM  # noqa: E402

log = logging.getLogger("ghsumm.checkpoint")

RUN_FILE = MODEL_CARD_FILE
SLIM_FILE = "slim_checkpoint.json"  # in a slim checkpoint's dir: the optimizer slots it left out
# T2T (TF 2) trains with LazyAdam; its per-variable moments are training/LazyAdam/<variable>/m and .../v.
SLOT_PREFIX, SLOT_SUFFIXES = "training/LazyAdam/", ("/m", "/v")
OPTIMIZER_ITERATIONS = "training/LazyAdam/iter"
# Hyper-parameters that change variable shapes or names: a checkpoint cannot be restored if one differs.
# (MODEL_HPARAM: the registered T2T model, whose name scopes every variable; see trainer/hparams.py)
SHAPE_HPARAMS = ("hidden_size", "filter_size", "num_hidden_layers", "num_encoder_layers", "num_decoder_layers",
                 "num_heads", "shared_embedding_and_softmax_weights", "symbol_modality_num_shards",
                 "ffn_layer", "self_attention_type", MODEL_HPARAM)


class IncompatibleCheckpoint(ValueError):
    """The checkpoint cannot be trained on with this data or these hyper-parameters."""


def _read(path: str) -> bytes:
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def newest_checkpoint(model_dir: str) -> str | None:
    return tf.train.latest_checkpoint(model_dir) if tf.io.gfile.isdir(model_dir) else None


def read_run(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, RUN_FILE)
    return json.loads(_read(path)) if tf.io.gfile.exists(path) else None


def shape_hparams(hparams_set: str, hparams: str) -> dict:
    from tensor2tensor.utils import trainer_lib
    import trainer.hparams  # noqa: F401  (registers the project's sets)
    hp = trainer_lib.create_hparams(hparams_set, hparams)
    return {k: hp.get(k) for k in SHAPE_HPARAMS if k in hp.values()}


def _model_of(shape: dict) -> str:
    return shape.get(MODEL_HPARAM) or DEFAULT_MODEL


def becomes_copy_model(model_dir: str, hparams_set: str, hparams: str) -> bool:
    """True when model_dir holds a plain Transformer and the requested set trains transformer_copy with the same
    sizes: copy_checkpoint converts such a checkpoint (module docstring)."""
    run = read_run(model_dir)
    if run is None:
        return False
    theirs, ours = shape_hparams(run["hparams_set"], run.get("hparams", "")), shape_hparams(hparams_set, hparams)
    return _model_of(theirs) == DEFAULT_MODEL and _model_of(ours) == COPY_MODEL


def check_compatible(model_dir: str, data_dir: str, hparams_set: str, hparams: str,
                     convertible: bool = False) -> None:
    """Raises IncompatibleCheckpoint when model_dir holds a checkpoint that this data dir or these
    hyper-parameters cannot continue. An empty model dir is always fine (training starts from scratch).
    convertible: a plain Transformer checkpoint for a transformer_copy run is fine (copy_checkpoint converts it)."""
    if not newest_checkpoint(model_dir):
        return
    vocab_here = os.path.join(data_dir, VOCAB_FILENAME)
    vocab_there = os.path.join(model_dir, VOCAB_FILENAME)
    if not tf.io.gfile.exists(vocab_there):
        raise IncompatibleCheckpoint(
            f"{model_dir} has a checkpoint but not its vocabulary ({VOCAB_FILENAME}): its word ids cannot be "
            "checked against the data. Copy the vocabulary the checkpoint was trained with beside it.")
    if not tf.io.gfile.exists(vocab_here):
        raise IncompatibleCheckpoint(f"{data_dir} has no {VOCAB_FILENAME}: run the preprocessing job first")
    if _read(vocab_here) != _read(vocab_there):
        raise IncompatibleCheckpoint(
            f"the checkpoint in {model_dir} was trained with a different vocabulary than {data_dir} has: its word "
            f"ids would mean other subwords. Preprocess with the checkpoint's vocabulary: python -m data.preprocess "
            f"... --vocab_file {vocab_there}")
    run = read_run(model_dir)
    if run is None:
        log.warning("%s has no %s: its hyper-parameters cannot be checked", model_dir, RUN_FILE)
        return
    theirs = shape_hparams(run["hparams_set"], run.get("hparams", ""))
    ours = shape_hparams(hparams_set, hparams)
    differ = {k: (theirs.get(k), ours.get(k)) for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k)}
    if convertible and _model_of(theirs) == DEFAULT_MODEL and _model_of(ours) == COPY_MODEL:
        differ.pop(MODEL_HPARAM, None)
    if differ:
        detail = ", ".join(f"{k}: checkpoint {a!r}, requested {b!r}" for k, (a, b) in sorted(differ.items()))
        raise IncompatibleCheckpoint(
            f"the checkpoint in {model_dir} was trained with hparams_set {run['hparams_set']!r} "
            f"({run.get('hparams') or 'no overrides'}); the requested {hparams_set!r} "
            f"({hparams or 'no overrides'}) differs in variable shapes: {detail}")


def copy_checkpoint(checkpoint_dir: str, model_dir: str, data_dir: str, hparams_set: str, hparams: str = "") -> int:
    """Copies the newest checkpoint of checkpoint_dir (with its vocabulary and run file) into model_dir, after
    checking it fits data_dir and the hyper-parameters. Returns its step. Idempotent: a model dir that already
    has this step or a later one is left as it is (a retried or resumed run loses nothing)."""
    source = newest_checkpoint(checkpoint_dir)
    if not source:
        raise IncompatibleCheckpoint(f"no checkpoint in {checkpoint_dir} (expected a 'checkpoint' file and "
                                     "model.ckpt-N.* files, as T2T writes them)")
    convert = becomes_copy_model(checkpoint_dir, hparams_set, hparams)
    check_compatible(checkpoint_dir, data_dir, hparams_set, hparams, convertible=convert)
    step = int(source.rsplit("-", 1)[1])
    have = newest_checkpoint(model_dir)
    if have and int(have.rsplit("-", 1)[1]) >= step:
        log.info("%s already at step %s >= %d: not copying", model_dir, have.rsplit("-", 1)[1], step)
        return int(have.rsplit("-", 1)[1])
    tf.io.gfile.makedirs(model_dir)
    name = os.path.basename(source)
    slim = os.path.join(checkpoint_dir, SLIM_FILE)
    files = [os.path.join(checkpoint_dir, VOCAB_FILENAME)] if tf.io.gfile.exists(
        os.path.join(checkpoint_dir, VOCAB_FILENAME)) else []
    if tf.io.gfile.exists(slim) or convert:
        tensors = (_with_fresh_slots(source, json.loads(_read(slim))) if tf.io.gfile.exists(slim)
                   else _all_tensors(source))
        if convert:
            tensors = as_copy_model(tensors)
            log.info("%s is a plain Transformer: converted to %s (copy gate half open)", source, COPY_MODEL)
        _write_checkpoint(os.path.join(model_dir, name), tensors)
    else:
        files += tf.io.gfile.glob(source + ".*")
    if convert:  # the run file says what the model dir holds now
        run = dict(read_run(checkpoint_dir), model=COPY_MODEL, hparams_set=hparams_set, hparams=hparams)
        with tf.io.gfile.GFile(os.path.join(model_dir, RUN_FILE), "w") as f:
            f.write(json.dumps(run, indent=2) + "\n")
    elif tf.io.gfile.exists(os.path.join(checkpoint_dir, RUN_FILE)):
        files.append(os.path.join(checkpoint_dir, RUN_FILE))
    for path in files:
        tf.io.gfile.copy(path, os.path.join(model_dir, os.path.basename(path)), overwrite=True)
    _copy_second_model(checkpoint_dir, model_dir)
    continuation.write_record(model_dir, step, source)  # trainer train continues it gently (its docstring)
    # The 'checkpoint' index last, with a relative path: until it is written the copy is not a checkpoint.
    _write_index(model_dir, name)
    log.info("copied checkpoint %s (step %d) into %s", source, step, model_dir)
    return step


# ---------------------------------------------------------------- slim checkpoints (the shipped warm start)

def _is_slot(name: str) -> bool:
    return name.startswith(SLOT_PREFIX) and name.endswith(SLOT_SUFFIXES)


def _write_checkpoint(prefix: str, tensors: dict) -> None:
    """Writes name -> numpy array as a TF checkpoint (prefix.index + prefix.data-*), names sorted."""
    names = sorted(tensors)
    with tf.Graph().as_default(), tf.Session() as session:  # T2T runs TF in graph mode
        session.run(tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                                      tensors=[tf.constant(tensors[n]) for n in names]))


def _write_index(model_dir: str, name: str) -> None:
    """model_dir's 'checkpoint' index naming the one checkpoint `name` (relative, so the dir can move)."""
    with tf.io.gfile.GFile(os.path.join(model_dir, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')


def _all_tensors(source: str) -> dict:
    reader = tf.train.load_checkpoint(source)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def as_copy_model(tensors: dict) -> dict:
    """A plain Transformer's checkpoint tensors as transformer_copy's: every variable (and optimizer slot) moved
    from the transformer/ scope to transformer_copy/, plus the copy gate (kernel 0, bias 0: g = 0.5 everywhere)
    and, when the checkpoint has optimizer slots, zero slots for it."""
    import re
    import numpy as np
    renamed = {}
    for name, value in tensors.items():
        for prefix in ("transformer/", SLOT_PREFIX + "transformer/"):
            if name.startswith(prefix):
                name = prefix.replace("transformer/", COPY_MODEL + "/") + name[len(prefix):]
                break
        renamed[name] = value
    modality = [m for m in (re.match(r"^%s/(symbol_modality_\d+_(\d+))/shared/weights_0$" % COPY_MODEL, n)
                            for n in renamed) if m]
    if len(modality) != 1:
        raise IncompatibleCheckpoint("not a Transformer checkpoint with one shared symbol modality: cannot add "
                                     "a copy gate")
    scope, hidden = "%s/%s/copy_gate" % (COPY_MODEL, modality[0].group(1)), int(modality[0].group(2))
    gate = {scope + "/kernel": np.zeros([hidden, 1], np.float32), scope + "/bias": np.zeros([1], np.float32)}
    renamed.update(gate)
    if any(_is_slot(n) for n in renamed):
        for name, value in gate.items():
            for suffix in SLOT_SUFFIXES:
                renamed[SLOT_PREFIX + name + suffix] = np.zeros_like(value)
    return renamed


def _with_fresh_slots(source: str, slim: dict) -> dict:
    """The slim checkpoint's tensors plus zero moments for every slot it left out, iterations back at 0."""
    import numpy as np
    tensors = _as_float32(_all_tensors(source))
    for name, (shape, dtype) in slim["dropped_slots"].items():
        tensors[name] = np.zeros(shape, dtype=dtype)
    if OPTIMIZER_ITERATIONS in tensors:
        tensors[OPTIMIZER_ITERATIONS] = np.zeros_like(tensors[OPTIMIZER_ITERATIONS])
    log.info("%s is slim: its %d optimizer slots start from zero", source, len(slim["dropped_slots"]))
    return tensors


def _write_slim(out_dir: str, name: str, tensors: dict, dropped: dict, model_dir: str, source: str) -> str:
    """out_dir holds one slim checkpoint, `name` (tensors without the optimizer slots `dropped`: name -> [shape,
    dtype]), with model_dir's vocabulary and run file and SLIM_FILE (what was left out, from `source`)."""
    tf.io.gfile.makedirs(out_dir)
    for old in tf.io.gfile.glob(os.path.join(out_dir, "model.ckpt-*")):
        tf.io.gfile.remove(old)
    _write_checkpoint(os.path.join(out_dir, name), _as_float16(tensors))
    for f in (VOCAB_FILENAME, RUN_FILE):
        tf.io.gfile.copy(os.path.join(model_dir, f), os.path.join(out_dir, f), overwrite=True)
    with tf.io.gfile.GFile(os.path.join(out_dir, SLIM_FILE), "w") as f:
        f.write(json.dumps({"source": source, "dropped_slots": dropped}, indent=1, sort_keys=True) + "\n")
    _write_index(out_dir, name)
    log.info("slim checkpoint %s: %d tensors, %d optimizer slots left out", os.path.join(out_dir, name),
             len(tensors), len(dropped))
    return os.path.join(out_dir, name)


def _slots_of(reader) -> dict:
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    return {n: [list(shapes[n]), dtypes[n].name] for n in shapes if _is_slot(n)}


def slim_checkpoint(model_dir: str, out_dir: str) -> str:
    """Writes the newest checkpoint of model_dir into out_dir without the optimizer's moment slots (a third of
    the size), with the vocabulary, the run file and SLIM_FILE (what was left out: copy_checkpoint restores
    it). Returns the new checkpoint's prefix."""
    source = newest_checkpoint(model_dir)
    if not source:
        raise IncompatibleCheckpoint(f"no checkpoint in {model_dir}")
    reader = tf.train.load_checkpoint(source)
    dropped = _slots_of(reader)
    if not dropped:
        raise IncompatibleCheckpoint(f"{source} has no {SLOT_PREFIX}*/m|v slots: nothing to leave out")
    tensors = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if n not in dropped}
    return _write_slim(out_dir, os.path.basename(source), tensors, dropped, model_dir, source)


def average_checkpoints(model_dir: str, steps: list[int], out_dir: str) -> str:
    """A slim checkpoint whose weights are the mean of model_dir's checkpoints at `steps` (the last few of a
    run: averaging them smooths the noise of the last updates, a common gain for Transformers at no training
    cost). Integer variables (global step, iterations) come from the newest; named like it. Returns its prefix."""
    import numpy as np
    if not steps:
        raise IncompatibleCheckpoint("no checkpoint to average")
    prefixes = [os.path.join(model_dir, f"model.ckpt-{s}") for s in sorted(steps)]
    readers = [tf.train.load_checkpoint(p) for p in prefixes]
    newest = readers[-1]
    dropped = _slots_of(newest)
    tensors = {}
    for name, dtype in newest.get_variable_to_dtype_map().items():
        if name in dropped:
            continue
        if dtype.is_floating:
            total = sum(r.get_tensor(name).astype(np.float64) for r in readers)
            tensors[name] = (total / len(readers)).astype(dtype.as_numpy_dtype)
        else:
            tensors[name] = newest.get_tensor(name)
    source = "average of " + ", ".join(prefixes)
    return _write_slim(out_dir, os.path.basename(prefixes[-1]), tensors, dropped, model_dir, source)


# ---------------------------------------------------------------- a second model (its beam titles join the candidates)

def second_model_checkpoint(model_dir: str) -> str | None:
    """The checkpoint of the second model model_dir carries (model_dir/SECOND_MODEL_DIR), if any: `trainer export`
    builds its beam search into the serving graph beside the model's (trainer/copy_model.py, SECOND_MODEL_HPARAM)."""
    return newest_checkpoint(os.path.join(model_dir, SECOND_MODEL_DIR))


def _copy_second_model(checkpoint_dir: str, model_dir: str) -> None:
    """A warm start carries its second model along (copy_checkpoint): training leaves it as it is."""
    source = os.path.join(checkpoint_dir, SECOND_MODEL_DIR)
    if not second_model_checkpoint(checkpoint_dir):
        return
    target = os.path.join(model_dir, SECOND_MODEL_DIR)
    tf.io.gfile.makedirs(target)
    names = sorted(tf.io.gfile.listdir(source), key=lambda n: n == "checkpoint")  # the index last
    for name in names:
        tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name), overwrite=True)
    log.info("copied the second model %s into %s", source, target)


SECOND_MODEL_TRAINING = "second_model_training"  # in a model dir: where a continued run trains its second model


def prepare_second_model_training(model_dir: str) -> tuple[str, int]:
    """(dir, step): a T2T model dir in which model_dir's second model can be trained on, made once: model_dir's
    newest checkpoint (the same variables) with the second model's weights (as float32), zero Adam moments and
    iterations and the second model's step, the vocabulary, its run file and a continuation record (trainer train
    continues it as gently as the model). A dir made before (a killed run) is kept as it is."""
    import numpy as np
    run_dir = os.path.join(model_dir, SECOND_MODEL_TRAINING)
    have = newest_checkpoint(run_dir)
    if have:
        return run_dir, continuation.read_record(run_dir)["start_step"]
    source, main = second_model_checkpoint(model_dir), newest_checkpoint(model_dir)
    if not source or not main:
        raise IncompatibleCheckpoint(f"{model_dir} has no second model or no checkpoint of its own")
    # every variable of the model's own checkpoint (T2T's loss averages, the step, the optimizer's), its slots and
    # iterations zero, then the second model's weights over the model's
    tensors = _all_tensors(main)
    tensors.update({n: np.zeros_like(v) for n, v in tensors.items() if _is_slot(n) or n == OPTIMIZER_ITERATIONS})
    tensors.update(_as_float32(_all_tensors(source)))
    step = int(source.rsplit("-", 1)[1])
    tensors["global_step"] = np.array(step, dtype=tensors["global_step"].dtype)
    tf.io.gfile.makedirs(run_dir)
    name = os.path.basename(source)
    _write_checkpoint(os.path.join(run_dir, name), tensors)
    tf.io.gfile.copy(os.path.join(model_dir, VOCAB_FILENAME), os.path.join(run_dir, VOCAB_FILENAME), overwrite=True)
    tf.io.gfile.copy(os.path.join(os.path.dirname(source), RUN_FILE), os.path.join(run_dir, RUN_FILE), overwrite=True)
    continuation.write_record(run_dir, step, source)
    _write_index(run_dir, name)
    return run_dir, step


def add_second_model(model_dir: str, out_dir: str) -> str:
    """Writes the newest checkpoint of model_dir as out_dir's second model: its transformer_copy weights only
    (no optimizer state), stored as float16 (half the size; export reads them back as float32), with its run
    file. The second model must read and write the same subwords and have the same sizes as out_dir's model.
    Returns the new checkpoint's prefix."""
    source = newest_checkpoint(model_dir)
    if not source:
        raise IncompatibleCheckpoint(f"no checkpoint in {model_dir}")
    for name in (VOCAB_FILENAME, RUN_FILE):
        if not all(tf.io.gfile.exists(os.path.join(d, name)) for d in (out_dir, model_dir)):
            raise IncompatibleCheckpoint(f"{out_dir} and {model_dir} must both have {name}")
    if _read(os.path.join(out_dir, VOCAB_FILENAME)) != _read(os.path.join(model_dir, VOCAB_FILENAME)):
        raise IncompatibleCheckpoint(f"{model_dir} has another vocabulary than {out_dir}: ids would mean other "
                                     "subwords")
    runs = [read_run(d) for d in (out_dir, model_dir)]
    shapes = [shape_hparams(r["hparams_set"], r.get("hparams", "")) for r in runs]
    if shapes[0] != shapes[1] or _model_of(shapes[1]) != COPY_MODEL:
        raise IncompatibleCheckpoint(f"{model_dir} is not a {COPY_MODEL} of {out_dir}'s sizes: {shapes[1]} against "
                                     f"{shapes[0]}")
    reader = tf.train.load_checkpoint(source)
    tensors = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if n.startswith(COPY_MODEL + "/")}
    target = os.path.join(out_dir, SECOND_MODEL_DIR)
    if tf.io.gfile.exists(target):
        tf.io.gfile.rmtree(target)
    tf.io.gfile.makedirs(target)
    name = os.path.basename(source)
    _write_checkpoint(os.path.join(target, name), _as_float16(tensors))
    tf.io.gfile.copy(os.path.join(model_dir, RUN_FILE), os.path.join(target, RUN_FILE), overwrite=True)
    _write_index(target, name)
    log.info("second model %s: %d tensors (float16) from %s", os.path.join(target, name), len(tensors), source)
    return os.path.join(target, name)


def servable_checkpoint(checkpoint_path: str, out_prefix: str, second_path: str | None = None) -> str:
    """What an export restores: checkpoint_path's weights as float32 (a slim checkpoint stores float16), without
    the optimizer's state, and the second model's (second_path) under SECOND_MODEL_SCOPE/. Returns out_prefix."""
    reader = tf.train.load_checkpoint(checkpoint_path)
    tensors = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map() if not _is_slot(n)}
    if second_path:
        second = tf.train.load_checkpoint(second_path)
        tensors.update({f"{SECOND_MODEL_SCOPE}/{n}": second.get_tensor(n)
                        for n in second.get_variable_to_shape_map() if n.startswith(COPY_MODEL + "/")})
    _write_checkpoint(out_prefix, _as_float32(tensors))
    return out_prefix


def _as_float16(tensors: dict) -> dict:
    import numpy as np
    return {n: t.astype(np.float16) if t.dtype == np.float32 else t for n, t in tensors.items()}


def _as_float32(tensors: dict) -> dict:
    import numpy as np
    return {n: t.astype(np.float32) if t.dtype == np.float16 else t for n, t in tensors.items()}
