"""Drop rates per stage and reason for a finished run, with examples to read.

    .venv/bin/python bench/drop_review.py OUTPUT_DIR [--examples 3] [--chars 240]

A filter that drops good pages is a bug: read the examples."""
from __future__ import annotations

import argparse
import glob
import json
import os
from collections import defaultdict

import pyarrow.parquet as pq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--chars", type=int, default=240)
    args = ap.parse_args()
    summary = json.load(open(os.path.join(args.output, "summary.json")))
    print(f"input {summary['input_total']}  kept {summary['kept_total']}  dropped {summary['dropped_total']}")
    for stage in summary["stages"]:
        if not stage["dropped"]:
            continue
        rate = stage["dropped"] / stage["rows_in"] if stage["rows_in"] else 0.0
        print(f"\n== {stage['name']}: {stage['dropped']} of {stage['rows_in']} dropped ({rate:.1%})")
        folder = os.path.join(args.output, "stages", f"{stage['index']:02d}-{stage['name']}", "dropped")
        rows = []
        for f in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
            rows += pq.read_table(f, columns=["id", "url", "reason", "text", "duplicate_of"]).to_pylist()
        by_reason = defaultdict(list)
        for r in sorted(rows, key=lambda r: r["id"]):
            by_reason[r["reason"]].append(r)
        for reason, items in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
            print(f"  {reason}: {len(items)} ({len(items) / stage['rows_in']:.1%})")
            for r in items[: args.examples]:
                text = " ".join((r["text"] or "").split())[: args.chars]
                extra = f" duplicate_of={r['duplicate_of']}" if r["duplicate_of"] else ""
                print(f"    - {r['url']}{extra}\n      {text!r}")


if __name__ == "__main__":
    main()
