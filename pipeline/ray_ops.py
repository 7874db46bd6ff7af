"""Ray Data steps that pay a shuffle only when the data needs one.

A sort or keyed shuffle on Ray Data costs a sampling task, a map wave and a reduce wave, however
few rows there are: ~0.3-1 s each on a 2-CPU machine, and a URL, MinHash or line decision runs
several (docs/benchmarks.md). Data that fits one task comfortably (`SMALL_BYTES`, materialised
size) is coalesced into one block and handled by one task instead; the result is the same rows
in the same order (keys that order every row: ids, hashes with the rest of the row as tie-break),
so the output of a run does not depend on which way it went.
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
