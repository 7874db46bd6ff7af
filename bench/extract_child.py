"""What the hard extraction time limit costs: the same pages extracted in process without any
limit (`timeout_s: 0`, the baseline), in process with the soft watchdog alone
(pipeline/extract/timeout.py), and through the extraction child (pipeline/extract/worker.py: the
hard limit, with the soft one inside the child), in one run.

    .venv/bin/python bench/extract_child.py               # 3 alternating rounds, best of each
    .venv/bin/python bench/extract_child.py --rounds 5

Pages: every HTML page of ../shared/data/extraction (181) and every HTML response of the shared
WARCs (warc/*.warc.gz, domains/*.warc.gz). CPU is that of this process plus the child
(resource.getrusage of both; the child's own CPU read from /proc before it is closed), so the
cost of moving pages between the processes counts on both sides. Rounds alternate the two ways
so that other load on a shared machine falls on both; the best round of each is compared.
Outputs are checked identical.
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.extract.page import ExtractConfig, extract_page  # noqa: E402
from pipeline.sources.warc import iter_warc  # noqa: E402

BATCH = 256  # the stage's batch size (pipeline/stage.py)


def load_pages(data_dir: Path) -> list[tuple[bytes, str | None, str | None]]:
    truth = json.loads((data_dir / "extraction" / "ground-truth.json").read_text(encoding="utf-8"))
    pages = [(gzip.decompress((data_dir / "extraction" / "html" / f"{k}.html.gz").read_bytes()), "text/html", truth[k].get("url"))
             for k in sorted(truth)]
    for path in sorted((data_dir / "warc").glob("*.warc.gz")) + sorted((data_dir / "domains").glob("*.warc.gz")):
        if path.name.endswith((".wet.gz", ".wat.gz")) or path.name.startswith("article-benchmark"):
            continue  # the article benchmark's pages are already in, from extraction/
        pages += [(row["html"], row.get("content_type"), row.get("url")) for row, reason in iter_warc(str(path)) if reason is None and row.get("html")]
    return pages


def _proc_cpu(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def run_in_process(pages, config) -> tuple[list, float]:
    c0 = time.process_time()
    out = [tuple(extract_page(p, ct, config, u)) for p, ct, u in pages]
    return out, time.process_time() - c0


START_CPU: dict[str, list[float]] = {}


def run_child(pages, config, make_extractor, name: str = "") -> tuple[list, float]:
    ex = make_extractor(config)
    try:
        s0 = time.process_time()
        ex.extract_many(*zip(*pages[:2]))  # start the child and warm it outside the timing
        pid = ex.pid
        c0, k0 = time.process_time(), _proc_cpu(pid) if pid else 0.0
        # a fixed cost per extract host: spawn, the child's imports, its first 2 pages
        START_CPU.setdefault(name, []).append(c0 - s0 + k0)
        out = []
        for s in range(0, len(pages), BATCH):
            out += [tuple(r) for r in ex.extract_many(*zip(*pages[s:s + BATCH]))]
        cpu = time.process_time() - c0 + ((_proc_cpu(pid) - k0) if pid else 0.0)
    finally:
        ex.close()
    return out, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    logging.getLogger("pipeline").setLevel(logging.ERROR)

    from pipeline.extract.worker import IsolatedExtractor

    ways = {"child (today)": lambda c: IsolatedExtractor(c, target=extract_page)}
    try:
        from pipeline.extract.guard import GuardedExtractor  # the cheaper hard limit, when present

        ways["guarded"] = lambda c: GuardedExtractor(c, target=extract_page)
    except ImportError:
        pass

    pages = load_pages(args.data)
    config = ExtractConfig()
    print(f"{len(pages)} pages, {sum(len(p) for p, _, _ in pages) / 1e6:.1f} MB of HTML; batches of {BATCH}")
    run_in_process(pages[:20], config)  # warm-up: imports and trafilatura's lazy set-up
    no_limit = config.model_copy(update={"timeout_s": 0})
    best: dict[str, float] = {}
    ref = None
    for r in range(args.rounds):
        line = []
        for name, cfg in (("no limit", no_limit), ("soft only", config)):
            out, cpu = run_in_process(pages, cfg)
            ref = ref or out
            assert out == ref, f"{name}: outputs differ"
            best[name] = min(best.get(name, cpu), cpu)
            line.append(f"{name} {cpu:6.2f}")
        for name, make in ways.items():
            got, cpu = run_child(pages, config, make, name)
            assert got == ref, f"{name}: outputs differ from in process"
            best[name] = min(best.get(name, cpu), cpu)
            line.append(f"{name} {cpu:6.2f}")
        print(f"round {r + 1}: CPU s  " + "  ".join(line), flush=True)
    base = best["no limit"]
    for name, cpu in best.items():
        print(f"{name:14s} {len(pages) / cpu:6.1f} pages/CPU-s  (best CPU {cpu:6.2f}s)  cost vs no limit: {cpu / base - 1:+.1%}")
    for name, starts in START_CPU.items():
        print(f"{name}: start-up (spawn, imports, first 2 pages) {min(starts):.2f} CPU s, once per extract host")


if __name__ == "__main__":
    main()
