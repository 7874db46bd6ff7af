"""Exact weighted cuts on Ray: per group, take documents in ascending (key, id) order until their
weight (tokens, or 1 per document) is as close as possible to a target fraction of the group's
total, without collecting the dataset on the driver.

Radix refinement: a Ray groupby sums the weight per (group, top 16 bits of the key); the driver
finds the bin where the running total crosses the target and fetches only that bin's documents
(or, if it holds more than `fetch_limit`, refines on the next 16 bits) and chooses the exact stop.
The result is a `Cut`: documents with (key, id) < (cut.key, cut.id) are taken. For seeded-hash
keys a bin holds ~1/65536 of its group, so one groupby and one small fetch suffice."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ray_ops import reduce_blocks, sum_tables

U64 = 2**64
BITS = 16  # key bits resolved per level
FETCH_LIMIT = 200_000  # documents the driver may fetch for one bin (our choice: a few MB)
KEYED_SCHEMA = pa.schema([("group", pa.string()), ("key", pa.uint64()), ("id", pa.string()), ("weight", pa.int64())])


@dataclass(frozen=True)
class Cut:
    """Documents with (key, id) < (key, id) of the cut are taken, and those named in `extra`
    (first-fit past the cut, `first_fit`); key 2**64 takes every one."""

    key: int
    id: str = ""
    extra: frozenset = frozenset()

    def __post_init__(self):
        object.__setattr__(self, "extra", frozenset(self.extra))

    def taken(self, keys: np.ndarray, ids: list[str]) -> np.ndarray:
        if self.key >= U64:
            return np.ones(len(keys), dtype=bool)
        k = np.uint64(self.key)
        out = keys < k
        for i in np.flatnonzero(keys == k).tolist():
            out[i] = ids[i] < self.id
        if self.extra:
            out |= np.fromiter((i in self.extra for i in ids), dtype=bool, count=len(ids))
        return out

    def to_json(self) -> list:
        return [self.key, self.id] + ([sorted(self.extra)] if self.extra else [])


NOTHING = Cut(0, "")
EVERYTHING = Cut(U64, "")


@dataclass(frozen=True)
class CutResult:
    cut: Cut
    weight: float  # weight of the taken documents
    documents: int
    total_weight: float
    total_documents: int


def _in_prefix(keys: np.ndarray, bits: int, prefix: int) -> np.ndarray:
    if bits == 0:
        return np.ones(keys.size, dtype=bool)
    return (keys >> np.uint64(64 - bits)) == np.uint64(prefix)


def _selection(batch: pa.Table, where: dict[str, tuple[int, int]]):
    """Yield (group, mask of rows in the group whose key starts with the group's prefix)."""
    keys = batch.column("key").to_numpy()
    for group, (bits, prefix) in where.items():
        mask = pc.equal(batch.column("group"), group).to_numpy(zero_copy_only=False)
        yield group, mask & _in_prefix(keys, bits, prefix), keys


class _BinWeights:
    """Ray task: per (group, next 16 key bits below the group's prefix), summed weight and count."""

    def __init__(self, where: dict[str, tuple[int, int]]):
        self.where = where

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = {"group": [], "bin": [], "weight": [], "n": []}
        weights = batch.column("weight").to_numpy()
        for group, sel, keys in _selection(batch, self.where):
            bits = self.where[group][0]
            bins = (keys[sel] >> np.uint64(64 - bits - BITS)) & np.uint64(2**BITS - 1)
            uniq, inverse = np.unique(bins, return_inverse=True)
            out["group"] += [group] * uniq.size
            out["bin"] += uniq.astype(np.int64).tolist()
            out["weight"] += np.bincount(inverse, weights=weights[sel], minlength=uniq.size).astype(np.int64).tolist()
            out["n"] += np.bincount(inverse, minlength=uniq.size).astype(np.int64).tolist()
        return pa.table(out, schema=pa.schema([("group", pa.string()), ("bin", pa.int64()), ("weight", pa.int64()), ("n", pa.int64())]))


class _InBin:
    """Ray task: the rows of each group whose key starts with the group's prefix."""

    def __init__(self, where: dict[str, tuple[int, int]]):
        self.where = where

    def __call__(self, batch: pa.Table) -> pa.Table:
        mask = np.zeros(batch.num_rows, dtype=bool)
        for _, sel, _ in _selection(batch, self.where):
            mask |= sel
        return batch.filter(pa.array(mask))


HIST_KEYS = ["group", "bin"]


def _sum_bins(parts: list[pa.Table]) -> pa.Table | None:
    return sum_tables(parts, HIST_KEYS)


def histogram(keyed, where: dict[str, tuple[int, int]]) -> dict[str, list[tuple[int, int, int]]]:
    """group -> ascending [(bin, weight, documents)]. Each Ray task sums its block per bin; Ray
    tasks add the partial sums up in a tree (`reduce_blocks`), so the driver gets one table of at
    most 65,536 bins per group (a Ray groupby of the same rows cost seconds of fixed shuffle time
    on every call: 3 s of the mix on 268 pages)."""
    partials = keyed.map_batches(_BinWeights(where), batch_format="pyarrow", batch_size=None)
    sums = reduce_blocks(partials, _sum_bins)
    out: dict[str, list] = {g: [] for g in where}
    if sums is not None:
        for g, b, w, n in zip(*(sums.column(c).to_pylist() for c in ("group", "bin", "weight", "n"))):
            out[g].append((int(b), int(w), int(n)))
    return {g: sorted(rows) for g, rows in out.items()}


def choose_stop(weights: list[int], remaining: float, reach: bool = False) -> int:
    """How many of these documents (in order) to take so their weight is closest to `remaining`
    (ties: fewer); with `reach`, the fewest whose weight reaches it."""
    best, best_gap, cum = 0, abs(remaining), 0.0
    for j, w in enumerate(weights, start=1):
        cum += w
        gap = abs(cum - remaining)
        if gap < best_gap or (reach and cum >= remaining):
            best, best_gap = j, gap
        if cum >= remaining:
            break
    return best


def find_cuts(keyed, fractions_of: Callable[[dict[str, tuple[int, int]]], dict[str, float]],
              groups: list[str], reach: bool = False, fetch_limit: int = FETCH_LIMIT) -> dict[str, CutResult]:
    """`keyed`: Ray Dataset of KEYED_SCHEMA rows. `fractions_of` gets {group: (total weight,
    documents)} and returns the fraction of each group's weight to take: as close as possible,
    or with `reach` the fewest documents that reach it (a quantile: at least one document)."""
    hist = histogram(keyed, {g: (0, 0) for g in groups})
    totals = {g: (sum(w for _, w, _ in rows), sum(n for _, _, n in rows)) for g, rows in hist.items()}
    fractions = fractions_of(totals)
    results: dict[str, CutResult] = {}
    # group -> (bits, prefix, remaining weight, weight and documents before the prefix)
    state: dict[str, tuple[int, int, float, int, int]] = {}
    for g, fraction in fractions.items():
        total_w, total_n = totals.get(g, (0, 0))
        target = fraction * total_w
        if target <= 0 or total_n == 0:
            results[g] = CutResult(NOTHING, 0, 0, total_w, total_n)
        elif target >= total_w:
            results[g] = CutResult(EVERYTHING, total_w, total_n, total_w, total_n)
        else:
            state[g] = (0, 0, target, 0, 0)
    # the loops below run on the driver over bins (at most 65,536 per group and level, whatever
    # the data size) and over the documents of one bin (at most `fetch_limit`): bounded by the
    # histogram's resolution, not by the number of records
    while state:
        fetch, refine = {}, {}
        for g, (bits, prefix, remaining, w_before, n_before) in state.items():
            cum = cnt = 0
            for b, w, n in hist[g]:
                if cum + w >= remaining:
                    break
                cum, cnt = cum + w, cnt + n
            nxt = (bits + BITS, (prefix << BITS) | b, remaining - cum, w_before + cum, n_before + cnt)
            (fetch if n <= fetch_limit or bits + BITS == 64 else refine)[g] = nxt
        if fetch:
            rows = keyed.map_batches(_InBin({g: s[:2] for g, s in fetch.items()}), batch_format="pyarrow").take_all()
            for g, (bits, prefix, remaining, w_before, n_before) in fetch.items():
                docs = sorted((int(r["key"]), r["id"], int(r["weight"])) for r in rows if r["group"] == g)
                j = choose_stop([d[2] for d in docs], remaining, reach)
                cut = Cut(docs[j][0], docs[j][1]) if j < len(docs) else Cut((prefix + 1) << (64 - bits))
                taken_w = w_before + sum(d[2] for d in docs[:j])
                results[g] = CutResult(cut, taken_w, n_before + j, *totals[g])
        state = refine
        if refine:
            hist = histogram(keyed, {g: s[:2] for g, s in refine.items()})
    return results


def first_fit(keyed, group: str, target: float, fetch_limit: int = FETCH_LIMIT) -> CutResult | None:
    """The group's documents in the same ascending (key, id) order, each taken while it still fits
    under `target`, then the one past it that lands closest if that beats stopping short: within
    about a short document of the target, where the closest prefix (`find_cuts`) can miss it by
    half a long one. The driver fetches the group's (key, id, weight) rows, so only for groups of
    at most `fetch_limit` documents (None otherwise: in larger groups documents are small against
    the target and the prefix is close). The result is a Cut at the first document skipped, with
    the documents taken after it named in `extra`."""
    hist = histogram(keyed, {group: (0, 0)})
    total_w = sum(w for _, w, _ in hist[group])
    total_n = sum(n for _, _, n in hist[group])
    if total_n > fetch_limit:
        return None
    rows = keyed.map_batches(_InBin({group: (0, 0)}), batch_format="pyarrow").take_all()
    docs = sorted((int(r["key"]), r["id"], int(r["weight"])) for r in rows if r["group"] == group)
    # in key order, and with the longest documents offered first (one long document can hold
    # back a few short ones from the target: 16 multilingual pages of which one held half the
    # tokens missed 8% by 2 points); the closer fill wins, key order on a tie
    fills = [_fill(docs, target), _fill(sorted(docs, key=lambda d: (-d[2], d[0], d[1])), target)]
    taken, skipped, cum = min(fills, key=lambda f: abs(f[2] - target))
    if not skipped:
        return CutResult(EVERYTHING, cum, len(taken), total_w, total_n)
    first = min(skipped)
    extra = frozenset(d[1] for d in taken if (d[0], d[1]) > (first[0], first[1]))
    return CutResult(Cut(first[0], first[1], extra), cum, len(taken), total_w, total_n)


def _fill(docs: list[tuple[int, str, int]], target: float) -> tuple[list, list, int]:
    """(taken, skipped, weight): each document taken while it still fits under `target`, then the
    smallest one left out if landing past the target beats stopping short."""
    taken, skipped, cum = [], [], 0
    for d in docs:
        if cum + d[2] <= target:
            taken.append(d)
            cum += d[2]
        else:
            skipped.append(d)
    over = min(skipped, key=lambda d: (d[2], d[0], d[1]), default=None)  # the smallest document left out
    if over is not None and cum + over[2] - target < target - cum:
        taken.append(over)
        skipped.remove(over)
        cum += over[2]
    return taken, skipped, cum
