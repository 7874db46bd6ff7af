"""The ledger: one row per input record with its final stage, decision and reason, built from
the stages' dropped/ folders and the final kept set; and summary.json, which must balance.

On Ray, nothing per record on the driver (issue 16): the ledger rows (kept and dropped) are sorted
by record id with Ray's sort; the sorted order is cut into parts of ROWS_PER_LEDGER_FILE rows from
the blocks' row counts; a Ray task per part writes `ledger/part-NNNNN.parquet` (row groups start
every ROW_GROUP_ROWS rows of the whole ledger) and returns its first and last id, the ids it holds
twice in a row and its counts per (stage, decision, reason). The counts are summed by a Ray
reduction; ids are unique when no part saw one twice and no part starts with the id the previous
one ends with. So the files depend only on the records (sorted by id, stage, decision), never on
the cluster, and the driver handles a few small objects per part."""
from __future__ import annotations

import logging
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import stage_io, storage
from pipeline.ray_ops import PieceReader, ordered_blocks, pieces_of, remote, sort_rows, sum_tables, tree_reduce
from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, LEDGER_SCHEMA

MIX_COLUMNS = ("bucket", "repeats", "anneal")

log = logging.getLogger(__name__)

ROWS_PER_LEDGER_FILE = 1_000_000
ROW_GROUP_ROWS = 65_536
MAX_LISTED_DUPLICATES = 20
COUNT_KEYS = ["stage", "decision", "reason"]
ORDER = ["record_id", "stage", "decision"]  # ids are unique; stage and decision order a duplicate too


class LedgerImbalance(RuntimeError):
    pass


def final_kept_dir(outcomes) -> str:
    """The final kept set: the kept/ of the last stage that has one (sinks write what they get)."""
    return next(storage.join(o.stage_dir, "kept") for o in reversed(outcomes)
                if storage.isdir(storage.join(o.stage_dir, "kept")))


def _kept_rows(batch: pa.Table, last_stage: str) -> pa.Table:
    """Ray task: ledger rows of final kept documents; the mix's choices (bucket, copies,
    annealing set) travel with each record."""
    n = batch.num_rows
    return pa.Table.from_arrays(
        [batch.column("id"), pa.array([last_stage] * n, pa.string()), pa.array(["kept"] * n, pa.string()),
         pa.nulls(n, pa.string()), pa.nulls(n, pa.string()), *(batch.column(c) for c in MIX_COLUMNS)],
        schema=LEDGER_SCHEMA,
    )


def _dropped_rows(batch: pa.Table) -> pa.Table:
    """Ray task: ledger rows of dropped records."""
    n = batch.num_rows
    return pa.Table.from_arrays(
        [batch.column("id"), batch.column("stage"), pa.array(["dropped"] * n, pa.string()),
         batch.column("reason"), batch.column("duplicate_of"), batch.column("bucket"),
         pa.nulls(n, pa.int32()), pa.nulls(n, pa.bool_())],
        schema=LEDGER_SCHEMA,
    )


def _ledger_dataset(outcomes):
    """Every ledger row, sorted by ORDER (Ray's sort: a range of ids per block, blocks in order)."""
    dropped_files = [f for o in outcomes for f in stage_io.parquet_files(storage.join(o.stage_dir, "dropped"))]
    kept = stage_io.read_parquet_files(stage_io.parquet_files(final_kept_dir(outcomes)), DOCUMENT_SCHEMA, ["id", *MIX_COLUMNS])
    parts = [kept.map_batches(_kept_rows, batch_format="pyarrow", fn_kwargs={"last_stage": outcomes[-1].name})]
    if dropped_files:
        dropped = stage_io.read_parquet_files(dropped_files, DROPPED_SCHEMA, ["id", "stage", "reason", "duplicate_of", "bucket"])
        parts.append(dropped.map_batches(_dropped_rows, batch_format="pyarrow"))
    ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return sort_rows(ds, ORDER)


def _count(table: pa.Table) -> pa.Table:
    counted = table.group_by(COUNT_KEYS).aggregate([("record_id", "count")])
    return counted.rename_columns(["n" if c == "record_id_count" else c for c in counted.column_names])


def _sum_counts(parts: list[pa.Table]) -> pa.Table:
    """Combine step of the decision counts (a Ray reduction)."""
    return sum_tables(parts, COUNT_KEYS)


def _write_part(location: str, start: int, pieces: list[tuple[int, int, int]], blocks: dict,
                group_rows: int) -> tuple[dict, pa.Table]:
    """Ray task: rows [start, start + rows of `pieces`) of the sorted ledger as one parquet file,
    a row group starting every `group_rows` rows of the whole ledger (as a single writer cuts
    them). Returns its facts (rows, first and last id, ids seen twice in a row) and its counts."""
    reader = PieceReader(blocks)
    counts, duplicates, pending = [], [], []
    first = last = None
    position = start
    with storage.atomic_path(location) as path:
        writer = pq.ParquetWriter(path, LEDGER_SCHEMA)
        try:
            for piece in pieces:
                rows = reader.rows(piece).select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA)
                if rows.num_rows:
                    ids = rows.column("record_id")
                    first = ids[0].as_py() if first is None else first
                    if ids[0].as_py() == last:
                        duplicates.append(last)
                    repeated = pc.equal(ids.slice(1), ids.slice(0, rows.num_rows - 1))
                    duplicates += ids.slice(1).filter(repeated).to_pylist()[:MAX_LISTED_DUPLICATES]
                    last = ids[-1].as_py()
                    counts.append(_count(rows))
                while rows.num_rows:
                    take = min(group_rows - position % group_rows, rows.num_rows)
                    pending.append(rows.slice(0, take))
                    rows, position = rows.slice(take), position + take
                    if position % group_rows == 0:
                        writer.write_table(pa.concat_tables(pending).combine_chunks())
                        pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending).combine_chunks())
        finally:
            writer.close()
    facts = {"rows": position - start, "first": first, "last": last, "duplicates": duplicates[:MAX_LISTED_DUPLICATES]}
    return facts, _sum_counts(counts)


def write_ledger(output_dir: str, outcomes) -> dict:
    """Write the sorted ledger as ledger/part-NNNNN.parquet (deterministic: sorted by record id,
    ROWS_PER_LEDGER_FILE rows per file) with Ray tasks; returns the counts."""
    import ray

    ledger_dir = storage.join(output_dir, "ledger")
    stage_io.reset_dir(ledger_dir)
    blocks = ordered_blocks(_ledger_dataset(outcomes))
    block_rows = [end - first for _, first, end in blocks]
    total = sum(block_rows)
    fact_refs, count_refs = [], []
    for k, start in enumerate(range(0, total, ROWS_PER_LEDGER_FILE)):
        pieces = pieces_of(block_rows, start, min(start + ROWS_PER_LEDGER_FILE, total))
        facts_ref, counts_ref = remote(_write_part, num_returns=2).remote(
            storage.join(ledger_dir, f"part-{k:05d}.parquet"), start, pieces, {b: blocks[b] for b, _, _ in pieces},
            ROW_GROUP_ROWS)
        fact_refs.append(facts_ref)
        count_refs.append(counts_ref)
    parts = ray.get(fact_refs)
    counted = ray.get(tree_reduce(count_refs, _sum_counts))
    counts: Counter = Counter()
    if counted is not None:
        for stage, decision, reason, n in zip(*(counted.column(c).to_pylist() for c in [*COUNT_KEYS, "n"])):
            counts[(stage, decision, reason)] += n
    duplicates = []
    for k, part in enumerate(parts):
        if k and part["first"] is not None and part["first"] == parts[k - 1]["last"]:
            duplicates.append(part["first"])  # the same id at the end of one part and the start of the next
        duplicates += part["duplicates"]
    files = [f"part-{k:05d}.parquet" for k in range(len(parts))]
    if not files:
        stage_io.write_parquet(LEDGER_SCHEMA.empty_table(), storage.join(ledger_dir, "part-00000.parquet"))
        files.append("part-00000.parquet")
    rows = sum(p["rows"] for p in parts)
    if rows != total:
        raise RuntimeError(f"ledger: the parts hold {rows} rows, the sorted ledger {total}")
    return {"rows": rows, "files": files, "counts": counts, "duplicate_ids": duplicates[:MAX_LISTED_DUPLICATES]}


def build_summary(output_dir: str, outcomes) -> dict:
    """Write ledger/ and summary.json; raise LedgerImbalance (after writing both) if the
    totals do not balance."""
    ledger = write_ledger(output_dir, outcomes)
    counts: Counter = ledger["counts"]
    problems: list[str] = []
    input_total = outcomes[0].rows_in
    stages = []
    previous_kept = None
    for o in outcomes:
        reasons = {
            reason: n for (stage, decision, reason), n in sorted(counts.items(), key=lambda kv: (kv[0][0], str(kv[0][2])))
            if stage == o.name and decision == "dropped"
        }
        if o.rows_in != o.kept + o.dropped:
            problems.append(f"stage {o.name}: in {o.rows_in} != kept {o.kept} + dropped {o.dropped}")
        if previous_kept is not None and o.rows_in != previous_kept:
            problems.append(f"stage {o.name}: in {o.rows_in} != previous stage's kept {previous_kept}")
        if sum(reasons.values()) != o.dropped:
            problems.append(f"stage {o.name}: ledger has {sum(reasons.values())} drops, stage wrote {o.dropped}")
        previous_kept = o.kept
        stages.append(
            {"index": o.index, "name": o.name, "rows_in": o.rows_in, "kept": o.kept, "dropped": o.dropped,
             "reasons": reasons, "seconds": o.seconds, "resumed": o.skipped, **({"facts": o.facts} if o.facts else {})}
        )
    kept_total = sum(n for (s, d, r), n in counts.items() if d == "kept")
    dropped_total = sum(n for (s, d, r), n in counts.items() if d == "dropped")
    if ledger["rows"] != input_total:
        problems.append(f"ledger has {ledger['rows']} rows for {input_total} input records")
    if ledger["duplicate_ids"]:
        problems.append(f"record ids in the ledger more than once: {ledger['duplicate_ids']}")
    if kept_total != outcomes[-1].kept:
        problems.append(f"ledger kept {kept_total} != final stage kept {outcomes[-1].kept}")
    if kept_total + dropped_total != input_total:
        problems.append(f"input {input_total} != kept {kept_total} + dropped {dropped_total}")
    summary = {
        "input_total": input_total,
        "kept_total": kept_total,
        "dropped_total": dropped_total,
        "balanced": not problems,
        "problems": problems,
        "stages": stages,
        "ledger": {"rows": ledger["rows"], "files": ledger["files"]},
    }
    from pipeline.mix.summary import mix_section

    mix = mix_section(outcomes)
    if mix is not None:
        summary["mix"] = mix
    storage.write_json(storage.join(output_dir, "summary.json"), summary)
    if problems:
        raise LedgerImbalance("the ledger does not balance:\n  " + "\n  ".join(problems))
    return summary
