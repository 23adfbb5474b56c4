"""Export: the newest checkpoint of a model dir as a SavedModel that tensorflow/serving loads.

    python -m trainer export --model_dir work/run1/model --model_base_path work/serving/ghsumm [--beam_size 4]

Writes model_base_path/<version>/ with saved_model.pb + variables/ and the serving_default predict signature
(input: a batch of serialized tf.train.Example with int64 "inputs" = the body's subword ids ending in EOS;
outputs: "outputs" ids and "scores"; when minimum Bayes risk decodes, also "candidates" [batch, n, length] and
"candidate_scores" [batch, n]: every candidate title ranked by the samples' agreement, the chosen one first, so a
client can offer the next ones as alternatives). The version is the checkpoint's global step, so exporting the same
checkpoint twice gives the same version (and the second export does nothing) and a later checkpoint always gets
a higher number. assets.extra/ (which TF Serving ignores) carries the vocabulary and a model card, so a client
can find both beside the model.

Atomic: the SavedModel is written into a hidden temporary directory in model_base_path (TF Serving only looks
at all-digit names) and renamed into place once complete; on object stores, where a rename is a copy, the
files are copied with saved_model.pb last, so a loader never finds a graph without its variables.
Beam size, length penalty and the decoding rules (minimum length, no repeated trigram) are baked into the export
(T2T builds the beam search into the graph), and so is the second model a model dir may carry (its beam search
beside the model's: trainer/copy_model.py; `--no_second_model` leaves it out).
Runs in the t2t environment.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time

from trainer import checkpoint  # applies trainer/compat.py's shims first
import trainer.hparams  # noqa: F401,E402  (registers the project's sets)
from trainer import copy_model  # noqa: E402
from trainer.problem import PROBLEM_NAME, VOCAB_FILENAME
from data import contract

import tensorflow.compat.v1 as tf  # noqa: E402

log = logging.getLogger("ghsumm.export")

EXTRA_LENGTH = 40  # decode at most input length + this many subwords (titles are short)
CANDIDATE_OUTPUTS = ("candidates", "candidate_scores")  # minimum Bayes risk's ranked titles and their scores


def _is_local(path: str) -> bool:
    return "://" not in path


def _publish(tmp_dir: str, final_dir: str) -> None:
    if _is_local(final_dir):
        os.rename(tmp_dir, final_dir)
        return
    files = [os.path.join(root, name) for root, _, names in tf.io.gfile.walk(tmp_dir) for name in names]
    files.sort(key=lambda p: os.path.basename(p) == "saved_model.pb")  # the graph last
    for path in files:
        target = os.path.join(final_dir, os.path.relpath(path, tmp_dir))
        tf.io.gfile.makedirs(os.path.dirname(target))
        tf.io.gfile.copy(path, target, overwrite=True)
    tf.io.gfile.rmtree(tmp_dir)


def xla_config(hp, model: str, beam_size: int, alpha: float, rules: dict) -> dict | None:
    """trainer/fast_decode.py's settings when it decodes what T2T's graph would (the copy model, minimum Bayes risk,
    a maximum title length, the layers it implements); else None."""
    plain = (hp.layer_preprocess_sequence == "n" and hp.layer_postprocess_sequence == "da" and hp.pos == "timing"
             and hp.shared_embedding_and_softmax_weights and hp.ffn_layer == "dense_relu_dense"
             and hp.self_attention_type == "dot_product" and not hp.num_encoder_layers and not hp.num_decoder_layers
             and hp.multiply_embedding_mode == "sqrt_depth" and not hp.proximity_bias)
    if not (model == copy_model.MODEL_NAME and plain and beam_size > 1 and rules.get("mbr_samples")
            and 0 < rules.get("max_length", 0) <= EXTRA_LENGTH and hp.max_input_seq_length and rules.get("no_repeat_ngram") in (0, 3)):
        return None
    return dict(layers=hp.num_hidden_layers, heads=hp.num_heads, max_input=hp.max_input_seq_length,
                beam_size=beam_size, alpha=alpha, rules=rules)


def export(model_dir: str, model_base_path: str, beam_size: int = 4, alpha: float | None = None,
           rules: dict | None = None, second_model: bool = True, graph: str = "xla") -> str:
    """Exports the newest checkpoint; returns the version directory. alpha: the beam search's length penalty,
    rules: the copy model's decoding rules that differ from the hyper-parameter set's ({"min_length": 11};
    trainer.hparams.decode_rules). second_model: when model_dir carries one (checkpoint.second_model_checkpoint)
    and minimum Bayes risk decodes, its beam titles join the candidates (False: this model's alone). graph: "xla"
    writes the copy model's minimum Bayes risk decoding as trainer/fast_decode.py's loop when it can (xla_config),
    "t2t" (or a model it cannot) T2T's graph."""
    from tensor2tensor.utils import decoding, registry, trainer_lib
    ckpt = checkpoint.newest_checkpoint(model_dir)
    if not ckpt:
        raise checkpoint.IncompatibleCheckpoint(f"no checkpoint in {model_dir}: train first")
    run = checkpoint.read_run(model_dir)
    if run is None or not tf.io.gfile.exists(os.path.join(model_dir, VOCAB_FILENAME)):
        raise checkpoint.IncompatibleCheckpoint(
            f"{model_dir} lacks {checkpoint.RUN_FILE} or {VOCAB_FILENAME} (written by `python -m trainer train`)")
    version = int(ckpt.rsplit("-", 1)[1])
    final_dir = os.path.join(model_base_path, str(version))
    if tf.io.gfile.exists(os.path.join(final_dir, "saved_model.pb")):
        log.info("version %d already exported at %s", version, final_dir)
        return final_dir
    started = time.time()
    # The model dir holds the vocabulary, so it serves as T2T's data_dir for the problem's encoders.
    hp = trainer_lib.create_hparams(run["hparams_set"], run.get("hparams", ""), data_dir=model_dir,
                                    problem_name=PROBLEM_NAME)
    model = trainer.hparams.model_name(hp)
    alpha = trainer.hparams.decode_alpha(hp) if alpha is None else alpha
    rules = trainer.hparams.decode_rules(hp, **(rules or {}))
    second = (checkpoint.second_model_checkpoint(model_dir)
              if second_model and beam_size > 1 and rules.get("mbr_samples") else None)
    if second:
        trainer.hparams.set_hparam(hp, copy_model.SECOND_MODEL_HPARAM, 1)
    decode_hp = decoding.decode_hparams(f"beam_size={beam_size},alpha={alpha},extra_length={EXTRA_LENGTH}")
    if model == copy_model.MODEL_NAME and beam_size > 1 and rules.get("mbr_samples"):
        # the ranked candidates beside "outputs" and "scores" (trainer/copy_model.py, infer), which stay as they are
        decode_hp.export_extra_infer_outputs = ",".join(CANDIDATE_OUTPUTS)
    run_config = trainer_lib.create_run_config(model_name=model, model_dir=model_dir, num_gpus=0)
    estimator = trainer_lib.create_estimator(model, hp, run_config, decode_hparams=decode_hp)
    problem = registry.problem(PROBLEM_NAME)
    tmp_base = os.path.join(model_base_path, ".tmp-%d-%d" % (version, os.getpid()))
    tf.io.gfile.makedirs(tmp_base)
    xla = xla_config(hp, model, beam_size, alpha, rules) if graph == "xla" else None
    with tempfile.TemporaryDirectory(prefix="ghsumm-export-") as scratch:
        # the weights as float32 (a slim checkpoint stores float16), the second model's beside them
        restore = checkpoint.servable_checkpoint(ckpt, os.path.join(scratch, os.path.basename(ckpt)), second)
        if xla:
            exported = os.path.join(tmp_base, "xla")
            # in a process of its own: tf.saved_model.save needs TF 2 behaviour, which trainer/compat.py turns off
            subprocess.run([sys.executable, "-m", "trainer.fast_decode", restore,
                            os.path.join(model_dir, VOCAB_FILENAME), json.dumps(xla), exported], check=True)
        else:
            exported = estimator.export_saved_model(
                tmp_base, lambda: problem.serving_input_fn(hp, decode_hp, False), checkpoint_path=restore)
    exported = exported.decode() if isinstance(exported, bytes) else exported
    extra = os.path.join(exported, contract.ASSETS_EXTRA)
    tf.io.gfile.makedirs(extra)
    tf.io.gfile.copy(os.path.join(model_dir, VOCAB_FILENAME), os.path.join(extra, VOCAB_FILENAME), overwrite=True)
    # max_input_ids: how many body subwords the graph reads (T2T cuts inputs to max_input_seq_length inside the
    # serving graph too); clients use it to say truthfully how much of a body the model read.
    card = dict(run, version=version, checkpoint=ckpt, beam_size=beam_size, alpha=alpha, **rules,
                second_model=second, graph="xla" if xla else "t2t",
                extra_length=EXTRA_LENGTH, max_input_ids=hp.max_input_seq_length or None, exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    with tf.io.gfile.GFile(os.path.join(extra, contract.MODEL_CARD_FILE), "w") as f:
        f.write(json.dumps(card, indent=2) + "\n")
    _publish(exported, final_dir)
    tf.io.gfile.rmtree(tmp_base)
    log.info("exported step %d to %s in %.0f s", version, final_dir, time.time() - started)
    return final_dir
