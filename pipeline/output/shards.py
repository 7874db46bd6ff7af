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

Cutting and writing (issue 16: nothing per token on the driver). Each folder's sequences, in that
order, are cut into ranges of `range_tokens` tokens (a sequence belongs to the range its first
token falls in, counted from the start of the folder); the sequences of a range are packed into
shards as above, and the shards are numbered per folder across its ranges (`<prefix>_00000`, ...).
So shards depend only on the data and the config: never on Ray's blocks, CPUs or nodes. A folder
of at most `range_tokens` tokens is one range, which gives exactly the shards one sequential
writer gives; a longer one gets one shorter shard at the end of each range (at most 1 in
RANGE_SHARDS by default). On Ray: tasks read the sorted blocks and return each block's runs of one
folder (rows, tokens; the per-row lengths stay in the object store); the driver adds the runs up
into each folder's token offsets and ranges; a task per range plans its shards from the lengths;
the driver numbers them; a task per range writes its shards (each `.bin`/`.idx` written whole:
renamed into place, or uploaded in one put) and returns their facts; the mix totals are summed by
a Ray reduction. The driver then writes `manifest.json` from the facts.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from pipeline import storage
from pipeline.mix.keys import seeded_keys
from pipeline.ray_ops import PieceReader, fetch_block, ordered_blocks, pieces_of, remote, sort_rows, sum_tables, tree_reduce
from pipeline.output.shard_set import ShardWriter, flat_and_lengths, label_sums, list_lengths, pack
from pipeline.stage import Resources, SinkStage, StageConfig

log = logging.getLogger(__name__)

# temporary sort columns; they never leave this stage
FOLDER, KEY, COPY = "_shard_folder", "_shard_key", "_shard_copy"
ANNEAL = "anneal"  # folder of the annealing set
# default range of one writer task: this many full shards (16 GiB of int32 tokens at the default
# shard size), so at most 1 shard in 16 is cut short by a range end
RANGE_SHARDS = 16


class ShardConfig(StageConfig):
    # 2^28 int32 tokens = 1 GiB .bin files: few files per run, each quick to copy and checksum
    max_tokens_per_shard: int = Field(2**28, ge=1)
    # tokens of a folder one Ray task writes (see the module docstring); null: RANGE_SHARDS shards
    range_tokens: int | None = Field(None, ge=1)
    # file names: <prefix>_00000.bin / .idx
    prefix: str = Field("shard", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # the tokenizer whose ids the documents hold (stage `tokenize`): vocab size, dtype, EOT id
    tokenizer: Literal["llama3"] = "llama3"
    # every document must end with the tokenizer's EOT: packed Megatron samples have no other
    # document boundary (set false only if stage `tokenize` runs with append_eos: false)
    require_eot: bool = True

    @model_validator(mode="after")
    def _range_holds_a_shard(self):
        if self.range_tokens is not None and self.range_tokens < self.max_tokens_per_shard:
            raise ValueError(f"range_tokens {self.range_tokens} < max_tokens_per_shard {self.max_tokens_per_shard}: "
                             "a range must hold at least one full shard")
        return self


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


TOTALS_KEYS = ["kind", "key"]


def _totals_of(table: pa.Table, lengths: np.ndarray) -> pa.Table:
    """What one piece of a main (non-anneal) folder adds to the mix report: tokens per bucket,
    language and topic; sequences and documents (copy 0) of its bucket (one folder: one bucket)."""
    documents = int(pc.sum(pc.equal(table.column(COPY), 0)).as_py() or 0)
    rows = []
    for kind, column in (("buckets", "bucket"), ("languages", "language"), ("topics", "topic")):
        counted = kind == "buckets"
        rows += [(kind, key, n, table.num_rows if counted else 0, documents if counted else 0)
                 for key, n in label_sums(table.column(column), lengths, "unknown").items()]
    names = [*TOTALS_KEYS, "tokens", "sequences", "documents"]
    types = [pa.string(), pa.string(), pa.int64(), pa.int64(), pa.int64()]
    return pa.table([pa.array([r[i] for r in rows], t) for i, t in enumerate(types)], names=names)


def _sum_totals(parts: list[pa.Table]) -> pa.Table:
    """Combine step of the totals (a Ray reduction: pipeline/ray_ops.py tree_reduce)."""
    return sum_tables(parts, TOTALS_KEYS)


class _Totals:
    """What the main (non-anneal) shards hold, per bucket, language and topic: the mix report."""

    def __init__(self, table: pa.Table | None):
        self.tokens: dict[str, dict[str, int]] = {"buckets": {}, "languages": {}, "topics": {}}
        self.sequences: dict[str, int] = {}
        self.documents: dict[str, int] = {}
        rows = table.to_pylist() if table is not None else []  # one row per bucket, language and topic
        for r in rows:
            self.tokens[r["kind"]][r["key"]] = r["tokens"]
            if r["kind"] == "buckets":
                self.sequences[r["key"]], self.documents[r["key"]] = r["sequences"], r["documents"]

    def report(self) -> dict:
        out = {}
        for name, counter in self.tokens.items():
            total = sum(counter.values())
            out[name] = {k: {"tokens": n, "share": n / total} for k, n in sorted(counter.items())}
        for b, v in out["buckets"].items():
            v.update(documents=self.documents.get(b, 0), sequences=self.sequences.get(b, 0))
        return out


# --------------------------------------------------------------------------- Ray tasks


def _block_runs(block) -> tuple[list[tuple[str, int, int, int]], np.ndarray]:
    """Ray task, per sorted block: its runs of one folder as (folder, first row, end row, tokens)
    (small: to the driver), and every row's sequence length (stays in the object store)."""
    table = fetch_block(block)
    lengths = list_lengths(table.column("tokens")).astype(np.int32)  # 4 bytes a sequence in the object store
    folders = table.column(FOLDER).combine_chunks() if table.num_rows else pa.array([], pa.string())
    starts = [0]
    if table.num_rows > 1:
        starts += (np.flatnonzero(pc.not_equal(folders[1:], folders[:-1]).to_numpy(zero_copy_only=False)) + 1).tolist()
    ends = starts[1:] + [table.num_rows]
    runs = [(folders[a].as_py(), a, b, int(lengths[a:b].sum())) for a, b in zip(starts, ends) if b > a]
    return runs, lengths


def _plan_range(range_no: int, range_tokens: int, max_tokens: int, pieces: list[tuple[int, int, int, int]],
                *lengths: np.ndarray) -> list[dict]:
    """Ray task, per (folder, range): the range's shards as pieces (block, first row, end row) of
    the sorted blocks. `pieces` (block, first, end, token offset of `first` in the folder) cover
    the range; a sequence belongs to the range its first token falls in."""
    lo, hi = range_no * range_tokens, (range_no + 1) * range_tokens
    segments, seg_lengths = [], []
    for (b, first, end, offset), lens in zip(pieces, lengths):
        own = lens[first:end]
        starts = offset + np.concatenate([[0], np.cumsum(own)[:-1]]) if own.size else own
        mine = np.flatnonzero((starts >= lo) & (starts < hi))
        if mine.size:
            a, z = int(mine[0]), int(mine[-1]) + 1
            segments.append((b, first + a, first + z))
            seg_lengths.append(own[a:z])
    if not segments:
        return []
    lengths_all = np.concatenate(seg_lengths)
    sizes = [z - a for _, a, z in segments]
    plan = []
    for a, z in pack(lengths_all, max_tokens):
        parts = [(segments[s][0], segments[s][1] + x, segments[s][1] + y) for s, x, y in pieces_of(sizes, a, z)]
        plan.append({"pieces": parts, "documents": z - a, "tokens": int(lengths_all[a:z].sum())})
    return plan


def _write_range(folder_loc: str, names: list[str], plan: list[dict], blocks: dict, dtype: str,
                 count_totals: bool) -> tuple[list[dict], pa.Table]:
    """Ray task, per (folder, range): write the range's shards, each whole (`ShardWriter`);
    returns their facts (small, to the driver) and the range's totals for the mix report (to the
    reduction)."""
    reader = PieceReader(blocks)
    facts, totals = [], []
    for name, shard in zip(names, plan):
        writer = ShardWriter(storage.join(folder_loc, name), np.dtype(dtype))
        try:
            for piece in shard["pieces"]:
                rows = reader.rows(piece)
                lengths = writer.add(rows)
                if count_totals:
                    totals.append(_totals_of(rows, lengths))
            facts.append(writer.close())
        except BaseException:
            writer.abort()
            raise
    return facts, _sum_totals(totals)


@dataclass
class _Written:
    shards: dict[str, list[dict]]  # folder -> facts of its shards, in order
    totals: _Totals
    tasks: int  # writer tasks
    ranged: bool  # some folder spans more than one range


class WriteShards(SinkStage):
    name = "shard"
    reads = ("id", "tokens", "token_count", "bucket", "repeats", "anneal", "language", "topic")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = ShardConfig

    def needs(self) -> tuple[str, ...]:
        # the rest may be unwritten: no bucket goes to shards/ itself, no repeats is one copy,
        # no language or topic counts as none in the mix report
        return ("id", "tokens", "token_count")

    def write(self, ds) -> dict[str, Any]:
        from pipeline.output.llama3_tokenizer import load_spec
        from pipeline.output.megatron import optimal_dtype

        spec = load_spec()  # the only tokenizer the config admits so far: llama3
        seed = self.ctx.seed
        dtype = optimal_dtype(spec.n_vocab)
        prep = _PrepareBatch(seed, spec.n_vocab, spec.eot_id if self.config.require_eot else None)
        keyed = ds.map_batches(prep, batch_format="pyarrow", zero_copy_batch=True)
        blocks = ordered_blocks(sort_rows(keyed, [FOLDER, KEY, "id", COPY]))  # InvalidShardInput stops it here

        out = storage.join(self.ctx.output_dir, "shards")
        manifest_loc = storage.join(self.ctx.output_dir, "manifest.json")
        # a rerun never mixes shards of two runs: the manifest goes first (a manifest always
        # describes the shards beside it), then the old shards; the new manifest comes last
        if storage.exists(manifest_loc):
            storage.remove(manifest_loc)
        storage.reset_dir(out)
        try:
            written = self._write_shards(blocks, out, dtype)
        except BaseException:
            storage.rmtree(out)
            raise
        totals = written.totals
        manifest = self._manifest(spec, dtype, seed, written)
        storage.write_text(manifest_loc, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        t = manifest["totals"]
        log.info("shard: %d sequences, %d tokens in %d shards under %s (%d writer tasks over %d sorted blocks)",
                 t["documents"], t["tokens"], t["shards"], out, written.tasks, len(blocks))
        facts = {"shards": t["shards"], "documents": t["documents"], "tokens": t["tokens"], "manifest": "manifest.json"}
        if manifest["buckets"]:
            facts["mix"] = totals.report()
            facts["mix"]["anneal"] = manifest["anneal"]["totals"]
        return facts

    def range_tokens(self) -> int:
        return self.config.range_tokens or RANGE_SHARDS * self.config.max_tokens_per_shard

    def _write_shards(self, blocks: list, out: str, dtype) -> "_Written":
        """Cut every folder's sorted sequences into ranges of `range_tokens` (by the folder's
        cumulative token count, from per-block sums) and have one Ray task write each range's
        shards. The driver handles per block a few (folder, rows, tokens) runs, per range its
        plan (pieces per shard) and per shard its facts; never a row or a token."""
        import ray

        if not blocks:
            return _Written({}, _Totals(None), 0, False)
        span, max_tokens = self.range_tokens(), self.config.max_tokens_per_shard
        runs_refs, length_refs = zip(*(remote(_block_runs, num_returns=2).remote(b) for b in blocks))
        # (folder, range) -> [(block, first row, end row, token offset in the folder)], in order
        ranges: dict[tuple[str, int], list] = {}
        offset: dict[str, int] = {}
        for b, runs in enumerate(ray.get(list(runs_refs))):
            for folder, first, end, tokens in runs:
                o = offset.get(folder, 0)
                for r in range(o // span, (o + tokens - 1) // span + 1):
                    ranges.setdefault((folder, r), []).append((b, first, end, o))
                offset[folder] = o + tokens
        keys = sorted(ranges)
        plans = ray.get([remote(_plan_range).remote(r, span, max_tokens, ranges[(f, r)],
                                                    *(length_refs[p[0]] for p in ranges[(f, r)]))
                         for f, r in keys])
        # shards are numbered per folder across its ranges: <prefix>_00000, _00001, ...
        fact_refs, total_refs, numbered = [], [], {}
        for (folder, _), plan in zip(keys, plans):
            if not plan:
                continue
            first = numbered.get(folder, 0)
            numbered[folder] = first + len(plan)
            names = [f"{self.config.prefix}_{first + k:05d}" for k in range(len(plan))]
            used = {p[0] for shard in plan for p in shard["pieces"]}
            facts_ref, totals_ref = remote(_write_range, num_returns=2).remote(
                storage.join(out, folder) if folder else out, names, plan, {b: blocks[b] for b in used},
                np.dtype(dtype).name, folder != ANNEAL)
            fact_refs.append((folder, facts_ref))
            total_refs.append(totals_ref)
        shards: dict[str, list[dict]] = {}
        for (folder, _), facts in zip(fact_refs, ray.get([r for _, r in fact_refs])):
            shards.setdefault(folder, []).extend(facts)
        totals = _Totals(ray.get(tree_reduce(total_refs, _sum_totals)))
        return _Written(shards, totals, len(fact_refs), any(r > 0 for _, r in keys))

    def _manifest(self, spec, dtype, seed: int, written: "_Written") -> dict:
        sets, totals = written.shards, written.totals

        def entries(folder: str) -> list[dict]:
            base = f"shards/{folder}/" if folder else "shards/"
            return [{**s, "bin": base + s["bin"], "idx": base + s["idx"], "prefix": base + s["bin"][:-4],
                     "bucket": folder or None} for s in sets[folder]]

        def summed(shards: list[dict]) -> dict:
            return {"shards": len(shards), "documents": sum(s["documents"] for s in shards),
                    "tokens": sum(s["tokens"] for s in shards)}

        main = [e for f in sorted(sets) if f != ANNEAL for e in entries(f)]
        anneal = entries(ANNEAL) if ANNEAL in sets else []
        main_totals = summed(main)
        buckets = {}
        for f in sorted(x for x in sets if x and x != ANNEAL):
            b = summed(entries(f))
            b["unique_documents"] = totals.documents.get(f, 0)
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
            # only where a folder spans several ranges (the manifest of a one-range run is unchanged)
            **({"range_tokens": self.range_tokens()} if written.ranged else {}),
            "shards": main,
            "totals": main_totals,
            "buckets": buckets,
            "anneal": {"shards": anneal, "totals": anneal_totals},
        }
