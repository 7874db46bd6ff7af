"""Speed and agreement of our `ngram-repetition` filter against datatrove's GopherRepetitionFilter
(spaCy word tokenizer), on the same real documents, in one run.

    .venv/bin/python bench/gopher_repetition.py                       # CC-MAIN-2019-30 WET
    .venv/bin/python bench/gopher_repetition.py --data PATH.jsonl.gz  # any jsonl(.gz) with "text"

Needs spaCy (a benchmark-only dependency). Every document is judged with `language` unset, so both
apply the rules to all of them. Times are CPU seconds of this process (stable on a shared machine)
and wall seconds; the speed-up is the ratio of CPU times.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gopher_quality import read_texts  # noqa: E402
from filters.ngram_repetition import NgramRepetition  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402


def datatrove_reason(r: str) -> str:
    """datatrove's reason in our spelling: dup_line_frac -> dup-line-frac, top_2_gram -> top-2-gram,
    duplicated_5_n_grams -> dup-5-gram, empty -> empty-text."""
    if r == "empty":
        return "empty-text"
    m = re.fullmatch(r"duplicated_(\d+)_n_grams", r)
    if m:
        return f"dup-{m.group(1)}-gram"
    return r.replace("_", "-")


def run_datatrove(texts: list[str]) -> tuple[list[str | None], float, float]:
    from datatrove.data import Document
    from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter

    f = GopherRepetitionFilter()
    f.filter(Document(text="load the spaCy tokenizer before timing it", id="warmup"))
    cpu, wall = time.process_time(), time.perf_counter()
    out = []
    for i, t in enumerate(texts):
        r = f.filter(Document(text=t, id=str(i)))
        out.append(None if r is True else datatrove_reason(r[1]))
    return out, time.process_time() - cpu, time.perf_counter() - wall


def run_ours(texts: list[str], repeats: int) -> tuple[list[str | None], float, float]:
    stage = NgramRepetition(NgramRepetition.Config(languages=None))
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
    ap.add_argument("--show", type=int, default=20, help="disagreeing documents to list")
    args = ap.parse_args(argv)

    texts = read_texts(args.data, args.limit)
    n, chars = len(texts), sum(map(len, texts))
    print(f"data: {args.data} ({n} documents, {chars / 1e6:.1f}M characters)")
    dt, dt_cpu, dt_wall = run_datatrove(texts)
    ours, our_cpu, our_wall = run_ours(texts, args.repeats)

    print(f"datatrove GopherRepetitionFilter: {n / dt_cpu:9.1f} docs/s CPU ({dt_cpu:.2f}s), {n / dt_wall:9.1f} docs/s wall")
    print(f"ours (ngram-repetition stage):    {n / our_cpu:9.1f} docs/s CPU ({our_cpu:.2f}s), {n / our_wall:9.1f} docs/s wall")
    print(f"speed-up: {dt_cpu / our_cpu:.1f}x CPU, {dt_wall / our_wall:.1f}x wall")
    same_decision = sum((a is None) == (b is None) for a, b in zip(dt, ours))
    same_reason = sum(a == b for a, b in zip(dt, ours))
    print(f"identical keep/drop decisions: {same_decision}/{n} = {same_decision / n:.2%}")
    print(f"identical reasons:             {same_reason}/{n} = {same_reason / n:.2%}")
    print(f"kept: datatrove {dt.count(None)}, ours {ours.count(None)}")
    print("reasons (datatrove, ours):")
    for reason in sorted(set(dt) | set(ours), key=str):
        print(f"  {str(reason):24s} {dt.count(reason):6d} {ours.count(reason):6d}")
    diffs = Counter((a, b) for a, b in zip(dt, ours) if a != b)
    if diffs:
        print("different reasons (datatrove -> ours): count")
        for (a, b), c in diffs.most_common():
            print(f"  {a} -> {b}: {c}")
    disagree = [i for i, (a, b) in enumerate(zip(dt, ours)) if (a is None) != (b is None)]
    if disagree:
        print(f"disagreeing documents (first {args.show}): index, datatrove, ours, start of text")
        for i in disagree[: args.show]:
            print(f"  {i:5d} {str(dt[i]):20s} {str(ours[i]):20s} {texts[i][:70]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
