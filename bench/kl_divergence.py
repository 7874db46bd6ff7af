"""KL(doc || reference) of the `kl-divergence` stage on real text: fits a reference on all the
documents (in process, the stage's counting), prints the distribution of KL (by length), and the
documents above the threshold, so that a threshold can be chosen and checked.

    .venv/bin/python bench/kl_divergence.py [--threshold 4.0] [--show 25]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filters.kl_divergence import KlDivergenceConfig  # noqa: E402
from filters.kl_reference import _encoder, kl_to_reference, token_ids  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402


def load_corpus() -> list[tuple[str, str]]:
    d = shared_data_dir() / "text"
    docs = []
    for p in sorted(d.glob("*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            docs += [(p.name, json.loads(line)["text"]) for line in f if line.strip()]
    for p in sorted(d.glob("wikitext2-*.txt")):  # articles start with " = Title = "
        text, arts = p.read_text(encoding="utf-8"), []
        for block in text.split("\n = ")[1:]:
            if not block.startswith("="):
                arts.append(" = " + block)
        docs += [(p.name, a) for a in arts]
    return [(s, t) for s, t in docs if t and t.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threshold", type=float, default=KlDivergenceConfig().threshold)
    ap.add_argument("--smoothing", type=float, default=KlDivergenceConfig().smoothing)
    ap.add_argument("--show", type=int, default=25)
    args = ap.parse_args(argv)
    docs = load_corpus()
    enc = _encoder()
    ids = token_ids([t for _, t in docs], enc)
    counts = np.bincount(np.concatenate(ids), minlength=enc.spec.n_vocab)
    c = counts + args.smoothing
    log_q = np.log(c / c.sum())
    kl = np.array([kl_to_reference(i, log_q) for i in ids])
    n_tok = np.array([len(i) for i in ids])
    print(f"{len(docs)} documents, {n_tok.sum()} tokens; reference fitted on all of them")
    for src in sorted({s for s, _ in docs}):
        m = np.array([s == src for s, _ in docs])
        q = np.percentile(kl[m], [5, 25, 50, 75, 95, 99])
        print(f"  {src:30s} n={m.sum():5d} KL percentiles 5/25/50/75/95/99: " + " ".join(f"{x:.2f}" for x in q))
    for lo, hi in [(0, 50), (50, 200), (200, 1000), (1000, 10**9)]:
        m = (n_tok >= lo) & (n_tok < hi)
        if m.any():
            print(f"  tokens in [{lo}, {hi}): n={m.sum():5d} median KL {np.median(kl[m]):.2f}, max {kl[m].max():.2f}")
    over = np.flatnonzero(kl > args.threshold)
    print(f"above threshold {args.threshold}: {len(over)} ({len(over) / len(docs):.2%})")
    for i in over[np.argsort(-kl[over])][: args.show]:
        print(f"  KL {kl[i]:5.2f} tokens {n_tok[i]:6d} {docs[i][0]:28s} {docs[i][1][:90]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
