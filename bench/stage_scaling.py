"""How each stage scales: per-document cost and peak memory per Ray worker at 10k / 100k / 1M
documents, every stage on a local Ray (2 CPUs) over parquet inputs, one command:

    nice -n 10 .venv/bin/python bench/stage_scaling.py [--sizes 10000 100000] [--stages ...]

Inputs: bench/_scaling_corpus.py (real texts with 10% of words replaced; generated once under
--cache). Each stage runs as `curate run` runs it: a pipeline [read-documents, <stage>] with
unfused passes (pipeline/executor/runner.py), so a map stage is one pass on the stage hosts and a global
stage its decision plus the pass that applies it; only those steps are measured. Parameters:
configs/base.yaml. Per (stage, size) Ray is started afresh.

Measured over the stage's steps: wall s (driver clock), µs/doc of wall, worker CPU µs/doc
(user+system of the Ray worker processes and the processes they start, sampled: bench/_proc.py;
steadier than wall on a shared machine), and the peak RSS and peak private memory (RssAnon, as
sampled; RSS also counts object-store and memory-mapped pages) of the largest worker. The curve is
flat when the largest size's µs/doc and peak private memory are within +-20% of the smallest's
(printed as ratios).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time

import pyarrow.parquet as pq

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)

from _proc import TreeSampler, is_worker_process  # noqa: E402
from _scaling_corpus import EditedCorpus, corpus_files, real_texts  # noqa: E402

MAP_STAGES = ["langid", "pii", "dirty-words", "line-repetition", "ngram-repetition", "gopher-quality",
              "c4-quality", "fineweb-quality", "tokenize"]
GLOBAL_STAGES = ["dedup-minhash", "dedup-lines", "kl-divergence"]


def run_stage(name: str, files: list[str], work: str, cpus: int, seed: int) -> dict:
    """One stage over the files, through the runner on a fresh local Ray; its measurements."""
    import ray

    from pipeline.config import load_config
    from pipeline.executor.ray_env import init_ray
    from pipeline.executor.runner import Runner

    out = os.path.join(work, name)
    shutil.rmtree(out, ignore_errors=True)
    config = load_config(os.path.join(ROOT, "configs", "base.yaml"), {  # base.yaml's stage sections
        "input": {"paths": files}, "pipeline": ["read-documents", name],
        "run": {"seed": seed, "fuse_map_stages": False, "num_cpus": cpus},
    })
    own_ray = not ray.is_initialized()
    init_ray(num_cpus=cpus)
    runner = Runner(config, out, resume=False)
    wall = cpu = rss = anon = 0.0
    try:
        with TreeSampler(match=is_worker_process) as tree:
            runner.begin()
            for step in runner.plan():
                mine = any(s.name == name for s in step.stages)
                mark = tree.mark() if mine else None
                t0 = time.perf_counter()
                runner.run_step(step)
                if mine:
                    wall += time.perf_counter() - t0
                    cpu += tree.cpu_since(mark)
                    rss, anon = (max(a, b) for a, b in zip((rss, anon), tree.peak_mb()))
    finally:
        if own_ray:
            ray.shutdown()
    n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    outcome = next(o for o in runner.results() if o.name == name)
    res = {"stage": name, "docs": n, "wall_s": round(wall, 2), "us_per_doc": round(wall / n * 1e6, 1),
           "cpu_us_per_doc": round(cpu / n * 1e6, 1), "workers": len(tree.cpu),
           "peak_rss_mb": rss, "peak_anon_mb": anon, "kept": outcome.kept, "dropped": outcome.dropped}
    shutil.rmtree(out, ignore_errors=True)
    return res


COLUMNS = ["stage", "docs", "wall_s", "us_per_doc", "cpu_us_per_doc", "workers", "peak_rss_mb", "peak_anon_mb", "kept", "dropped"]
RATIOS = ("us_per_doc", "cpu_us_per_doc", "peak_anon_mb", "peak_rss_mb")


def print_results(results: list[dict]) -> None:
    cells = [[str(r[c]) for c in COLUMNS] for r in results]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    print(" | ".join(c.rjust(w) for c, w in zip(COLUMNS, widths)))
    for row in cells:
        print(" | ".join(x.rjust(w) for x, w in zip(row, widths)))
    print("\nper stage, each size against the smallest (flat: within +-20%; 'falls' = cheaper per document at"
          " the larger size, where the smaller one carries fixed start-up costs):")
    by_stage: dict[str, list[dict]] = {}
    for r in results:
        by_stage.setdefault(r["stage"], []).append(r)
    for name, rs in by_stage.items():
        a = rs[0]
        for b in rs[1:]:
            ratios = {k: (b[k] / a[k] if a[k] else float("nan")) for k in RATIOS}
            verdict = ", ".join(f"{label} {trend(ratios[k])}" for label, k in (("cost", "us_per_doc"), ("memory", "peak_anon_mb")))
            # marginal CPU per document between the sizes: set-up and start-up costs cancel out
            marginal = (b["cpu_us_per_doc"] * b["docs"] - a["cpu_us_per_doc"] * a["docs"]) / (b["docs"] - a["docs"])
            print(f"  {name:<18} {b['docs']}/{a['docs']}: " + "  ".join(f"{k}={v:.2f}" for k, v in ratios.items())
                  + f"  -> {verdict}; marginal worker CPU {marginal:.0f} us/doc")


def trend(ratio: float) -> str:
    return "flat" if 0.8 <= ratio <= 1.2 else ("falls" if ratio < 0.8 else "GROWS")


def main(argv=None) -> int:
    from pipeline.assets import shared_data_dir
    from pipeline.executor.runner import default_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--stages", nargs="+", default=MAP_STAGES + GLOBAL_STAGES)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--edit", type=float, default=0.1, help="per-word replacement probability of the synthetic documents")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.path.join(default_cache_dir(), "bench-scaling"), help="where generated corpora stay")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    data = shared_data_dir()
    if not data.is_dir():
        print(f"shared data not found under {data}", file=sys.stderr)
        return 2
    corpus = None
    inputs = {}
    for n in args.sizes:
        t = time.perf_counter()
        if corpus is None and not os.path.exists(os.path.join(args.cache, f"n{n}-edit{args.edit}-seed{args.seed}", "_DONE")):
            corpus = EditedCorpus(real_texts(data), args.edit, args.seed)
        inputs[n] = corpus_files(data, n, args.cache, args.edit, args.seed, corpus=corpus)
        print(f"input {n}: {len(inputs[n])} parquet files ({time.perf_counter() - t:.1f}s)", flush=True)
    work = tempfile.mkdtemp(prefix="stage-scaling-")
    results = []
    try:
        for name in args.stages:
            for n in args.sizes:
                r = run_stage(name, inputs[n], work, args.cpus, args.seed)
                print("  " + "  ".join(f"{k}={r[k]}" for k in COLUMNS), flush=True)
                results.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print_results(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
