"""One folder of consecutive Megatron shards: the next shard opens when the current one is full.
Each closed shard reports its documents, tokens, sha256 and the tokens of each bucket in it."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pyarrow as pa


def flat_and_lengths(tokens: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (all values back to back, length per row); null rows have length 0.
    Read through the offsets (not flatten(), which skips values under null rows)."""
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks() if tokens.num_chunks else pa.array([], tokens.type)
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    flat = tokens.values.slice(offsets[0], offsets[-1] - offsets[0]).to_numpy(zero_copy_only=False)
    return flat, np.diff(offsets)


class ShardSet:
    def __init__(self, folder: str, prefix: str, max_tokens: int, dtype):
        from pipeline.megatron import MegatronWriter

        self._writer_cls = MegatronWriter
        self.folder, self.prefix, self.max_tokens, self.dtype = folder, prefix, max_tokens, dtype
        self.shards: list[dict] = []
        self.writer = None
        self.bucket_tokens: Counter = Counter()
        os.makedirs(folder, exist_ok=True)

    def _open(self):
        self.writer = self._writer_cls(os.path.join(self.folder, f"{self.prefix}_{len(self.shards):05d}"), self.dtype)

    def _flush(self, flat, lengths, labels, a: int, b: int, offsets: np.ndarray) -> None:
        if b > a:
            self.writer.add_many(flat[offsets[a] : offsets[b]], lengths[a:b])
            for label, n in zip(labels[a:b], lengths[a:b].tolist()):
                self.bucket_tokens[label or "none"] += n

    def add_batch(self, flat: np.ndarray, lengths: np.ndarray, labels: list | None = None) -> None:
        """Append sequences; `labels` names each one's bucket (for the per-shard bucket shares)."""
        labels = labels if labels is not None else [None] * lengths.size
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        start = 0
        for k, n in enumerate(lengths.tolist()):
            if self.writer is None:
                self._open()
            elif self.writer.tokens + int(offsets[k] - offsets[start]) + n > self.max_tokens and (
                self.writer.documents or k > start
            ):
                self._flush(flat, lengths, labels, start, k, offsets)
                start = k
                self.close_current()
                self._open()
        self._flush(flat, lengths, labels, start, lengths.size, offsets)

    def close_current(self) -> None:
        if self.writer is not None:
            facts = self.writer.close()
            total = sum(self.bucket_tokens.values())
            facts["bucket_tokens"] = dict(sorted(self.bucket_tokens.items()))
            facts["bucket_shares"] = {b: n / total for b, n in sorted(self.bucket_tokens.items())} if total else {}
            self.shards.append(facts)
            self.writer, self.bucket_tokens = None, Counter()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
