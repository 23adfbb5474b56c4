"""Decoding helpers in plain TensorFlow, shared by the T2T graph (trainer/copy_model.py) and the XLA one
(trainer/fast_decode.py): the rules' per-subword tables, the samples' Gumbel noise and minimum Bayes risk."""
import tensorflow as tf

from data.contract import EOS_ID

MAX_MBR_SAMPLES = 64  # sampled_gumbel tells a body's samples apart by 6 bits


def shape_list(x):
    """Static dimensions where known, dynamic ones elsewhere (T2T's shape_list)."""
    static = x.shape.as_list()
    dynamic = tf.shape(x)
    return [dynamic[i] if d is None else d for i, d in enumerate(static)]

def word_ends(subtokens: list[str], min_letters: int, vocab_size: int) -> tuple[list[bool], list[bool]]:
    """Per id of a T2T subword vocabulary (vocab_size ids: the ids beyond its subwords are neither): whether the
    subword ends a word (a trailing "_"; the start id 0 counts, so the first subword written begins a word), and
    whether it is a whole word of at least min_letters letters when it begins one."""
    ends = [i == 0 or t.endswith("_") for i, t in enumerate(subtokens)]
    long = [e and i > 0 and sum(c.isalpha() for c in t[:-1]) >= min_letters for i, (t, e) in
            enumerate(zip(subtokens, ends))]
    return _per_id(ends, vocab_size), _per_id(long, vocab_size)
def _per_id(flags: list[bool], vocab_size: int) -> list[bool]:
    """Flags per subword of a vocabulary, False for the ids beyond its subwords (the model's vocab_size is padded)."""
    return flags + [False] * (vocab_size - len(flags))
def tag_openers(subtokens: list[str], vocab_size: int) -> list[bool]:
    """Per id of a T2T subword vocabulary (vocab_size ids): whether the subword opens a bracketed tag ("[", "[_")."""
    return _per_id([t.startswith("[") for t in subtokens], vocab_size)
def _mix32(x):
    """A 32-bit integer hash (xor-shift-multiply rounds) of int64 x in [0, 2**32), elementwise; the products stay
    below 2**63."""
    mask = 0xFFFFFFFF
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = tf.bitwise.bitwise_and(x * 0x7FEB352D, mask)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 15))
    x = tf.bitwise.bitwise_and(x * 0x68E31DA5, mask)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
def sampled_gumbel(body_ids, position, samples: int, vocab_size: int):
    """Gumbel noise [rows, 1, 1, 1, vocab] for sampling by argmax, a function of the row's body (its ids, padding
    aside), of which of the body's `samples` rows it is (rows repeat each body `samples` times), of the position and
    of the subword: the same body gets the same sampled titles in any batch, on any server."""
    ids = tf.cast(body_ids, tf.int64)
    body = tf.reduce_sum(ids * tf.range(1, tf.shape(ids, out_type=tf.int64)[1] + 1)[None, :], axis=1)
    row = tf.range(tf.shape(ids, out_type=tf.int64)[0]) % samples
    key = _mix32(tf.bitwise.bitwise_and(body * MAX_MBR_SAMPLES + row, 0xFFFFFFFF))             # [rows]
    cell = tf.cast(position, tf.int64) * 65536 + tf.range(vocab_size, dtype=tf.int64)        # [vocab]
    bits = _mix32(tf.bitwise.bitwise_xor(key[:, None], cell[None, :]))                      # [rows, vocab]
    uniform = (tf.cast(bits, tf.float32) + 0.5) / 4294967296.0
    return tf.reshape(-tf.math.log(-tf.math.log(uniform)), [-1, 1, 1, 1, vocab_size])
def token_ends(subtokens: list[str], vocab_size: int) -> tuple[list[bool], list[bool]]:
    """Per id of a T2T subword vocabulary (vocab_size ids): whether the subword ends a token (a trailing "_"), and
    whether its token is a word (letters or digits, not punctuation or space; the reserved ids are neither)."""
    ends = [i > 1 and t.endswith("_") for i, t in enumerate(subtokens)]
    word = [i > 1 and t[:1].isalnum() for i, t in enumerate(subtokens)]
    return _per_id(ends, vocab_size), _per_id(word, vocab_size)
def title_words(ids, ends_token, is_word):
    """(word hashes, is a word) [rows, positions] of titles' subword ids [rows, positions]: at the subword that
    ends each word token, a hash of the token's subwords; nothing after the first EOS."""
    ids = tf.cast(ids, tf.int64)
    ended = tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int64), axis=1, exclusive=True) > 0
    ends = tf.logical_and(tf.gather(ends_token, ids), tf.logical_not(ended))

    def step(previous, current):
        hashed, previous_ended = previous
        token, token_ends_here = current
        hashed = tf.where(previous_ended, tf.zeros_like(hashed), hashed)
        return (hashed * 8209 + token + 1) % 2147483647, token_ends_here

    hashes, _ = tf.scan(step, (tf.transpose(ids), tf.transpose(ends)),
                        initializer=(tf.zeros_like(ids[:, 0]), tf.ones_like(ends[:, 0])))
    return tf.transpose(hashes), tf.logical_and(ends, tf.gather(is_word, ids))
def consensus_choice(beams, samples, ends_token, is_word):
    """Minimum Bayes risk: per body, the index of the beam title [batch, beams, positions] whose words agree most
    with the sampled titles [batch, samples, positions] (consensus_utility); the first (the best-scored beam) on a
    tie."""
    return tf.argmax(consensus_utility(beams, samples, ends_token, is_word), axis=1, output_type=tf.int32)
def consensus_utility(beams, samples, ends_token, is_word):
    """How much each beam title [batch, beams, positions] agrees with the sampled titles [batch, samples,
    positions]: the sum of its word-unigram F1 with each (as ROUGE-1 without stemming), [batch, beams]."""
    batch, n_beams, beam_length = shape_list(beams)
    n_samples, sample_length = shape_list(samples)[1:]
    words_b, valid_b = title_words(tf.reshape(beams, [-1, beam_length]), ends_token, is_word)
    words_s, valid_s = title_words(tf.reshape(samples, [-1, sample_length]), ends_token, is_word)
    words_b, valid_b = (tf.reshape(t, [batch, n_beams, 1, beam_length]) for t in (words_b, valid_b))
    words_s, valid_s = (tf.reshape(t, [batch, 1, n_samples, sample_length]) for t in (words_s, valid_s))
    fb, fs = tf.cast(valid_b, tf.float32), tf.cast(valid_s, tf.float32)
    # per beam word: how often the beam title has it, and how often the sample does
    own = tf.reduce_sum(tf.cast(tf.equal(words_b[..., :, None], words_b[..., None, :]), tf.float32)
                        * fb[..., None, :], axis=-1)                                   # [batch, beams, 1, L]
    other = tf.reduce_sum(tf.cast(tf.equal(words_b[..., :, None], words_s[..., None, :]), tf.float32)
                          * fs[..., None, :], axis=-1)                                 # [batch, beams, samples, L]
    overlap = tf.reduce_sum(fb * tf.minimum(own, other) / tf.maximum(own, 1.0), axis=-1)
    total = tf.reduce_sum(fb, axis=-1) + tf.reduce_sum(fs, axis=-1)                    # [batch, beams, samples]
    f1 = 2.0 * overlap / tf.maximum(total, 1.0)
    return tf.reduce_sum(f1, axis=2)
