"""The lines `dedup-lines` removes most often, with counts, in one command:

    .venv/bin/python bench/line_dedup_top.py [--config configs/commoncrawl.yaml] [--input DIR] [--top 30]

Documents: by default the config's WARC inputs (../shared/data/warc/*.warc.gz) through read-warc,
extract and langid in this process, with the config's settings for those stages (no quality
filters: a line the filters would drop with its page is still listed); or, with --input, a
folder of document parquet files (e.g. the kept output of the stage before dedup-lines in a
`curate run`). Lines are counted exactly as the stage counts them (dedup.lines.line_keys: same
normal form, buckets and per-language keys, the config's dedup-lines settings); a line is
removed when counted more than max_count times. Printed: each removed normal form with its
language, occurrences and documents, most frequent first; and the share of all non-blank lines
removed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dedup.lines import line_keys, normalise_lines, num_buckets  # noqa: E402
from pipeline import registry  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.stage import RunContext, run_map_stage_local  # noqa: E402


def documents_from_warc(cfg) -> pa.Table:
    from pipeline.sources.warc import read_warc_local

    table, dropped = read_warc_local(cfg.input_files(), cfg.stage_config("read-warc"))
    print(f"read-warc: {table.num_rows} documents, {dropped.num_rows} records dropped", file=sys.stderr)
    ctx = RunContext(output_dir="/tmp", stage_dir="/tmp")
    for name in ("extract", "langid"):
        stage = registry.stage_class(name)(cfg.stage_config(name), ctx)
        table, dropped = run_map_stage_local(stage, table)
        print(f"{name}: {table.num_rows} kept, {dropped.num_rows} dropped", file=sys.stderr)
    return table


def removed_lines(table: pa.Table, line_cfg) -> tuple[list[dict], int, int]:
    """(one row per removed line key: text, language, occurrences, documents; removed
    occurrences; counted occurrences)."""
    buckets = num_buckets(line_cfg.expected_docs or table.num_rows, line_cfg.bucket_docs)
    doc_of, keys, counted, split = line_keys(table, line_cfg, buckets)
    norm = normalise_lines(split.flatten(), line_cfg).to_pylist()
    langs = table.column("language").to_pylist()
    idx = np.flatnonzero(counted)
    k = keys[idx]
    uniq, first, inv, occ = np.unique(k, return_index=True, return_inverse=True, return_counts=True)
    docs = np.array([len(set(doc_of[idx][inv == i].tolist())) for i in range(len(uniq))]) if len(uniq) else np.zeros(0, int)
    weight = occ if line_cfg.count == "occurrences" else docs
    frequent = np.flatnonzero(weight > line_cfg.max_count)
    rows = [
        {"line": norm[idx[first[i]]], "language": langs[doc_of[idx[first[i]]]] if line_cfg.per_language else "*",
         "occurrences": int(occ[i]), "documents": int(docs[i])}
        for i in frequent
    ]
    rows.sort(key=lambda r: (-r["occurrences"], -r["documents"], r["line"]))
    return rows, int(occ[frequent].sum()), len(idx)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "commoncrawl.yaml"))
    ap.add_argument("--input", help="folder of document parquet files instead of the config's WARC inputs")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    if args.input:
        import pyarrow.dataset as pads

        table = pads.dataset(args.input, format="parquet").to_table()
    else:
        table = documents_from_warc(cfg)
    line_cfg = cfg.stage_config("dedup-lines")
    rows, removed, total = removed_lines(table, line_cfg)
    print(f"{table.num_rows} documents, {total} non-blank lines; {len(rows)} distinct lines counted more than "
          f"{line_cfg.max_count} times ({line_cfg.count}, per_language={line_cfg.per_language}) remove {removed} "
          f"lines ({removed / max(total, 1):.1%})")
    print(f"{'occ':>5} {'docs':>5} lang  line")
    for r in rows[: args.top]:
        print(f"{r['occurrences']:>5} {r['documents']:>5} {str(r['language']):<5} {r['line'][:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
