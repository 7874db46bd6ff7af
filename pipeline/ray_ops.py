"""Ray Data steps that pay a shuffle only when the data needs one.

A sort or keyed shuffle on Ray Data costs a sampling task, a map wave and a reduce wave, however
few rows there are: ~0.3-1 s each on a 2-CPU machine, and a URL, MinHash or line decision runs
several (docs/benchmarks.md). Data that fits one task comfortably (`SMALL_BYTES`, materialised
size) is coalesced into one block and handled by one task instead; the result is the same rows
in the same order (keys that order every row: ids, hashes with the rest of the row as tie-break),
so the output of a run does not depend on which way it went.

Below that, the pieces that keep per-record work off the driver (issue 16): `ordered_blocks` (a
sorted dataset as block references in order), `pieces_of` / `PieceReader` (contiguous row ranges
of those blocks, read by the task that writes them: shards, ledger parts), and `tree_reduce` /
`reduce_blocks` / `map_reduce` (partial results combined by Ray tasks in a tree, so the driver
receives one small object: histograms, counts, report statistics).
"""
from __future__ import annotations

from typing import Callable

import pyarrow as pa

SMALL_BYTES = 64 * 2**20  # our choice: far under a worker's memory, far over the fixed cost of a shuffle


def one_block_if_small(ds):
    """(dataset, True) as one block when its materialised size is at most SMALL_BYTES; else
    (the materialised dataset, False)."""
    mat = ds.materialize()
    if mat.size_bytes() <= SMALL_BYTES:
        return mat.repartition(1, shuffle=False), True
    return mat, False


def _sort_block(block: pa.Table, keys: list[str]) -> pa.Table:
    return block.sort_by([(k, "ascending") for k in keys])


def sort_rows(ds, keys: list[str]):
    """`ds.sort(keys)`, in one task when the data is small."""
    ds, small = one_block_if_small(ds)
    if small:
        return ds.map_batches(_sort_block, batch_size=None, batch_format="pyarrow", fn_kwargs={"keys": list(keys)})
    return ds.sort(list(keys))


def map_whole(ds, fn: Callable[..., pa.Table], fn_kwargs: dict | None = None):
    """fn over every block as one batch (a partition, after a shuffle or `one_block_if_small`)."""
    return ds.map_batches(fn, batch_size=None, batch_format="pyarrow", fn_kwargs=fn_kwargs or {})


# --------------------------------------------------------------------------- ordered blocks
# A sorted Ray Dataset is a list of blocks in order. The steps below hand contiguous row ranges
# of it to Ray tasks as (block, first row, end row) pieces, so a task reads exactly its range
# from the object store and the driver holds only block references and row counts.

def remote(fn: Callable, **options):
    """`fn` as a Ray remote function (one per function and options in a process)."""
    key = (fn, tuple(sorted(options.items())))
    if key not in _REMOTES:
        import ray

        _REMOTES[key] = ray.remote(fn).options(**options) if options else ray.remote(fn)
    return _REMOTES[key]


_REMOTES: dict = {}


def ordered_blocks(ds) -> list[tuple[object, int, int]]:
    """The blocks of `ds` in dataset order as (object ref, first row, end row): a block of a
    bundle may be a slice of the object. Materialises `ds`; no row reaches the driver."""
    out = []
    for bundle in ds.materialize().iter_internal_ref_bundles():
        slices = getattr(bundle, "slices", None) or [None] * len(bundle.blocks)
        for entry, sl in zip(bundle.blocks, slices):
            ref, meta = (entry.ref, entry.metadata) if hasattr(entry, "ref") else entry
            if sl is not None:
                out.append((ref, sl.start_offset, sl.end_offset))
            elif meta.num_rows is None:
                raise RuntimeError("a materialised block has no row count")
            else:
                out.append((ref, 0, meta.num_rows))
    return [b for b in out if b[2] > b[1]]


def fetch_block(block: tuple[object, int, int]) -> pa.Table:
    """Inside a task: the rows of one (ref, first, end) block as an Arrow table."""
    import ray
    from ray.data.block import BlockAccessor

    ref, start, stop = block
    table = BlockAccessor.for_block(ray.get(ref)).to_arrow()
    return table.slice(start, stop - start)


def pieces_of(block_rows: list[int], start: int, stop: int) -> list[tuple[int, int, int]]:
    """(block index, first row, end row) pieces covering rows [start, stop) of the blocks taken
    back to back (`block_rows`: rows per block)."""
    out, base = [], 0
    for b, n in enumerate(block_rows):
        lo, hi = max(start, base), min(stop, base + n)
        if lo < hi:
            out.append((b, lo - base, hi - base))
        base += n
        if base >= stop:
            break
    return out


class PieceReader:
    """Inside a task: the rows of (block index, first, end) pieces of `blocks`, fetching each
    block once however many consecutive pieces it holds (one block in memory at a time)."""

    def __init__(self, blocks: dict[int, tuple[object, int, int]]):
        self.blocks = blocks
        self._index, self._table = None, None

    def rows(self, piece: tuple[int, int, int]) -> pa.Table:
        b, first, end = piece
        if b != self._index:
            self._index, self._table = b, fetch_block(self.blocks[b])
        return self._table.slice(first, end - first)


# --------------------------------------------------------------------------- reductions
FAN_IN = 16  # partials combined per reduce task: a tree of depth log16(tasks)


def _combine_task(combine: Callable, *partials):
    return combine(list(partials))


def tree_reduce(refs: list, combine: Callable[[list], object], fan_in: int = FAN_IN):
    """One object ref holding `combine` over the objects of `refs`, combined by Ray tasks in a
    tree (`fan_in` at a time), so the driver never holds the partials. `combine` must be
    associative and take a list (also of one, or none)."""
    task = remote(_combine_task)
    if not refs:
        return task.remote(combine)
    while len(refs) > 1:
        refs = [task.remote(combine, *refs[i:i + fan_in]) for i in range(0, len(refs), fan_in)]
    return refs[0]


def _combine_blocks(combine: Callable, blocks: list) -> object:
    return combine([fetch_block(b) for b in blocks])


def reduce_blocks(ds, combine: Callable[[list], object], fan_in: int = FAN_IN):
    """`combine` over the blocks of `ds` (tables of partial results), by Ray tasks: `fan_in`
    blocks per task, then `tree_reduce`. The driver gets the one result."""
    import ray

    blocks = ordered_blocks(ds)
    task = remote(_combine_blocks)
    refs = [task.remote(combine, blocks[i:i + fan_in]) for i in range(0, len(blocks), fan_in)]
    return ray.get(tree_reduce(refs, combine, fan_in))


def map_reduce(items: list, map_fn: Callable[..., object], combine: Callable[[list], object], **kwargs):
    """combine([map_fn(chunk, **kwargs) for chunk of items]): with Ray initialised, each chunk is
    a Ray task (a few per CPU) and the partials are combined by `tree_reduce`, so the driver gets
    one small result; without Ray (a report rewritten for a finished small run), in this process.
    `combine` must not depend on the order of the partials."""
    import ray

    if not items or not ray.is_initialized():
        return combine([map_fn(items, **kwargs)] if items else [])
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    n = min(len(items), 4 * cpus)
    task = remote(map_fn)
    return ray.get(tree_reduce([task.remote(items[i::n], **kwargs) for i in range(n)], combine))


def sum_tables(tables: list[pa.Table], keys: list[str]) -> pa.Table:
    """Partial sums (one row per key) added up: the rows of `tables` grouped by `keys`, every
    other column summed, sorted by `keys`. The combine step of counts and histograms."""
    tables = [t for t in tables if t is not None and t.num_rows]
    if not tables:
        return None
    table = pa.concat_tables(tables)
    values = [c for c in table.column_names if c not in keys]
    summed = table.group_by(keys).aggregate([(c, "sum") for c in values])
    summed = summed.rename_columns([c[:-4] if c.endswith("_sum") and c[:-4] in values else c for c in summed.column_names])
    return summed.select(keys + values).sort_by([(k, "ascending") for k in keys])
