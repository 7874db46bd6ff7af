"""What report.html shows, read from a run's output folder: summary.json, manifest.json and the
stage folders. Parquet is read one row group and only the needed columns at a time, so memory
stays flat however large the run; samples re-read only the row groups that hold them."""
from __future__ import annotations

import glob
import json
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCORE_COLUMNS = ("language_score", "quality_fasttext", "quality_transformer", "code_score", "reasoning_score")
HIST_BINS = 20
SAMPLE_KEPT = 5  # kept documents shown
SAMPLE_PER_REASON = 2  # dropped documents shown per (stage, reason)
MAX_SAMPLED_REASONS = 200  # beyond this many reasons the page only lists counts
TEXT_CHARS = 600  # sampled text is cut here
KEPT_SAMPLE_COLUMNS = ("id", "url", "language", "language_score", "topic", "token_count", "text")
DROPPED_SAMPLE_COLUMNS = ("id", "url", "stage", "reason", "duplicate_of", "text")


def load_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def parquet_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.parquet")))


def row_groups(files: list[str], columns: list[str]):
    """Yield (file, row group index, table of those of `columns` the file has)."""
    for path in files:
        pf = pq.ParquetFile(path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for rg in range(pf.num_row_groups):
            yield path, rg, pf.read_row_group(rg, columns=present)


@dataclass
class StageView:
    """One entry of summary.json's `stages`, with its folder."""

    index: int
    name: str
    rows_in: int
    kept: int
    dropped: int
    reasons: dict
    seconds: float
    resumed: bool
    facts: dict
    folder: str

    @property
    def kept_dir(self) -> str:
        return os.path.join(self.folder, "kept")

    @property
    def dropped_dir(self) -> str:
        return os.path.join(self.folder, "dropped")


def stage_views(output_dir: str, summary: dict) -> list[StageView]:
    views = []
    for s in summary.get("stages", []):
        folder = os.path.join(output_dir, "stages", f"{s['index']:02d}-{s['name']}")
        views.append(
            StageView(
                index=s["index"], name=s["name"], rows_in=s["rows_in"], kept=s["kept"], dropped=s["dropped"],
                reasons=dict(s.get("reasons") or {}), seconds=s.get("seconds", 0.0), resumed=bool(s.get("resumed")),
                facts=dict(s.get("facts") or {}), folder=folder,
            )
        )
    return views


def final_kept_position(stages: list[StageView]) -> int | None:
    """Position of the stage whose kept/ is the final kept set (the ledger's rule: the last stage
    with a kept/ folder; sinks after it write everything they get)."""
    for i in range(len(stages) - 1, -1, -1):
        if os.path.isdir(stages[i].kept_dir):
            return i
    return None


@dataclass
class Histogram:
    column: str
    edges: np.ndarray
    counts: np.ndarray
    values: int  # non-null values counted
    nulls: int


@dataclass
class KeptStats:
    documents: int = 0
    languages: Counter = field(default_factory=Counter)
    topics: Counter = field(default_factory=Counter)
    tokens: int = 0
    token_nulls: int = 0
    histograms: list[Histogram] = field(default_factory=list)


def kept_stats(files: list[str]) -> KeptStats:
    """Counts, token total and score histograms of the final kept set. Two passes over the score
    columns: the first finds each column's range (bins over [0, 1] when the values are
    probabilities, so runs compare), the second bins."""
    stats = KeptStats()
    lo = {c: np.inf for c in SCORE_COLUMNS}
    hi = {c: -np.inf for c in SCORE_COLUMNS}
    nonnull = Counter()
    for _, _, t in row_groups(files, ["language", "topic", "token_count", *SCORE_COLUMNS]):
        stats.documents += t.num_rows
        for col, counter in (("language", stats.languages), ("topic", stats.topics)):
            if col in t.column_names:
                counter.update({k: v for k, v in _value_counts(t.column(col)).items() if k is not None})
        if "token_count" in t.column_names:
            tc = t.column("token_count")
            stats.tokens += int(pc.sum(tc).as_py() or 0)
            stats.token_nulls += tc.null_count
        else:
            stats.token_nulls += t.num_rows
        for c in SCORE_COLUMNS:
            if c in t.column_names and t.column(c).null_count < t.num_rows:
                mm = pc.min_max(t.column(c).cast(pa.float64()))
                lo[c] = min(lo[c], mm["min"].as_py())
                hi[c] = max(hi[c], mm["max"].as_py())
                nonnull[c] += t.num_rows - t.column(c).null_count
    scored = [c for c in SCORE_COLUMNS if nonnull[c]]
    edges = {}
    for c in scored:
        a, b = (0.0, 1.0) if lo[c] >= 0.0 and hi[c] <= 1.0 else (lo[c], hi[c] if hi[c] > lo[c] else lo[c] + 1.0)
        edges[c] = np.linspace(a, b, HIST_BINS + 1)
    counts = {c: np.zeros(HIST_BINS, dtype=np.int64) for c in scored}
    if scored:
        for _, _, t in row_groups(files, scored):
            for c in scored:
                if c in t.column_names:
                    v = t.column(c).drop_null().to_numpy().astype(np.float64)
                    counts[c] += np.histogram(v, bins=edges[c])[0]
    for c in scored:
        stats.histograms.append(Histogram(c, edges[c], counts[c], int(nonnull[c]), stats.documents - int(nonnull[c])))
    return stats


def _value_counts(col) -> dict:
    vc = pc.value_counts(col)
    return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))


def dropped_tokens(folder: str) -> int | None:
    """Tokens of a stage's dropped records; None when some have no token_count (dropped before
    tokenization), so the token funnel is only drawn where it is exact."""
    total = 0
    for _, _, t in row_groups(parquet_files(folder), ["token_count"]):
        if "token_count" not in t.column_names or t.column("token_count").null_count:
            return None
        total += int(pc.sum(t.column("token_count")).as_py() or 0)
    return total


def token_funnel(stages: list[StageView], final_pos: int | None, final_tokens: int | None) -> list[int | None]:
    """Tokens kept after each stage where known: the final kept set's total, then backwards by
    adding each stage's dropped tokens while every dropped record has a token_count."""
    out: list[int | None] = [None] * len(stages)
    if final_pos is None or final_tokens is None:
        return out
    for i in range(final_pos, len(stages)):
        out[i] = final_tokens  # sinks after the final kept set keep all of it
    running = final_tokens
    for i in range(final_pos, 0, -1):
        lost = dropped_tokens(stages[i].dropped_dir) if stages[i].dropped else 0
        if lost is None:
            break
        running += lost
        out[i - 1] = running
    return out


def _smallest(t: pa.Table, k: int) -> list[int]:
    if t.num_rows <= k:
        order = pc.sort_indices(t, sort_keys=[("id", "ascending")])
    else:
        order = pc.select_k_unstable(t, k, sort_keys=[("id", "ascending")])
    return order.to_pylist()


def smallest_ids(files: list[str], k: int, by: str | None = None) -> dict:
    """The k records with the smallest ids (per value of column `by` when given), as
    {key: [(id, file, row group, row), ...]} sorted by id; reads only `id` (and `by`)."""
    best: dict = {}
    columns = ["id"] + ([by] if by else [])
    for path, rg, t in row_groups(files, columns):
        if not t.num_rows:
            continue
        if by is None:
            groups = {None: pa.array(np.arange(t.num_rows))}
        else:
            keys = t.column(by)
            groups = {}
            for key in pc.unique(keys).to_pylist():
                mask = pc.is_null(keys) if key is None else pc.fill_null(pc.equal(keys, key), False)
                groups[key] = pc.indices_nonzero(mask)
        for key, idx in groups.items():
            sub = t.select(["id"]).take(idx)
            rows = idx.to_pylist()
            for j in _smallest(sub, k):
                best.setdefault(key, []).append((sub.column("id")[j].as_py(), path, rg, rows[j]))
            best[key] = sorted(best[key])[:k]
    return best


def fetch_rows(picks: list[tuple], columns: tuple[str, ...]) -> dict[str, dict]:
    """Read the picked rows (id, file, row group, row) -> {id: row dict}, one row group at a time."""
    by_group: dict = {}
    for rid, path, rg, row in picks:
        by_group.setdefault((path, rg), []).append((row, rid))
    out = {}
    for (path, rg), rows in sorted(by_group.items()):
        pf = pq.ParquetFile(path)
        present = [c for c in columns if c in pf.schema_arrow.names]
        t = pf.read_row_group(rg, columns=present).take([r for r, _ in rows])
        for (_, rid), rec in zip(rows, t.to_pylist()):
            out[rid] = rec
    return out


def truncate(text: str | None, limit: int = TEXT_CHARS) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def kept_sample(files: list[str], k: int = SAMPLE_KEPT) -> list[dict]:
    picks = smallest_ids(files, k).get(None, [])
    rows = fetch_rows(picks, KEPT_SAMPLE_COLUMNS)
    return [{**rows[p[0]], "text": truncate(rows[p[0]].get("text"))} for p in picks]


def dropped_samples(stages: list[StageView], k: int = SAMPLE_PER_REASON, max_reasons: int = MAX_SAMPLED_REASONS):
    """[(stage, reason, [row dicts])] in pipeline order, reasons sorted; at most `max_reasons`
    (stage, reason) pairs get samples. Returns (samples, number of pairs left without)."""
    out, skipped = [], 0
    for s in stages:
        if not s.dropped:
            continue
        per_reason = smallest_ids(parquet_files(s.dropped_dir), k, by="reason")
        for reason in sorted(per_reason, key=str):
            if len(out) >= max_reasons:
                skipped += 1
                continue
            picks = per_reason[reason]
            rows = fetch_rows(picks, DROPPED_SAMPLE_COLUMNS)
            out.append((s.name, reason, [{**rows[p[0]], "text": truncate(rows[p[0]].get("text"))} for p in picks]))
    return out, skipped
