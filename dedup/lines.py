"""`dedup-lines`: ccNet-style line dedup, as Llama 3 §3.1.1 does it: "we remove lines that
appeared more than 6 times in each bucket of 30M documents".

Decisions:
- Documents are split into ceil(total / bucket_docs) buckets by a hash of their id (and, with
  `per_language`, by language too: a line is only compared with lines of its own language).
- A line's key is a 64-bit hash of its normal form (whitespace runs collapsed and ends trimmed,
  Unicode lower-cased, every Unicode digit masked to 0; each switchable) mixed with its bucket.
  Blank lines are never counted and never removed.
- `count: occurrences` (default, as ccNet and Llama 3): a line repeated 7 times inside one
  document counts 7. `count: documents` counts each document once.
- A key counted more than `max_count` times is removed from every document of the bucket, all
  occurrences, the first included (ccNet keeps none: there is no "original" among boilerplate
  copies). The other lines, blank ones included, are left byte for byte; a document with no
  frequent line comes out unchanged.
- A document with lines removed whose remaining text (ends trimmed) is shorter than
  `min_remaining_chars` is dropped as `lines-emptied`, with its original text.
- Kept documents that lost lines get annotations["dedup_lines"] = {"lines": n, "chars": c}.

Plan on Ray (one keyed shuffle of line rows; the driver only counts the input to size the
buckets):
1. map: one row per (document, distinct line key): (_key, _doc = hash of the id, n occurrences).
2. shuffle on _key; per partition, total n (or rows) per key; the keys over the limit are the
   decision (pipeline/decisions.py: sorted, memory-mapped where it is applied).
3. the next pass recomputes the line keys of each document and removes the lines whose key is
   in the decision (`FrequentLineRemoval`). A key is frequent for its whole bucket (the bucket is
   mixed into the key), so membership is exact. The documents are never shuffled.
Memory per task is one partition of line rows, never a bucket: raise `num_partitions` for bigger
inputs.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from dedup.partitions import map_partitions_by_key
from dedup.signatures import fmix64
from pipeline.decisions import DecisionTable, write_decision
from pipeline.schema import conform
from pipeline.stage import Editor, Edits, GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

REASON = "lines-emptied"
ANNOTATION = "dedup_lines"
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LINE_ROWS = pa.schema([pa.field("_key", pa.int64()), pa.field("_doc", pa.int64()), pa.field("n", pa.int32())])
_KEYS = pa.schema([pa.field("_key", pa.int64())])


class LineDedupConfig(StageConfig):
    max_count: int = Field(6, ge=1)  # Llama 3 §3.1.1: lines seen more than 6 times per bucket are removed
    # what max_count counts: "occurrences" as ccNet / Llama 3, or "documents" containing the line
    count: Literal["occurrences", "documents"] = "occurrences"
    bucket_docs: int = Field(30_000_000, ge=1)  # Llama 3 §3.1.1: buckets of 30M documents
    # documents in the input, to size the buckets without a counting pass; None: ds.count()
    expected_docs: int | None = Field(None, ge=0)
    per_language: bool = True  # Llama 3 dedups per language; lines of other languages are not compared
    collapse_whitespace: bool = True  # ccNet's normalisation: whitespace differences are not content
    lowercase: bool = True  # ccNet's normalisation (Arrow's Unicode lower-casing)
    mask_digits: bool = True  # ccNet's normalisation: "© 2019" and "© 2020" are the same line
    # a document cut below this is a stub: the extract stage's min_text_chars (25)
    min_remaining_chars: int = Field(25, ge=0)
    num_partitions: int | None = None  # shuffle partitions; None: Ray's default_hash_shuffle_parallelism


# --- line keys -----------------------------------------------------------------------------------


def normalise_lines(lines: pa.Array, cfg: LineDedupConfig) -> pa.Array:
    """The form two lines must share to count as the same line."""
    if cfg.collapse_whitespace:
        lines = pc.utf8_trim_whitespace(pc.replace_substring_regex(lines, r"\s+", " "))
    if cfg.lowercase:
        lines = pc.utf8_lower(lines)
    if cfg.mask_digits:
        lines = pc.replace_substring_regex(lines, r"\p{Nd}", "0")
    return lines


def _hash_strings(values: pa.Array) -> np.ndarray:
    """xxh3-64 of each string, hashing each distinct value once (boilerplate repeats a lot)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    enc = values.dictionary_encode()
    uniq = enc.dictionary.to_pylist()
    h = np.fromiter((xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass")) for s in uniq), dtype=np.uint64, count=len(uniq))
    return h[enc.indices.to_numpy(zero_copy_only=False)]


def doc_hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hash of each id: the bucket draw and the routing key of the final shuffle."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    return np.fromiter((xxhash.xxh3_64_intdigest(i.encode("utf-8", "surrogatepass")) for i in ids.to_pylist()), dtype=np.uint64, count=len(ids))


def num_buckets(total_docs: int, bucket_docs: int) -> int:
    return max(1, math.ceil(total_docs / bucket_docs))


def line_keys(batch: pa.Table, cfg: LineDedupConfig, buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.ListArray]:
    """Every line of every document of `batch`, in order: (document index, int64 key, counted
    mask, the split texts). A blank line (empty once normalised, or only whitespace) is not
    counted; its key is meaningless."""
    texts = batch.column("text")
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    split = pc.split_pattern(texts, "\n")  # a null text splits to null: no lines
    offsets = split.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    doc_of = np.repeat(np.arange(len(split)), np.diff(offsets))
    lines = split.flatten()
    norm = normalise_lines(lines, cfg)
    counted = pc.and_(pc.not_equal(pc.utf8_trim_whitespace(lines), ""), pc.not_equal(norm, "")).to_numpy(zero_copy_only=False)
    lh = np.zeros(len(lines), dtype=np.uint64)
    idx = np.flatnonzero(counted)
    lh[idx] = _hash_strings(norm.take(pa.array(idx)))
    # each document's bucket (and language): one hash mixed into every line key of the document
    bucket = doc_hashes(batch.column("id")) % np.uint64(buckets)
    langs = batch.column("language").to_pylist() if cfg.per_language else [None] * batch.num_rows
    group = np.fromiter(
        (xxhash.xxh3_64_intdigest(f"{lang or ''}\0{b}".encode("utf-8", "surrogatepass")) for lang, b in zip(langs, bucket.tolist())),
        dtype=np.uint64, count=batch.num_rows,
    )
    # a bijection of the line hash for a fixed group: distinct lines of one bucket never collide here
    keys = fmix64(lh + fmix64(group)[doc_of] * _GOLDEN).view(np.int64)
    return doc_of, keys, counted, split


# --- step 1: line rows ---------------------------------------------------------------------------


def line_rows(batch: pa.Table, cfg: LineDedupConfig, buckets: int) -> pa.Table:
    """One row per (document, distinct counted line key) with the line's occurrences in it."""
    batch = conform(batch)
    doc_of, keys, counted, _ = line_keys(batch, cfg, buckets)
    doc_of, keys = doc_of[counted], keys[counted]
    if len(keys) == 0:
        return _LINE_ROWS.empty_table()
    order = np.lexsort((keys, doc_of))
    doc_of, keys = doc_of[order], keys[order]
    start = np.ones(len(keys), dtype=bool)
    start[1:] = (doc_of[1:] != doc_of[:-1]) | (keys[1:] != keys[:-1])
    seg = np.flatnonzero(start)
    n = np.diff(np.append(seg, len(keys))).astype(np.int32)
    docs = doc_hashes(batch.column("id")).view(np.int64)
    return pa.table({"_key": keys[seg], "_doc": docs[doc_of[seg]], "n": n}, schema=_LINE_ROWS)


# --- step 2: count per key, emit removal rows ----------------------------------------------------


def frequent_keys(part: pa.Table, max_count: int, count: str) -> pa.Table:
    """The distinct keys of one key partition counted more than `max_count` times."""
    if part.num_rows == 0:  # an empty partition may come without columns
        return _KEYS.empty_table()
    keys = part.column("_key").to_numpy()
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    weight = part.column("n").to_numpy()[order].astype(np.int64) if count == "occurrences" else np.ones(len(keys), np.int64)
    start = np.ones(len(keys), dtype=bool)
    start[1:] = keys[1:] != keys[:-1]
    seg = np.flatnonzero(start)
    totals = np.add.reduceat(weight, seg)
    log.info("dedup-lines: partition of %d line rows, %d distinct lines, %d over %d %s",
             len(keys), len(seg), int((totals > max_count).sum()), max_count, count)
    return pa.table({"_key": keys[seg][totals > max_count]}, schema=_KEYS)


# --- step 3: apply the removals to the documents -------------------------------------------------


def line_edits(docs: pa.Table, is_frequent: Callable[[np.ndarray], np.ndarray], cfg: LineDedupConfig,
               buckets: int) -> Edits:
    """The edits that remove from `docs` every counted line whose key `is_frequent` (`lines-emptied`
    when too little is left)."""
    doc_of, keys, counted, split = line_keys(docs, cfg, buckets)
    remove = counted & is_frequent(keys)
    hit = np.flatnonzero(np.bincount(doc_of[remove], minlength=docs.num_rows))
    texts: list[str | None] = [None] * docs.num_rows
    reasons: list[str | None] = [None] * docs.num_rows
    if len(hit) == 0:
        return Edits(texts, reasons)
    offsets = split.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    lines = split.flatten()
    notes = [None] * docs.num_rows
    for d in hit.tolist():
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        mask = remove[lo:hi]
        doc_lines = lines.slice(lo, hi - lo).to_pylist()
        texts[d] = "\n".join(x for x, r in zip(doc_lines, mask) if not r)
        notes[d] = {"lines": int(mask.sum()), "chars": sum(len(x) for x, r in zip(doc_lines, mask) if r)}
        if len(texts[d].strip()) < max(cfg.min_remaining_chars, 1):
            reasons[d] = REASON
    return Edits(texts, reasons, notes)


def line_dedup_local(table: pa.Table, cfg: LineDedupConfig, buckets: int | None = None) -> tuple[pa.Table, pa.Table]:
    """The same steps in this process, the whole table as one partition (tests, benchmarks)."""
    table = conform(table)
    buckets = buckets or num_buckets(cfg.expected_docs or table.num_rows, cfg.bucket_docs)
    frequent = frequent_keys(line_rows(table, cfg, buckets), cfg.max_count, cfg.count).column("_key").to_numpy()
    docs = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")]))
    return _GivenLineRemoval(cfg, lambda keys: np.isin(keys, frequent), buckets).process(docs)


class LineDedup(GlobalStage):
    name = "dedup-lines"
    reads = ("id", "text", "language")
    writes = ("text", "annotations")
    resources = Resources(num_cpus=1)
    Config = LineDedupConfig

    def fit(self, ds) -> dict:
        cfg = self.config
        total = cfg.expected_docs if cfg.expected_docs is not None else ds.count()
        buckets = num_buckets(total, cfg.bucket_docs)
        log.info(
            "%s: %d documents in %d bucket(s) of <= %d (per_language=%s); removing lines seen more than %d times "
            "(%s); normalisation: whitespace=%s lowercase=%s digits=%s",
            self.name, total, buckets, cfg.bucket_docs, cfg.per_language, cfg.max_count, cfg.count,
            cfg.collapse_whitespace, cfg.lowercase, cfg.mask_digits,
        )
        rows = ds.map_batches(line_rows, batch_format="pyarrow", batch_size=self.ctx.batch_size,
                              fn_kwargs={"cfg": cfg, "buckets": buckets})
        keys = map_partitions_by_key(rows, "_key", frequent_keys, cfg.num_partitions,
                                     fn_kwargs={"max_count": cfg.max_count, "count": cfg.count})
        facts = write_decision(keys, self.ctx.decision_dir, "_key", meta={"buckets": buckets})
        return {"frequent_lines": facts["rows"], "buckets": buckets}

    def apply_stage(self) -> "FrequentLineRemoval":
        return FrequentLineRemoval(RemovalConfig(decision_dir=self.ctx.decision_dir, lines=self.config), self.ctx)


class RemovalConfig(StageConfig):
    decision_dir: str
    lines: LineDedupConfig


class FrequentLineRemoval(Editor):
    """The pass after the decision: removes the decided lines from each document (`lines-emptied`
    when too little is left)."""

    name = LineDedup.name
    reads = ("id", "text", "language")
    writes = ("text", "annotations")
    resources = Resources(num_cpus=1)
    Config = RemovalConfig
    annotation = ANNOTATION
    no_text = None  # no lines to remove: passed on for the stages that need text to drop
    emptied_reason = REASON

    def setup(self) -> None:
        table = DecisionTable(self.config.decision_dir)
        self._is_frequent, self._buckets = table.contains, int(table.meta["buckets"])

    def edit(self, batch: pa.Table) -> Edits:
        return line_edits(batch, self._is_frequent, self.config.lines, self._buckets)


class _GivenLineRemoval(FrequentLineRemoval):
    """The same removal with the frequent keys given, not read from a decision (line_dedup_local)."""

    def __init__(self, cfg: LineDedupConfig, is_frequent: Callable[[np.ndarray], np.ndarray], buckets: int):
        super().__init__(RemovalConfig(decision_dir="", lines=cfg))
        self._is_frequent, self._buckets = is_frequent, buckets

    def setup(self) -> None:
        pass
