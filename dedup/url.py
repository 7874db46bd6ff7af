"""`dedup-url`: keep the most recent crawl of each normalised URL across the whole input.

Runs before extraction: a recrawled page is the same page, and the newest copy is the one the
site serves now. Ties on the crawl date go to the smallest id so the choice does not depend on
input order; a null date counts as the oldest. Records without a URL are kept: without a URL
there is nothing to say two records are the same page (their content is judged later by the
MinHash stage).

The decision moves only (URL key, id, date) rows through the shuffle, never the raw pages; the
pages named in it are dropped in the next pass, before anything parses them.
"""
from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from dedup.partitions import group_starts, map_partitions_by_key
from dedup.url_normalize import UrlNormalization, normalize_url
from pipeline.decisions import write_decision
from pipeline.drop_listed import DROP_LIST_SCHEMA, DropListConfig, DropListed, drop_list_rows
from pipeline.schema import DOCUMENT_SCHEMA
from pipeline.stage import GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

REASON = "older-crawl"
_HASH = "_url_hash"  # int64 hash of the normal form: the shuffle key
_NORM = "_url_norm"  # the normal form itself: the exact group key within a partition
_INT64_MIN = np.iinfo(np.int64).min
_DATE = DOCUMENT_SCHEMA.field("crawl_date").type


def add_url_key(batch: pa.Table, normalization: UrlNormalization) -> pa.Table:
    """(id, crawl_date) of each record with the normal form of its URL and its 64-bit hash
    (records without a URL hash their id, which spreads them evenly over the partitions instead of
    piling them on one)."""
    urls = batch.column("url").to_pylist()
    ids = batch.column("id").to_pylist()
    norms = [normalize_url(u, normalization) for u in urls]
    hashes = [
        xxhash.xxh3_64_intdigest(n.encode("utf-8", "surrogatepass")) if n is not None
        else xxhash.xxh3_64_intdigest(b"\0id:" + i.encode("utf-8", "surrogatepass"))
        for n, i in zip(norms, ids)
    ]
    hashes = np.array(hashes, dtype=np.uint64).view(np.int64)
    return pa.table({"id": batch.column("id").cast(pa.string()), "crawl_date": batch.column("crawl_date").cast(_DATE),
                     _NORM: pa.array(norms, pa.string()), _HASH: pa.array(hashes, pa.int64())})


def latest_crawl_order(table: pa.Table) -> np.ndarray:
    """Row order: by normal form, then newest crawl first (null dates last), then smallest id."""
    date = pc.fill_null(table.column("crawl_date").cast(pa.int64()), _INT64_MIN)
    keyed = pa.table({"h": table.column(_HASH), "n": table.column(_NORM), "d": date, "id": table.column("id")})
    return pc.sort_indices(keyed, sort_keys=[("h", "ascending"), ("n", "ascending"), ("d", "descending"), ("id", "ascending")]).to_numpy()


def older_crawls(part: pa.Table) -> pa.Table:
    """The decision rows of one key partition: every record but the first of its normal form (in
    `latest_crawl_order`), with `duplicate_of` = the kept id."""
    if part.num_rows == 0:  # an empty partition may come without columns
        return DROP_LIST_SCHEMA.empty_table()
    with_url = part.filter(part.column(_NORM).is_valid())
    with_url = with_url.take(latest_crawl_order(with_url))
    hashes = with_url.column(_HASH).to_numpy()
    norms = np.asarray(with_url.column(_NORM).to_pylist(), dtype=object)
    first = group_starts(hashes, norms)
    dup_idx = np.flatnonzero(~first)
    # index of each row's group head: the last group start at or before the row
    head = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
    ids = with_url.column("id")
    return drop_list_rows(ids.take(pa.array(dup_idx)), ids.take(pa.array(head[dup_idx])))


class UrlDedup(GlobalStage):
    name = "dedup-url"
    reads = ("id", "url", "crawl_date")
    writes = ()
    resources = Resources(num_cpus=1)

    class Config(StageConfig):
        normalization: UrlNormalization = UrlNormalization()
        # shuffle partitions of the (URL key, id, date) rows; None: Ray's default
        num_partitions: int | None = None

    def fit(self, ds) -> dict:
        cfg = self.config
        keyed = ds.map_batches(add_url_key, batch_format="pyarrow", fn_kwargs={"normalization": cfg.normalization})
        log.info("%s: grouping on normalised URL, normalisation %s", self.name, cfg.normalization.model_dump())
        drops = map_partitions_by_key(keyed, _HASH, older_crawls, num_partitions=cfg.num_partitions)
        facts = write_decision(drops, self.ctx.decision_dir, "_key")
        log.info("%s: %d older crawls to drop", self.name, facts["rows"])
        return {"older_crawls": facts["rows"]}

    def apply_stage(self) -> "OlderCrawlDrops":
        return OlderCrawlDrops(DropListConfig(decision_dir=self.ctx.decision_dir, reason=REASON), self.ctx)


class OlderCrawlDrops(DropListed):
    """The documents the decision names, dropped as `older-crawl` (the pass after the decision)."""

    name = UrlDedup.name
