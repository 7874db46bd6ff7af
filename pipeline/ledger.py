"""The ledger: one row per input record with its final stage, decision and reason, built from
the stages' dropped/ folders and the final kept set; and summary.json, which must balance."""
from __future__ import annotations

import json
import logging
import os
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import stage_io
from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, LEDGER_SCHEMA

MIX_COLUMNS = ("bucket", "repeats", "anneal")

log = logging.getLogger(__name__)

ROWS_PER_LEDGER_FILE = 1_000_000


class LedgerImbalance(RuntimeError):
    pass


def _ledger_dataset(outcomes):
    dropped_files = [f for o in outcomes for f in stage_io.parquet_files(os.path.join(o.stage_dir, "dropped"))]
    final_kept_dir = next(
        os.path.join(o.stage_dir, "kept")
        for o in reversed(outcomes)
        if os.path.isdir(os.path.join(o.stage_dir, "kept"))
    )
    last_stage = outcomes[-1].name

    # the mix's choices (bucket, copies, annealing set) travel with each record
    def kept_rows(batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        return pa.Table.from_arrays(
            [batch.column("id"), pa.array([last_stage] * n, pa.string()), pa.array(["kept"] * n, pa.string()),
             pa.nulls(n, pa.string()), pa.nulls(n, pa.string()), *(batch.column(c) for c in MIX_COLUMNS)],
            schema=LEDGER_SCHEMA,
        )

    def dropped_rows(batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        return pa.Table.from_arrays(
            [batch.column("id"), batch.column("stage"), pa.array(["dropped"] * n, pa.string()),
             batch.column("reason"), batch.column("duplicate_of"), batch.column("bucket"),
             pa.nulls(n, pa.int32()), pa.nulls(n, pa.bool_())],
            schema=LEDGER_SCHEMA,
        )

    parts = [
        stage_io.read_parquet_files(stage_io.parquet_files(final_kept_dir), DOCUMENT_SCHEMA, ["id", *MIX_COLUMNS])
        .map_batches(kept_rows, batch_format="pyarrow")
    ]
    if dropped_files:
        parts.append(
            stage_io.read_parquet_files(dropped_files, DROPPED_SCHEMA, ["id", "stage", "reason", "duplicate_of", "bucket"])
            .map_batches(dropped_rows, batch_format="pyarrow")
        )
    ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    from pipeline.ray_ops import sort_rows

    return sort_rows(ds, ["record_id"])


def write_ledger(output_dir: str, outcomes) -> dict:
    """Stream the sorted ledger into ledger/part-NNNNN.parquet (deterministic: sorted by
    record_id, fixed rows per file) while counting decisions; returns the counts."""
    ledger_dir = os.path.join(output_dir, "ledger")
    stage_io.reset_dir(ledger_dir)
    counts: Counter = Counter()
    rows = 0
    duplicates: list[str] = []
    previous_id = None
    writer = None
    file_index = 0
    rows_in_file = 0
    files = []
    for batch in _ledger_dataset(outcomes).iter_batches(batch_format="pyarrow", batch_size=65536):
        batch = batch.select(LEDGER_SCHEMA.names).cast(LEDGER_SCHEMA)
        ids = batch.column("record_id").to_pylist()
        for rid, stage, decision, reason in zip(
            ids, batch.column("stage").to_pylist(), batch.column("decision").to_pylist(), batch.column("reason").to_pylist()
        ):
            if rid == previous_id and len(duplicates) < 20:
                duplicates.append(rid)
            previous_id = rid
            counts[(stage, decision, reason)] += 1
        rows += batch.num_rows
        start = 0
        while start < batch.num_rows:
            if writer is None:
                path = os.path.join(ledger_dir, f"part-{file_index:05d}.parquet")
                writer = pq.ParquetWriter(path, LEDGER_SCHEMA)
                files.append(os.path.basename(path))
            take = min(ROWS_PER_LEDGER_FILE - rows_in_file, batch.num_rows - start)
            writer.write_table(batch.slice(start, take))
            rows_in_file += take
            start += take
            if rows_in_file >= ROWS_PER_LEDGER_FILE:
                writer.close()
                writer, rows_in_file, file_index = None, 0, file_index + 1
    if writer is not None:
        writer.close()
    if not files:
        pq.write_table(LEDGER_SCHEMA.empty_table(), os.path.join(ledger_dir, "part-00000.parquet"))
        files.append("part-00000.parquet")
    return {"rows": rows, "files": files, "counts": counts, "duplicate_ids": duplicates}


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
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    if problems:
        raise LedgerImbalance("the ledger does not balance:\n  " + "\n  ".join(problems))
    return summary
