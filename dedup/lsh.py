"""LSH banding: choosing b bands x r rows, the S-curve, band keys, and the star edges of a bucket.

`optimal_param` minimises the same weighted false-positive / false-negative areas as
datasketch's `MinHashLSH._optimal_param`, integrating with Gauss-Legendre quadrature instead of
scipy's adaptive `quad`: the integrand 1-(1-s^r)^b is a polynomial of degree r*b <= num_perm, so
ceil((num_perm+1)/2) nodes integrate it exactly, and all (b, r) pairs are scored in one pass.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.partitions import group_starts
from dedup.signatures import POS_MULT, fmix64


def detection_probability(s, bands: int, rows: int):
    """P(two documents of Jaccard similarity s share at least one band): 1 - (1 - s^r)^b."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def s_curve(bands: int, rows: int, points=(0.6, 0.7, 0.8, 0.9)) -> dict[float, float]:
    return {float(s): round(float(detection_probability(s, bands, rows)), 4) for s in points}


def _integral(lo: float, hi: float, fn, degree: int) -> np.ndarray:
    x, w = np.polynomial.legendre.leggauss(degree // 2 + 2)
    s = (hi - lo) / 2 * x + (hi + lo) / 2
    return (hi - lo) / 2 * np.tensordot(w, fn(s[:, None]), axes=1)


def optimal_param(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising fp_weight * (area under the S-curve
    below `threshold`) + fn_weight * (area above the S-curve above it)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=np.float64)
    b, r = pairs[:, 0], pairs[:, 1]
    fp = _integral(0.0, threshold, lambda s: 1.0 - (1.0 - s**r) ** b, num_perm)
    fn = _integral(threshold, 1.0, lambda s: (1.0 - s**r) ** b, num_perm)
    error = fp * fp_weight + fn * fn_weight
    best = int(np.argmin(error))  # first minimum, in datasketch's (b, then r) scan order
    return int(b[best]), int(r[best])


def band_keys(sig: np.ndarray, bands: int, rows: int, group_hash: np.ndarray) -> np.ndarray:
    """(docs x bands) int64 bucket keys: a 64-bit hash of (band index, the band's r values,
    the document's group, e.g. its language). Two documents share a bucket iff the keys are
    equal; a spurious 64-bit collision only adds a candidate pair."""
    n = sig.shape[0]
    if bands * rows > sig.shape[1]:
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} permutations, signatures have {sig.shape[1]}")
    v = sig[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    h = np.zeros((n, bands), dtype=np.uint64)
    for j in range(rows):
        h += v[:, :, j] * POS_MULT[j % len(POS_MULT)]
    h += (np.arange(bands, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    h = fmix64(fmix64(h) ^ group_hash.astype(np.uint64)[:, None])
    return h.view(np.int64)


def star_edges(keys: np.ndarray, nodes: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Candidate edges of LSH buckets: rows (bucket key, node), any order; each bucket links its
    smallest node (the keeper under the node-key order) to each other member, a star of k-1
    edges rather than k(k-1)/2 pairs. Returns (u, v) with u < v."""
    if len(keys) == 0:
        return nodes.slice(0, 0), nodes.slice(0, 0)
    order = pc.sort_indices(pa.table({"k": keys, "n": nodes}), sort_keys=[("k", "ascending"), ("n", "ascending")]).to_numpy()
    k = keys[order]
    nodes = nodes.take(order)
    first = group_starts(k)
    head = np.maximum.accumulate(np.where(first, np.arange(len(k)), 0))
    member = np.flatnonzero(~first)
    u, v = nodes.take(head[member]), nodes.take(member)
    distinct = pc.not_equal(u, v)  # the same node twice in a bucket (repeated id) is no edge
    return u.filter(distinct), v.filter(distinct)
