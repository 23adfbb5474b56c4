"""How a run that continues a checkpoint trains: a fresh warm-up, a lower peak, a decay to its last step.

copy_checkpoint leaves `continuation.json` in the model dir it fills (the step it copied, where from); `trainer
train` reads it and multiplies the set's learning rate by the `continuation` factor registered here:

    factor(step) = scale * min(1, (step - start) / warmup) * max(floor, (end - step) / (end - start))

start is the copied step, end the run's --train_steps. A continued run starts with fresh Adam moments (a slim
checkpoint has none); without this factor it took the set's full rate at once, and its first updates undid
part of what the model knew (data/warm_start/README.md, "Continued training"). A killed continued run resumes
with the same factor (the record stays in the model dir); a run from scratch has no record and no factor.
Runs in the t2t environment.
"""
from __future__ import annotations

import json
import os

RECORD_FILE = "continuation.json"
# `pipeline run`'s (and so `make run`'s) steps past its warm start: its default train_steps is the warm step + this
PIPELINE_MORE_STEPS = 200
FACTOR = "continuation"
# hparams the factor reads (added to the project's sets by `add_hparams`); the defaults are what
# data/warm_start/README.md measured best for a continued run, overridable with --hparams like any other. The
# start and end steps are set by `apply` for each run.
START_HPARAM, END_HPARAM = "ghsumm_continue_start", "ghsumm_continue_end"
DEFAULTS = {START_HPARAM: 0, END_HPARAM: 0,
            "ghsumm_continue_scale": 0.2, "ghsumm_continue_warmup": 50, "ghsumm_continue_decay": 1,
            "ghsumm_continue_floor": 0.1,
            # 1: a second model the model dir carries trains beside it (trainer/train.py, train_second_model)
            "ghsumm_continue_second_model": 1}


def write_record(model_dir: str, step: int, source: str) -> None:
    import tensorflow.compat.v1 as tf
    with tf.io.gfile.GFile(os.path.join(model_dir, RECORD_FILE), "w") as f:
        f.write(json.dumps({"start_step": int(step), "checkpoint": source}, indent=2) + "\n")


def read_record(model_dir: str) -> dict | None:
    import tensorflow.compat.v1 as tf
    path = os.path.join(model_dir, RECORD_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def add_hparams(hp) -> None:
    """The factor's knobs with their defaults, in a hyper-parameter set (so --hparams can override them)."""
    for name, value in DEFAULTS.items():
        if name not in hp.values():
            hp.add_hparam(name, value)


def apply(hp, start_step: int, end_step: int) -> None:
    """Multiplies hparams hp's learning rate by the continuation factor for a run from start_step to end_step."""
    register()
    add_hparams(hp)
    hp.set_hparam(START_HPARAM, int(start_step))
    hp.set_hparam(END_HPARAM, int(end_step))
    names = [n.strip() for n in hp.learning_rate_schedule.split("*")]
    if FACTOR not in names:
        hp.learning_rate_schedule = hp.learning_rate_schedule + "*" + FACTOR


def factor(step, hp):
    """The continuation factor at step (a float tensor) for hparams hp (module docstring)."""
    import tensorflow.compat.v1 as tf
    start, end = float(hp.get(START_HPARAM)), float(hp.get(END_HPARAM))
    warmup = max(float(hp.get("ghsumm_continue_warmup")), 1.0)
    value = hp.get("ghsumm_continue_scale") * tf.minimum(1.0, tf.maximum(step - start, 0.0) / warmup)
    if hp.get("ghsumm_continue_decay"):
        left = tf.maximum((end - step) / max(end - start, 1.0), float(hp.get("ghsumm_continue_floor")))
        value *= tf.minimum(left, 1.0)
    return value


def register() -> None:
    """Teaches T2T's learning_rate_factor the `continuation` factor (once)."""
    from tensor2tensor.utils import learning_rate
    if getattr(learning_rate.learning_rate_factor, "ghsumm_continuation", False):
        return
    t2t_factor = learning_rate.learning_rate_factor

    def learning_rate_factor(name, step_num, hparams):
        if name == FACTOR:
            return factor(step_num, hparams)
        return t2t_factor(name, step_num, hparams)

    learning_rate_factor.ghsumm_continuation = True
    learning_rate.learning_rate_factor = learning_rate_factor
