"""The contract between preprocessing (data/), training and export (trainer/) and serving (serving/, webapp/):
the names and ids all of them must agree on, defined once. Standard library only, so every environment and
every layer can import it without TensorFlow.

  data dir     vocab.<PROBLEM_NAME>.<approx size>.subwords   the SubwordTextEncoder vocabulary
               <PROBLEM_NAME>-train-000NN-of-000MM, -dev-...  tf.train.Example: int64 "inputs" / "targets", EOS-ended
  model dir    the same vocabulary file + MODEL_CARD_FILE     (what the model was trained with)
  SavedModel   <version>/assets.extra/<vocabulary>, <version>/assets.extra/MODEL_CARD_FILE
  serving      one serialized tf.train.Example per issue with the int64 feature INPUTS_FEATURE: serving_input_ids()
"""
from __future__ import annotations

import os
import re

PROBLEM_NAME = "github_issue_summarization"  # the T2T problem (trainer/problem.py registers it)
APPROX_VOCAB_SIZE = 2 ** 13  # preprocess --approx_vocab_size's default; the file name carries the value used
PAD_ID = 0  # tensor2tensor's text_encoder.PAD_ID
EOS_ID = 1  # tensor2tensor's text_encoder.EOS_ID: ends every inputs / targets sequence
INPUTS_FEATURE = "inputs"
TARGETS_FEATURE = "targets"
EVAL_ISSUES_FILE = "eval_issues.jsonl"  # in a data dir: the eval split's issues, as text (evaluate reads them)
# in a retrain's data dir: the held-out part of the NEW issues (preprocess --new_input), as text; EVAL_ISSUES_FILE
# then holds the eval split of the other (old) inputs alone: the general dev set
NEW_EVAL_ISSUES_FILE = "new_eval_issues.jsonl"
MODEL_CARD_FILE = "ghsumm_model.json"  # hparams set, title_target, beam size, max_input_ids... (trainer train/export)
SECOND_MODEL_DIR = "second_model"  # in a model dir: a second model whose beam titles join the candidates (export)
# the copy model's decoding rules, as an export's model card names them (trainer/copy_model.py: what each does)
DECODE_RULES = ("min_length", "no_repeat_ngram", "max_length", "no_repeat_word", "no_tag_start", "mbr_samples")
ASSETS_EXTRA = "assets.extra"  # inside a SavedModel version: the vocabulary and the model card
VOCAB_FILE_PATTERN = re.compile(r"^vocab\..*\.subwords$")
VOCAB_GLOB = "vocab.*.subwords"


def vocab_filename(approx_vocab_size: int = APPROX_VOCAB_SIZE) -> str:
    """The name Text2TextProblem.vocab_filename gives the subword vocabulary."""
    return "vocab.%s.%d.subwords" % (PROBLEM_NAME, approx_vocab_size)


VOCAB_FILENAME = vocab_filename()  # with the default size (what T2T's problem and the shipped models use)


def split_prefix(split: str) -> str:
    """<PROBLEM_NAME>-<split>: the TFRecord shards' name prefix in a data dir (split: train / dev)."""
    return "%s-%s" % (PROBLEM_NAME, split)


def model_card_path(version_dir: str) -> str:
    """A SavedModel version's model card."""
    return os.path.join(version_dir, ASSETS_EXTRA, MODEL_CARD_FILE)


def model_vocab_path(version_dir: str, name: str = VOCAB_FILENAME) -> str:
    """A SavedModel version's vocabulary."""
    return os.path.join(version_dir, ASSETS_EXTRA, name)


def is_preprocessed(path: str) -> bool:
    """A dir (local or gs://) holding a vocabulary and train shards (what `python -m data.preprocess` writes)."""
    from data import files
    return (files.isdir(path) and bool(files.glob(os.path.join(path, VOCAB_GLOB)))
            and bool(files.glob(os.path.join(path, split_prefix("train") + "*"))))


def warm_start_flags(checkpoint_dir: str) -> list[str]:
    """data.preprocess flags that fit a warm-start checkpoint: its vocabulary (the model can only continue with
    the vocabulary it was trained with) and the targets it learned to write (its model card's title_target)."""
    from data import files  # local or gs://
    if not files.isdir(checkpoint_dir):
        raise FileNotFoundError("checkpoint_dir %s does not exist" % checkpoint_dir)
    flags = []
    vocabs = files.glob(os.path.join(checkpoint_dir, VOCAB_GLOB))
    if vocabs:
        flags += ["--vocab_file", vocabs[0]]
    card = files.read_json(os.path.join(checkpoint_dir, MODEL_CARD_FILE)) or {}
    return flags + ["--title_target", card.get("title_target", "title")]


def checkpoint_step(index_text: str):
    """The global step of the newest checkpoint named by a T2T/TF model dir's 'checkpoint' index file's text;
    None when it names none."""
    found = re.search(r'model_checkpoint_path:\s*"[^"]*?-(\d+)"', index_text)
    return int(found.group(1)) if found else None


def serving_input_ids(encoder, text: str, max_input_ids: int) -> list[int]:
    """A body as the serving Example's INPUTS_FEATURE: its subword ids (encoder.encode) cut to max_input_ids ids
    including the final EOS."""
    return encoder.encode(text)[:max_input_ids - 1] + [EOS_ID]


def output_ids(ids) -> list[int]:
    """The model's output ids up to the first EOS, padding dropped."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i != PAD_ID:
            out.append(i)
    return out
