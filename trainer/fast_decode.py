"""The copy model's serving graph as one fixed-shape decoding loop, compiled by XLA: what `trainer export` writes.

It decodes what trainer/decode_ops.py's T2T graph decodes (the same weights, rules, beam search, samples and minimum
Bayes risk; `trainer export --graph t2t` still writes that graph), in one loop whose every step advances both
models' beam searches and the samples. The self-attention caches have a fixed size (max_length); they and the
encoder's keys and values (computed once per body, not copied per beam) are kept in the layouts the step's products
read. Why and the measurements: data/warm_start/README.md, "Decoding speed".

Pure TensorFlow: builds in the t2t environment (export) and loads in the app one.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from data.contract import EOS_ID
from trainer import decode_ops

INF = 1.0e7  # T2T beam search's "infinity"
LN_EPSILON = 1e-6  # T2T's layer norm
COPY_EPSILON = 1e-9  # copy_model._EPSILON
MBR_TEMPERATURE = 0.8  # copy_model.MBR_TEMPERATURE
NEG = -1e9  # a banned subword's penalty, as copy_model's rules add it


def bucket(batch):
    """The batch size a batch is padded to, so that XLA compiles few programs (~15 s each on 2 cores): the next power
    of two up to 64, then a multiple of 64."""
    powers = tf.constant([1, 2, 4, 8, 16, 32, 64])
    return tf.where(batch <= 64, tf.reduce_min(tf.where(powers >= batch, powers, 64)), (batch + 63) // 64 * 64)


def timing_signal(length: int, channels: int):
    """T2T's get_timing_signal_1d [length, channels] (sines then cosines, timescales 1 to 1e4), by its own ops."""
    position = tf.cast(tf.range(length), tf.float32)
    half = channels // 2
    increment = math.log(1.0e4) / tf.maximum(tf.cast(half, tf.float32) - 1, 1)
    inv = 1.0 * tf.exp(tf.cast(tf.range(half), tf.float32) * -increment)
    scaled = position[:, None] * inv[None, :]
    return tf.concat([tf.sin(scaled), tf.cos(scaled)], axis=1)


class Model(tf.Module):
    """One transformer_copy's weights (float32 tf.Variables) and its layers; prefix: its variables' scope."""

    def __init__(self, tensors: dict, prefix: str, layers: int, heads: int):
        super().__init__()
        def var(name):
            return tf.Variable(tensors[prefix + name].astype(np.float32), trainable=False)
        shards = sorted((n for n in tensors if n.startswith(prefix + "symbol_modality_") and "/shared/weights_" in n),
                        key=lambda n: int(n.rsplit("_", 1)[1]))
        modality = shards[0].rsplit("/shared/", 1)[0][len(prefix):]
        self.embedding = tf.Variable(np.concatenate([tensors[n] for n in shards]).astype(np.float32), trainable=False)
        self.gate_kernel, self.gate_bias = var(modality + "/copy_gate/kernel"), var(modality + "/copy_gate/bias")
        self.target_space = var("body/target_space_embedding/kernel")
        self.heads = heads

        def block(scope, with_encdec):
            parts = ["self_attention"] + (["encdec_attention"] if with_encdec else [])
            out = {}
            for part in parts:
                base = scope + part
                out[part] = dict(ln=(var(base + "/layer_prepostprocess/layer_norm/layer_norm_scale"),
                                     var(base + "/layer_prepostprocess/layer_norm/layer_norm_bias")),
                                 **{k: var(base + "/multihead_attention/%s/kernel" % k)
                                    for k in ("q", "k", "v", "output_transform")})
            out["ffn"] = dict(ln=(var(scope + "ffn/layer_prepostprocess/layer_norm/layer_norm_scale"),
                                  var(scope + "ffn/layer_prepostprocess/layer_norm/layer_norm_bias")),
                              w1=var(scope + "ffn/conv1/kernel"), b1=var(scope + "ffn/conv1/bias"),
                              w2=var(scope + "ffn/conv2/kernel"), b2=var(scope + "ffn/conv2/bias"))
            return out
        self.encoder = [block("body/encoder/layer_%d/" % i, False) for i in range(layers)]
        self.decoder = [block("body/decoder/layer_%d/" % i, True) for i in range(layers)]
        self.encoder_ln = (var("body/encoder/layer_prepostprocess/layer_norm/layer_norm_scale"),
                           var("body/encoder/layer_prepostprocess/layer_norm/layer_norm_bias"))
        self.decoder_ln = (var("body/decoder/layer_prepostprocess/layer_norm/layer_norm_scale"),
                           var("body/decoder/layer_prepostprocess/layer_norm/layer_norm_bias"))

    def embed(self, ids):
        hidden = self.embedding.shape[1]
        x = tf.gather(self.embedding, ids) * (hidden ** 0.5)
        return x * tf.cast(tf.not_equal(ids, 0), tf.float32)[..., None]

    def split(self, x):
        """[..., hidden] -> [..., heads, depth]"""
        return tf.reshape(x, tf.concat([tf.shape(x)[:-1], [self.heads, -1]], 0))

    def merge(self, x):
        return tf.reshape(x, tf.concat([tf.shape(x)[:-2], [-1]], 0))

    def encode(self, ids, timing):
        """ids [batch, length] -> (encoder output [batch, length, hidden], attention bias [batch, 1, length])."""
        x = self.embed(ids)
        padding = tf.cast(tf.equal(tf.reduce_sum(tf.abs(x), axis=-1), 0.0), tf.float32)
        bias = (padding * NEG)[:, None, :]                                      # [batch, 1, length]
        x = x + self.target_space[0] + timing[None, :tf.shape(ids)[1]]
        for layer in self.encoder:
            att = layer["self_attention"]
            y = layer_norm(x, *att["ln"])
            q = self.split(tf.matmul(y, att["q"])) * (self.depth() ** -0.5)      # [b, l, h, d]
            k, v = self.split(tf.matmul(y, att["k"])), self.split(tf.matmul(y, att["v"]))
            logits = tf.einsum("bqhd,bkhd->bhqk", q, k) + bias[:, :, None, :]
            y = tf.einsum("bhqk,bkhd->bqhd", tf.nn.softmax(logits), v)
            x = x + tf.matmul(self.merge(y), att["output_transform"])
            x = x + ffn(x, layer["ffn"])
        return layer_norm(x, *self.encoder_ln), bias

    def depth(self):
        return self.embedding.shape[1] // self.heads

    def encdec_memory(self, encoder_output):
        """Per decoder layer: the encoder-decoder attention's keys [batch, heads, depth, length] and values [batch,
        heads, length, depth], once per body (a beam's rows read the same ones), laid out as the steps' products
        read them (else every step transposes them)."""
        return [(tf.transpose(self.split(tf.matmul(encoder_output, layer["encdec_attention"]["k"])), [0, 2, 3, 1]),
                 tf.transpose(self.split(tf.matmul(encoder_output, layer["encdec_attention"]["v"])), [0, 2, 1, 3]))
                for layer in self.decoder]

    def step(self, ids, i, timing, caches, memory, bias):
        """One decoding step of rows [batch, rows] fed ids [batch, rows] at position i: (decoder output [batch, rows,
        hidden], the last layer's encoder-decoder attention averaged over heads [batch, rows, length], caches).
        caches: per layer, keys [batch, rows, heads, depth, max_length] and values [batch, rows, heads, max_length,
        depth] (the layouts the products read); position i is written."""
        x = self.embed(ids) + timing[i]  # the start id 0 embeds as zeros, as T2T's first step does
        max_length = caches[0][1].shape[3]
        here = tf.one_hot(i, max_length)                                           # [T]
        future = tf.cast(tf.range(max_length) > i, tf.float32) * NEG              # [T]
        new_caches, weights = [], None
        for layer, (k_cache, v_cache), (k_mem, v_mem) in zip(self.decoder, caches, memory):
            att = layer["self_attention"]
            y = layer_norm(x, *att["ln"])
            q = self.split(tf.matmul(y, att["q"])) * (self.depth() ** -0.5)       # [b, r, h, d]
            k_cache = k_cache * (1.0 - here) + here * self.split(tf.matmul(y, att["k"]))[..., None]
            v_cache = (v_cache * (1.0 - here[:, None]) + here[:, None]
                       * self.split(tf.matmul(y, att["v"]))[:, :, :, None, :])
            new_caches.append((k_cache, v_cache))
            logits = tf.einsum("brhd,brhdt->brht", q, k_cache) + future
            y = tf.einsum("brht,brhtd->brhd", tf.nn.softmax(logits), v_cache)
            x = x + tf.matmul(self.merge(y), att["output_transform"])
            att = layer["encdec_attention"]
            y = layer_norm(x, *att["ln"])
            q = self.split(tf.matmul(y, att["q"])) * (self.depth() ** -0.5)
            logits = tf.einsum("brhd,bhdl->brhl", q, k_mem) + bias[:, :, None, :]
            weights = tf.nn.softmax(logits)                                           # [b, r, h, l]
            y = tf.einsum("brhl,bhld->brhd", weights, v_mem)
            x = x + tf.matmul(self.merge(y), att["output_transform"])
            x = x + ffn(x, layer["ffn"])
        return layer_norm(x, *self.decoder_ln), tf.reduce_mean(weights, axis=2), new_caches

    def log_p(self, body_output, copy_weights, body_ids):
        """decode_ops.mix_copy: log(g softmax(logits) + (1 - g) copy + eps) [batch, rows, vocab]."""
        batch, rows = tf.shape(body_output)[0], tf.shape(body_output)[1]
        vocab = self.embedding.shape[0]
        logits = tf.matmul(body_output, self.embedding, transpose_b=True)
        gate = tf.sigmoid(tf.matmul(body_output, self.gate_kernel) + self.gate_bias)   # [b, r, 1]
        length = tf.shape(body_ids)[1]
        segments = ((tf.range(batch * rows)[:, None] * vocab)
                    + tf.reshape(tf.tile(body_ids[:, None, :], [1, rows, 1]), [batch * rows, length]))
        copy = tf.math.unsorted_segment_sum(tf.reshape(copy_weights, [-1]), tf.reshape(segments, [-1]),
                                            batch * rows * vocab)
        copy = tf.reshape(copy, [batch, rows, vocab])
        return tf.math.log(gate * tf.nn.softmax(logits) + (1.0 - gate) * copy + COPY_EPSILON)


def layer_norm(x, scale, bias):
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + LN_EPSILON) * scale + bias


def ffn(x, p):
    y = layer_norm(x, *p["ln"])
    return tf.matmul(tf.nn.relu(tf.matmul(y, p["w1"]) + p["b1"]), p["w2"]) + p["b2"]


def first_argmax(x):
    """tf.argmax(x, axis=-1), the first index of the maximum, as two plain reductions: XLA on CPU fuses an argmax's
    producers (the samples' noise) into its two-valued reduction and computes them one element at a time; a max and
    a min it vectorizes."""
    largest = tf.reduce_max(x, axis=-1, keepdims=True)
    return tf.reduce_min(tf.where(tf.equal(x, largest), tf.range(x.shape[-1]), x.shape[-1]), axis=-1)


def at(seq, i):
    """seq[..., i] for a position i that is a tensor."""
    return tf.gather(seq, i, axis=-1)


def apply_rules(log_p, written, i, body_length, rules: dict, tables: dict):
    """decode_ops._copy_top's decoding rules on log p [batch, rows, vocab], in its order (the same sums, so the
    same floats). written [batch, rows, max_length + 1]: the ids fed so far (the start id first), valid up to i."""
    vocab = log_p.shape[-1]
    eos = tf.one_hot(EOS_ID, vocab)
    if rules.get("min_length"):
        too_short = tf.cast(i < tf.minimum(rules["min_length"], body_length // 2), tf.float32)    # [batch]
        log_p = log_p + too_short[:, None, None] * eos * NEG
    positions = tf.range(written.shape[-1])
    valid = positions <= i                                                        # [T1]
    if rules.get("no_repeat_ngram") == 3:
        before, after, then = written[..., :-2], written[..., 1:-1], written[..., 2:]
        follows = ((before == at(written, tf.maximum(i - 1, 0))[..., None]) & (after == at(written, i)[..., None])
                   & (positions[:-2] <= i - 2))
        log_p = log_p + tf.cast(banned(then, follows, vocab) > 0, tf.float32) * NEG
    if rules.get("no_repeat_word"):
        ends = tf.gather(tables["ends_word"], written)
        begins = tf.concat([tf.ones_like(ends[..., :1]), ends[..., :-1]], axis=-1)
        whole_long = tf.gather(tables["long_word"], written) & begins & valid
        seen = tf.cast(banned(written, whole_long, vocab) > 0, tf.float32)
        log_p = log_p + seen * tf.cast(at(ends, i), tf.float32)[..., None] * NEG
    if rules.get("no_tag_start"):
        log_p = log_p + tf.cast(tf.equal(i, 0), tf.float32) * tf.cast(tables["opens_tag"], tf.float32) * NEG
    return log_p


def banned(ids, flags, vocab: int):
    """[batch, rows, vocab]: per row, how many of its positions flag each id (ids, flags [batch, rows, n])."""
    rows = tf.reshape(tf.range(tf.size(ids) // ids.shape[-1]), tf.shape(ids)[:-1])[..., None]
    out = tf.math.unsorted_segment_sum(tf.reshape(tf.cast(flags, tf.float32), [-1]),
                                       tf.reshape(rows * vocab + ids, [-1]), tf.size(ids) // ids.shape[-1] * vocab)
    return tf.reshape(out, tf.concat([tf.shape(ids)[:-1], [vocab]], 0))


class Beams:
    """T2T's beam search (tensor2tensor/utils/beam_search.py) with sequences of a fixed length: alive and
    finished titles, 2 * beams candidates a step, its length penalty, and its stopping rule for top_beams > 1."""

    def __init__(self, batch, beams: int, length: int):
        self.k = beams
        self.alive_seq = tf.zeros([batch, beams, length], tf.int32)
        self.alive_lp = tf.tile(tf.constant([[0.0] + [-INF] * (beams - 1)]), [batch, 1])
        self.fin_seq = tf.zeros([batch, beams, length], tf.int32)
        self.fin_scores = tf.ones([batch, beams]) * -INF
        self.fin_flags = tf.zeros([batch, beams], tf.bool)

    def state(self):
        return [self.alive_seq, self.alive_lp, self.fin_seq, self.fin_scores, self.fin_flags]

    @classmethod
    def of(cls, state):
        self = cls.__new__(cls)
        self.alive_seq, self.alive_lp, self.fin_seq, self.fin_scores, self.fin_flags = state
        self.k = state[1].shape[1]
        return self

    def searching(self, real, alpha: float, decode_length: int):
        """T2T's _is_not_finished (stop_early False) over the batch's real rows, but for the step count."""
        max_penalty = tf.pow((5.0 + float(decode_length)) / 6.0, alpha)
        bound = self.alive_lp[:, 0] / max_penalty
        lowest = tf.reduce_min(tf.where(real[:, None], self.fin_scores, INF * 10))
        return tf.logical_not(tf.reduce_all(tf.where(real, lowest > bound, True)))

    def step(self, i, log_p, alpha: float):
        """Grows the titles by one subword given log p [batch, beams, vocab]; returns the alive titles' parents
        [batch, beams] (whose caches they continue)."""
        vocab = log_p.shape[-1]
        log_probs = log_p - tf.reduce_logsumexp(log_p, axis=-1, keepdims=True) + self.alive_lp[..., None]
        penalty = tf.pow((5.0 + tf.cast(i + 1, tf.float32)) / 6.0, alpha)
        scores, ids = tf.nn.top_k(tf.reshape(log_probs / penalty, [-1, self.k * vocab]), k=2 * self.k)
        topk_lp = scores * penalty
        parent, ids = ids // vocab, ids % vocab
        length = self.alive_seq.shape[-1]
        seq = tf.where(tf.equal(tf.range(length), i + 1), ids[..., None],
                       tf.gather(self.alive_seq, parent, batch_dims=1))
        finished = tf.equal(ids, EOS_ID)
        _, keep = tf.nn.top_k(scores + tf.cast(finished, tf.float32) * -INF, k=self.k)
        self.alive_seq = tf.gather(seq, keep, batch_dims=1)
        self.alive_lp = tf.gather(topk_lp, keep, batch_dims=1)
        all_scores = tf.concat([self.fin_scores, scores + (1.0 - tf.cast(finished, tf.float32)) * -INF], axis=1)
        self.fin_scores, keep_f = tf.nn.top_k(all_scores, k=self.k)
        self.fin_seq = tf.gather(tf.concat([self.fin_seq, seq], axis=1), keep_f, batch_dims=1)
        self.fin_flags = tf.gather(tf.concat([self.fin_flags, finished], axis=1), keep_f, batch_dims=1)
        return tf.gather(parent, keep, batch_dims=1)

    def result(self):
        """(titles [batch, beams, length] with the start id, scores [batch, beams]), as T2T returns them."""
        any_finished = tf.reduce_any(self.fin_flags, axis=1)
        return (tf.where(any_finished[:, None, None], self.fin_seq, self.alive_seq),
                tf.where(any_finished[:, None], self.fin_scores, self.alive_lp))


class Decoder(tf.Module):
    """The serving graph: parse, pad, decode in one XLA loop, choose by minimum Bayes risk."""

    def __init__(self, tensors: dict, second: bool, config: dict, subtokens: list[str]):
        super().__init__()
        self.config = dict(config)
        layers, heads = config["layers"], config["heads"]
        self.models = [Model(tensors, "transformer_copy/", layers, heads)]
        if second:
            self.models.append(Model(tensors, "second_model/transformer_copy/", layers, heads))
        vocab = int(self.models[0].embedding.shape[0])
        rules = config["rules"]
        ends_word, long_word = decode_ops.word_ends(subtokens, max(rules.get("no_repeat_word") or 0, 1), vocab)
        ends_token, is_word = decode_ops.token_ends(subtokens, vocab)
        self.tables = {"ends_word": tf.constant(ends_word), "long_word": tf.constant(long_word),
                       "opens_tag": tf.constant(decode_ops.tag_openers(subtokens, vocab)),
                       "ends_token": tf.constant(ends_token), "is_word": tf.constant(is_word)}
        self.timing = tf.constant(timing_signal(max(config["max_input"], rules["max_length"] + 1),
                                                int(self.models[0].embedding.shape[1])))
        self.loop = tf.function(self._loop, jit_compile=config.get("xla", True), autograph=False)
        self.serve = tf.function(self._serve, input_signature=[tf.TensorSpec([None], tf.string, name="input")], autograph=False)

    def _serve(self, input):  # noqa: A002  (the T2T export names its input so)
        serialized = input
        parsed = tf.io.parse_example(serialized, {
            "inputs": tf.io.VarLenFeature(tf.int64),
            "batch_prediction_key": tf.io.FixedLenFeature([1], tf.int64, default_value=[0])})
        max_input = self.config["max_input"]
        ids = tf.cast(tf.sparse.to_dense(parsed["inputs"]), tf.int32)[:, :max_input]
        batch = tf.shape(ids)[0]
        padded = bucket(batch)
        ids = tf.pad(ids, [[0, padded - batch], [0, max_input - tf.shape(ids)[1]]])
        beams, scores, samples, steps = self.loop(ids, tf.range(padded) < batch)
        beams, scores, samples = beams[:batch, :, 1:steps + 1], scores[:batch], samples[:batch, :, 1:]
        agreement = decode_ops.consensus_utility(beams, samples, self.tables["ends_token"], self.tables["is_word"])
        choice = tf.argmax(agreement, axis=1, output_type=tf.int32)
        ranked = tf.argsort(agreement, axis=1, direction="DESCENDING", stable=True)
        return {"outputs": tf.gather(beams, choice, batch_dims=1),
                "scores": tf.gather(scores, choice, batch_dims=1),
                "candidates": tf.gather(beams, ranked, batch_dims=1),
                "candidate_scores": tf.gather(scores, ranked, batch_dims=1),
                "batch_prediction_key": tf.cast(parsed["batch_prediction_key"], tf.int32)}

    def _loop(self, ids, real):
        """ids [batch, max_input] (padded), real [batch]: (both models' beam titles [batch, 2 * beams, T + 1],
        their scores, the samples [batch, samples, T + 1], the steps the beam searches took)."""
        rules, k, n_samples = self.config["rules"], self.config["beam_size"], rules_samples(self.config)
        alpha, length = self.config["alpha"], rules["max_length"]
        batch = tf.shape(ids)[0]
        body_length = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)
        first = self.models[0]
        memories, biases = [], []
        for model in self.models:
            encoded, bias = model.encode(ids, self.timing)
            memories.append(model.encdec_memory(encoded))
            biases.append(bias)
        hidden = int(first.embedding.shape[1])
        rows = [k + n_samples] + [k] * (len(self.models) - 1)
        heads = self.config["heads"]
        depth = hidden // heads
        caches = [[(tf.zeros([batch, r, heads, depth, length]), tf.zeros([batch, r, heads, length, depth]))
                   for _ in range(self.config["layers"])] for r in rows]
        beams = [Beams(batch, k, length + 1) for _ in self.models]
        samples = tf.zeros([batch, n_samples, length + 1], tf.int32)
        hit_eos = tf.logical_not(real)[:, None] | tf.zeros([batch, n_samples], tf.bool)
        tiled_ids = tf.repeat(ids, n_samples, axis=0)

        def searching(i, beam_states, hit_eos):
            on = [Beams.of(s).searching(real, alpha, length) for s in beam_states]
            return tf.reduce_any(tf.stack(on)), tf.logical_not(tf.reduce_all(hit_eos))

        def cond(i, steps, beam_states, samples, hit_eos, caches):
            beams_on, samples_on = searching(i, beam_states, hit_eos)
            return (i < length) & (beams_on | samples_on)

        def body(i, steps, beam_states, samples, hit_eos, caches):
            beams_on, _ = searching(i, beam_states, hit_eos)
            steps = steps + tf.cast(beams_on, tf.int32)
            new_states, new_caches = [], []
            for m, (model, state, cache) in enumerate(zip(self.models, beam_states, caches)):
                beam = Beams.of(state)
                written = beam.alive_seq if m else tf.concat([beam.alive_seq, samples], axis=1)
                out, copy_weights, cache = model.step(at(written, i), i, self.timing, cache, memories[m], biases[m])
                log_p = apply_rules(model.log_p(out, copy_weights, ids), written, i, body_length, rules, self.tables)
                parent = beam.step(i, log_p[:, :k], alpha)
                cache = [tuple(tf.concat([tf.gather(c[:, :k], parent, batch_dims=1), c[:, k:]], axis=1) for c in kv)
                         for kv in cache]
                if not m:
                    noise = tf.reshape(decode_ops.sampled_gumbel(tiled_ids, i, n_samples, log_p.shape[-1]),
                                       [batch, n_samples, -1])
                    chosen = first_argmax(log_p[:, k:] / MBR_TEMPERATURE + noise)
                    samples = tf.where(tf.equal(tf.range(length + 1), i + 1), chosen[..., None], samples)
                    hit_eos = hit_eos | tf.equal(chosen, EOS_ID)
                new_states.append(beam.state())
                new_caches.append(cache)
            return i + 1, steps, new_states, samples, hit_eos, new_caches

        _, steps, beam_states, samples, _, _ = tf.while_loop(
            cond, body, [tf.constant(0), tf.constant(0), [b.state() for b in beams], samples, hit_eos, caches],
            maximum_iterations=length)
        results = [Beams.of(s).result() for s in beam_states]
        return (tf.concat([r[0] for r in results], axis=1), tf.concat([r[1] for r in results], axis=1),
                samples, steps)


def rules_samples(config: dict) -> int:
    return int(config["rules"].get("mbr_samples") or 0)


def save(checkpoint_path: str, vocab_path: str, config: dict, out: str) -> None:
    """Writes the SavedModel of the checkpoint (a servable one: float32, the second model's weights, if any, under
    second_model/) into out, its serving_default signature the T2T export's (input: serialized tf.train.Example)."""
    from tensor2tensor.data_generators import text_encoder
    reader = tf.train.load_checkpoint(checkpoint_path)
    tensors = {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    second = any(n.startswith("second_model/") for n in tensors)
    subtokens = text_encoder.SubwordTextEncoder(vocab_path).all_subtoken_strings
    decoder = Decoder(tensors, second, config, subtokens)
    tf.saved_model.save(decoder, out, signatures={"serving_default": decoder.serve})


def main(argv=None) -> int:
    """`python -m trainer.fast_decode CHECKPOINT VOCAB CONFIG_JSON OUT`: what trainer/export.py runs in a process of
    its own (TensorFlow 2 behaviour, which the T2T shims turn off)."""
    import json
    import sys
    checkpoint_path, vocab_path, config, out = (argv or sys.argv[1:])
    save(checkpoint_path, vocab_path, json.loads(config), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
