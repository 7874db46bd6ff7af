"""Speed and agreement of our heuristic filters against datatrove's, side by side, on the same real
documents: GopherRepetitionFilter vs `ngram-repetition`, GopherQualityFilter vs `gopher-quality`,
C4QualityFilter vs `c4-quality`, FineWebQualityFilter vs `fineweb-quality`.

    .venv/bin/python bench/heuristic_filters.py                  # WET sample, then WebOrganizer texts
    .venv/bin/python bench/heuristic_filters.py --limit 1000     # first 1000 documents of each
    .venv/bin/python bench/heuristic_filters.py --data A.jsonl.gz --data B.jsonl.gz

Needs spaCy (datatrove's English tokenizer and sentencizer; a benchmark-only dependency). Every
document is judged with `language` unset, so both sides apply the rules to all of them. Speeds are
CPU seconds of this process (stable on a shared machine): datatrove one pass, ours the best of
--repeats. "same" is the share of identical keep/drop decisions, "reason" of identical reasons.
Targets: >= 10x and >= 99% same decisions per filter.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.registry import stage_class  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402
from pipeline.stage import Filter  # noqa: E402

# datatrove's Gopher quality reason -> ours (same rules, kebab-case; "enough_stop_words" means too few)
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


def repetition_reason(r: str) -> str:
    """datatrove's Gopher repetition reason in our spelling: dup_line_frac -> dup-line-frac,
    top_2_gram -> top-2-gram, duplicated_5_n_grams -> dup-5-gram, empty -> empty-text."""
    if r == "empty":
        return "empty-text"
    m = re.fullmatch(r"duplicated_(\d+)_n_grams", r)
    if m:
        return f"dup-{m.group(1)}-gram"
    return r.replace("_", "-")


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


def _prefixed(prefix: str) -> Callable[[str], str]:
    """datatrove's reason in our spelling: too_few_sentences -> c4-too-few-sentences."""
    return lambda r: prefix + r.replace("_", "-")


def _datatrove(module: str, cls: str) -> Callable[[], object]:
    def make():
        import importlib

        return getattr(importlib.import_module(f"datatrove.pipeline.filters.{module}"), cls)()

    return make


@dataclass(frozen=True)
class Pair:
    label: str
    make_theirs: Callable[[], object]
    their_reason: Callable[[str], str]
    ours: str  # our stage's name (its class is imported from the registry when present)
    our_import: str  # module:Class, for stages not (yet) registered
    # our settings that differ from datatrove's defaults, set back to datatrove's for the comparison
    our_params: dict = field(default_factory=dict)


PAIRS = (
    Pair("GopherRepetition", _datatrove("gopher_repetition_filter", "GopherRepetitionFilter"), repetition_reason,
         "ngram-repetition", "filters.ngram_repetition:NgramRepetition"),
    Pair("GopherQuality", _datatrove("gopher_quality_filter", "GopherQualityFilter"),
         lambda r: DATATROVE_REASONS.get(r, r), "gopher-quality", "filters.gopher_quality:GopherQuality",
         {"alpha_ratio_over": "tokens"}),
    Pair("C4Quality", _datatrove("c4_filters", "C4QualityFilter"), _prefixed("c4-"),
         "c4-quality", "filters.c4_quality:C4Quality", {"filter_curly_bracket": True}),
    Pair("FineWebQuality", _datatrove("fineweb_quality_filter", "FineWebQualityFilter"), _prefixed("fineweb-"),
         "fineweb-quality", "filters.fineweb_quality:FineWebQuality"),
)


def pair(label: str) -> Pair:
    return next(p for p in PAIRS if p.label == label)


def our_class(pair: Pair) -> type[Filter]:
    try:
        return stage_class(pair.ours)
    except KeyError:  # not registered yet: the stage's own module
        import importlib

        module, _, attr = pair.our_import.partition(":")
        return getattr(importlib.import_module(module), attr)


def run_theirs(pair: Pair, texts: list[str]) -> tuple[list[str | None], float]:
    from datatrove.data import Document

    f = pair.make_theirs()
    f.filter(Document(text="Load the tokenizer before timing. It is slow.\nReally it is.", id="warmup"))
    cpu = time.process_time()
    out = []
    for i, t in enumerate(texts):
        r = f.filter(Document(text=t, id=str(i)))
        out.append(None if r is True else pair.their_reason(r[1]))
    return out, time.process_time() - cpu


def run_ours(pair: Pair, texts: list[str], repeats: int) -> tuple[list[str | None], float]:
    cls = our_class(pair)
    stage = cls(cls.Config(languages=None, **pair.our_params))
    stage.setup()
    table = documents_from_rows({"id": str(i), "text": t} for i, t in enumerate(texts))
    best = None
    for _ in range(repeats):  # best of a few: the first run also warms the regex caches
        cpu = time.process_time()
        reasons = []
        for start in range(0, table.num_rows, 256):  # the pipeline's batch size
            reasons.extend(stage.decide(table.slice(start, 256)))
        took = time.process_time() - cpu
        best = took if best is None or took < best else best
    return reasons, best


@dataclass(frozen=True)
class Result:
    data: str
    pair: Pair
    n: int
    theirs: list
    ours: list
    their_cpu: float
    our_cpu: float

    @property
    def same(self) -> float:
        return sum((a is None) == (b is None) for a, b in zip(self.theirs, self.ours)) / self.n

    @property
    def same_reason(self) -> float:
        return sum(a == b for a, b in zip(self.theirs, self.ours)) / self.n


def print_table(results: list[Result]) -> None:
    print(f"\n{'data':27s} {'filter':17s} {'docs':>5s} {'datatrove/s':>11s} {'ours/s':>9s} {'speed-up':>8s} "
          f"{'same':>7s} {'reason':>7s} {'kept dt/ours':>13s}")
    for r in results:
        print(f"{r.data:27s} {r.pair.label:17s} {r.n:5d} {r.n / r.their_cpu:11.1f} {r.n / r.our_cpu:9.1f} "
              f"{r.their_cpu / r.our_cpu:7.1f}x {r.same:7.2%} {r.same_reason:7.2%} "
              f"{r.theirs.count(None):6d}/{r.ours.count(None):<6d}")


def print_disagreements(r: Result, texts: list[str], show: int) -> None:
    diffs = Counter((a, b) for a, b in zip(r.theirs, r.ours) if a != b)
    if not diffs:
        return
    print(f"\n{r.data} {r.pair.label}: different reasons (datatrove -> ours): "
          + ", ".join(f"{a} -> {b}: {c}" for (a, b), c in diffs.most_common()))
    disagree = [i for i, (a, b) in enumerate(zip(r.theirs, r.ours)) if (a is None) != (b is None)]
    for i in disagree[:show]:
        print(f"  {i:5d} {str(r.theirs[i]):28s} {str(r.ours[i]):28s} {texts[i][:60]!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = shared_data_dir()
    ap.add_argument("--data", type=Path, action="append", default=None,
                    help="jsonl(.gz) with a 'text' field; repeatable (default: the WET sample and WebOrganizer texts)")
    ap.add_argument("--limit", type=int, default=None, help="first N documents of each file only")
    ap.add_argument("--repeats", type=int, default=3, help="runs of ours (best is reported)")
    ap.add_argument("--show", type=int, default=5, help="disagreeing documents to list per filter")
    ap.add_argument("--only", action="append", default=None, help="filter label(s) to run, e.g. C4Quality")
    args = ap.parse_args(argv)
    paths = args.data or [data / "text" / "cc-main-2019-30-wet.jsonl.gz", data / "topics" / "weborganizer-topics.jsonl.gz"]
    pairs = [p for p in PAIRS if not args.only or p.label in args.only]

    results = []
    for path in paths:
        texts = read_texts(path, args.limit)
        print(f"data: {path} ({len(texts)} documents, {sum(map(len, texts)) / 1e6:.1f}M characters)", flush=True)
        label = path.name.split(".")[0]
        for pair in pairs:
            theirs, their_cpu = run_theirs(pair, texts)
            ours, our_cpu = run_ours(pair, texts, args.repeats)
            r = Result(label, pair, len(texts), theirs, ours, their_cpu, our_cpu)
            results.append(r)
            print(f"  {pair.label:17s} {r.their_cpu / r.our_cpu:6.1f}x  same {r.same:.2%}", flush=True)
            print_disagreements(r, texts, args.show)
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
