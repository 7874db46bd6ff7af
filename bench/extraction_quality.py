"""Extraction quality and speed of the `extract` stage on the article extraction benchmark
(scrapinghub/article-extraction-benchmark, 181 news/blog pages, in ../shared/data/extraction).

    .venv/bin/python bench/extraction_quality.py [--set fallbacks=false ...] [--no-warc] [--json out.json]

Scores: word-4-gram shingle precision/recall/F1 per page against the ground-truth articleBody
(bench/metrics.py), averaged over pages; the same for the tools' stored outputs. Speed: docs/s of
the stage in this process (one core), on the benchmark's HTML and on the same pages as a WARC
(article-benchmark-181.warc.gz, with their HTTP headers).

Our extractor is a whole-page extractor tuned for precision (Llama 3), not an article extractor:
headings, captions and tables it keeps count as false positives against an articleBody.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metrics import Summary, shingle_prf, summarize  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.extract.stage import Extract, ExtractConfig  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402
from pipeline.stage import run_map_stage_local  # noqa: E402

# the stored outputs reported next to ours (the others are in the folder too: --all shows them)
REFERENCE_TOOLS = ("trafilatura", "readability")


def load_stored(path: Path) -> tuple[dict, str | None]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data.get("output"), dict):  # {"output": {...}, "version": ...}
        return data["output"], data.get("version")
    return data, None


def score(truth: dict, predicted: dict[str, str]) -> Summary:
    return summarize(shingle_prf(truth[k].get("articleBody", ""), predicted.get(k, "")) for k in sorted(truth))


def run_stage(config: ExtractConfig, rows: list[dict]) -> tuple[dict, dict, float]:
    """Run the stage over rows; return (texts by id, drop reasons by id, docs per CPU second).
    CPU time, not wall time: the benchmark machine is shared, and the stage is single-threaded.
    The CPU of this process and its children: with `timeout_s` > 0 the pages are parsed in the
    stage's extraction child process (bench/_proc.py samples both)."""
    from _proc import TreeSampler

    stage = Extract(config)
    stage.setup()
    # warm-up outside the timing: first-call imports and trafilatura's lazy initialisations
    run_map_stage_local(stage, documents_from_rows(rows[:2]))
    table = documents_from_rows(rows)
    with TreeSampler(include_root=True) as tree:
        kept, dropped = run_map_stage_local(stage, table)
    elapsed = tree.cpu_s
    texts = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    reasons = dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()))
    return texts, reasons, len(rows) / elapsed


def warc_rows(path: Path) -> list[dict]:
    from warcio.archiveiterator import ArchiveIterator

    rows = []
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type != "response":
                continue
            rows.append(
                {
                    "id": record.rec_headers.get_header("WARC-Record-ID"),
                    "url": record.rec_headers.get_header("WARC-Target-URI"),
                    "content_type": record.http_headers.get_header("Content-Type") if record.http_headers else None,
                    "html": record.content_stream().read(),
                }
            )
    return rows


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:  # a bare string
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir(), help="the shared data folder")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extract config override (JSON value)")
    ap.add_argument("--all", action="store_true", help="score every stored tool output, not only the references")
    ap.add_argument("--no-warc", action="store_true", help="skip the WARC speed run")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    bench_dir = args.data / "extraction"
    if not bench_dir.is_dir():
        print(f"benchmark data not found at {bench_dir}", file=sys.stderr)
        return 2
    config = ExtractConfig(**parse_overrides(args.set))
    truth = json.loads((bench_dir / "ground-truth.json").read_text(encoding="utf-8"))
    rows = [
        {"id": k, "url": truth[k].get("url"), "content_type": "text/html", "html": gzip.decompress((bench_dir / "html" / f"{k}.html.gz").read_bytes())}
        for k in sorted(truth)
    ]

    texts, reasons, docs_per_s = run_stage(config, rows)
    results = {"ours": score(truth, texts)}
    versions = {"ours": "extract stage"}
    for path in sorted((bench_dir / "output").glob("*.json")):
        if args.all or path.stem in REFERENCE_TOOLS:
            stored, version = load_stored(path)
            results[path.stem] = score(truth, {k: v.get("articleBody", "") for k, v in stored.items()})
            versions[path.stem] = f"stored {version or '?'}"

    print(f"config: {config.model_dump()}")
    print(f"{'extractor':<14} {'source':<22} {'P':>6} {'R':>6} {'F1':>6} {'F1(P,R)':>8}")
    for name, s in sorted(results.items(), key=lambda kv: -kv[1].f1):
        print(f"{name:<14} {versions[name]:<22} {s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.published_f1:8.3f}")
    print("F1 = mean of per-page F1; F1(P,R) = F1 of the page-averaged P and R (the benchmark's own figure).")
    print(f"ours: {len(texts)} kept, {len(reasons)} dropped {sorted(set(reasons.values()))}; {docs_per_s:.1f} docs/s on the benchmark HTML (per CPU second)")

    out = {"config": config.model_dump(), "scores": {k: vars(v) for k, v in results.items()}, "html_docs_per_s": docs_per_s, "dropped": reasons}
    warc = args.data / "warc" / "article-benchmark-181.warc.gz"
    if not args.no_warc and warc.exists():
        w_rows = warc_rows(warc)
        w_texts, w_reasons, w_rate = run_stage(config, w_rows)
        print(f"ours on {warc.name}: {len(w_rows)} responses, {len(w_texts)} kept, {w_rate:.1f} docs/s (per CPU second)")
        out["warc_docs_per_s"] = w_rate
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
