"""Memory of gigatoken's encode cache over a long stream of distinct pre-tokens (random lowercase
words of 6-14 letters, 100,000 per step: the worst case for a cache keyed by pre-token).

    .venv/bin/python bench/tokenizer_memory.py --steps 200
    PYTHONPATH=/path/to/another/gigatoken bench/tokenizer_memory.py   # compare a distribution

Prints the process's RSS growth every `--every` steps. gigatoken 0.10.0 grows without bound;
gigatoken-cachefix 0.10.1 wipes at 512 MiB (docs/benchmarks.md, "Tokenizer").
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.output.llama3_gigatoken import new_tokenizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--every", type=int, default=20)
    args = ap.parse_args()
    import gigatoken
    import psutil

    tok = new_tokenizer("plain")
    proc = psutil.Process()
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    print(gigatoken.__file__)
    base = proc.memory_info().rss
    c0, n = time.process_time(), 0
    for step in range(args.steps):
        docs = [" ".join("".join(rng.choices(letters, k=rng.randint(6, 14))) for _ in range(2000)) for _ in range(50)]
        tok.encode_batch_list(docs, parallel=False)
        n += sum(map(len, docs))
        if step % args.every == args.every - 1:
            print(f"{n / 1e6:.0f} MB text, {(step + 1) * 100_000:,} distinct words, RSS +{(proc.memory_info().rss - base) / 1e6:.0f} MB,"
                  f" {time.process_time() - c0:.1f} CPU s", flush=True)


if __name__ == "__main__":
    main()
