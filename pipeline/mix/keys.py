"""Seeded per-document hash keys: every random choice of the mix (topic downsampling, which
documents a bucket keeps, shard order) is a function of (document id, seed, purpose), never of
partitioning or run order."""
from __future__ import annotations

import numpy as np
import xxhash

U64 = 2**64


def seeded_keys(ids: list[str], seed: int, salt: str = "") -> np.ndarray:
    """xxh64(utf-8 id) as uint64, seeded by `seed` and, when given, a purpose `salt` (so the keys
    of two purposes are independent)."""
    s = seed % U64  # xxh64 seeds are unsigned 64-bit
    if salt:
        s = xxhash.xxh64_intdigest(salt.encode("utf-8"), seed=s)
    return np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8"), seed=s) for i in ids), dtype=np.uint64, count=len(ids))


def unit_interval(keys: np.ndarray) -> np.ndarray:
    """Keys as uniform floats in [0, 1) (53 bits, exact in float64)."""
    return (keys >> np.uint64(11)).astype(np.float64) / float(2**53)


def descending_score_keys(scores: np.ndarray, ids: list[str], seed: int, salt: str) -> np.ndarray:
    """uint64 keys whose ascending order is descending score (ties in a seeded random order):
    the high 32 bits are the float32 score mapped to an order-preserving unsigned int and
    inverted, the low 32 bits a seeded hash of the id."""
    bits = np.asarray(scores, dtype=np.float32).view(np.uint32).astype(np.uint64)
    negative = (bits >> np.uint64(31)) == 1
    ordered = np.where(negative, ~bits & np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))
    high = (np.uint64(0xFFFFFFFF) - ordered) << np.uint64(32)
    return high | (seeded_keys(ids, seed, salt) & np.uint64(0xFFFFFFFF))
