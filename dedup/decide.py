"""The last step of `dedup-minhash`: drop each document that has a label (its cluster's kept
document), keep the rest, moving the texts at most once.

The drop set, (id, duplicate_of) of the dropped documents only, is small next to the corpus. When
its materialised size is at most `broadcast_max_bytes`, each document block is filtered in place
against it (the driver passes object references; workers fetch the tables): the texts are not
shuffled at all. Above the cap, the documents and the drop rows are cogrouped by a keyed shuffle
on `id` (the texts move once): memory per task stays one partition, never the whole drop set.
"""
from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.nodes import node_ids
from dedup.partitions import group_starts, map_partitions_by_key
from pipeline.schema import DOCUMENT_SCHEMA, conform, to_dropped
from pipeline.stage import DropWriter

log = logging.getLogger(__name__)

REASON = "near-duplicate"
DROP_SCHEMA = pa.schema([pa.field("id", pa.string()), pa.field("_dup_of", pa.string())])
# documents and drop rows travel together through the fallback shuffle
_COGROUP_SCHEMA = pa.schema(list(DOCUMENT_SCHEMA) + [pa.field("_dup_of", pa.string()), pa.field("_is_label", pa.bool_())])


def drop_rows(batch: pa.Table) -> pa.Table:
    """(node, label) rows -> (id, _dup_of)."""
    if batch.num_rows == 0:
        return DROP_SCHEMA.empty_table()
    return pa.table({"id": node_ids(batch.column("node")), "_dup_of": node_ids(batch.column("label"))}, schema=DROP_SCHEMA)


def first_labels(drops: pa.Table) -> pa.Table:
    """One row per id: an unconverged components run can leave a node several labels; take the smallest."""
    if drops.num_rows == 0:
        return DROP_SCHEMA.empty_table()
    drops = drops.take(pc.sort_indices(drops, sort_keys=[("id", "ascending"), ("_dup_of", "ascending")]))
    firsts = group_starts(np.asarray(drops.column("id").to_pylist(), dtype=object))
    return drops.filter(pa.array(firsts))


def apply_drops(docs: pa.Table, drops: pa.Table, stage: str, dropped_dir: str) -> pa.Table:
    """Drop the documents named in `drops` (written to `dropped_dir`), return the others."""
    docs = conform(docs)
    pos = pc.index_in(docs.column("id"), value_set=drops.column("id").combine_chunks())
    drop = pos.is_valid()
    dropped = docs.filter(drop)
    if dropped.num_rows:
        dup_of = drops.column("_dup_of").take(pos.filter(drop)).to_pylist()
        DropWriter(dropped_dir).write(to_dropped(dropped, stage, [REASON] * dropped.num_rows, dup_of))
    return conform(docs.filter(pc.invert(drop)))


# --- broadcast: the drop set fetched by every document task ------------------------------------

_CACHE: dict = {}  # one drop set per worker process, built once per run, not once per block


def _drop_set(refs: list) -> pa.Table:
    import ray

    key = tuple(r.hex() for r in refs)
    if _CACHE.get("key") != key:
        tables = [t for t in ray.get(refs) if t.num_rows]
        _CACHE.update(key=key, drops=first_labels(pa.concat_tables(tables) if tables else DROP_SCHEMA.empty_table()))
    return _CACHE["drops"]


def decide_broadcast(batch: pa.Table, refs: list, stage: str, dropped_dir: str) -> pa.Table:
    return apply_drops(batch, _drop_set(refs), stage, dropped_dir)


# --- shuffle: cogroup documents and drop rows by id ---------------------------------------------


def document_rows(batch: pa.Table) -> pa.Table:
    batch = conform(batch)
    n = batch.num_rows
    return batch.append_column("_dup_of", pa.nulls(n, pa.string())).append_column("_is_label", pa.array([False] * n))


def label_rows(batch: pa.Table) -> pa.Table:
    n = batch.num_rows
    if n == 0:
        return _COGROUP_SCHEMA.empty_table()
    cols = {"id": batch.column("id"), "_dup_of": batch.column("_dup_of"), "_is_label": pa.array([True] * n)}
    return pa.table([cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in _COGROUP_SCHEMA], schema=_COGROUP_SCHEMA)


def decide_partition(part: pa.Table, stage: str, dropped_dir: str) -> pa.Table:
    if part.num_rows == 0:
        return DOCUMENT_SCHEMA.empty_table()
    is_label = part.column("_is_label")
    drops = first_labels(part.filter(is_label).select(["id", "_dup_of"]))
    docs = part.filter(pc.invert(is_label)).drop_columns(["_dup_of", "_is_label"])
    docs = docs.take(pc.sort_indices(docs, sort_keys=[("id", "ascending")]))
    orphans = pc.sum(pc.invert(pc.is_in(drops.column("id"), value_set=docs.column("id").combine_chunks())).cast(pa.int64())).as_py()
    if orphans:
        log.warning("%s: %d drop rows name no input document (was the input recomputed differently?)", stage, orphans)
    return apply_drops(docs, drops, stage, dropped_dir)


def decide(ds, labels, stage: str, dropped_dir: str, broadcast_max_bytes: int, num_partitions: int | None):
    """Kept documents of `ds`; `labels`: (node, label) rows of the documents to drop."""
    drops = labels.map_batches(drop_rows, batch_format="pyarrow").materialize()
    size = drops.size_bytes()
    kwargs = {"stage": stage, "dropped_dir": dropped_dir}
    if size <= broadcast_max_bytes:
        log.info("%s: drop set %d bytes <= %d: filtering document blocks in place", stage, size, broadcast_max_bytes)
        return ds.map_batches(decide_broadcast, batch_format="pyarrow", fn_kwargs={"refs": drops.to_arrow_refs(), **kwargs})
    log.info("%s: drop set %d bytes > %d: cogrouping documents and drops by id", stage, size, broadcast_max_bytes)
    both = ds.map_batches(document_rows, batch_format="pyarrow").union(drops.map_batches(label_rows, batch_format="pyarrow"))
    return map_partitions_by_key(both, "id", decide_partition, num_partitions, fn_kwargs=kwargs)
