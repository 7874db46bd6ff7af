"""`curate ledger OUTPUT`: what happened to the records of a run, read from its ledger parquet
(local or object store). Counts by stage, decision and reason; `--id` answers "why was this record
dropped"; `--reason` lists some records dropped for a reason. Streams the ledger batch by batch,
so a billion-row ledger needs no more memory than its distinct (stage, reason) pairs."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from pipeline import storage


def ledger_dataset(output: str) -> pads.Dataset:
    fs, path = storage.resolve(storage.join(storage.abspath(output), "ledger"))
    return pads.dataset(path, filesystem=fs, format="parquet")


def counts(ds: pads.Dataset) -> Counter:
    out: Counter = Counter()
    for batch in ds.to_batches(columns=["stage", "decision", "reason"]):
        grouped = pa.Table.from_batches([batch]).group_by(["stage", "decision", "reason"]).aggregate([([], "count_all")])
        for stage, decision, reason, n in zip(*(grouped.column(c).to_pylist() for c in
                                                 ("stage", "decision", "reason", "count_all"))):
            out[(stage, decision, reason or "")] += n
    return out


def find(ds: pads.Dataset, column: str, value: str, limit: int) -> list[dict]:
    rows = []
    for batch in ds.to_batches(filter=pc.field(column) == value):
        rows.extend(batch.to_pylist())
        if len(rows) >= limit:
            break
    return rows[:limit]


def main(args: argparse.Namespace) -> int:
    try:
        ds = ledger_dataset(args.output)
    except (FileNotFoundError, storage.StorageError) as err:
        print(f"no ledger under {args.output}: {err}", file=sys.stderr)
        return 2
    if args.id:
        rows = find(ds, "record_id", args.id, 10)
        if not rows:
            print(f"record {args.id!r} is not in the ledger of {args.output}", file=sys.stderr)
            return 1
        for r in rows:
            print(json.dumps(r, default=str, sort_keys=True))
        return 0
    if args.reason:
        for r in find(ds, "reason", args.reason, args.limit):
            print(json.dumps(r, default=str, sort_keys=True))
        return 0
    table = counts(ds)
    total = sum(table.values())
    print(f"{'stage':<22} {'decision':<8} {'records':>10}  reason")
    for (stage, decision, reason), n in sorted(table.items(), key=lambda kv: (kv[0][1] != "kept", -kv[1], kv[0])):
        print(f"{stage:<22} {decision:<8} {n:>10,}  {reason}")
    print(f"{'total':<31} {total:>10,}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("ledger", help="counts by stage and reason from a run's ledger; --id: why a record was dropped")
    p.add_argument("output", help="the run's --output (folder or URI)")
    p.add_argument("--id", help="show this record's ledger row")
    p.add_argument("--reason", help="list records dropped for this reason")
    p.add_argument("--limit", type=int, default=20, help="rows to list with --reason")
    p.set_defaults(func=main)
