"""Precision and recall of `dedup-semantic` on a labelled set of duplicate pairs MinHash misses,
and its throughput per core against `dedup-minhash` on the same documents, in one command:

    .venv/bin/python bench/semantic_dedup.py [--limit-pages N] [--thresholds 0.99,0.95,0.9]

Labelled set (../shared/data/extraction, 181 real news/blog pages): each page's ground-truth
article body and the 8 extraction tools' outputs of the same HTML are versions of one document:
the same facts, differing by boilerplate kept or cut, paragraphs lost, captions and bylines
(trafilatura vs truth: median word-5-gram Jaccard 0.977, html-text 0.508). True pairs are
same-page pairs; pairs across pages are not duplicates (the benchmark's pages are distinct
articles, though a few report one event, e.g. two WeWork stories: a found cross-page pair is
counted as a false positive all the same). The pairs of interest are the same-page pairs whose
word-5-gram Jaccard is below 0.8, MinHash's threshold: MinHash misses them by design. Reported per
threshold: pair precision / recall over all versions (every pair of versions ending in one
component), recall on the pairs MinHash misses, and the MinHash stage's own recall there (its
components, run on the same documents). Not measured here: paraphrases written by different
authors (no labelled set of them offline).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.minhash import extraction_versions, jaccard, run_local, shingle_set  # noqa: E402
from dedup.embeddings import Encoder  # noqa: E402
from dedup.kmeans import fit_centroids, nearest  # noqa: E402
from dedup.minhash import MinHashConfig  # noqa: E402
from dedup.nodes import node_keys  # noqa: E402
from dedup.semantic import SemanticDedupConfig  # noqa: E402
from dedup.semantic_groups import partition_drops  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402


def cluster_pairs(ids: list[str], kept_of: dict[str, str]) -> set[tuple[str, str]]:
    groups = defaultdict(list)
    for i in ids:
        groups[kept_of.get(i, i)].append(i)
    return {tuple(sorted(p)) for g in groups.values() for p in itertools.combinations(g, 2)}


def semantic_drops(table: pa.Table, emb: np.ndarray, cfg: SemanticDedupConfig, threshold: float, seed: int) -> dict[str, str]:
    """The stage's k-means and within-cluster grouping in this process (one partition)."""
    order = np.argsort(np.array(node_keys(table).to_pylist(), dtype=object))  # the fit sees rows by node, as fit_task
    centroids = fit_centroids(emb[order], cfg.num_clusters, seed, cfg.max_iter)
    cluster = nearest(emb, centroids)
    part = pa.table({"node": node_keys(table), "emb": [r.tobytes() for r in emb], "_cluster": cluster, "cluster": cluster})
    out = partition_drops(part, threshold)
    out = out.filter(out.column("id").is_valid())
    return dict(zip(out.column("id").to_pylist(), out.column("duplicate_of").to_pylist()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--limit-pages", type=int, default=None)
    ap.add_argument("--thresholds", default="0.99,0.97,0.95,0.93,0.9,0.85")
    ap.add_argument("--clusters", type=int, default=20, help="k-means clusters (1593 documents: ~80 a cluster)")
    args = ap.parse_args()

    docs = [d for d in extraction_versions(Path(args.data)) if d["text"].strip()]
    if args.limit_pages:
        pages = sorted({d["page"] for d in docs})[: args.limit_pages]
        docs = [d for d in docs if d["page"] in set(pages)]
    ids = [d["id"] for d in docs]
    page = {d["id"]: d["page"] for d in docs}
    shingles = {d["id"]: shingle_set(d["text"]) for d in docs}
    true_pairs = {tuple(sorted(p)) for p in itertools.combinations(ids, 2) if page[p[0]] == page[p[1]]}
    missed_by_design = {p for p in true_pairs if jaccard(shingles[p[0]], shingles[p[1]]) < 0.8}
    print(f"{len(docs)} versions of {len(set(page.values()))} pages; {len(true_pairs)} same-page pairs, "
          f"{len(missed_by_design)} of them at word-5-gram Jaccard < 0.8")
    table = documents_from_rows([{"id": d["id"], "text": d["text"], "language": "en"} for d in docs])

    t0 = time.process_time()
    mh_kept, _, _ = run_local(docs, MinHashConfig())
    minhash_cpu = time.process_time() - t0
    mh_pairs = cluster_pairs(ids, mh_kept)
    print(f"dedup-minhash (defaults): pair recall {len(mh_pairs & true_pairs) / len(true_pairs):.3f}, "
          f"recall on the Jaccard < 0.8 pairs {len(mh_pairs & missed_by_design) / max(1, len(missed_by_design)):.3f}")

    cfg = SemanticDedupConfig(num_clusters=args.clusters)
    t0 = time.process_time()
    encoder = Encoder("cpu", cfg.max_tokens, cfg.batch_size, num_threads=1)
    load_cpu = time.process_time() - t0
    t0 = time.process_time()
    emb = encoder.encode([d["text"][: cfg.max_chars] for d in docs])
    embed_cpu = time.process_time() - t0
    print(f"threshold  precision  recall  recall(J<0.8)  drops  (k-means {cfg.num_clusters} clusters)")
    group_cpu = 0.0
    for thr in [float(x) for x in args.thresholds.split(",")]:
        t0 = time.process_time()
        drops = semantic_drops(table, emb, cfg, thr, seed=0)
        group_cpu = time.process_time() - t0
        found = cluster_pairs(ids, drops)
        tp = len(found & true_pairs)
        precision = tp / len(found) if found else 1.0
        print(f"{thr:9.2f}  {precision:9.3f}  {tp / len(true_pairs):6.3f}  {len(found & missed_by_design) / max(1, len(missed_by_design)):13.3f}  {len(drops):5d}")
    n = len(docs)
    print(f"CPU per document, one core: dedup-minhash (local, all steps) {1000 * minhash_cpu / n:.2f} ms; "
          f"dedup-semantic: embedding {1000 * embed_cpu / n:.1f} ms (+ model load {load_cpu:.1f} s once per actor), "
          f"k-means + grouping {1000 * group_cpu / n:.2f} ms")
    print(f"throughput per core: dedup-semantic {n / (embed_cpu + group_cpu):.1f} docs/s, dedup-minhash {n / minhash_cpu:.0f} docs/s, "
          f"ratio semantic/minhash {minhash_cpu / (embed_cpu + group_cpu):.4f}")


if __name__ == "__main__":
    main()
