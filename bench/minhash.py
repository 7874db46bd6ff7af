"""MinHash dedup benchmarks on the shared data (../shared/data):

1. signatures: docs/s of dedup.signatures against datasketch's MinHash.bulk and update_batch on
   the same 699 Common Crawl WET documents (both schemes, both shingle hashes), best of --repeat
   runs; signatures identical to datasketch's, and the Jaccard estimate error of both against
   exact shingle Jaccard on documents paired with edited copies;
2. quality: the article-extraction benchmark's 181 pages x 9 versions (ground truth + 8
   extractors' outputs) as a near-duplicate set; pair recall at exact 5-gram Jaccard >= the
   threshold, candidate-edge precision, cross-page merges, with and without `verify`;
3. --ray: wall time of the whole stage on Ray (local, 2 CPUs) over that set.

    .venv/bin/python bench/minhash.py [--repeat 3] [--ray]
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.executor.runner import run_global  # noqa: E402
from dedup.lsh import s_curve  # noqa: E402
from dedup.minhash import MinHashConfig, cluster_local, lsh_shape, node_ids  # noqa: E402
from dedup.signatures import signatures, word_lists  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402


def wet_texts(data: Path) -> list[str]:
    with gzip.open(data / "text" / "cc-main-2019-30-wet.jsonl.gz", "rt") as f:
        return [json.loads(line)["text"] for line in f]


def datasketch_shingles(texts: list[str] | pa.Array) -> list[list[bytes]]:
    """The stage's word 5-gram shingles (same word normalisation) as datasketch input."""
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    out = []
    for ws in word_lists(arr).to_pylist():
        ws = ws or []
        k = min(5, len(ws))
        out.append([" ".join(ws[i : i + k]).encode() for i in range(len(ws) - k + 1)] if ws else [])
    return out


def best_time(fn, repeat: int) -> float:
    """The fastest of `repeat` wall-clock runs of fn() (the others carry machine noise)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_signatures(texts: list[str], repeat: int, batch: int = 256) -> list[dict]:
    from datasketch import MinHash

    arr = pa.array(texts, pa.string())
    rows = []
    num_perm = MinHashConfig().num_perm

    def best(fn):
        return best_time(fn, repeat)

    def ds_shingles():
        # datasketch is fed the same shingles; building them from pre-split words is its share
        return datasketch_shingles(arr)

    def ds_update_batch(scheme):
        out = []
        for shingles in ds_shingles():
            m = MinHash(num_perm=num_perm, seed=1, scheme=scheme)
            m.update_batch(shingles)
            out.append(m)
        return out

    def ours_all(scheme, hash_name):
        return np.vstack([
            signatures(arr[i : i + batch], n=5, num_perm=num_perm, seed=1, scheme=scheme, hash_name=hash_name)[0]
            for i in range(0, len(texts), batch)
        ])

    sh = ds_shingles()
    n_shingles = sum(map(len, sh))
    pair_texts = near_duplicate_pairs(texts)
    for scheme in ("affine32", "legacy"):
        # datasketch as commonly used: its default sha1_hash32, one MinHash per document
        t_bulk = best(lambda: MinHash.bulk(ds_shingles(), num_perm=num_perm, seed=1, scheme=scheme))
        t_upd = best(lambda: ds_update_batch(scheme))
        reference = np.vstack([m.hashvalues for m in MinHash.bulk(sh, num_perm=num_perm, seed=1, scheme=scheme)])
        for hash_name in ("sha1", "xxh3"):
            t_ours = best(lambda: ours_all(scheme, hash_name))
            sig = ours_all(scheme, hash_name).astype(reference.dtype)
            rows.append({
                "scheme": scheme, "ours": hash_name,
                "bulk_docs_s": round(len(texts) / t_bulk), "update_batch_docs_s": round(len(texts) / t_upd),
                "ours_docs_s": round(len(texts) / t_ours), "vs_bulk": round(t_bulk / t_ours, 2),
                "vs_update_batch": round(t_upd / t_ours, 2),
                "identical_to_datasketch": f"{int((sig == reference).all(axis=1).sum())}/{len(texts)}",
                **estimate_error(pair_texts, scheme, hash_name, num_perm),
            })
    print(f"signatures: {len(texts)} WET docs, {n_shingles / len(texts):.0f} shingles/doc, {num_perm} permutations (the default), best of {repeat}")
    for r in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))
    return rows


def near_duplicate_pairs(texts: list[str], n_docs: int = 300, seed: int = 0) -> list[str]:
    """[doc, edited copy] x n_docs: each copy has words replaced with probability 0.02-0.2 by
    other words of the document, so pair Jaccards spread over the range that matters."""
    rng = np.random.default_rng(seed)
    out = []
    for k, i in enumerate(rng.permutation(len(texts))[:n_docs]):
        words = texts[i].split()
        if len(words) < 50:
            continue
        p = (0.02, 0.05, 0.1, 0.2)[k % 4]
        edited = [words[rng.integers(len(words))] if rng.random() < p else w for w in words]
        out += [texts[i], " ".join(edited)]
    return out


def estimate_error(pair_texts: list[str], scheme: str, hash_name: str, num_perm: int) -> dict:
    """Mean |estimate - exact shingle Jaccard| over the pairs, ours and datasketch's bulk()."""
    from datasketch import MinHash

    arr = pa.array(pair_texts, pa.string())
    shingles = datasketch_shingles(arr)
    ours = signatures(arr, n=5, num_perm=num_perm, seed=1, scheme=scheme, hash_name=hash_name)[0]
    theirs = np.vstack([m.hashvalues for m in MinHash.bulk(shingles, num_perm=num_perm, seed=1, scheme=scheme)])
    exact = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(shingles[::2], shingles[1::2])]

    def err(sig):
        est = np.mean(sig[::2] == sig[1::2], axis=1)
        return round(float(np.mean(np.abs(est - np.array(exact)))), 4)

    return {"pairs": len(exact), "mean_jaccard": round(float(np.mean(exact)), 3),
            "jaccard_err_ours": err(ours), "jaccard_err_datasketch": err(theirs)}


def extraction_versions(data: Path) -> list[dict]:
    """One document per (page, version): the ground truth and each extractor's output."""
    ext = data / "extraction"
    truth = json.loads((ext / "ground-truth.json").read_text())
    docs = [{"id": f"{page}/truth", "page": page, "text": v["articleBody"]} for page, v in truth.items()]
    for f in sorted((ext / "output").glob("*.json")):
        out = json.loads(f.read_text())
        out = out.get("output", out)
        for page, v in out.items():
            text = v if isinstance(v, str) else (v or {}).get("articleBody")
            if text and page in truth:
                docs.append({"id": f"{page}/{f.stem}", "page": page, "text": text})
    return docs


def shingle_set(text: str) -> set:
    ws = word_lists(pa.array([text]))[0].as_py() or []
    k = min(5, len(ws))
    return {tuple(ws[i : i + k]) for i in range(len(ws) - k + 1)} if ws else set()


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def run_local(docs: list[dict], cfg: MinHashConfig) -> tuple[dict, int, int]:
    """The stage's steps in this process, the whole set as one partition: (labels, the edges
    components ran on (verified when cfg.verify), components rounds)."""
    table = documents_from_rows([{"id": d["id"], "text": d["text"], "language": "en"} for d in docs])
    out = cluster_local(table, cfg, seed=0)
    labels, edges, rounds = out["labels"], out["edges"], out["rounds"]
    ids = dict(zip(node_ids(labels.column("node")).to_pylist(), node_ids(labels.column("label")).to_pylist()))
    pairs = set(zip(node_ids(edges.column("u")).to_pylist(), node_ids(edges.column("v")).to_pylist()))
    return ids, pairs, rounds


def bench_quality(data: Path, threshold: float) -> list[dict]:
    docs = extraction_versions(data)
    sets = {d["id"]: shingle_set(d["text"]) for d in docs}
    page = {d["id"]: d["page"] for d in docs}
    by_page: dict[str, list[str]] = {}
    for d in docs:
        by_page.setdefault(d["page"], []).append(d["id"])
    within = {(a, b): jaccard(sets[a], sets[b]) for ids in by_page.values() for a, b in itertools.combinations(sorted(ids), 2)}
    true_pairs = {p for p, j in within.items() if j >= threshold}
    results = []
    for verify in (False, True):
        cfg = MinHashConfig(threshold=threshold, verify=verify)
        t = time.perf_counter()
        labels, edges, rounds = run_local(docs, cfg)
        secs = time.perf_counter() - t
        comp = {i: labels.get(i, i) for i in sets}
        same = lambda a, b: comp[a] == comp[b]  # noqa: E731
        found = sum(same(a, b) for a, b in true_pairs)
        edge_j = [within[tuple(sorted(e))] if page[e[0]] == page[e[1]] else jaccard(sets[e[0]], sets[e[1]]) for e in edges]
        # across pages only boilerplate repeats (cookie banners, comment policies) can match
        cross = sum(page[a] != page[b] for a, b in edges)
        merged_low = sum(same(a, b) for (a, b), j in within.items() if j < 0.5)
        results.append({
            "verify": verify,
            "docs": len(docs),
            "true_pairs": len(true_pairs),
            "pair_recall": round(found / max(1, len(true_pairs)), 3),
            "candidate_edges": len(edges),
            "edge_precision": round(float(np.mean([j >= threshold for j in edge_j])) if edge_j else 1.0, 3),
            "edges_below_threshold": int(sum(j < threshold for j in edge_j)),
            "edges_below_0.5": int(sum(j < 0.5 for j in edge_j)),
            "cross_page_edges": cross,
            "merged_pairs_below_0.5": merged_low,
            "dropped": len(labels),
            "cc_rounds": rounds,
            "seconds": round(secs, 2),
        })
    bands, rows = lsh_shape(MinHashConfig(threshold=threshold))
    print(f"quality: extraction benchmark, {len(docs)} versions of {len(by_page)} pages; "
          f"{bands} bands x {rows} rows, S-curve {s_curve(bands, rows)}")
    for r in results:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))
    return results


def bench_ray(data: Path) -> dict:
    import tempfile

    import ray
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    from dedup.minhash import MinHashDedup
    from pipeline.executor.ray_env import quiet_ray_data
    from pipeline.stage import RunContext

    docs = extraction_versions(data)
    table = documents_from_rows([{"id": d["id"], "text": d["text"], "language": "en"} for d in docs])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    quiet_ray_data()
    out = {}
    try:
        for strategy in (ShuffleStrategy.SORT_SHUFFLE_PULL_BASED, ShuffleStrategy.SHUFFLE_V2):
            DataContext.get_current().shuffle_strategy = strategy
            d = tempfile.mkdtemp()
            stage = MinHashDedup(MinHashConfig(num_partitions=4), RunContext(output_dir=d, stage_dir=d))
            t = time.perf_counter()
            kept = run_global(stage, ray.data.from_arrow([table.slice(i, 400) for i in range(0, table.num_rows, 400)])).count()
            out[strategy.value] = {"seconds": round(time.perf_counter() - t, 1), "kept": kept, "docs": table.num_rows}
    finally:
        ray.shutdown()
    print(f"ray (local, 2 CPUs): {out}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--ray", action="store_true", help="also time the stage on a local Ray")
    args = ap.parse_args(argv)
    data = shared_data_dir()
    if not data.is_dir():
        print(f"shared data not found at {data}", file=sys.stderr)
        return 2
    bench_signatures(wet_texts(data), args.repeat)
    bench_quality(data, args.threshold)
    if args.ray:
        bench_ray(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
