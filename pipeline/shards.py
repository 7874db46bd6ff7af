"""Stage `shard`: the kept documents, in a seeded random order, as Megatron `.bin/.idx` shards
under `<output_dir>/shards/`, plus `<output_dir>/manifest.json`.

Order: each document gets the key xxh64(id, seed=run seed); Ray sorts globally by (key, id), so
the permutation depends only on the ids and the seed (ids are unique, so no ties), never on
partitioning or run order. Each document is one Megatron sequence (its tokens, which end with
<|end_of_text|> from stage `tokenize`); a shard is closed before a document would push it past
`max_tokens_per_shard` (a single longer document gets a shard of its own).

Writing: the driver streams the sorted rows (iter_batches, one block in memory at a time) into
one writer, which is fine at this scale: it writes ~200 M tokens/s (measured, 20 M tokens), while
Ray's global sort of the same rows took ~10 s on 2 busy cores and is what grows. A parallel
writer would cut the sorted dataset into ranges of cumulative token count (prefix sums of
token_count per sorted block, computed by Ray), give each range to a task that writes its own
shards named by range, and have the driver only gather the per-shard facts into the manifest.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.stage import Resources, SinkStage, StageConfig

log = logging.getLogger(__name__)

KEY = "_shard_key"  # temporary sort column; never leaves this stage


class ShardConfig(StageConfig):
    # 2^28 int32 tokens = 1 GiB .bin files: few files per run, each quick to copy and checksum
    max_tokens_per_shard: int = Field(2**28, ge=1)
    # file names: <prefix>_00000.bin / .idx
    prefix: str = Field("shard", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # the tokenizer whose ids the documents hold (stage `tokenize`): vocab size, dtype, EOT id
    tokenizer: Literal["llama3"] = "llama3"
    # every document must end with the tokenizer's EOT: packed Megatron samples have no other
    # document boundary (set false only if stage `tokenize` runs with append_eos: false)
    require_eot: bool = True


class InvalidShardInput(ValueError):
    """A kept document cannot be written (no tokens, ids outside the vocabulary, no EOT). Sinks may
    not drop (the ledger takes their input as the final kept set), so this stops the run."""


def flat_and_lengths(tokens: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (all values back to back, length per row); null rows have length 0.
    Read through the offsets (not flatten(), which skips values under null rows)."""
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks() if tokens.num_chunks else pa.array([], tokens.type)
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    flat = tokens.values.slice(offsets[0], offsets[-1] - offsets[0]).to_numpy(zero_copy_only=False)
    return flat, np.diff(offsets)


def shuffle_keys(ids: list[str], seed: int) -> np.ndarray:
    import xxhash

    s = seed % 2**64  # xxh64 seeds are unsigned 64-bit
    return np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8"), seed=s) for i in ids), dtype=np.uint64, count=len(ids))


class _PrepareBatch:
    """Ray task: check each document, add the sort key, keep only what the writer needs."""

    def __init__(self, seed: int, n_vocab: int, eot_id: int | None):
        self.seed, self.n_vocab, self.eot_id = seed, n_vocab, eot_id

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids = batch.column("id").to_pylist()
        tokens = batch.column("tokens").combine_chunks() if batch.num_rows else pa.array([], pa.list_(pa.int32()))
        counts = batch.column("token_count").to_pylist() if "token_count" in batch.column_names else [None] * len(ids)
        problems = self.check(ids, tokens, counts)
        if problems:
            raise InvalidShardInput(
                f"stage shard: {len(problems)} of {len(ids)} documents in a batch cannot be written, e.g. "
                + "; ".join(f"{rid}: {why}" for rid, why in problems[:5])
                + " (is stage `tokenize` in the pipeline, with the same tokenizer?)"
            )
        return pa.table(
            {
                KEY: pa.array(shuffle_keys(ids, self.seed), pa.uint64()),
                "id": batch.column("id"),
                "tokens": tokens.cast(pa.list_(pa.int32())),
            }
        )

    def check(self, ids: list[str], tokens: pa.Array, counts: list) -> list[tuple[str, str]]:
        """(id, reason) for each document that cannot be written; vectorised, since all pass."""
        if not ids:
            return []
        flat, lengths = flat_and_lengths(tokens)
        ends = np.cumsum(lengths)
        empty = tokens.is_null().to_numpy(zero_copy_only=False) | (lengths == 0)
        bad_pos = np.flatnonzero((flat < 0) | (flat >= self.n_vocab))
        out_of_range = np.zeros(len(ids), dtype=bool)
        out_of_range[np.searchsorted(ends, bad_pos, side="right")] = True
        count_arr = np.array([-1 if c is None else c for c in counts], dtype=np.int64)
        miscounted = (count_arr >= 0) & (count_arr != lengths)
        last = flat[np.maximum(ends - 1, 0)] if flat.size else np.zeros(len(ids), flat.dtype)
        no_eot = ~empty & (last != self.eot_id) if self.eot_id is not None else np.zeros(len(ids), dtype=bool)
        problems = []
        for k in np.flatnonzero(empty | out_of_range | miscounted | no_eot).tolist():
            if empty[k]:
                why = "no-tokens"
            elif out_of_range[k]:
                why = f"token-id-out-of-range:vocab {self.n_vocab}"
            elif miscounted[k]:
                why = f"token-count-mismatch:{counts[k]}!={lengths[k]}"
            else:
                why = f"missing-eot:last id {last[k]}"
            problems.append((ids[k], why))
        return problems


class _ShardSet:
    """Writes consecutive shards, opening the next one when the current one is full."""

    def __init__(self, folder: str, prefix: str, max_tokens: int, dtype):
        from pipeline.megatron import MegatronWriter

        self._writer_cls = MegatronWriter
        self.folder, self.prefix, self.max_tokens, self.dtype = folder, prefix, max_tokens, dtype
        self.shards: list[dict] = []
        self.writer = None

    def _open(self):
        self.writer = self._writer_cls(os.path.join(self.folder, f"{self.prefix}_{len(self.shards):05d}"), self.dtype)

    def _flush(self, flat: np.ndarray, lengths: np.ndarray, a: int, b: int, offsets: np.ndarray) -> None:
        if b > a:
            self.writer.add_many(flat[offsets[a] : offsets[b]], lengths[a:b])

    def add_batch(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        start = 0
        for k, n in enumerate(lengths.tolist()):
            if self.writer is None:
                self._open()
            elif self.writer.tokens + int(offsets[k] - offsets[start]) + n > self.max_tokens and (
                self.writer.documents or k > start
            ):
                self._flush(flat, lengths, start, k, offsets)
                start = k
                self.close_current()
                self._open()
        self._flush(flat, lengths, start, lengths.size, offsets)

    def close_current(self) -> None:
        if self.writer is not None:
            self.shards.append(self.writer.close())
            self.writer = None

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


class WriteShards(SinkStage):
    name = "shard"
    reads = ("id", "tokens", "token_count")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = ShardConfig

    def write(self, ds) -> dict[str, Any]:
        from pipeline.llama3_tokenizer import load_spec
        from pipeline.megatron import optimal_dtype

        spec = load_spec()  # the only tokenizer the config admits so far: llama3
        seed = self.ctx.seed
        dtype = optimal_dtype(spec.n_vocab)
        prep = _PrepareBatch(seed, spec.n_vocab, spec.eot_id if self.config.require_eot else None)
        keyed = ds.map_batches(prep, batch_format="pyarrow", zero_copy_batch=True)
        ordered = keyed.sort([KEY, "id"])

        out = os.path.join(self.ctx.output_dir, "shards")
        # write into a fresh folder, then swap it in: a rerun never mixes shards of two runs
        tmp = f"{out}.{uuid.uuid4().hex}.tmp"
        os.makedirs(tmp)
        shards = _ShardSet(tmp, self.config.prefix, self.config.max_tokens_per_shard, dtype)
        try:
            for batch in ordered.iter_batches(batch_format="pyarrow", batch_size=4096):
                if batch.num_rows:
                    shards.add_batch(*flat_and_lengths(batch.column("tokens")))
            shards.close_current()
        except BaseException:
            shards.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)

        documents = sum(s["documents"] for s in shards.shards)
        tokens_total = sum(s["tokens"] for s in shards.shards)
        manifest = {
            "format": "megatron-core IndexedDataset (MMIDIDX version 1), one sequence per document",
            "tokenizer": self.config.tokenizer,
            "vocab_size": spec.n_vocab,
            "eot_id": spec.eot_id,
            "dtype": dtype.name,
            "seed": seed,
            "order": "ascending (xxh64(utf-8 id, seed), id)",
            "max_tokens_per_shard": self.config.max_tokens_per_shard,
            "shards": [
                {**s, "bin": f"shards/{s['bin']}", "idx": f"shards/{s['idx']}", "prefix": f"shards/{s['bin'][:-4]}"}
                for s in shards.shards
            ],
            "totals": {"shards": len(shards.shards), "documents": documents, "tokens": tokens_total},
        }
        path = os.path.join(self.ctx.output_dir, "manifest.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(path + ".tmp", path)
        log.info("shard: %d documents, %d tokens in %d shards under %s", documents, tokens_total, len(shards.shards), out)
        return {"shards": len(shards.shards), "documents": documents, "tokens": tokens_total, "manifest": "manifest.json"}

