"""Speed and agreement of our `gopher-quality` filter against datatrove's GopherQualityFilter (spaCy
word tokenizer), on the same real documents, in one run.

    .venv/bin/python bench/gopher_quality.py                       # CC-MAIN-2019-30 WET, 697 docs
    .venv/bin/python bench/gopher_quality.py --data PATH.jsonl.gz  # any jsonl(.gz) with "text"

Needs spaCy (datatrove's English word tokenizer; a benchmark-only dependency). Every document is
judged with `language` unset, so both apply the rules to all of them. Times are CPU seconds of this
process (stable on a shared machine) and wall seconds; the speed-up is the ratio of CPU times.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filters.gopher_quality import GopherQuality  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402

# datatrove's reason -> ours (same rules, kebab-case; "enough_stop_words" means too few)
DATATROVE_REASONS = {
    "gopher_short_doc": "gopher-short-doc",
    "gopher_long_doc": "gopher-long-doc",
    "gopher_below_avg_threshold": "gopher-below-avg-word-length",
    "gopher_above_avg_threshold": "gopher-above-avg-word-length",
    "gopher_too_many_hashes": "gopher-too-many-hashes",
    "gopher_too_many_ellipsis": "gopher-too-many-ellipsis",
    "gopher_too_many_bullets": "gopher-too-many-bullets",
    "gopher_too_many_end_ellipsis": "gopher-too-many-end-ellipsis",
    "gopher_below_alpha_threshold": "gopher-below-alpha-threshold",
    "gopher_enough_stop_words": "gopher-too-few-stop-words",
}


def read_texts(path: Path, limit: int | None) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    texts = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                t = json.loads(line).get("text")
                if isinstance(t, str):
                    texts.append(t)
            if limit and len(texts) >= limit:
                break
    return texts


def run_datatrove(texts: list[str]) -> tuple[list[str | None], float, float]:
    from datatrove.data import Document
    from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter

    f = GopherQualityFilter()
    f.filter(Document(text="load the spaCy tokenizer before timing", id="warmup"))
    cpu, wall = time.process_time(), time.perf_counter()
    out = []
    for i, t in enumerate(texts):
        r = f.filter(Document(text=t, id=str(i)))
        out.append(None if r is True else DATATROVE_REASONS.get(r[1], r[1]))
    return out, time.process_time() - cpu, time.perf_counter() - wall


def run_ours(texts: list[str], repeats: int) -> tuple[list[str | None], float, float]:
    stage = GopherQuality()
    stage.setup()
    table = documents_from_rows({"id": str(i), "text": t} for i, t in enumerate(texts))
    best = None
    for _ in range(repeats):  # best of a few: the first run also warms the regex caches
        cpu, wall = time.process_time(), time.perf_counter()
        reasons = []
        for start in range(0, table.num_rows, 256):  # the pipeline's batch size
            reasons.extend(stage.decide(table.slice(start, 256)))
        took = (time.process_time() - cpu, time.perf_counter() - wall)
        best = took if best is None or took[0] < best[0] else best
    return reasons, best[0], best[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "text" / "cc-main-2019-30-wet.jsonl.gz")
    ap.add_argument("--limit", type=int, default=None, help="first N documents only")
    ap.add_argument("--repeats", type=int, default=3, help="runs of ours (best is reported)")
    ap.add_argument("--show", type=int, default=10, help="disagreements to list")
    args = ap.parse_args(argv)

    texts = read_texts(args.data, args.limit)
    n, chars = len(texts), sum(map(len, texts))
    print(f"data: {args.data} ({n} documents, {chars / 1e6:.1f}M characters)")
    dt, dt_cpu, dt_wall = run_datatrove(texts)
    ours, our_cpu, our_wall = run_ours(texts, args.repeats)

    print(f"datatrove GopherQualityFilter: {n / dt_cpu:9.1f} docs/s CPU ({dt_cpu:.2f}s), {n / dt_wall:9.1f} docs/s wall")
    print(f"ours (gopher-quality stage):   {n / our_cpu:9.1f} docs/s CPU ({our_cpu:.2f}s), {n / our_wall:9.1f} docs/s wall")
    print(f"speed-up: {dt_cpu / our_cpu:.1f}x CPU, {dt_wall / our_wall:.1f}x wall")
    same_decision = sum((a is None) == (b is None) for a, b in zip(dt, ours))
    same_reason = sum(a == b for a, b in zip(dt, ours))
    print(f"identical keep/drop decisions: {same_decision}/{n} = {same_decision / n:.2%}")
    print(f"identical reasons:             {same_reason}/{n} = {same_reason / n:.2%}")
    print(f"kept: datatrove {dt.count(None)}, ours {ours.count(None)}")
    print("reasons (datatrove -> ours):")
    for reason in sorted(set(dt) | set(ours), key=str):
        print(f"  {str(reason):32s} {dt.count(reason):6d} {ours.count(reason):6d}")
    diffs = Counter((a, b) for a, b in zip(dt, ours) if a != b)
    if diffs:
        print("disagreements (datatrove, ours): count")
        for (a, b), c in diffs.most_common(args.show):
            print(f"  {a} -> {b}: {c}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
