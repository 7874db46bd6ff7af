"""`dedup-url`: keep the most recent crawl of each normalised URL across the whole input.

Runs before extraction: a recrawled page is the same page, and the newest copy is the one the
site serves now. Ties on the crawl date go to the smallest id so the choice does not depend on
input order; a null date counts as the oldest. Records without a URL are kept: without a URL
there is nothing to say two records are the same page (their content is judged later by the
MinHash stage).
"""
from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from dedup.partitions import group_starts, map_partitions_by_key
from dedup.url_normalize import UrlNormalization, normalize_url
from pipeline.schema import DOCUMENT_SCHEMA, conform, to_dropped
from pipeline.stage import DropWriter, GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

REASON = "older-crawl"
_HASH = "_url_hash"  # int64 hash of the normal form: the shuffle key
_NORM = "_url_norm"  # the normal form itself: the exact group key within a partition
_INT64_MIN = np.iinfo(np.int64).min


def add_url_key(batch: pa.Table, normalization: UrlNormalization) -> pa.Table:
    """Append the normal form of each URL and its 64-bit hash (records without a URL hash their
    id, which spreads them evenly over the partitions instead of piling them on one)."""
    batch = conform(batch)
    urls = batch.column("url").to_pylist()
    ids = batch.column("id").to_pylist()
    norms = [normalize_url(u, normalization) for u in urls]
    hashes = [
        xxhash.xxh3_64_intdigest(n.encode("utf-8", "surrogatepass")) if n is not None
        else xxhash.xxh3_64_intdigest(b"\0id:" + i.encode("utf-8", "surrogatepass"))
        for n, i in zip(norms, ids)
    ]
    hashes = np.array(hashes, dtype=np.uint64).view(np.int64)
    return batch.append_column(_NORM, pa.array(norms, pa.string())).append_column(_HASH, pa.array(hashes, pa.int64()))


def latest_crawl_order(table: pa.Table) -> np.ndarray:
    """Row order: by normal form, then newest crawl first (null dates last), then smallest id."""
    date = pc.fill_null(table.column("crawl_date").cast(pa.int64()), _INT64_MIN)
    keyed = pa.table({"h": table.column(_HASH), "n": table.column(_NORM), "d": date, "id": table.column("id")})
    return pc.sort_indices(keyed, sort_keys=[("h", "ascending"), ("n", "ascending"), ("d", "descending"), ("id", "ascending")]).to_numpy()


def decide_partition(part: pa.Table, stage: str, dropped_dir: str) -> pa.Table:
    """Keep the first record of each normal form (in `latest_crawl_order`), drop the rest with
    `duplicate_of` = the kept id; write the drops, return the kept records sorted by id."""
    if part.num_rows == 0:  # an empty partition may come without columns
        return DOCUMENT_SCHEMA.empty_table()
    has_url = part.column(_NORM).is_valid()
    no_url = part.filter(pc.invert(has_url))
    with_url = part.filter(has_url)
    with_url = with_url.take(latest_crawl_order(with_url))
    hashes = with_url.column(_HASH).to_numpy()
    norms = np.asarray(with_url.column(_NORM).to_pylist(), dtype=object)
    first = group_starts(hashes, norms)
    kept_idx = np.flatnonzero(first)
    dup_idx = np.flatnonzero(~first)
    # index of each row's group head: the last group start at or before the row
    head = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
    ids = with_url.column("id")
    dropped = with_url.take(dup_idx).drop_columns([_HASH, _NORM])
    duplicate_of = ids.take(head[dup_idx]).to_pylist()
    if dropped.num_rows:
        order = pc.sort_indices(dropped, sort_keys=[("id", "ascending")]).to_numpy()
        dropped = dropped.take(order)
        duplicate_of = [duplicate_of[i] for i in order]
        DropWriter(dropped_dir).write(to_dropped(conform(dropped), stage, [REASON] * dropped.num_rows, duplicate_of))
    kept = pa.concat_tables([no_url, with_url.take(kept_idx)]).drop_columns([_HASH, _NORM])
    kept = kept.take(pc.sort_indices(kept, sort_keys=[("id", "ascending")]))
    return conform(kept)


class UrlDedup(GlobalStage):
    name = "dedup-url"
    reads = ("id", "url", "crawl_date")
    writes = ()
    resources = Resources(num_cpus=1)

    class Config(StageConfig):
        normalization: UrlNormalization = UrlNormalization()
        # shuffle partitions; None: Ray's DataContext.default_hash_shuffle_parallelism (200).
        # One partition must fit a worker's memory, html payloads included.
        num_partitions: int | None = None

    def run(self, ds):
        cfg = self.config
        keyed = ds.map_batches(
            add_url_key, batch_format="pyarrow", fn_kwargs={"normalization": cfg.normalization}
        )
        log.info("%s: grouping on normalised URL, normalisation %s", self.name, cfg.normalization.model_dump())
        return map_partitions_by_key(
            keyed,
            _HASH,
            decide_partition,
            num_partitions=cfg.num_partitions,
            fn_kwargs={"stage": self.name, "dropped_dir": self.ctx.dropped_dir},
        )

