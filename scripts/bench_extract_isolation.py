"""Per-document cost of the hard extraction limit (pipeline/extract/worker.py): the demo pages
extracted in this process vs. through the persistent child process, best of N.
Usage: python scripts/bench_extract_isolation.py [--repeat 3] [--batch 64] [WARC ...]"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline.extract.stage import ExtractConfig, extract_document  # noqa: E402
from pipeline.extract.worker import IsolatedExtractor  # noqa: E402
from pipeline.sources.warc import read_warc_local  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warcs", nargs="*", default=["demo/sample.warc.gz"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    kept, _ = read_warc_local(args.warcs)
    payloads, cts, urls = kept.column("html").to_pylist(), kept.column("content_type").to_pylist(), kept.column("url").to_pylist()
    config = ExtractConfig()
    for p, c, u in zip(payloads, cts, urls):  # warm up imports and caches in this process
        extract_document(p, c, config, u)

    def in_process():
        return [tuple(extract_document(p, c, config, u)) for p, c, u in zip(payloads, cts, urls)]

    t0 = time.perf_counter()
    child = IsolatedExtractor(config)
    child.extract_many(payloads[:1], cts[:1], urls[:1])
    start_s = time.perf_counter() - t0

    def isolated():
        out = []
        for i in range(0, len(payloads), args.batch):
            out += [tuple(r) for r in child.extract_many(payloads[i : i + args.batch], cts[i : i + args.batch], urls[i : i + args.batch])]
        return out

    isolated()  # warm up the child
    def cpu_seconds() -> float:
        """CPU time of this process and the child: wall time means little on a shared machine."""
        fields = open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()
        return time.process_time() + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    best = {}
    for name, fn in (("in-process", in_process), ("child process", isolated)):
        walls, cpus = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), cpu_seconds()
            result = fn()
            walls.append(time.perf_counter() - t)
            cpus.append(cpu_seconds() - c)
        best[name] = (min(walls), min(cpus), result)
    child.close()
    assert best["in-process"][2] == best["child process"][2], "the child must extract exactly the same texts"
    n = len(payloads)
    print(f"{n} documents, batches of {args.batch}, best of {args.repeat}")
    for label, k in (("wall", 0), ("cpu", 1)):
        a, b = best["in-process"][k], best["child process"][k]
        print(f"{label:4s} in-process {1000 * a / n:.2f} ms/doc, child process {1000 * b / n:.2f} ms/doc "
              f"({1000 * (b - a) / n:+.2f} ms/doc, {100 * (b - a) / a:+.1f}%)")
    print(f"child start-up (spawn + imports + first page): {start_s:.2f} s, once per worker and after each kill")


if __name__ == "__main__":
    main()
