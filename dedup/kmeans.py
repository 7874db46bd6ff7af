"""Spherical k-means for `dedup-semantic`, in numpy, deterministic for a given sample and seed.

The sample is chosen by a seeded hash of the document id (the same documents whatever the blocks
or cluster shape, as the KL reference and train-scorers sample) and sorted by node key before
fitting, so the fit sees the same rows in the same order on any cluster. Initialisation is
k-means++ from a seeded generator; BLAS runs one thread while fitting, so sums do not depend on
the core count. Cosine on unit vectors: a centroid is its members' mean, renormalised.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from threadpoolctl import threadpool_limits

from pipeline.mix.keys import seeded_keys, unit_interval

SAMPLE_SALT = "semantic-dedup-kmeans"  # sample keys independent of every other seeded choice


def in_sample(ids: list[str], seed: int, fraction: float) -> np.ndarray:
    if fraction >= 1:
        return np.ones(len(ids), dtype=bool)
    return unit_interval(seeded_keys(ids, seed, SAMPLE_SALT)) < fraction


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centres = [int(rng.integers(len(x)))]
    dist = 1.0 - x @ x[centres[0]]
    for _ in range(1, k):
        weights = np.maximum(dist, 0.0)
        total = weights.sum()
        nxt = int(rng.integers(len(x))) if total <= 0 else int(rng.choice(len(x), p=weights / total))
        centres.append(nxt)
        dist = np.minimum(dist, 1.0 - x @ x[nxt])
    return x[centres].copy()


def fit_centroids(x: np.ndarray, k: int, seed: int, max_iter: int = 50) -> np.ndarray:
    """(k' x dim) unit centroids, k' = min(k, rows); rows of `x` are unit vectors (float64 inside)."""
    x = np.asarray(x, dtype=np.float64)
    k = min(k, len(x))
    if k == 0:
        return np.zeros((0, x.shape[1] if x.ndim == 2 else 0), dtype=np.float32)
    with threadpool_limits(1):
        rng = np.random.default_rng(seed)
        c = _kmeans_pp(x, k, rng)
        labels = None
        for _ in range(max_iter):
            new = np.argmax(x @ c.T, axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            sums = np.zeros_like(c)
            np.add.at(sums, labels, x)
            norms = np.linalg.norm(sums, axis=1)
            filled = norms > 0  # an emptied cluster keeps its centre
            c[filled] = sums[filled] / norms[filled, None]
    return c.astype(np.float32)


def nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centroid (largest cosine; ties: the smallest index); without
    centroids (an empty sample) every row is in cluster 0."""
    if len(x) == 0 or len(centroids) == 0:
        return np.zeros(0, dtype=np.int64)
    with threadpool_limits(1):
        return np.argmax(x @ centroids.T, axis=1).astype(np.int64)


def centroids_table(c: np.ndarray) -> pa.Table:
    return pa.table({"k": [c.shape[0]], "dim": [c.shape[1]], "centroids": [c.astype(np.float32).tobytes()]})


def centroids_of(table: pa.Table) -> np.ndarray:
    row = table.to_pylist()[0]
    return np.frombuffer(row["centroids"], dtype=np.float32).reshape(row["k"], row["dim"])
