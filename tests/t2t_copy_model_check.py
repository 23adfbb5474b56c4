"""Run by tests/test_copy_model.py in the t2t environment: builds transformer_copy (random weights, tiny sizes) on a
data dir's vocabulary and prints JSON facts about it:

  prob_sums       exp(logits) summed over the vocabulary at every teacher-forced title position (must be 1);
  fast_scores     the log-probability T2T's fast (cached) greedy decoding gives its own output;
  forced_scores   the log-probability the training graph (teacher forcing, no cache) gives that same output;
  copy_only       with the gate shut (all copy), the probability mass on subwords that are not in the body;
  no_end          no_end_before on a row at position 1 and a row at position 5 (minimum 3): the EOS log-probs;
  no_repeat       no_repeated_trigram after writing 0 5 6 7 5 6 (8 subwords): the log-probs (7 is banned);
  word_ends       word_ends of the vocabulary <pad> <EOS> group_ add_ a_ auto value_ to_ (at least 4 letters);
  no_repeat_word  no_repeated_word after writing "add a group to" (group_ is banned), after "add a group" and the
                  first half "auto" of a word (nothing is: no word begins), and after "auto value_ to_ add_"
                  (nothing is: value_ was not a whole word, add_ has 3 letters);
  tag_openers     tag_openers of the vocabulary <pad> <EOS> [_ [ a_ x[ (and one id beyond it);
  no_tag_first    no_tag_first at position 0 and at position 1 with those openers: the banned ids;
  long_outputs    fast beam decoding with a minimum length beyond decode_length, no repeated trigram, no
                  repeated word of 4 letters or more and no tag first (the data dir's vocabulary): the ids it
                  wrote (no EOS, no trigram twice), and whether each title's first subword opens a tag;
  capped_outputs  fast beam decoding with a maximum length of 3 and a minimum of 100 (decode_length 6): the ids it
                  wrote (3 subwords, no end: the minimum bans it);
  token_ends      token_ends of the vocabulary <pad> <EOS> group_ add_ a_ auto value_ ,_ (and one id beyond it);
  consensus       consensus_choice with that vocabulary for three bodies' beams and samples (below);
  mbr             beam decoding (beam 3) with 4 sampled titles: its titles and scores for the three bodies (and
                  its ranked candidates and their scores), for the second body alone, and the three beams'
                  titles and scores without it.
  sparse_loss     the training loss of one batch and its gradient's norm with ghsumm_sparse_loss 0 (T2T's loss of
                  the whole log p) and 1 (copy_log_likelihood), the same weights, no dropout.

    python tests/t2t_copy_model_check.py DATA_DIR
"""
import json
import sys

from trainer import copy_model, hparams as project_hparams, problem  # noqa: F401  (registers all)

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from tensor2tensor.utils import registry, trainer_lib  # noqa: E402


HPARAMS_SET = "transformer_ghsumm_copy"


def beam_decode(hp, inputs, beam_size=2, top_beams=1):
    """The ids fast beam decoding (decode_length 6) writes for inputs and their scores ("outputs", "scores"), with
    new random weights (the same ones in every call: the same seed)."""
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        features = {"inputs": tf.constant(inputs), "target_space_id": tf.constant(0, tf.int32)}
        model = registry.model(project_hparams.model_name(hp))(hp, tf.estimator.ModeKeys.PREDICT)
        decoded = model.infer(dict(features), decode_length=6, beam_size=beam_size, top_beams=top_beams)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            out = session.run(decoded)
            return {k: out[k].tolist() for k in ("outputs", "scores", "candidates", "candidate_scores") if k in out}


def consensus(session):
    """consensus_choice on hand-written titles (ids of the vocabulary <pad> <EOS> group_ add_ a_ auto value_ ,_):
    body 0: beam 1 ("add group") agrees with both samples, beam 0 ("a value") with neither; body 1: the beams agree
    equally (a tie: beam 0); body 2: "auto value_" is one word, not "value_", and neither the comma nor what
    follows EOS counts, so beam 0 ("value") has no word of the samples' ("autovalue") and beam 1 has it (counted
    by subwords, "value_" would tie them)."""
    ends, words = (tf.constant(mask) for mask in copy_model.token_ends(
        ["<pad>", "<EOS>", "group_", "add_", "a_", "auto", "value_", ",_"], 9))
    beams = tf.constant([[[4, 6, 1, 0], [3, 2, 1, 0]],
                         [[3, 1, 0, 0], [2, 1, 0, 0]],
                         [[6, 1, 0, 0], [5, 6, 1, 0]]])
    samples = tf.constant([[[3, 2, 1], [2, 4, 1]],
                           [[3, 2, 1], [3, 2, 1]],
                           [[5, 6, 1], [7, 1, 6]]])
    return session.run(copy_model.consensus_choice(beams, samples, ends, words)).tolist()


def sparse_and_dense_loss(data_dir: str, inputs) -> dict:
    """sparse_loss of the module doc: a training graph per setting, in the same variables."""
    rng = np.random.RandomState(1)
    targets = rng.randint(2, 300, size=(3, 7, 1, 1)).astype(np.int32)
    targets[0, 4:], targets[1, 0], targets[2, 2] = 0, inputs[1, 3, 0, 0], inputs[2, 5, 0, 0]  # padding; copyable
    targets[0, 3] = 1  # EOS
    figures = {}
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        features = {"inputs": tf.constant(inputs), "targets": tf.constant(targets),
                    "target_space_id": tf.constant(0, tf.int32)}
        for sparse in (0, 1):
            hp = trainer_lib.create_hparams(
                HPARAMS_SET, "hidden_size=32,filter_size=64,num_heads=2,layer_prepostprocess_dropout=0.0,"
                             "attention_dropout=0.0,relu_dropout=0.0", data_dir=data_dir,
                problem_name=problem.PROBLEM_NAME)
            hp.add_hparam(copy_model.SPARSE_LOSS_HPARAM, sparse)
            with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
                model = registry.model(project_hparams.model_name(hp))(hp, tf.estimator.ModeKeys.TRAIN)
                _, losses = model(dict(features))
            gradients = tf.gradients(losses["training"], tf.trainable_variables())
            figures[sparse] = (losses["training"], tf.global_norm([g for g in gradients if g is not None]))
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            out = session.run(figures)
    return {"dense": [float(v) for v in out[0]], "sparse": [float(v) for v in out[1]]}


def main(data_dir: str) -> None:
    hp = trainer_lib.create_hparams(HPARAMS_SET, "hidden_size=32,filter_size=64,num_heads=2,force_full_predict=True",
                                    data_dir=data_dir, problem_name=problem.PROBLEM_NAME)
    rng = np.random.RandomState(0)
    inputs = rng.randint(2, 300, size=(3, 12, 1, 1)).astype(np.int32)
    inputs[:, -1] = 1  # EOS
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        features = {"inputs": tf.constant(inputs), "target_space_id": tf.constant(0, tf.int32)}
        model_cls = registry.model(project_hparams.model_name(hp))
        targets = tf.placeholder(tf.int32, [3, None, 1, 1])
        with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
            model = model_cls(hp, tf.estimator.ModeKeys.PREDICT)
            # the training graph first (it names the variable scope), then fast decoding in the same variables
            forced_logits, _ = model(dict(features, targets=targets))
            attention, ids = model._copy_inputs  # pylint: disable=protected-access
            decoded = model.infer(dict(features), decode_length=6, beam_size=1)
        forced = tf.reduce_sum(tf.gather(tf.nn.log_softmax(tf.squeeze(forced_logits, [2, 3])),
                                         tf.squeeze(targets, [2, 3]), batch_dims=2), axis=1)
        sums = tf.reduce_sum(tf.exp(forced_logits), axis=-1)
        # the mixture alone, with the gate shut: all mass on the body's subwords
        closed = copy_model.mix_copy(forced_logits, tf.fill(tf.shape(forced_logits)[:-1], -50.0), attention, ids,
                                     tf.shape(forced_logits)[-1])
        in_body = tf.reduce_max(tf.one_hot(ids, tf.shape(forced_logits)[-1]), axis=1)  # [batch, vocab]
        outside = tf.reduce_sum(tf.exp(closed) * (1.0 - in_body[:, None, None, None, :]), axis=-1)
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            fast = session.run(decoded)
            feed = {targets: fast["outputs"].reshape(3, -1, 1, 1)}
            out = session.run({"forced": forced, "sums": sums, "outside": outside}, feed)
            out["fast"] = fast["scores"]
        no_end = copy_model.no_end_before(tf.zeros([2, 1, 1, 8]), tf.constant([1, 5]), 3, 8)[:, 0, 0, 1]
        no_repeat = copy_model.no_repeated_trigram(tf.zeros([1, 1, 1, 8]), tf.constant([[0, 5, 6, 7, 5, 6]]), 8)
        out["word_ends"] = copy_model.word_ends(["<pad>", "<EOS>", "group_", "add_", "a_", "auto", "value_", "to_"],
                                                4, 9)
        ends, long = (tf.constant(mask) for mask in out["word_ends"])
        no_word = copy_model.no_repeated_word(tf.zeros([3, 1, 1, 9]), tf.constant(
            [[0, 3, 4, 2, 7], [0, 3, 4, 2, 5], [0, 5, 6, 7, 3]]), ends, long)
        out["tag_openers"] = copy_model.tag_openers(["<pad>", "<EOS>", "[_", "[", "a_", "x["], 7)
        openers = tf.constant(out["tag_openers"])
        no_tag = [copy_model.no_tag_first(tf.zeros([2, 1, 1, 7]), tf.constant(position), openers)[:, 0, 0]
                  for position in (0, 1)]
        out["token_ends"] = copy_model.token_ends(["<pad>", "<EOS>", "group_", "add_", "a_", "auto", "value_", ",_"],
                                                  9)
        with tf.Session() as session:
            out["no_end"], out["no_repeat"], out["no_word"], out["no_tag"] = session.run(
                [no_end, no_repeat[0, 0, 0], no_word[:, 0, 0], no_tag])
            out["consensus"] = consensus(session)
    hp_mbr = trainer_lib.create_hparams(HPARAMS_SET, "hidden_size=32,filter_size=64,num_heads=2",
                                        data_dir=data_dir, problem_name=problem.PROBLEM_NAME)
    hp_mbr.add_hparam(copy_model.MBR_SAMPLES_HPARAM, 4)
    out["mbr"] = {"batch": beam_decode(hp_mbr, inputs, beam_size=3),
                  "alone": beam_decode(hp_mbr, inputs[1:2], beam_size=3),
                  "beams": beam_decode(hp_mbr, inputs, beam_size=3, top_beams=3)}
    hp.add_hparam(copy_model.MIN_LENGTH_HPARAM, 100)
    hp.add_hparam(copy_model.NO_REPEAT_HPARAM, 3)
    hp.add_hparam(copy_model.NO_REPEAT_WORD_HPARAM, 4)
    hp.add_hparam(copy_model.NO_TAG_START_HPARAM, 1)
    out["long"] = beam_decode(hp, inputs)["outputs"]
    subtokens = hp.problem_hparams.vocabulary["targets"].all_subtoken_strings
    out["long_first"] = [subtokens[ids[0]].startswith("[") for ids in out["long"]]
    hp.add_hparam(copy_model.MAX_LENGTH_HPARAM, 3)  # with the minimum of 100 above
    out["capped"] = beam_decode(hp, inputs)["outputs"]
    out["sparse_loss"] = sparse_and_dense_loss(data_dir, inputs)
    print(json.dumps({"prob_sums": [float(out["sums"].min()), float(out["sums"].max())],
                      "fast_scores": out["fast"].tolist(), "forced_scores": out["forced"].tolist(),
                      "copy_only_outside_body": float(out["outside"].max()),
                      "no_end": out["no_end"].tolist(), "no_repeat": out["no_repeat"].tolist(),
                      "word_ends": out["word_ends"], "no_repeat_word": out["no_word"].tolist(),
                      "tag_openers": out["tag_openers"],
                      "no_tag_first": [[i for i, p in enumerate(row) if p < -1e8] for rows in out["no_tag"]
                                       for row in rows[:1]],
                      "long_first_opens_tag": out["long_first"],
                      "long_outputs": out["long"], "capped_outputs": out["capped"],
                      "token_ends": out["token_ends"], "consensus": out["consensus"], "mbr": out["mbr"],
                      "sparse_loss": out["sparse_loss"]}))


if __name__ == "__main__":
    main(sys.argv[1])
