"""trainer/fast_decode.py's pieces that need no export: batch buckets and the rules on fixed-length titles (the
whole graph against T2T's: `python -m benchmarks decoding`, which counts differing titles)."""
import numpy as np
import tensorflow as tf

from trainer import fast_decode


def test_batches_pad_to_powers_of_two_then_multiples_of_64():
    sizes = [1, 2, 3, 5, 17, 32, 33, 64, 65, 130]
    assert [int(fast_decode.bucket(tf.constant(n))) for n in sizes] == [1, 2, 4, 8, 32, 32, 64, 64, 128, 192]


def test_rules_ban_a_repeated_trigram_and_the_end_before_the_minimum_length():
    vocab = 8
    # one row: start id 0, then 2 3 4 2 3, position 5: writing 4 would repeat the trigram "2 3 4"
    written = tf.constant([[[0, 2, 3, 4, 2, 3, 0, 0]]], tf.int32)
    log_p = tf.zeros([1, 1, vocab])
    out = fast_decode.apply_rules(log_p, written, tf.constant(5), tf.constant([40]),
                                  {"min_length": 9, "no_repeat_ngram": 3}, {}).numpy()[0, 0]
    banned = np.flatnonzero(out < -1e8).tolist()
    assert banned == [1, 4]  # EOS (5 < 9) and the trigram's third subword


def test_the_samples_argmax_is_tf_argmax_ties_included():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(3, 5, 50)).astype(np.float32)  # few values: many ties
    x[0, 0] = -np.inf
    x[1, 1, 7] = np.inf
    for compiled in (False, True):
        chosen = tf.function(fast_decode.first_argmax, jit_compile=compiled)(tf.constant(x)).numpy()
        np.testing.assert_array_equal(chosen, np.argmax(x, axis=-1))
