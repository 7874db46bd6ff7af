"""The reference token distribution for the `kl-divergence` stage: Llama 3 token counts over a
sample of the corpus chosen by a seeded hash of the document id (the same documents on any
cluster shape), fitted as a global pass on Ray (per-batch numpy bincounts, summed by a tree of Ray
tasks; only the final count vector reaches the driver), stored as a versioned artifact (local or
on an object store): a .npz of counts and a JSON file of metadata (tokenizer, sample, seed,
smoothing, version, sha256)."""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import storage
from pipeline.mix.keys import seeded_keys, unit_interval
from pipeline.ray_ops import reduce_blocks

ARTIFACT_VERSION = 1
TOKENIZER = "llama3"  # pipeline/output/llama3_tokenizer.py, plain mode (tiktoken)
SAMPLE_SALT = "kl-reference"  # the sample's hash keys are independent of other seeded choices


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
    from pipeline.output.llama3_tokenizer import Llama3Encoder

    # the tokenize stage's backend (tiktoken where gigatoken is missing): the same ids, faster
    return Llama3Encoder("gigatoken", "plain")


def token_ids(texts: list[str | None], encoder) -> list[np.ndarray]:
    present = [t for t in texts if t]
    encoded = iter(encoder.encode_batch(present) if present else [])  # one call per batch
    return [np.asarray(next(encoded), dtype=np.int64) if t else np.zeros(0, np.int64) for t in texts]


def in_sample(ids: list[str], seed: int, fraction: float) -> np.ndarray:
    """Whether each document is in the reference sample: a seeded hash of its id against
    `fraction`, so the same documents are chosen whatever the blocks, tasks or cluster shape."""
    if fraction >= 1:
        return np.ones(len(ids), dtype=bool)
    return unit_interval(seeded_keys(ids, seed, SAMPLE_SALT)) < fraction


def batch_counts(batch: pa.Table, n_vocab: int, languages: list[str] | None, seed: int = 0, fraction: float = 1.0) -> pa.Table:
    """Ray task: the token counts of one batch's sampled documents as one row: nonzero token
    ids, their counts, and the number of documents counted."""
    texts = batch.column("text").to_pylist()
    keep = in_sample(batch.column("id").to_pylist(), seed, fraction)
    langs = batch.column("language").to_pylist() if languages is not None else [None] * len(texts)
    wanted = set(languages or ())
    # documents of other languages do not shape the reference
    texts = [t for t, k, lang in zip(texts, keep, langs) if k and (languages is None or lang is None or lang in wanted)]
    ids = token_ids(texts, _encoder())
    counts = np.bincount(np.concatenate(ids) if ids else np.zeros(0, np.int64), minlength=n_vocab)
    nz = np.flatnonzero(counts)
    return pa.table(
        {
            "token": pa.array([nz], pa.list_(pa.int64())),
            "count": pa.array([counts[nz]], pa.list_(pa.int64())),
            "docs": pa.array([len(texts)], pa.int64()),
        }
    )


def add_counts(n_vocab: int, parts: list) -> tuple[np.ndarray, int]:
    """The combine step of the reduction on Ray: the sum of partial counts, each a table of
    `batch_counts` rows or an earlier (counts, docs) sum. Integer sums: the same result in any
    order or grouping."""
    counts = np.zeros(n_vocab, np.int64)
    docs = 0
    for part in parts:
        if isinstance(part, tuple):
            counts += part[0]
            docs += part[1]
        elif part.num_rows:
            np.add.at(counts, pc.list_flatten(part.column("token")).to_numpy(), pc.list_flatten(part.column("count")).to_numpy())
            docs += int(pc.sum(part.column("docs")).as_py() or 0)
    return counts, docs


def fit_reference(
    ds, sample_fraction: float, seed: int, smoothing: float, batch_size: int = 256, languages: list[str] | None = None
) -> Reference:
    """Count tokens over a seeded `sample_fraction` of `ds` (a Ray Dataset with `id`, `text` and
    `language` columns). The sample is chosen by id and the counts are integer sums, so the
    reference is bit-identical however the data is split into blocks and tasks."""
    n_vocab = _encoder().spec.n_vocab
    per_batch = ds.select_columns(["id", "text", "language"]).map_batches(
        batch_counts, fn_kwargs={"n_vocab": n_vocab, "languages": languages, "seed": seed, "fraction": sample_fraction},
        batch_format="pyarrow", batch_size=batch_size)
    # the partial counts stay in Ray's object store and are summed by a tree of Ray tasks (a
    # groupby-sum of the same rows took 5-6 s of shuffle on 2 CPUs); one vector reaches the driver
    counts, n_docs = reduce_blocks(per_batch, functools.partial(add_counts, n_vocab))
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


def save_reference(ref: Reference, path) -> str:
    """Write `path` (.npz; a local path or URI) and `path`.json (metadata with the .npz's
    sha256), each atomically; returns the .npz location."""
    path = os.fspath(path)
    buf = io.BytesIO()
    # np.savez_compressed's layout with a fixed timestamp: the same counts give the same bytes
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        entry = zipfile.ZipInfo("counts.npy", date_time=(1980, 1, 1, 0, 0, 0))
        entry.compress_type = zipfile.ZIP_DEFLATED
        with z.open(entry, "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.asarray(ref.counts), allow_pickle=False)
    data = buf.getvalue()
    storage.write_bytes(path, data)
    meta = {**ref.meta, "sha256": hashlib.sha256(data).hexdigest()}
    storage.write_text(path + ".json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def load_reference(path) -> Reference:
    """Read an artifact written by save_reference (local path or URI), refusing one whose bytes or
    tokenizer differ."""
    path = os.fspath(path)
    meta = storage.read_json(path + ".json")
    if meta is None or not storage.exists(path):
        raise FileNotFoundError(f"kl-divergence: reference artifact {path} (and {storage.basename(path)}.json) not found")
    data = storage.read_bytes(path)
    if meta.get("sha256") != hashlib.sha256(data).hexdigest():
        raise ValueError(f"kl-divergence: {path} does not match the sha256 in {storage.basename(path)}.json")
    if meta.get("tokenizer") != TOKENIZER or meta.get("version") != ARTIFACT_VERSION:
        raise ValueError(f"kl-divergence: {path} is for {meta.get('tokenizer')} v{meta.get('version')}")
    with np.load(io.BytesIO(data)) as z:
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

