"""`dedup-minhash`: drop near-duplicate documents (MinHash LSH over word n-grams), keeping one
document per cluster of verified candidate pairs, as Llama 3 does within each language.

Plan (every step a Ray task over one batch or one key-partition; the driver sees counts only):
1. map: signatures -> one row per document: node key, band keys, bottom-k verification sketch
   (materialised: read by steps 2 and 3);
2. keyed shuffle of (bucket key, node) rows: each bucket links its smallest node to the others;
3. `verify`: two keyed joins of those edges with the signature rows drop the edges whose
   estimated Jaccard is below threshold + verify_margin (dedup/verify.py);
4. connected components of the edges left (dedup/components.py);
5. the labelled documents, (id, duplicate_of) rows keyed by id hash, are the decision
   (pipeline/decisions.py); the next pass drops them (`NearDuplicateDrops`). Only the
   signatures move through the shuffles: the texts are read once, for step 1.

Node keys (dedup/nodes.py) are bytes whose order is the keep rule, so a component's smallest
node, its label, is the one kept.

Defaults (bench/minhash_quality.py, 1593 versions of 181 pages of the extraction benchmark,
same-page pairs with exact word-5-gram Jaccard >= 0.8 as truth): LSH of 128 permutations in
14 x 9 bands (fn_weight 0.9: candidates favour recall), every candidate edge verified by a
256-hash bottom-k sketch at estimated Jaccard >= 0.82: pair F1 0.956, min 0.951 over 25
permutation seeds (previous default, 9 x 13 without verify: 0.923). Unverified components
chain versions through one noisy edge; the 0.02 margin is about one standard deviation of the
k = 256 estimate at 0.8.
Star clustering around the kept document instead of components scores lower there (0.948 even
on exact similarities), see the bench.
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field, model_validator

from dedup.components import connected_components, connected_components_local
from dedup.lsh import band_keys, optimal_param, s_curve, star_edges
from dedup.nodes import node_ids, node_keys
from dedup.partitions import map_partitions_by_key
from dedup.signatures import bottom_k, minhash_signatures, shingle_hashes
from dedup.verify import JOIN_SCHEMA, binary_matrix, sig_rows, sketch_column, verified_edges, verified_edges_local
from pipeline.decisions import write_decision
from pipeline.drop_listed import DROP_LIST_SCHEMA, DropListConfig, DropListed, drop_list_rows
from pipeline.schema import conform
from pipeline.stage import GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

REASON = "near-duplicate"

_SIG_SCHEMA = pa.schema([pa.field("node", pa.binary()), pa.field("bkeys", pa.binary()), pa.field("vsig", pa.binary())])
_BUCKET_SCHEMA = pa.schema([pa.field("_bkey", pa.int64()), pa.field("node", pa.binary())])


class MinHashConfig(StageConfig):
    ngram: int = Field(5, ge=1, le=64)  # word 5-grams: datatrove's and FineWeb's MinHash default
    num_perm: int = Field(128, ge=1, le=1024)  # datasketch's default sketch size (LSH only; verify has its own sketch)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)  # target Jaccard; 0.8 is datasketch's example and a common web-dedup choice
    # LSH shape; None: chosen from threshold and num_perm by `optimal_param` (14 x 9 at 0.8/128/0.1/0.9)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    # datasketch weighs 0.5/0.5; verify removes false positives afterwards, so misses cost more (our measurement)
    fp_weight: float = Field(0.1, ge=0.0, le=1.0)
    fn_weight: float = Field(0.9, ge=0.0, le=1.0)
    scheme: Literal["affine32", "legacy"] = "affine32"  # datasketch >= 2.0 default; "legacy" = datasketch < 2.0
    # "xxh3": numpy-vectorised shingle hashing (fast); "sha1": datasketch's default sha1_hash32, exact
    shingle_hash: Literal["xxh3", "sha1"] = "xxh3"
    seed: int | None = None  # permutation seed; None: the run's seed
    per_language: bool = True  # Llama 3 dedups within each language: documents of different languages never match
    # link a candidate pair only if its estimated Jaccard >= threshold + verify_margin (dedup/verify.py)
    verify: bool = True
    verify_margin: float = Field(0.02, ge=-0.5, le=0.5)  # ~1 sd of the k=256 estimate at 0.8; measured, see the module doc
    verify_k: int = Field(256, ge=1, le=4096)  # bottom-k sketch size for verify: F1 0.951 at 128, 0.956 at 256, 0.959 at 512 (measured)
    # partitions of every keyed shuffle (memory per task ~ data / partitions); None: Ray's default
    # (hash shuffle) or one per input block (sort shuffle)
    num_partitions: int | None = Field(None, ge=1)
    max_rounds: int = Field(64, ge=1)  # connected-components rounds; O(log^2 n) worst case, ~log n in practice

    @model_validator(mode="after")
    def _lsh_shape(self):
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self

    @property
    def verify_threshold(self) -> float:
        return min(1.0, self.threshold + self.verify_margin)


def lsh_shape(cfg: MinHashConfig) -> tuple[int, int]:
    if cfg.bands is not None:
        return cfg.bands, cfg.rows
    return optimal_param(cfg.threshold, cfg.num_perm, cfg.fp_weight, cfg.fn_weight)


def signature_rows(batch: pa.Table, cfg: MinHashConfig, seed: int, bands: int, rows: int) -> pa.Table:
    """One row per document with words: node key, its `bands` int64 band keys as bytes, and the
    bottom-k verification sketch. Documents without a shingle are left out (kept without comparison):
    they have nothing to compare, and their all-max signatures would all collide."""
    batch = conform(batch)
    hv, counts = shingle_hashes(batch.column("text"), cfg.ngram, cfg.shingle_hash)
    sig = minhash_signatures(hv, counts, cfg.num_perm, seed, cfg.scheme)
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
    keys = np.ascontiguousarray(band_keys(sig, bands, rows, group))  # (docs, bands)
    bkeys = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8 * bands), len(idx), [None, pa.py_buffer(keys.tobytes())])
    vsig = sketch_column(bottom_k(hv, counts, cfg.verify_k, seed)[idx]) if cfg.verify else pa.nulls(len(idx), pa.binary())
    nodes = node_keys(batch.take(pa.array(idx)))
    return pa.table({"node": nodes, "bkeys": bkeys.cast(pa.binary()), "vsig": vsig}, schema=_SIG_SCHEMA)


def bucket_rows(sigs: pa.Table, bands: int) -> pa.Table:
    """One (bucket key, node) row per document and band."""
    n = sigs.num_rows
    if n == 0:
        return _BUCKET_SCHEMA.empty_table()
    keys = binary_matrix(sigs.column("bkeys"), np.int64).reshape(-1)
    return pa.table({"_bkey": keys, "node": sigs.column("node").combine_chunks().take(pa.array(np.repeat(np.arange(n), bands)))}, schema=_BUCKET_SCHEMA)


def join_rows(sigs: pa.Table) -> pa.Table:
    if sigs.num_rows == 0:
        return JOIN_SCHEMA.empty_table()
    return sig_rows(sigs.column("node"), sigs.column("vsig"))


def bucket_edges(part: pa.Table) -> pa.Table:
    if part.num_rows == 0:  # an empty partition may come without columns
        return pa.table({"u": pa.array([], pa.binary()), "v": pa.array([], pa.binary())})
    u, v = star_edges(part.column("_bkey").to_numpy(), part.column("node").combine_chunks())
    return pa.table({"u": u, "v": v})


def label_drops(batch: pa.Table) -> pa.Table:
    """(node, label) rows of the documents to drop -> decision rows (key, id, duplicate_of)."""
    if batch.num_rows == 0:
        return DROP_LIST_SCHEMA.empty_table()
    return drop_list_rows(node_ids(batch.column("node")), node_ids(batch.column("label")))


def cluster_local(table: pa.Table, cfg: MinHashConfig, seed: int) -> dict:
    """Steps 1-4 in this process, the whole table as one partition (bench, tests): the (node,
    label) table, the candidate and verified edges, components rounds."""
    bands, rows = lsh_shape(cfg)
    sigs = signature_rows(table, cfg, seed, bands, rows)
    candidates = bucket_edges(bucket_rows(sigs, bands))
    edges = verified_edges_local(candidates, join_rows(sigs), cfg.verify_threshold) if cfg.verify else candidates
    labels, rounds = connected_components_local(edges)
    return {"labels": labels, "candidates": candidates, "edges": edges, "rounds": rounds}


class MinHashDedup(GlobalStage):
    name = "dedup-minhash"
    reads = ("id", "text", "language", "crawl_date")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = MinHashConfig

    def fit(self, ds) -> dict:
        cfg = self.config
        bands, rows = lsh_shape(cfg)
        seed = cfg.seed if cfg.seed is not None else self.ctx.seed
        log.info(
            "%s: %d-word shingles, %d permutations (%s, %s), %d bands x %d rows; detection probability by "
            "Jaccard similarity %s; per_language=%s verify=%s (bottom-%d estimated Jaccard >= %.3f)",
            self.name, cfg.ngram, cfg.num_perm, cfg.scheme, cfg.shingle_hash, bands, rows,
            s_curve(bands, rows), cfg.per_language, cfg.verify, cfg.verify_k, cfg.verify_threshold,
        )
        sigs = ds.map_batches(
            signature_rows, batch_format="pyarrow", batch_size=self.ctx.batch_size,
            fn_kwargs={"cfg": cfg, "seed": seed, "bands": bands, "rows": rows},
        )
        if cfg.verify:
            sigs = sigs.materialize()  # read by the bucket shuffle and by both verify joins
        buckets = sigs.map_batches(bucket_rows, batch_format="pyarrow", fn_kwargs={"bands": bands})
        edges = map_partitions_by_key(buckets, "_bkey", bucket_edges, cfg.num_partitions)
        if cfg.verify:
            edges = edges.materialize()  # small; keeps one shuffle per streaming plan (dedup/verify.py)
            join_sigs = sigs.map_batches(join_rows, batch_format="pyarrow")
            edges = verified_edges(edges, join_sigs, cfg.verify_threshold, cfg.num_partitions)
        labels = connected_components(edges, cfg.num_partitions, cfg.max_rounds)
        facts = write_decision(labels.map_batches(label_drops, batch_format="pyarrow"), self.ctx.decision_dir, "_key")
        log.info("%s: %d near-duplicates to drop", self.name, facts["rows"])
        return {"near_duplicates": facts["rows"], "bands": bands, "rows_per_band": rows}

    def apply_stage(self) -> "NearDuplicateDrops":
        return NearDuplicateDrops(DropListConfig(decision_dir=self.ctx.decision_dir, reason=REASON), self.ctx)


class NearDuplicateDrops(DropListed):
    """The documents the decision names, dropped as `near-duplicate` (the pass after the decision).
    An unconverged components run can give a node two labels: the decision keeps both rows and the
    smallest label, first in the sorted decision, wins."""

    name = MinHashDedup.name
