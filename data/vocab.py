"""Building the T2T subword vocabulary from combined token counts, using both cores.

T2T's SubwordTextEncoder.build_to_target_size bisects over min_count in [1, 1000], building one whole
vocabulary per probe (SubwordTextEncoder.build_from_token_counts, 4 iterations) until the size is within 1% of the
target: 5-10 sequential probes, which is most of t2t-datagen's time. Here every probe is still T2T's own
build_from_token_counts on the same counts, with the same acceptance rule (within 1% of the target, else the
closest found), but the probes are chosen better and run side by side:
  1. two first guesses around min_count = total tokens / 26000 (the ratio seen on GitHub issue text);
  2. then the min_count where a straight line through the nearest probes (log size against log min_count, as
     subword vocabularies shrink roughly by a power law) meets the target, and its neighbour;
  3. with each new guess, the midpoint of the widest part of the bracket left, so a poor guess still halves
     the search every round; until a size is within 1% or the bracket is exhausted.
Typically two rounds of two parallel probes, against T2T's five or more in a row.
"""
from __future__ import annotations

import concurrent.futures
import logging
import math
import multiprocessing
import os
import time

log = logging.getLogger("ghsumm.vocab")

TOLERANCE = 0.01       # build_to_target_size accepts a size within 1% of the target
NUM_ITERATIONS = 4     # build_to_target_size's default
MIN_COUNT, MAX_COUNT = 1, 1000

_COUNTS: dict = {}


def _probe(min_count: int) -> tuple[int, int, list]:
    from tensor2tensor.data_generators import text_encoder
    encoder = text_encoder.SubwordTextEncoder()
    encoder.build_from_token_counts(_COUNTS, min_count, NUM_ITERATIONS,
                                    reserved_tokens=text_encoder.RESERVED_TOKENS)
    return min_count, encoder.vocab_size, encoder.all_subtoken_strings


def _close_enough(size: int, target: int) -> bool:
    return abs(size - target) * 100 < target * TOLERANCE * 100


def _interpolate(probes: dict, target: int) -> int:
    """min_count where log(size) against log(min_count), through the two probes nearest the target, is target."""
    (m1, s1), (m2, s2) = sorted(probes.items(), key=lambda kv: abs(kv[1] - target))[:2]
    if m1 == m2 or s1 == s2:
        return m1
    slope = (math.log(s2) - math.log(s1)) / (math.log(m2) - math.log(m1))
    return round(math.exp(math.log(m1) + (math.log(target) - math.log(s1)) / slope))


def _next_candidates(probes: dict, target: int, n: int) -> list[int]:
    """Up to n untried min_counts: the interpolated guess, then midpoints that halve what is left of the bracket
    (so a poor guess still halves the search every round, as T2T's bisection does)."""
    above = [m for m, s in probes.items() if s > target]   # min_count too small: vocabulary too big
    below = [m for m, s in probes.items() if s < target]
    lo = max(above, default=MIN_COUNT - 1) + 1
    hi = min(below, default=MAX_COUNT + 1) - 1
    if lo > hi:
        return []
    guess = _interpolate(probes, target) if len(probes) >= 2 else (lo + hi) // 2
    if not lo <= guess <= hi:
        guess = (lo + hi) // 2
    picked = [guess]
    gaps = [(lo, guess - 1), (guess + 1, hi)]
    while len(picked) < n:
        gaps = [g for g in gaps if g[0] <= g[1]]
        if not gaps:
            break
        widest = max(gaps, key=lambda g: g[1] - g[0])
        gaps.remove(widest)
        mid = (widest[0] + widest[1]) // 2
        picked.append(mid)
        gaps += [(widest[0], mid - 1), (mid + 1, widest[1])]
    return picked


def build_subword_vocabulary(token_counts: dict, target_size: int, workers: int = 0):
    """A SubwordTextEncoder of about target_size subwords from {token: count}, by T2T's own builder."""
    from tensor2tensor.data_generators import text_encoder
    global _COUNTS
    workers = workers or os.cpu_count() or 1
    total = sum(token_counts.values())
    first = max(MIN_COUNT, min(MAX_COUNT, round(total / 26000)))
    start = time.time()
    _COUNTS = token_counts
    probes: dict[int, int] = {}
    strings: dict[int, list] = {}
    candidates = sorted({first, max(MIN_COUNT, round(first * 0.8))})[:workers] if workers > 1 else [first]
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        while candidates:
            for m, size, subtokens in pool.map(_probe, candidates):
                probes[m], strings[m] = size, subtokens
                log.info("min_count %d -> %d subwords (%.1f s)", m, size, time.time() - start)
            if any(_close_enough(s, target_size) for s in probes.values()):
                break
            candidates = _next_candidates(probes, target_size, workers)
    _COUNTS = {}
    best = min(probes, key=lambda m: (abs(probes[m] - target_size), m))
    encoder = text_encoder.SubwordTextEncoder()
    encoder._init_subtokens_from_list(strings[best])  # what SubwordTextEncoder(filename) does on load
    encoder._init_alphabet_from_tokens(strings[best])
    log.info("chose min_count %d: %d subwords after %d probes in %.1f s", best, probes[best], len(probes),
             time.time() - start)
    return encoder
