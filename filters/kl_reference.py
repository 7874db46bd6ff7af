"""The reference token distribution for the `kl-divergence` stage: Llama 3 token counts over a
seeded sample of the corpus, fitted as a global pass on Ray (per-batch numpy bincounts, summed by a
Ray groupby; nothing but count vectors reaches the driver), stored as a versioned artifact: a .npz
of counts and a JSON file of metadata (tokenizer, sample, seed, smoothing, version, sha256)."""
from __future__ import annotations

import functools

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ARTIFACT_VERSION = 1
TOKENIZER = "llama3"  # pipeline/llama3_tokenizer.py, plain mode (tiktoken)


@dataclass(frozen=True)
class Reference:
    counts: np.ndarray  # int64, one per token id
    meta: dict

    def log_probs(self, smoothing: float) -> np.ndarray:
        """log q with add-`smoothing` (Lidstone) so that every token has q > 0."""
        c = self.counts.astype(np.float64) + smoothing
        return np.log(c / c.sum())


@functools.lru_cache(maxsize=1)
def _encoder():
    """One encoder per process (Ray reuses its task workers: the tokenizer loads once in each)."""
    from pipeline.llama3_tokenizer import Llama3Encoder

    return Llama3Encoder("tiktoken", "plain")


def token_ids(texts: list[str | None], encoder) -> list[np.ndarray]:
    return [np.asarray(encoder.encode(t), dtype=np.int64) if t else np.zeros(0, np.int64) for t in texts]


def batch_counts(batch: pa.Table, n_vocab: int, languages: list[str] | None) -> pa.Table:
    """Ray task: token counts of one batch as (token, count) rows, nonzero ids only."""
    texts = batch.column("text").to_pylist()
    if languages is not None:  # documents of other languages do not shape the reference
        langs = batch.column("language").to_pylist()
        texts = [t for t, lang in zip(texts, langs) if lang is None or lang in set(languages)]
    ids = token_ids(texts, _encoder())
    counts = np.bincount(np.concatenate(ids) if ids else np.zeros(0, np.int64), minlength=n_vocab)
    nz = np.flatnonzero(counts)
    return pa.table(
        {
            "token": pa.array(nz, pa.int64()),
            "count": pa.array(counts[nz], pa.int64()),
            "docs": pa.array([len(texts)] + [0] * (len(nz) - 1) if len(nz) else [], pa.int64()),
        }
    )


def fit_reference(
    ds, sample_fraction: float, seed: int, smoothing: float, batch_size: int = 256, languages: list[str] | None = None
) -> Reference:
    """Count tokens over a seeded `sample_fraction` of `ds` (a Ray Dataset with a `text` column)."""
    n_vocab = _encoder().spec.n_vocab
    sample = ds.select_columns(["text", "language"])
    if sample_fraction < 1:
        sample = sample.random_sample(sample_fraction, seed=seed)
    per_batch = sample.map_batches(batch_counts, fn_kwargs={"n_vocab": n_vocab, "languages": languages},
                                   batch_format="pyarrow", batch_size=batch_size)
    # the reference is one n_vocab vector: the sparse per-batch counts are added into it as they
    # stream in (a Ray groupby-sum of the same 22k rows took 5-6 s on 2 CPUs)
    counts = np.zeros(n_vocab, np.int64)
    n_docs = 0
    for b in per_batch.iter_batches(batch_format="pyarrow", batch_size=None):
        np.add.at(counts, b.column("token").to_numpy(), b.column("count").to_numpy())
        n_docs += int(pc.sum(b.column("docs")).as_py() or 0)
    meta = {
        "version": ARTIFACT_VERSION,
        "tokenizer": TOKENIZER,
        "n_vocab": n_vocab,
        "sample_fraction": sample_fraction,
        "sample_docs": n_docs,
        "sample_tokens": int(counts.sum()),
        "seed": seed,
        "smoothing": smoothing,
        "languages": languages,
    }
    return Reference(counts, meta)


def save_reference(ref: Reference, path: str | Path) -> Path:
    """Write `path` (.npz) and `path`.json (metadata with the .npz's sha256), each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp.npz")
    np.savez_compressed(tmp, counts=ref.counts)
    os.replace(tmp, path)
    meta = {**ref.meta, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    meta_path = path.with_name(path.name + ".json")
    tmp_meta = meta_path.with_name(f"{meta_path.name}.{uuid.uuid4().hex}.tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_meta, meta_path)
    return path


def load_reference(path: str | Path) -> Reference:
    """Read an artifact written by save_reference, refusing one whose bytes or tokenizer differ."""
    path = Path(path)
    meta_path = path.with_name(path.name + ".json")
    if not path.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"kl-divergence: reference artifact {path} (and {meta_path.name}) not found")
    meta = json.loads(meta_path.read_text())
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if meta.get("sha256") != sha:
        raise ValueError(f"kl-divergence: {path} does not match the sha256 in {meta_path.name}")
    if meta.get("tokenizer") != TOKENIZER or meta.get("version") != ARTIFACT_VERSION:
        raise ValueError(f"kl-divergence: {path} is for {meta.get('tokenizer')} v{meta.get('version')}")
    with np.load(path) as z:
        counts = z["counts"]
    return Reference(counts, meta)


def kl_to_reference(ids: np.ndarray, log_q: np.ndarray) -> float:
    """KL(p_doc || q) in nats, p_doc the document's own token frequencies (no smoothing needed:
    q > 0 everywhere). Empty documents get 0."""
    if len(ids) == 0:
        return 0.0
    uniq, counts = np.unique(ids, return_counts=True)
    p = counts / len(ids)
    return float(np.sum(p * (np.log(p) - log_q[uniq])))

