"""`dedup-minhash`: drop near-duplicate documents (MinHash LSH over word n-grams), keeping one
document per connected component of candidate pairs, as Llama 3 does within each language.

Plan (every step a Ray task over one batch or one key-partition; the driver sees counts only):
1. map: signatures -> one row per (document, band): (bucket key, node key[, signature]).
2. keyed shuffle on the bucket key: each bucket links its smallest node to the others (a star).
3. connected components of those edges (dedup/components.py).
4. keyed shuffle of the documents together with the (node, label) rows on `id`: a document
   with a label is dropped as `near-duplicate` of it, every other document is kept.
The input dataset is read twice (steps 1 and 4): the runner hands a stage a parquet read, so a
second scan is cheaper than pinning the corpus in the object store.

Node keys are bytes whose order is the keep rule: most recent crawl first (null = oldest), then
longest text, then smallest id. So a component's smallest node, its label, is the one kept.

`verify` (bench/minhash.py, 1593 versions of 181 pages of the extraction benchmark, defaults):
candidate edges whose exact 5-gram Jaccard is below 0.8 fall from 84 of 1854 to 23 of 1781
(edge precision 0.955 -> 0.987); pair recall at Jaccard >= 0.8 moves from 0.943 to 0.936;
no edge below Jaccard 0.5 either way. Its cost is the signatures riding the bucket shuffle.
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field, model_validator

from dedup.components import connected_components
from dedup.lsh import band_keys, optimal_param, s_curve, star_edges
from dedup.partitions import group_starts, map_partitions_by_key
from dedup.signatures import jaccard_estimate, signatures
from pipeline.schema import DOCUMENT_SCHEMA, conform, to_dropped
from pipeline.stage import DropWriter, GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

REASON = "near-duplicate"
_INT64_MIN = np.iinfo(np.int64).min
_BUCKET_SCHEMA = pa.schema([pa.field("_bkey", pa.int64()), pa.field("node", pa.binary()), pa.field("sig", pa.binary())])
# documents and (id -> duplicate_of) rows travel together through the final shuffle
_COGROUP_SCHEMA = pa.schema(list(DOCUMENT_SCHEMA) + [pa.field("_dup_of", pa.string()), pa.field("_is_label", pa.bool_())])


class MinHashConfig(StageConfig):
    ngram: int = Field(5, ge=1, le=64)  # word 5-grams: datatrove's and FineWeb's MinHash default
    num_perm: int = Field(128, ge=1, le=1024)  # datasketch's default sketch size
    threshold: float = Field(0.8, gt=0.0, lt=1.0)  # target Jaccard; 0.8 is datasketch's example and a common web-dedup choice
    # LSH shape; None: chosen from threshold and num_perm by `optimal_param` (9 x 13 at 0.8/128)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    fp_weight: float = Field(0.5, ge=0.0, le=1.0)  # datasketch MinHashLSH's default weights
    fn_weight: float = Field(0.5, ge=0.0, le=1.0)
    scheme: Literal["affine32", "legacy"] = "affine32"  # datasketch >= 2.0 default; "legacy" = datasketch < 2.0
    # "xxh3": numpy-vectorised shingle hashing (fast); "sha1": datasketch's default sha1_hash32, exact
    shingle_hash: Literal["xxh3", "sha1"] = "xxh3"
    seed: int | None = None  # permutation seed; None: the run's seed
    per_language: bool = True  # Llama 3 dedups within each language: documents of different languages never match
    # check each star edge by the signatures' estimated Jaccard >= threshold before linking:
    # fewer false positives, at the cost of shuffling signatures with the bucket rows
    verify: bool = False
    num_partitions: int | None = None  # shuffle partitions; None: Ray's default_hash_shuffle_parallelism
    max_rounds: int = Field(64, ge=1)  # connected-components rounds; O(log^2 n) worst case, ~log n in practice

    @model_validator(mode="after")
    def _lsh_shape(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


def lsh_shape(cfg: MinHashConfig) -> tuple[int, int]:
    if cfg.bands is not None:
        return cfg.bands, cfg.rows
    return optimal_param(cfg.threshold, cfg.num_perm, cfg.fp_weight, cfg.fn_weight)


def node_keys(batch: pa.Table) -> pa.Array:
    """Binary keys ordered as the keep rule: ~(date + 2^63) big-endian (newest first, null =
    oldest), then ~length in characters big-endian (longest first), then the id's UTF-8 bytes."""
    n = batch.num_rows
    date = pc.fill_null(batch.column("crawl_date").cast(pa.int64()), _INT64_MIN).to_numpy().astype(np.int64)
    length = pc.fill_null(pc.utf8_length(batch.column("text")), 0).to_numpy().astype(np.uint64)
    prefix = np.empty((n, 2), dtype=">u8")
    prefix[:, 0] = ~(date.view(np.uint64) ^ np.uint64(1 << 63))
    prefix[:, 1] = ~length
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(prefix.tobytes())])
    ids = batch.column("id").combine_chunks().cast(pa.binary())
    return pc.binary_join_element_wise(fixed.cast(pa.binary()), ids, b"")


def node_ids(nodes: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The id inside each node key (everything after the 16-byte prefix). Done on the buffers:
    pyarrow's binary_slice miscomputes its output size on some inputs ("Negative buffer
    resize", pyarrow 26)."""
    if isinstance(nodes, pa.ChunkedArray):
        nodes = nodes.combine_chunks()
    n = len(nodes)
    if n == 0:
        return pa.array([], pa.string())
    if nodes.null_count:
        raise ValueError("null node key")
    offsets = np.frombuffer(nodes.buffers()[1], dtype=np.int32)[nodes.offset : nodes.offset + n + 1].astype(np.int64)
    data = np.frombuffer(nodes.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    keep = np.ones(len(data), dtype=bool)
    keep[(starts[:, None] + np.arange(16)).ravel()] = False
    new_offsets = (offsets - offsets[0] - 16 * np.arange(n + 1)).astype(np.int32)
    ids = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(data[keep].tobytes())])
    return ids.cast(pa.string())


def bucket_rows(batch: pa.Table, cfg: MinHashConfig, seed: int, bands: int, rows: int) -> pa.Table:
    """One row per (document, band); documents without a shingle (no words) are left out: they
    have nothing to compare, and their all-max signatures would all collide."""
    batch = conform(batch)
    sig, counts = signatures(
        batch.column("text"), n=cfg.ngram, num_perm=cfg.num_perm, seed=seed, scheme=cfg.scheme, hash_name=cfg.shingle_hash
    )
    has = counts > 0
    if not has.all():
        log.info("dedup-minhash: %d of %d documents have no words; kept without comparison", int((~has).sum()), len(has))
    idx = np.flatnonzero(has)
    sig = sig[idx]
    if cfg.per_language:
        langs = batch.column("language").take(pa.array(idx)).to_pylist()
        group = np.array([xxhash.xxh3_64_intdigest((lang or "").encode("utf-8")) for lang in langs], dtype=np.uint64)
    else:
        group = np.zeros(len(idx), dtype=np.uint64)
    keys = band_keys(sig, bands, rows, group)  # (docs, bands)
    nodes = node_keys(batch.take(pa.array(idx)))
    doc_of = np.repeat(np.arange(len(idx)), bands)
    if cfg.verify:
        width = sig.shape[1] * 4
        sig_col = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(idx), [None, pa.py_buffer(np.ascontiguousarray(sig).tobytes())])
        sig_col = sig_col.cast(pa.binary()).take(pa.array(doc_of))
    else:
        sig_col = pa.nulls(len(doc_of), pa.binary())
    return pa.table({"_bkey": keys.reshape(-1), "node": nodes.take(pa.array(doc_of)), "sig": sig_col}, schema=_BUCKET_SCHEMA)


def _verified_stars(keys: np.ndarray, nodes: pa.Array, sigs: pa.Array, threshold: float) -> tuple[list, list]:
    """Within each bucket (sorted by node), link the smallest node to members whose estimated
    Jaccard reaches the threshold; repeat on the members left over."""
    start = group_starts(keys)
    bounds = np.append(np.flatnonzero(start), len(keys))
    us, vs = [], []
    rejected = 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo < 2:
            continue
        members = list(range(lo, hi))
        vecs = {i: np.frombuffer(sigs[i].as_py(), dtype=np.uint32) for i in members}
        while len(members) >= 2:
            centre, rest = members[0], members[1:]
            linked = [i for i in rest if jaccard_estimate(vecs[centre], vecs[i]) >= threshold]
            us.extend([centre] * len(linked))
            vs.extend(linked)
            rejected += len(rest) - len(linked)
            linked_set = set(linked)
            members = [i for i in rest if i not in linked_set]
    if rejected:
        log.info("dedup-minhash: %d candidate links below the estimated-Jaccard threshold not made", rejected)
    return us, vs


def bucket_edges(part: pa.Table, verify: bool, threshold: float) -> pa.Table:
    if part.num_rows == 0:  # an empty partition may come without columns
        return pa.table({"u": pa.array([], pa.binary()), "v": pa.array([], pa.binary())})
    keys = part.column("_bkey").to_numpy()
    nodes = part.column("node").combine_chunks()
    if not verify:
        u, v = star_edges(keys, nodes)
        return pa.table({"u": u, "v": v})
    order = pc.sort_indices(pa.table({"k": keys, "n": nodes}), sort_keys=[("k", "ascending"), ("n", "ascending")])
    keys, nodes, sigs = keys[order.to_numpy()], nodes.take(order), part.column("sig").combine_chunks().take(order)
    us, vs = _verified_stars(keys, nodes, sigs, threshold)
    u, v = nodes.take(pa.array(us, pa.int64())), nodes.take(pa.array(vs, pa.int64()))
    distinct = pc.not_equal(u, v)
    return pa.table({"u": u.filter(distinct), "v": v.filter(distinct)})


def document_rows(batch: pa.Table) -> pa.Table:
    batch = conform(batch)
    n = batch.num_rows
    return batch.append_column("_dup_of", pa.nulls(n, pa.string())).append_column("_is_label", pa.array([False] * n))


def label_rows(batch: pa.Table) -> pa.Table:
    n = batch.num_rows
    if n == 0:
        return _COGROUP_SCHEMA.empty_table()
    cols = {"id": node_ids(batch.column("node")), "_dup_of": node_ids(batch.column("label")), "_is_label": pa.array([True] * n)}
    return pa.table([cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in _COGROUP_SCHEMA], schema=_COGROUP_SCHEMA)


def decide_partition(part: pa.Table, stage: str, dropped_dir: str) -> pa.Table:
    """Drop each document that has a label row (its component's kept id), keep the rest."""
    if part.num_rows == 0:
        return DOCUMENT_SCHEMA.empty_table()
    is_label = part.column("_is_label")
    labels = part.filter(is_label).select(["id", "_dup_of"])
    docs = part.filter(pc.invert(is_label)).drop_columns(["_dup_of", "_is_label"])
    docs = docs.take(pc.sort_indices(docs, sort_keys=[("id", "ascending")]))
    if labels.num_rows:
        # an unconverged components run can leave a node several labels: take the smallest
        labels = labels.take(pc.sort_indices(labels, sort_keys=[("id", "ascending"), ("_dup_of", "ascending")]))
        firsts = group_starts(np.asarray(labels.column("id").to_pylist(), dtype=object))
        labels = labels.filter(pa.array(firsts))
    pos = pc.index_in(docs.column("id"), value_set=labels.column("id").combine_chunks())
    drop = pos.is_valid()
    orphans = labels.num_rows - pc.sum(drop.cast(pa.int64())).as_py() if labels.num_rows else 0
    if orphans:
        log.warning("%s: %d label rows name no input document (was the input recomputed differently?)", stage, orphans)
    dropped = docs.filter(drop)
    if dropped.num_rows:
        dup_of = labels.column("_dup_of").take(pos.filter(drop)).to_pylist()
        DropWriter(dropped_dir).write(to_dropped(dropped, stage, [REASON] * dropped.num_rows, dup_of))
    return conform(docs.filter(pc.invert(drop)))


class MinHashDedup(GlobalStage):
    name = "dedup-minhash"
    reads = ("id", "text", "language", "crawl_date")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = MinHashConfig

    def run(self, ds):
        cfg = self.config
        bands, rows = lsh_shape(cfg)
        seed = cfg.seed if cfg.seed is not None else self.ctx.seed
        log.info(
            "%s: %d-word shingles, %d permutations (%s, %s), %d bands x %d rows; detection probability by "
            "Jaccard similarity %s; per_language=%s verify=%s",
            self.name, cfg.ngram, cfg.num_perm, cfg.scheme, cfg.shingle_hash, bands, rows,
            s_curve(bands, rows), cfg.per_language, cfg.verify,
        )
        buckets = ds.map_batches(
            bucket_rows, batch_format="pyarrow", batch_size=self.ctx.batch_size,
            fn_kwargs={"cfg": cfg, "seed": seed, "bands": bands, "rows": rows},
        )
        edges = map_partitions_by_key(
            buckets, "_bkey", bucket_edges, cfg.num_partitions, fn_kwargs={"verify": cfg.verify, "threshold": cfg.threshold}
        )
        labels = connected_components(edges, cfg.num_partitions, cfg.max_rounds)
        both = ds.map_batches(document_rows, batch_format="pyarrow").union(labels.map_batches(label_rows, batch_format="pyarrow"))
        return map_partitions_by_key(
            both, "id", decide_partition, cfg.num_partitions, fn_kwargs={"stage": self.name, "dropped_dir": self.ctx.dropped_dir}
        )
