"""transformer_copy: tensor2tensor's Transformer with a copy mechanism (a pointer-generator, See et al. 2017).

Why: QUALITY-NOTES.md and docs/model-history.md. About half of a title's words are in the body's first
sentences, and a plain Transformer trained on ~15-40k issues writes vague stock titles instead of copying them.
Here, at every title position the model may copy a body subword as well as generate one from the vocabulary:

    p(w) = g * softmax(logits)(w) + (1 - g) * sum of a_i over the body positions i whose subword is w

where a is the encoder-decoder attention of the last decoder layer (the mean of its heads) and
g = sigmoid(dense(decoder state)) the generation gate. The model returns log p(w) as its "logits", so T2T's
loss (softmax cross-entropy of log p is -log p), its beam search and the SavedModel export work unchanged, fast
(cached) decoding included: the body's subword ids travel in the decoding cache, beam-expanded like the rest.

Selected by a hyper-parameter set that sets `ghsumm_model = "transformer_copy"` (transformer_ghsumm_copy in
trainer/hparams.py); `trainer.hparams.model_name(hparams)` says which model a set trains. Variables live under
transformer_copy/ (the plain model's under transformer/); trainer/checkpoint.py converts a plain Transformer
checkpoint into this model's (`as_copy_model`).

Six decoding rules, set by hyper-parameters and baked into an export (the decoding cache keeps the ids written
so far): a minimum title length (`ghsumm_decode_min_length`, in subwords; 0: none): while a title is shorter,
the end of title gets no probability, so beam search, which favours short outputs, cannot stop after two or three
words (a short body asks for at most half its subwords); and no repeated trigram (`ghsumm_decode_no_repeat_ngram`
= 3, as summarizers decode): a subword that would write a trigram of subwords a second time gets no probability
("memory usage grows for memory usage grows"); and a maximum title length (`ghsumm_decode_max_length`, in
subwords; 0: none): beam search stops after that many steps instead of the body's length + 40, and a title that
has not ended by then is the answer only when none has (a body in a script the vocabulary spells letter by letter
ran on for 150 subwords of junk, and a batch decodes until its longest title ends). Forcing the end of title at
the maximum instead made it free there (beam search renormalizes the log-probabilities), and the length penalty
then preferred long copied titles: dev ROUGE-L 23.03 -> 21.13; and no repeated word (`ghsumm_decode_no_repeat_word`
= 4): a whole word of 4 letters or more, written once, gets no probability where the next word begins ("add a group
for a group", which the minimum length invited); and no bracketed tag first (`ghsumm_decode_no_tag_start` = 1): a
title does not begin with a subword that opens "[" (nlbse24's React issues taught "[devtools bug]", which the
model put before 1.3% of the dev sets' titles, none of them React's); and minimum Bayes risk
(`ghsumm_decode_mbr_samples` = N; `infer`): beam search's titles are the candidates, N titles sampled from the model
(greedy decoding of log p / MBR_TEMPERATURE plus Gumbel noise, the rules above included) stand for what the model
believes a title says, and the candidate that shares most words with them is returned (consensus_choice), not the
most probable one, which is often a generic or a copied phrase. The noise is a hash of the body, the sample's number,
the position and the subword (sampled_gumbel), so a body gets the same title in any batch and on any server, and an
evaluation run twice scores the same. With a second model (`ghsumm_decode_second_model` = 1, which `trainer export`
sets when the model dir carries one: trainer/checkpoint.py, add_second_model), the candidates are this model's beam
titles and the second model's, both judged against this model's samples: a model trained apart proposes titles
this one's beam search misses, and this one's samples decide (docs/model-history.md: +0.89 on the dev sets).

Training (`ghsumm_sparse_loss` = 1, the shipped set's): the label-smoothed cross-entropy needs, at each title position,
only log p of the true subword and the sum of log p over the vocabulary; copy_log_likelihood computes both from the
logits' logsumexp and a few dot products (smoothed_copy_loss turns them into T2T's loss), without the vocabulary-sized
mixture that mix_copy builds for decoding. Runs in the t2t environment.
"""
from trainer import compat

compat.apply()

# pylint: disable=wrong-import-position
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from tensor2tensor.layers import common_layers, modalities  # noqa: E402
from tensor2tensor.models import transformer  # noqa: E402
from tensor2tensor.utils import registry  # noqa: E402

from data import contract  # noqa: E402
from data.contract import EOS_ID  # noqa: E402
# the rules' tables, the samples' noise and minimum Bayes risk: pure TensorFlow, shared with the XLA graph
from trainer.decode_ops import (  # noqa: E402,F401
    MAX_MBR_SAMPLES, consensus_choice, consensus_utility, sampled_gumbel, tag_openers, token_ends, title_words, word_ends)

MODEL_NAME = "transformer_copy"
GATE_SCOPE = "copy_gate"
MIN_LENGTH_HPARAM = "ghsumm_decode_min_length"  # subwords a decoded title has at least (0 or unset: no minimum)
NO_REPEAT_HPARAM = "ghsumm_decode_no_repeat_ngram"  # 3: no subword trigram written twice (0 or unset: allowed)
MAX_LENGTH_HPARAM = "ghsumm_decode_max_length"  # subwords a decoded title has at most (0 or unset: no maximum)
NO_REPEAT_WORD_HPARAM = "ghsumm_decode_no_repeat_word"  # N: no word of N letters or more written twice (0: allowed)
NO_TAG_START_HPARAM = "ghsumm_decode_no_tag_start"  # 1: a title does not begin with "[" (0 or unset: it may)
MBR_SAMPLES_HPARAM = "ghsumm_decode_mbr_samples"  # N: the beam's titles judged against N sampled ones (0: top beam)
MBR_TEMPERATURE = 0.8  # the sampled titles' temperature (docs/model-history.md: 0.6 / 0.8 / 1.0 measured)
# 1: training computes the loss from log p of the true subword and the sum of log p (copy_log_likelihood), not
# from log p over the whole vocabulary at every position: the same loss but for mix_copy's floor of _EPSILON
# outside the body's subwords (0 or unset: T2T's loss of mix_copy)
SPARSE_LOSS_HPARAM = "ghsumm_sparse_loss"
# 1: a second model's beam titles join the candidates minimum Bayes risk chooses from (this model's samples judge
# them); its variables are this model's under SECOND_MODEL_SCOPE/ (0 or unset: this model's beams only). Set by
# `trainer export` when the model dir holds a second model (trainer/export.py)
SECOND_MODEL_HPARAM = "ghsumm_decode_second_model"
SECOND_MODEL_SCOPE = "second_model"
# the decoding rules by the name exports and their model cards give them (trainer.hparams.decode_rules)
DECODE_RULES = dict(zip(contract.DECODE_RULES, (MIN_LENGTH_HPARAM, NO_REPEAT_HPARAM, MAX_LENGTH_HPARAM,
                                                NO_REPEAT_WORD_HPARAM, NO_TAG_START_HPARAM,
                                                MBR_SAMPLES_HPARAM)))
_WRITTEN = "title_ids"  # in the decoding cache: the ids written so far, per beam
_EPSILON = 1e-9  # keeps log p finite where both the vocabulary and the copy give a word (almost) nothing


def _encdec_suffix(num_layers: int) -> str:
    return "decoder/layer_%d/encdec_attention/multihead_attention/dot_product_attention" % (num_layers - 1)


def last_encdec_attention(attention_weights: dict, num_layers: int):
    """The last decoder layer's encoder-decoder attention weights [batch, heads, title length, body length], from
    the dict T2T's attention layers save them into, keyed by variable scope. Entries of earlier calls stay there
    (under the same or another scope name), so decode() removes them before each call: one is left."""
    wanted = _encdec_suffix(num_layers)
    keys = [k for k in attention_weights if k.endswith(wanted)]
    if len(keys) != 1:
        raise ValueError("expected one attention entry ending in %s, found %s" % (wanted, keys))
    return attention_weights[keys[0]]


def copy_weights_of(attention):
    """The copy distribution's weight on each body position, [batch, length, body length] in float32: the mean over
    the heads of the last decoder layer's attention [batch, heads, length, body length]."""
    return tf.cast(tf.reduce_mean(attention, axis=1), tf.float32)


def mix_copy(logits, gate_logit, attention, input_ids, vocab_size):
    """log(g * softmax(logits) + (1 - g) * copy), shaped like logits [batch, length, 1, 1, vocab].

    gate_logit [batch, length, 1, 1]; attention [batch, heads, length, body length]; input_ids [batch, body
    length] (int)."""
    # the mixture is computed in float32 whatever the activations' type (bfloat16 activations: the gate and the
    # attention arrive in bfloat16; T2T's logits are float32)
    weights = copy_weights_of(attention)  # [batch, length, body length]
    batch, length, body_length = common_layers.shape_list(weights)
    # scatter-add each body position's weight onto its subword: [batch * length * vocab] segments, without
    # building a [batch, body length, vocab] one-hot (64 times larger at every decoding step)
    rows = tf.range(batch * length)[:, None] * vocab_size                             # [batch*length, 1]
    ids = tf.reshape(tf.tile(input_ids[:, None, :], [1, length, 1]), [batch * length, body_length])
    copy = tf.math.unsorted_segment_sum(tf.reshape(weights, [-1]), tf.reshape(rows + ids, [-1]),
                                        batch * length * vocab_size)
    copy = tf.reshape(copy, common_layers.shape_list(logits))
    gate = tf.expand_dims(tf.sigmoid(tf.cast(gate_logit, tf.float32)), -1)
    return tf.log(gate * tf.nn.softmax(logits) + (1.0 - gate) * copy + _EPSILON)


def softmax_weights(model_hparams, vocab_size: int, hidden_size: int):
    """The symbol modality's softmax weights [vocab, hidden] (T2T's symbol_top: the embedding when shared)."""
    shared = model_hparams.shared_embedding_and_softmax_weights
    with tf.variable_scope("shared" if shared else "softmax", reuse=tf.AUTO_REUSE if shared else None):
        return modalities.get_weights(model_hparams, vocab_size, hidden_size)


def copy_log_likelihood(body_output, weights, gate_logit, attention, input_ids, targets):
    """What the label-smoothed cross-entropy of mix_copy's log p needs in training, without a [batch, length,
    vocab] tensor beyond the logits: log p of each true subword and the sum of log p over the vocabulary, stacked
    [batch, length, 1, 1, 2]. body_output [batch, length, 1, hidden]; weights the softmax weights [vocab, hidden]
    (softmax_weights); targets [batch, length, 1, 1]; the rest as mix_copy's. With s = softmax(logits) and c the
    copy distribution (0 for a subword not in the body):

        sum over v of log p_v = sum over v of log(g s_v)
            + sum over the body's distinct subwords v of [log(g s_v + (1 - g) c_v) - log(g s_v)]
        sum over v of log(g s_v) = vocab * (log g - logsumexp(logits)) + body_output . (sum of the weights' rows)

    The logits are needed only for their logsumexp, which TF's fused sparse softmax cross-entropy gives with its
    gradient in one kernel; the logits of the body's and the true subwords are dot products with their rows. Unlike
    mix_copy, log p has no floor (_EPSILON) outside the body's subwords, so the label smoothing reaches every subword
    however unlikely (docs/model-history.md, "Training speed: a sparse loss and shared dropout masks")."""
    batch, length, _, hidden = common_layers.shape_list(body_output)
    vocab_size = common_layers.shape_list(weights)[0]
    states = tf.reshape(tf.cast(body_output, tf.float32), [batch, length, hidden])
    ids = tf.reshape(tf.cast(targets, tf.int32), [batch, length])
    logits = tf.matmul(tf.reshape(states, [-1, hidden]), weights, transpose_b=True)  # [batch * length, vocab]
    logit_true = tf.reduce_sum(states * tf.gather(weights, ids), axis=-1)  # [batch, length]
    log_s_true = -tf.reshape(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.reshape(ids, [-1]), logits=logits), [batch, length])  # logit_true - logsumexp
    log_z = logit_true - log_s_true
    log_gate = tf.reshape(tf.math.log_sigmoid(tf.cast(gate_logit, tf.float32)), [batch, length])
    gate = tf.exp(log_gate)
    log_g_s_sum = vocab_size * (log_gate - log_z) + tf.einsum("btd,d->bt", states, tf.reduce_sum(weights, axis=0))
    # the body's subwords: s and c at each body position; a subword found at k positions counts 1/k at each
    copy_weights = copy_weights_of(attention)  # [batch, length, body length]
    body_ids = tf.cast(input_ids, tf.int32)  # [batch, body length]
    same = tf.cast(tf.equal(body_ids[:, :, None], body_ids[:, None, :]), tf.float32)  # [batch, body, body]
    share = tf.cast(body_ids > 0, tf.float32) / tf.reduce_sum(same, axis=-1)  # padding gets no attention, no copy
    copy_at = tf.einsum("btk,bkj->btj", copy_weights, same)  # c of each body position's subword
    log_g_s_at = (log_gate - log_z)[:, :, None] + tf.einsum("btd,bjd->btj", states, tf.gather(weights, body_ids))
    body_sum = tf.reduce_sum(share[:, None, :] * (
        tf.log(tf.exp(log_g_s_at) + (1.0 - gate[:, :, None]) * copy_at + _EPSILON) - log_g_s_at), axis=-1)
    # the true subword
    copy_true = tf.reduce_sum(copy_weights * tf.cast(tf.equal(body_ids[:, None, :], ids[:, :, None]), tf.float32),
                              axis=-1)
    log_p_true = tf.log(gate * tf.exp(log_s_true) + (1.0 - gate) * copy_true + _EPSILON)
    parts = tf.stack([log_p_true, log_g_s_sum + body_sum], axis=-1)
    return tf.reshape(parts, [batch, length, 1, 1, 2])


def smoothed_copy_loss(top_out, targets, model_hparams, vocab_size, weights_fn):
    """T2T's loss of a symbol modality (padded_cross_entropy: label-smoothed cross-entropy less its minimum, summed
    over the non-padding positions, and their number) from copy_log_likelihood's figures."""
    confidence = 1.0 - model_hparams.label_smoothing
    low = (1.0 - confidence) / float(vocab_size - 1)
    minimum = -(confidence * np.log(confidence) + (vocab_size - 1) * low * np.log(low + 1e-20))
    log_p_true, log_p_sum = top_out[..., 0], top_out[..., 1]
    xent = -(confidence * log_p_true + low * (log_p_sum - log_p_true)) - minimum
    weights = weights_fn(targets)
    return tf.reduce_sum(xent * weights), tf.reduce_sum(weights)


def _body_ids(inputs):
    """The body's subword ids [batch, body length] from T2T's inputs feature [batch, body length, 1(, 1)]."""
    shape = common_layers.shape_list(inputs)
    return tf.reshape(tf.cast(inputs, tf.int32), shape[:2])


@registry.register_model(MODEL_NAME)
class TransformerCopy(transformer.Transformer):
    """Transformer + copy mechanism (module docstring)."""

    def __init__(self, *args, **kwargs):
        # before T2T's __init__, which calls set_mode
        self._sparse_loss = False    # training with copy_log_likelihood and smoothed_copy_loss (set_mode)
        super().__init__(*args, **kwargs)
        self._body_ids = None        # set by model_fn / _fast_decode before anything is decoded
        self._copy_inputs = None     # (attention, body ids) of the newest decode() call, read by _copy_top
        self._last_ids = None        # the target ids the newest targets bottom embedded
        self._written = None         # fast decoding: the ids written so far [rows, positions] (start id first)
        self._vocab_size = None      # the targets' vocabulary size, as the targets' top gets it
        self._sampling = 0           # while the titles minimum Bayes risk judges by are sampled: how many per body
        self._init_cache_fn = self._init_cache_with_body_ids

    def set_mode(self, mode):
        """T2T rebuilds the hparams per mode; the targets' bottom and top are ours in every one (new dicts: the
        old ones are shared with the caller's hparams)."""
        super().set_mode(mode)
        self._hparams.top = dict(self._hparams.top, targets=self._copy_top)
        self._hparams.bottom = dict(self._hparams.bottom, targets=self._targets_bottom)
        # training: the loss from two figures per title position instead of log p over the vocabulary
        self._sparse_loss = mode == tf.estimator.ModeKeys.TRAIN and bool(self._hparams.get(SPARSE_LOSS_HPARAM))
        if self._sparse_loss:
            self._hparams.loss = dict(self._hparams.loss, targets=smoothed_copy_loss)

    def model_fn(self, features):
        self._body_ids, self._written = _body_ids(features["inputs"]), None
        return super().model_fn(features)

    def infer(self, features=None, decode_length=50, beam_size=1, top_beams=1, alpha=0.0, use_tpu=False):
        """T2T's decoding; with ghsumm_decode_mbr_samples = N and a beam search that returns one title, minimum
        Bayes risk: the beam's titles are judged against N titles sampled from the model (at MBR_TEMPERATURE,
        the same for the same body: sampled_gumbel), and the one that shares most words with them is returned,
        with its beam score (consensus_choice). With SECOND_MODEL_HPARAM, the second model's beam titles (its own
        beam search, its variables under SECOND_MODEL_SCOPE/) are candidates too, after this model's (which win a
        tie). "outputs" and "scores" keep their shapes; "candidates" [batch, n, length] and "candidate_scores"
        [batch, n] add every candidate with its beam score, ranked by the same agreement, the returned title
        first (an export adds them to its signature: trainer/export.py)."""
        samples = int(self._hparams.get(MBR_SAMPLES_HPARAM) or 0)
        if samples < 1 or beam_size < 2 or top_beams != 1:
            return super().infer(features, decode_length, beam_size, top_beams, alpha, use_tpu)
        if samples > MAX_MBR_SAMPLES:
            raise ValueError("%s is %d: at most %d" % (MBR_SAMPLES_HPARAM, samples, MAX_MBR_SAMPLES))
        beams = super().infer(features, decode_length, beam_size, beam_size, alpha, use_tpu)
        if int(self._hparams.get(SECOND_MODEL_HPARAM) or 0):
            # the same model class and sizes with the second model's weights: its beam titles are candidates too
            with tf.variable_scope(SECOND_MODEL_SCOPE):
                second = super().infer(features, decode_length, beam_size, beam_size, alpha, use_tpu)
            beams = {key: _concat_padded(beams[key], second[key]) for key in ("outputs", "scores")}
        tiled = dict(features, inputs=tf.repeat(features["inputs"], samples, axis=0))
        self._sampling = samples
        try:
            with tf.variable_scope(tf.get_variable_scope(), reuse=True):
                sampled = super().infer(tiled, decode_length, 1, 1, alpha, use_tpu)["outputs"]
        finally:
            self._sampling = 0
        sampled = tf.reshape(sampled, [-1, samples, common_layers.shape_list(sampled)[-1]])
        ends_token, is_word = token_ends(self._subtokens(MBR_SAMPLES_HPARAM), self._vocab_size)
        agreement = consensus_utility(beams["outputs"], sampled, tf.constant(ends_token), tf.constant(is_word))
        choice = tf.argmax(agreement, axis=1, output_type=tf.int32)
        ranked = tf.argsort(agreement, axis=1, direction="DESCENDING", stable=True)  # ties: the earlier first
        return {"outputs": tf.gather(beams["outputs"], choice, batch_dims=1),
                "scores": tf.gather(beams["scores"], choice, batch_dims=1),
                "candidates": tf.gather(beams["outputs"], ranked, batch_dims=1),
                "candidate_scores": tf.gather(beams["scores"], ranked, batch_dims=1)}

    def _fast_decode(self, features, decode_length, *args, **kwargs):
        self._body_ids, self._written = _body_ids(features["inputs"]), None
        # T2T saves every attention entry into the decoding loop's cache: those of an earlier loop (the second
        # model's are named apart) cannot be read inside this one
        self.attention_weights.clear()
        max_length = int(self._hparams.get(MAX_LENGTH_HPARAM) or 0)
        if max_length > 0:
            # T2T decodes for the body's length + decode_length steps: at most max_length of them. A title that
            # has not ended by then is returned only when none has (beam search keeps the ended ones first)
            body_length = common_layers.shape_list(features["inputs"])[1]
            features = dict(features, decode_length=tf.minimum(features.get("decode_length", decode_length),
                                                               max_length - body_length))
        return super()._fast_decode(features, decode_length, *args, **kwargs)

    def _init_cache_with_body_ids(self, cache, *args, **kwargs):
        cache = transformer._init_transformer_cache(cache, *args, **kwargs)  # pylint: disable=protected-access
        cache["body_ids"] = self._body_ids  # beam search expands it with the rest of the cache
        # the ids written so far, [rows, positions, 1]: beam search lets a cache entry's middle dims grow
        cache[_WRITTEN] = tf.zeros(common_layers.shape_list(self._body_ids)[:1] + [0, 1], tf.int32)
        return cache

    def _targets_bottom(self, x, model_hparams, vocab_size):
        """The symbol modality's targets bottom (the same variables), keeping the ids: in fast decoding, the id
        written at the previous position."""
        self._last_ids = x
        return modalities.get_targets_bottom(modalities.ModalityType.SYMBOL)(x, model_hparams, vocab_size)

    def decode(self, decoder_input, encoder_output, encoder_decoder_attention_bias, decoder_self_attention_bias,
               hparams, cache=None, **kwargs):
        num_layers = self._hparams.num_decoder_layers or self._hparams.num_hidden_layers
        for stale in [k for k in self.attention_weights if k.endswith(_encdec_suffix(num_layers))]:
            del self.attention_weights[stale]
        output = super().decode(decoder_input, encoder_output, encoder_decoder_attention_bias,
                                decoder_self_attention_bias, hparams, cache=cache, **kwargs)
        ids = cache["body_ids"] if cache is not None and "body_ids" in cache else self._body_ids
        if cache is not None and _WRITTEN in cache:
            last = tf.reshape(tf.cast(self._last_ids, tf.int32), [-1, 1, 1])
            cache[_WRITTEN] = tf.concat([cache[_WRITTEN], last], axis=1)
            self._written = cache[_WRITTEN][:, :, 0]
        self._copy_inputs = (last_encdec_attention(self.attention_weights, num_layers), ids)
        return output

    def _copy_top(self, body_output, targets, model_hparams, vocab_size):
        """The targets' top: the symbol modality's logits mixed with the copy distribution; in fast decoding,
        the decoding rules of the hyper-parameters (a minimum length, no repeated n-gram)."""
        self._vocab_size = vocab_size
        attention, ids = self._copy_inputs
        gate_logit = tf.layers.dense(body_output, 1, name=GATE_SCOPE)
        if self._sparse_loss and self._written is None:
            weights = softmax_weights(model_hparams, vocab_size, common_layers.shape_list(body_output)[-1])
            return copy_log_likelihood(body_output, weights, gate_logit, attention, ids, targets)
        logits = modalities.symbol_top(body_output, targets, model_hparams, vocab_size)
        log_p = mix_copy(logits, gate_logit, attention, ids, vocab_size)
        if self._written is None:
            return log_p
        position = tf.shape(self._written)[1] - 1  # the start id comes first
        min_length = int(self._hparams.get(MIN_LENGTH_HPARAM) or 0)
        if min_length > 0:
            # a short body is not made to give a long title: at most half its subwords are asked for
            body_length = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)
            log_p = no_end_before(log_p, position, tf.minimum(min_length, body_length // 2), vocab_size)
        if int(self._hparams.get(NO_REPEAT_HPARAM) or 0) == 3:
            log_p = no_repeated_trigram(log_p, self._written, vocab_size)
        min_letters = int(self._hparams.get(NO_REPEAT_WORD_HPARAM) or 0)
        if min_letters > 0:
            subtokens = self._subtokens(NO_REPEAT_WORD_HPARAM)
            ends_word, long_word = word_ends(subtokens, min_letters, vocab_size)
            log_p = no_repeated_word(log_p, self._written, tf.constant(ends_word), tf.constant(long_word))
        if int(self._hparams.get(NO_TAG_START_HPARAM) or 0):
            log_p = no_tag_first(log_p, position, tf.constant(tag_openers(self._subtokens(NO_TAG_START_HPARAM),
                                                                          vocab_size)))
        if self._sampling:
            # greedy decoding picks argmax(log p / T + Gumbel noise): a title sampled from the model
            log_p = log_p / MBR_TEMPERATURE + sampled_gumbel(ids, position, self._sampling, vocab_size)
        return log_p

    def _subtokens(self, rule: str) -> list[str]:
        """The targets' subword strings by id, which a decoding rule about words needs."""
        vocabulary = getattr(self._problem_hparams, "vocabulary", {}).get("targets")
        if not hasattr(vocabulary, "all_subtoken_strings"):
            raise ValueError("%s needs the problem's subword vocabulary (create the hparams with a data_dir)" % rule)
        return vocabulary.all_subtoken_strings


def _concat_padded(a, b):
    """[batch, n, ...] and [batch, m, ...] (titles, or their scores) as [batch, n + m, ...]; titles of different
    lengths padded with PAD (0) at the end."""
    if a.shape.ndims == 2:
        return tf.concat([a, b], axis=1)
    length = tf.maximum(tf.shape(a)[2], tf.shape(b)[2])

    def padded(titles):
        return tf.pad(titles, [[0, 0], [0, 0], [0, length - tf.shape(titles)[2]]])
    return tf.concat([padded(a), padded(b)], axis=1)


def no_end_before(log_p, position, min_length, vocab_size: int):
    """log_p [rows, ..., vocab] with the end of title (EOS) at -1e9 in the rows whose position < min_length
    (a number, or one per row)."""
    too_short = tf.reshape(tf.cast(position < min_length, log_p.dtype), [-1] + [1] * (len(log_p.shape) - 1))
    return log_p + too_short * tf.one_hot(EOS_ID, vocab_size, dtype=log_p.dtype) * -1e9


def no_repeated_trigram(log_p, written, vocab_size: int):
    """log_p [rows, ..., vocab] with -1e9 on every subword that would repeat a trigram the row has written
    already: the ones that followed an earlier occurrence of its last two ids. written: [rows, positions]."""
    before, after, then = written[:, :-2], written[:, 1:-1], written[:, 2:]
    follows = tf.logical_and(tf.equal(before, written[:, -2:-1]), tf.equal(after, written[:, -1:]))
    rows = tf.broadcast_to(tf.range(tf.shape(written)[0])[:, None], tf.shape(then))
    banned = tf.scatter_nd(tf.stack([rows, then], axis=-1), tf.cast(follows, log_p.dtype),
                           [tf.shape(written)[0], vocab_size])
    banned = tf.reshape(tf.cast(banned > 0, log_p.dtype), common_layers.shape_list(log_p))
    return log_p + banned * -1e9






def no_repeated_word(log_p, written, ends_word, long_word):
    """log_p [rows, ..., vocab] with -1e9 on every long word (long_word: one subword that is a whole word of
    enough letters, word_ends) that a row has written already as a whole word, where that row begins a word
    ("add a group for a group", "can't run npm install on npm install"). Words of several subwords are not
    seen: the trigram rule catches most of their repeats. written: [rows, positions], the start id first."""
    ends = tf.gather(ends_word, written)
    begins = tf.concat([tf.ones_like(ends[:, :1]), ends[:, :-1]], axis=1)  # the subword before ended a word
    whole_long = tf.logical_and(tf.gather(long_word, written), begins)
    rows = tf.broadcast_to(tf.range(tf.shape(written)[0])[:, None], tf.shape(written))
    seen = tf.scatter_nd(tf.stack([rows, written], axis=-1), tf.cast(whole_long, log_p.dtype),
                         [tf.shape(written)[0], tf.shape(ends_word)[0]])
    banned = tf.cast(seen > 0, log_p.dtype) * tf.cast(ends[:, -1:], log_p.dtype)  # only where a word begins
    return log_p + tf.reshape(banned, common_layers.shape_list(log_p)) * -1e9




def no_tag_first(log_p, position, opens_tag):
    """log_p [rows, ..., vocab] with -1e9 on the subwords that open a tag (opens_tag, tag_openers) where the title
    begins (position 0, the same for every row)."""
    first = tf.cast(tf.equal(position, 0), log_p.dtype)
    banned = tf.reshape(tf.cast(opens_tag, log_p.dtype), [1] * (len(log_p.shape) - 1) + [-1])
    return log_p + first * banned * -1e9
