"""Megatron shards of one folder: how a run of sequences is cut into shards (`pack`), and one
shard written from Arrow tables of sequences (`ShardWriter`), which reports its documents,
tokens, sha256 and the tokens of each bucket in it."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def flat_and_lengths(tokens: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (all values back to back, length per row); null rows have length 0.
    Read through the offsets (not flatten(), which skips values under null rows)."""
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks() if tokens.num_chunks else pa.array([], tokens.type)
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    flat = tokens.values.slice(offsets[0], offsets[-1] - offsets[0]).to_numpy(zero_copy_only=False)
    return flat, np.diff(offsets)


def list_lengths(tokens: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Length per row of a list column (null rows: 0), from the offsets alone."""
    if isinstance(tokens, pa.ChunkedArray):
        return np.concatenate([list_lengths(c) for c in tokens.chunks]) if tokens.num_chunks else np.zeros(0, np.int64)
    return np.diff(tokens.offsets.to_numpy().astype(np.int64))


def pack(lengths: np.ndarray, max_tokens: int) -> list[tuple[int, int]]:
    """Sequences [a, b) of each shard, in order: a shard is closed before a sequence would push it
    past `max_tokens` (a single longer sequence gets a shard of its own). One binary search per
    shard over the prefix sums."""
    cum = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=cum[1:])
    out, a = [], 0
    while a < len(lengths):
        b = max(int(np.searchsorted(cum, cum[a] + max_tokens, side="right")) - 1, a + 1)
        out.append((a, b))
        a = b
    return out


class ShardWriter:
    """One shard `<location>.bin/.idx` (a local path or an object-store URI), written from tables
    with a `tokens` list column and a `bucket` column, and committed whole on `close()`."""

    def __init__(self, location: str, dtype):
        from pipeline.output.megatron import MegatronWriter

        self.writer = MegatronWriter(location, dtype)
        self.bucket_tokens: Counter = Counter()

    def add(self, table: pa.Table) -> np.ndarray:
        """Append the table's sequences; returns their lengths."""
        flat, lengths = flat_and_lengths(table.column("tokens"))
        self.writer.add_many(flat, lengths)
        for label, n in label_sums(table.column("bucket"), lengths, "none").items():
            self.bucket_tokens[label or "none"] += n
        return lengths

    def close(self) -> dict:
        facts = self.writer.close()
        total = sum(self.bucket_tokens.values())
        facts["bucket_tokens"] = dict(sorted(self.bucket_tokens.items()))
        facts["bucket_shares"] = {b: n / total for b, n in sorted(self.bucket_tokens.items())} if total else {}
        return facts

    def abort(self) -> None:
        self.writer.abort()


def label_sums(labels: pa.Array | pa.ChunkedArray, lengths: np.ndarray, null_label: str) -> dict[str, int]:
    """Tokens per label (nulls counted under `null_label`)."""
    sums = pa.table({"k": pc.fill_null(labels, null_label), "n": pa.array(lengths, pa.int64())}).group_by("k").aggregate([("n", "sum")])
    return dict(zip(sums.column("k").to_pylist(), sums.column("n_sum").to_pylist()))
