"""Stage `shard`: the kept documents, in a seeded random order, as Megatron `.bin/.idx` shards,
plus `<output_dir>/manifest.json`.

Folders: documents with a `bucket` (stage `assign-bucket`) go to `shards/<bucket>/`, each written
`repeats` times (stage `mix`; null: once); documents marked `anneal` are written once more to
`shards/anneal/`, the annealing set (it is extra: they stay in their bucket too). Documents
without a bucket (no mix in the pipeline) go to `shards/` itself.

Order: each copy gets the key xxh64(id, seed=run seed) (copy k > 0 of a repeated document: the
same with salt `copy:k`, so its copies land far apart); Ray sorts globally by (folder, key, id,
copy), so the permutation depends only on the ids, the copies and the seed (ids are unique, so
no ties), never on partitioning or run order. Each copy is one Megatron sequence (its tokens,
which end with <|end_of_text|> from stage `tokenize`); a shard is closed before a document
would push it past `max_tokens_per_shard` (a single longer document gets a shard of its own).

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
from collections import Counter
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.mix.keys import seeded_keys
from pipeline.ray_ops import sort_rows
from pipeline.shard_set import ShardSet, flat_and_lengths
from pipeline.stage import Resources, SinkStage, StageConfig

log = logging.getLogger(__name__)

# temporary sort columns; they never leave this stage
FOLDER, KEY, COPY = "_shard_folder", "_shard_key", "_shard_copy"
ANNEAL = "anneal"  # folder of the annealing set


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


def copy_keys(ids: list[str], copies: np.ndarray, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One (id, key, copy index) per copy: copy 0 keeps the document's own key, copy k > 0 gets
    the key of salt `copy:k`, so the copies of a repeated document are spread over the order."""
    out_ids, out_keys, out_copy = [], [], []
    for k in range(int(copies.max()) if copies.size else 0):
        sel = np.flatnonzero(copies > k)
        chosen = [ids[i] for i in sel.tolist()]
        out_ids += chosen
        out_keys.append(seeded_keys(chosen, seed, f"copy:{k}" if k else ""))
        out_copy.append(np.full(sel.size, k, dtype=np.int32))
    keys = np.concatenate(out_keys) if out_keys else np.zeros(0, np.uint64)
    return out_ids, keys, np.concatenate(out_copy) if out_copy else np.zeros(0, np.int32)


class _PrepareBatch:
    """Ray task: check each document, expand it into its copies (its bucket's, plus one in the
    annealing set when marked), add the sort keys, keep only what the writer needs."""

    def __init__(self, seed: int, n_vocab: int, eot_id: int | None):
        self.seed, self.n_vocab, self.eot_id = seed, n_vocab, eot_id

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids = batch.column("id").to_pylist()
        tokens = batch.column("tokens").combine_chunks() if batch.num_rows else pa.array([], pa.list_(pa.int32()))
        counts = batch.column("token_count").to_pylist() if "token_count" in batch.column_names else [None] * len(ids)
        repeats = pc.fill_null(batch.column("repeats"), 1).to_numpy(zero_copy_only=False).astype(np.int64)
        anneal = pc.fill_null(batch.column("anneal"), False).to_numpy(zero_copy_only=False)
        problems = self.check(ids, tokens, counts)
        problems += [(ids[k], f"no-copies:repeats {repeats[k]}") for k in np.flatnonzero((repeats < 1) & ~anneal).tolist()]
        if problems:
            raise InvalidShardInput(
                f"stage shard: {len(problems)} of {len(ids)} documents in a batch cannot be written, e.g. "
                + "; ".join(f"{rid}: {why}" for rid, why in problems[:5])
                + " (is stage `tokenize` in the pipeline, with the same tokenizer?)"
            )
        position = {rid: k for k, rid in enumerate(ids)}
        copy_ids, keys, copy_no = copy_keys(ids, np.maximum(repeats, 0), self.seed)
        anneal_idx = np.flatnonzero(anneal)
        rows = np.array([position[i] for i in copy_ids] + anneal_idx.tolist(), dtype=np.int64)
        buckets = pc.fill_null(batch.column("bucket"), "")
        folders = pa.concat_arrays([buckets.take(rows[: len(copy_ids)]).combine_chunks(),
                                    pa.array([ANNEAL] * anneal_idx.size, pa.string())])
        anneal_keys = seeded_keys([ids[i] for i in anneal_idx.tolist()], self.seed, ANNEAL)
        take = pa.array(rows)
        return pa.table(
            {
                FOLDER: folders,
                KEY: pa.array(np.concatenate([keys, anneal_keys]), pa.uint64()),
                "id": batch.column("id").take(take),
                COPY: pa.array(np.concatenate([copy_no, np.zeros(anneal_idx.size, np.int32)]), pa.int32()),
                "bucket": buckets.take(take),
                "language": batch.column("language").take(take),
                "topic": batch.column("topic").take(take),
                "tokens": tokens.take(take).cast(pa.list_(pa.int32())),
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


class _Totals:
    """What the main (non-anneal) shards hold, per bucket, language and topic: the mix report."""

    def __init__(self):
        self.tokens = {"buckets": Counter(), "languages": Counter(), "topics": Counter()}
        self.sequences: Counter = Counter()
        self.documents: Counter = Counter()

    def add(self, batch: pa.Table, lengths: np.ndarray) -> None:
        for name, column in (("buckets", "bucket"), ("languages", "language"), ("topics", "topic")):
            sums = pa.table({"k": pc.fill_null(batch.column(column), "unknown"), "n": pa.array(lengths)})
            sums = sums.group_by("k").aggregate([("n", "sum")])
            self.tokens[name].update(dict(zip(sums.column("k").to_pylist(), sums.column("n_sum").to_pylist())))
        bucket = batch.column("bucket")[0].as_py()  # one folder, so one bucket per call
        self.sequences[bucket] += batch.num_rows
        self.documents[bucket] += int(pc.sum(pc.equal(batch.column(COPY), 0)).as_py() or 0)

    def report(self) -> dict:
        out = {}
        for name, counter in self.tokens.items():
            total = sum(counter.values())
            out[name] = {k: {"tokens": n, "share": n / total} for k, n in sorted(counter.items())}
        for b, v in out["buckets"].items():
            v.update(documents=self.documents[b], sequences=self.sequences[b])
        return out


class WriteShards(SinkStage):
    name = "shard"
    reads = ("id", "tokens", "token_count", "bucket", "repeats", "anneal", "language", "topic")
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
        ordered = sort_rows(keyed, [FOLDER, KEY, "id", COPY])

        out = os.path.join(self.ctx.output_dir, "shards")
        # write into a fresh folder, then swap it in: a rerun never mixes shards of two runs
        tmp = f"{out}.{uuid.uuid4().hex}.tmp"
        os.makedirs(tmp)
        sets: dict[str, ShardSet] = {}
        totals = _Totals()
        try:
            for batch in ordered.iter_batches(batch_format="pyarrow", batch_size=4096):
                for folder in sorted(set(batch.column(FOLDER).to_pylist())):
                    part = batch.filter(pc.equal(batch.column(FOLDER), folder))
                    if folder not in sets:
                        for done in sets.values():  # sorted by folder: earlier folders are complete
                            done.close_current()
                        sets[folder] = ShardSet(os.path.join(tmp, folder), self.config.prefix,
                                                self.config.max_tokens_per_shard, dtype)
                    flat, lengths = flat_and_lengths(part.column("tokens"))
                    sets[folder].add_batch(flat, lengths, part.column("bucket").to_pylist())
                    if folder != ANNEAL:
                        totals.add(part, lengths)
            for shard_set in sets.values():
                shard_set.close_current()
        except BaseException:
            for shard_set in sets.values():
                shard_set.abort()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        manifest = self._manifest(spec, dtype, seed, sets, totals)
        path = os.path.join(self.ctx.output_dir, "manifest.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(path + ".tmp", path)
        t = manifest["totals"]
        log.info("shard: %d sequences, %d tokens in %d shards under %s", t["documents"], t["tokens"], t["shards"], out)
        facts = {"shards": t["shards"], "documents": t["documents"], "tokens": t["tokens"], "manifest": "manifest.json"}
        if manifest["buckets"]:
            facts["mix"] = totals.report()
            facts["mix"]["anneal"] = manifest["anneal"]["totals"]
        return facts

    def _manifest(self, spec, dtype, seed: int, sets: dict[str, ShardSet], totals: _Totals) -> dict:
        def entries(folder: str) -> list[dict]:
            base = f"shards/{folder}/" if folder else "shards/"
            return [{**s, "bin": base + s["bin"], "idx": base + s["idx"], "prefix": base + s["bin"][:-4],
                     "bucket": folder or None} for s in sets[folder].shards]

        def summed(shards: list[dict]) -> dict:
            return {"shards": len(shards), "documents": sum(s["documents"] for s in shards),
                    "tokens": sum(s["tokens"] for s in shards)}

        main = [e for f in sorted(sets) if f != ANNEAL for e in entries(f)]
        anneal = entries(ANNEAL) if ANNEAL in sets else []
        main_totals = summed(main)
        buckets = {}
        for f in sorted(x for x in sets if x and x != ANNEAL):
            b = summed(entries(f))
            b["unique_documents"] = totals.documents[f]
            b["share"] = b["tokens"] / main_totals["tokens"] if main_totals["tokens"] else 0.0
            buckets[f] = b
        anneal_totals = summed(anneal)
        anneal_totals["buckets"] = dict(sorted(sum((Counter(s["bucket_tokens"]) for s in anneal), Counter()).items()))
        return {
            "format": "megatron-core IndexedDataset (MMIDIDX version 1), one sequence per document copy",
            "tokenizer": self.config.tokenizer,
            "vocab_size": spec.n_vocab,
            "eot_id": spec.eot_id,
            "dtype": dtype.name,
            "seed": seed,
            "order": "per folder, ascending (xxh64(utf-8 id, seed; copy k > 0: salt copy:k), id, copy)",
            "max_tokens_per_shard": self.config.max_tokens_per_shard,
            "shards": main,
            "totals": main_totals,
            "buckets": buckets,
            "anneal": {"shards": anneal, "totals": anneal_totals},
        }
