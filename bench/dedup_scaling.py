"""How `dedup-minhash` scales: synthetic corpora of 10k / 100k (/ 1M with --max 1000000)
documents with planted near-duplicates, the whole stage on a local Ray (2 CPUs), one command:

    .venv/bin/python bench/dedup_scaling.py [--max 1000000] [--dup-rate 0.2] [--rows-per-file 2500]

Corpus: the words of the 9.4k real texts in ../shared/data (Common Crawl WET + WebOrganizer), as
one word stream. An original document takes its length from a real document (50..5000 words)
and is made of >= 3 windows of <= 100 words at random places in the stream, so originals are
not near-duplicates of each other. `--dup-rate` of the documents are edited copies of a random original:
each word is, with probability p ~ U(--edit-min, --edit-max), replaced by, deleted, or preceded
by an inserted word (a random word of the stream). All seeded. Ray's parquet read coalesces the
files into blocks of up to ~128 MiB (measured: 10k documents = 32 MiB -> 1 block, 100k -> 3), and
under the sort shuffle (pipeline.executor.ray_env's default) the shuffles have one partition per block, so
data per task is capped by Ray's block size, and 10k runs on one partition (one CPU).

Per size, Ray is started afresh (so each worker's peak memory belongs to that size) and the stage
runs as the runner runs it: `MinHashDedup.run(read_parquet)` then `stage_io.write_kept`. Phases
(driver wall clock; `connected_components` is wrapped to materialise its input first, which only
moves where that work is waited for):
- signatures: read + `signature_rows` (MinHash, band keys) + the bucket shuffle + star edges +
  the two verify joins; `sig_task_s` is the sum of `signature_rows` task time inside the workers;
- components: the large-star / small-star rounds;
- decide: re-read, drop/keep against the broadcast drop set (or the cogroup shuffle on id when
  the drop set is over `broadcast_max_bytes`), write.
Worker memory: a driver thread samples /proc/PID/status of every Ray worker process descended
from this driver every 0.2 s: VmHWM (the kernel's own peak RSS of the process, so no peak is
missed between samples while the process lives) and RssAnon (private heap; RSS also counts the
pages of the shared object store a worker maps, which are not its own).
Quality: a copy is found when it ends in its original's component (same kept document);
`false_merges` are drops whose kept document is from another planted cluster; `expected_recall`
is the mean S-curve detection probability of a sample of planted pairs at their exact word-5-gram
Jaccard (the stage's shingles).
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import operator
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dedup.minhash as minhash_mod  # noqa: E402
from dedup.lsh import detection_probability  # noqa: E402
from dedup.minhash import MinHashConfig, MinHashDedup, lsh_shape  # noqa: E402
from dedup.signatures import shingle_hashes  # noqa: E402
from pipeline import stage_io  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.schema import DOCUMENT_SCHEMA  # noqa: E402
from pipeline.executor.runner import run_global  # noqa: E402
from pipeline.stage import RunContext  # noqa: E402

SOURCES = ("text/cc-main-2019-30-wet.jsonl.gz", "topics/weborganizer-topics.jsonl.gz")
MIN_WINDOWS = 3
WINDOW = 100  # words per window of an original: long enough to stay real text, short enough to mix sources
MIN_WORDS, MAX_WORDS = 50, 5000  # shorter originals could collide by chance; longer ones are rare outliers
JACCARD_SAMPLE = 2000  # planted pairs whose exact Jaccard is measured


def doc_id(i: int) -> str:
    return f"d{i:07d}"


class WordStream:
    """All words of the real texts as one space-joined string with word offsets, and the
    documents' word counts (the length distribution originals are drawn from)."""

    def __init__(self, data: Path):
        words, lengths = [], []
        for rel in SOURCES:
            with gzip.open(data / rel, "rt") as f:
                for line in f:
                    w = (json.loads(line).get("text") or "").split()
                    if w:
                        words.extend(w)
                        lengths.append(len(w))
        self.words = words
        self.text = " ".join(words)
        wl = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        # off[i] = start of word i; off[n] = len(text) + 1, so text[off[a]:off[b] - 1] is words a..b-1
        self.off = np.concatenate([[0], np.cumsum(wl + 1)])
        self.doc_lengths = np.array(lengths, dtype=np.int64)
        self.n = len(words)


class Corpus:
    """The plan of a synthetic corpus: per document its windows or (for copies) its original and
    edit rate; texts are produced file by file so 1M documents never sit in memory at once."""

    def __init__(self, stream: WordStream, n: int, dup_rate: float, edit_min: float, edit_max: float, seed: int):
        rng = np.random.default_rng(seed)
        self.stream, self.n, self.seed = stream, n, seed
        n_copies = int(round(n * dup_rate))
        is_copy = np.zeros(n, dtype=bool)
        is_copy[rng.permutation(n)[:n_copies]] = True
        self.copies = np.flatnonzero(is_copy)
        originals = np.flatnonzero(~is_copy)
        self.orig_of = originals[rng.integers(0, len(originals), n_copies)]  # aligned with self.copies
        self.edit = rng.uniform(edit_min, edit_max, n_copies)
        # windows of every non-copy document: k windows of equal length at random stream offsets
        length = np.clip(stream.doc_lengths[rng.integers(0, len(stream.doc_lengths), n)], MIN_WORDS, MAX_WORDS)
        # at least 3 windows: at 1M documents each stream position is reused ~100 times, and two
        # one-window originals that overlap would be unplanted near-duplicates
        k = np.maximum(MIN_WINDOWS, -(-length // WINDOW))
        self.win_len = -(-length // k)
        self.win_first = np.concatenate([[0], np.cumsum(k)])
        self.win_start = rng.integers(0, stream.n - np.repeat(self.win_len, k))
        self.cluster = np.arange(n)  # planted cluster: a copy belongs to its original's
        self.cluster[self.copies] = self.orig_of

    def word_index(self, i: int) -> np.ndarray:
        starts = self.win_start[self.win_first[i] : self.win_first[i + 1]]
        return (starts[:, None] + np.arange(self.win_len[i])).ravel()

    def original_text(self, i: int) -> str:
        s, off, L = self.stream.text, self.stream.off, self.win_len[i]
        return " ".join(s[off[a] : off[a + L] - 1] for a in self.win_start[self.win_first[i] : self.win_first[i + 1]])

    def copy_text(self, j: int) -> str:
        """Copy number j (of self.copies): its original's words with seeded random edits."""
        rng = np.random.default_rng((self.seed, 1, j))
        idx = self.word_index(self.orig_of[j])
        hit = rng.random(len(idx)) < self.edit[j]
        op = rng.integers(0, 3, len(idx))  # 0 replace, 1 delete, 2 insert before
        idx = idx.copy()
        rep = hit & (op == 0)
        idx[rep] = rng.integers(0, self.stream.n, int(rep.sum()))
        ins = np.flatnonzero(hit & (op == 2))
        idx = np.insert(idx, ins, rng.integers(0, self.stream.n, len(ins)))
        keep = np.ones(len(idx), dtype=bool)
        keep[np.flatnonzero(hit & (op == 1)) + np.searchsorted(ins, np.flatnonzero(hit & (op == 1)), side="right")] = False
        idx = idx[keep]
        if len(idx) == 0:
            return ""
        got = operator.itemgetter(*idx.tolist())(self.stream.words)
        return got if isinstance(got, str) else " ".join(got)

    def write(self, folder: str, rows_per_file: int, want: set[int]) -> dict[int, str]:
        """Parquet files of DOCUMENT_SCHEMA rows (id, text, language); returns the texts of `want`."""
        os.makedirs(folder, exist_ok=True)
        copy_no = np.full(self.n, -1)
        copy_no[self.copies] = np.arange(len(self.copies))
        kept_texts = {}
        for f0 in range(0, self.n, rows_per_file):
            rows = range(f0, min(self.n, f0 + rows_per_file))
            texts = [self.copy_text(copy_no[i]) if copy_no[i] >= 0 else self.original_text(i) for i in rows]
            for i, t in zip(rows, texts):
                if i in want:
                    kept_texts[i] = t
            m = len(texts)
            table = pa.table(
                [pa.array([doc_id(i) for i in rows]) if f.name == "id" else
                 pa.array(texts, pa.string()) if f.name == "text" else
                 pa.array(["en"] * m, pa.string()) if f.name == "language" else pa.nulls(m, f.type)
                 for f in DOCUMENT_SCHEMA],
                schema=DOCUMENT_SCHEMA,
            )
            pq.write_table(table, os.path.join(folder, f"part-{f0 // rows_per_file:05d}.parquet"))
        return kept_texts


def exact_jaccard(a: str, b: str, ngram: int) -> float:
    """Jaccard of the two texts' shingle sets, shingles as the stage forms them (32-bit hashes:
    a collision among ~10^3 shingles is a ~10^-4 effect)."""
    hv, counts = shingle_hashes(pa.array([a, b], pa.string()), ngram, "xxh3")
    x, y = np.unique(hv[: counts[0]]), np.unique(hv[counts[0] :])
    inter = len(np.intersect1d(x, y, assume_unique=True))
    union = len(x) + len(y) - inter
    return inter / union if union else 1.0


def false_merge_jaccard(folder: str, a: np.ndarray, b: np.ndarray, ngram: int, seed: int, k: int = 100) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0)
    import pyarrow.dataset as pads

    pick = np.random.default_rng((seed, 3)).choice(len(a), min(k, len(a)), replace=False)
    a, b = a[pick], b[pick]
    ids = sorted({doc_id(int(i)) for i in np.concatenate([a, b])})
    t = pads.dataset(folder).to_table(columns=["id", "text"], filter=pads.field("id").isin(ids))
    text = dict(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return np.array([exact_jaccard(text[doc_id(int(x))], text[doc_id(int(y))], ngram) for x, y in zip(a, b)])


class WorkerMemory:
    """Samples VmHWM / RssAnon of Ray worker processes descended from this driver."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak: dict[int, dict[str, int]] = {}
        self.task: dict[int, str] = {}
        self.node_anon = 0  # largest sum of private memory over all workers at one sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _status(pid: int) -> dict[str, int]:
        out = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssShmem"):
                    out[key] = int(rest.split()[0]) * 1024
        return out

    def sample(self) -> None:
        import psutil

        total_anon = 0
        for p in psutil.Process().children(recursive=True):
            try:
                cmd = p.cmdline()
                if not cmd or not (cmd[0].startswith("ray::") or any("default_worker.py" in c for c in cmd)):
                    continue
                st = self._status(p.pid)
            except (psutil.Error, OSError):
                continue  # exited between listing and reading
            peak = self.peak.setdefault(p.pid, {})
            if st.get("RssAnon", 0) > peak.get("RssAnon", -1):
                self.task[p.pid] = " ".join(" ".join(cmd).split())[:70]  # what the worker ran at its private-memory peak
            for k, v in st.items():
                peak[k] = max(peak.get(k, 0), v)
            total_anon += st.get("RssAnon", 0)
        self.node_anon = max(self.node_anon, total_anon)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.sample()  # the last word before Ray is shut down
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        """Workers that did work (peak RSS above the idle baseline) and their maxima."""
        if not self.peak:
            return {"workers": 0, "peak_rss_mb": 0.0, "peak_anon_mb": 0.0, "peak_shmem_mb": 0.0, "all_workers_anon_mb": 0.0}
        mb = lambda key: round(max(p.get(key, 0) for p in self.peak.values()) / 2**20, 1)  # noqa: E731
        top = max(self.peak, key=lambda pid: self.peak[pid].get("RssAnon", 0))
        return {"workers": len(self.peak), "peak_rss_mb": mb("VmHWM"), "peak_anon_mb": mb("RssAnon"),
                "peak_shmem_mb": mb("RssShmem"), "all_workers_anon_mb": round(self.node_anon / 2**20, 1),
                "peak_anon_task": self.task.get(top, "?")}


class Phases:
    """Instrumentation of the stage's module (this process only; workers keep the originals)."""

    def __init__(self, timing_dir: str):
        self.timing_dir = timing_dir
        self.cc_enter = self.cc_materialised = self.cc_done = None
        self.edges = 0
        self.rounds = 0
        self._saved = {}

    def __enter__(self):
        real_cc, real_rows, timing_dir = minhash_mod.connected_components, minhash_mod.signature_rows, self.timing_dir

        def cc(edges, *args, **kwargs):
            self.cc_enter = time.perf_counter()
            edges = edges.materialize()
            self.edges = edges.count()
            self.cc_materialised = time.perf_counter()
            out = real_cc(edges, *args, **kwargs)
            self.cc_done = time.perf_counter()
            return out

        def timed_rows(batch, *args, **kwargs):
            t = time.perf_counter()
            out = real_rows(batch, *args, **kwargs)
            with open(os.path.join(timing_dir, f"{os.getpid()}.txt"), "a") as f:
                f.write(f"{time.perf_counter() - t:.6f} {batch.num_rows}\n")
            return out

        self._saved = {"connected_components": real_cc, "signature_rows": real_rows}
        minhash_mod.connected_components, minhash_mod.signature_rows = cc, timed_rows
        logging.getLogger("dedup.components").addHandler(self._RoundCounter(self))
        return self

    def __exit__(self, *exc):
        for k, v in self._saved.items():
            setattr(minhash_mod, k, v)
        lg = logging.getLogger("dedup.components")
        lg.handlers = [h for h in lg.handlers if not isinstance(h, self._RoundCounter)]

    class _RoundCounter(logging.Handler):
        def __init__(self, phases):
            super().__init__(logging.INFO)
            self.phases = phases

        def emit(self, record):
            if record.getMessage().startswith("connected components: round"):
                self.phases.rounds += 1

    def signature_task_seconds(self) -> tuple[float, int]:
        secs, rows = 0.0, 0
        for name in os.listdir(self.timing_dir):
            for line in open(os.path.join(self.timing_dir, name)):
                s, r = line.split()
                secs, rows = secs + float(s), rows + int(r)
        return secs, rows


def run_size(stream: WordStream, n: int, args, cfg: MinHashConfig, work: str) -> dict:
    import ray

    from pipeline.executor.ray_env import init_ray

    corpus = Corpus(stream, n, args.dup_rate, args.edit_min, args.edit_max, args.seed)
    rng = np.random.default_rng((args.seed, 2))
    sample = rng.choice(len(corpus.copies), min(JACCARD_SAMPLE, len(corpus.copies)), replace=False)
    want = set(corpus.copies[sample].tolist()) | set(corpus.orig_of[sample].tolist())
    t = time.perf_counter()
    folder = os.path.join(work, f"n{n}")
    texts = corpus.write(os.path.join(folder, "input"), args.rows_per_file, want)
    gen_s = time.perf_counter() - t
    jac = np.array([exact_jaccard(texts[corpus.orig_of[j]], texts[corpus.copies[j]], cfg.ngram) for j in sample])
    bands, rows = lsh_shape(cfg)

    stage_dir = os.path.join(folder, "stage")
    timing_dir = os.path.join(folder, "timing")
    os.makedirs(timing_dir)
    ctx = RunContext(output_dir=folder, stage_dir=stage_dir, seed=args.seed)
    init_ray(num_cpus=args.cpus)
    try:
        with WorkerMemory() as mem, Phases(timing_dir) as ph:
            files = stage_io.parquet_files(os.path.join(folder, "input"))
            ds = ray.data.read_parquet(files, schema=DOCUMENT_SCHEMA)
            t0 = time.perf_counter()
            out = run_global(MinHashDedup(cfg, ctx), ds)
            t_run = time.perf_counter()
            stage_io.write_kept(out, ctx.kept_dir)
            t_end = time.perf_counter()
    finally:
        ray.shutdown()
    sig_task_s, sig_rows = ph.signature_task_seconds()

    kept = stage_io.count_rows(ctx.kept_dir)
    dropped = stage_io.read_dropped_table(ctx.dropped_dir, ["id", "reason", "duplicate_of"])
    d_id = np.array([int(x[1:]) for x in dropped.column("id").to_pylist()], dtype=np.int64)
    d_of = np.array([int(x[1:]) for x in dropped.column("duplicate_of").to_pylist()], dtype=np.int64)
    rep = np.arange(n)
    rep[d_id] = d_of
    found = rep[corpus.copies] == rep[corpus.orig_of]
    false = corpus.cluster[d_id] != corpus.cluster[d_of]
    false_merges = int(np.count_nonzero(false))
    false_j = false_merge_jaccard(os.path.join(folder, "input"), d_id[false], d_of[false], cfg.ngram, args.seed)
    total = t_end - t0
    res = {
        "docs": n,
        "planted_copies": len(corpus.copies),
        "planted_clusters": len(np.unique(corpus.orig_of)),
        "gen_s": round(gen_s, 1),
        "signatures_s": round(ph.cc_materialised - t0, 1),
        "sig_task_s": round(sig_task_s, 1),
        "components_s": round(ph.cc_done - ph.cc_materialised, 1),
        "cc_rounds": ph.rounds,
        "decide_s": round(t_end - ph.cc_done, 1),
        "total_s": round(total, 1),
        "docs_per_s": round(n / total),
        "us_per_doc": round(total / n * 1e6, 1),
        "sig_us_per_doc": round((ph.cc_materialised - t0) / n * 1e6, 1),
        "cc_us_per_doc": round((ph.cc_done - ph.cc_materialised) / n * 1e6, 1),
        **mem.summary(),
        "edges": ph.edges,
        "kept": kept,
        "dropped": dropped.num_rows,
        "components": len(np.unique(d_of)),
        "recall": round(float(found.mean()), 4) if len(found) else None,
        "expected_recall": round(float(detection_probability(jac, bands, rows).mean()), 4) if len(jac) else None,
        "jaccard_median": round(float(np.median(jac)), 3) if len(jac) else None,
        "recall_j_ge_thr": round(float(found[sample][jac >= cfg.threshold].mean()), 4) if (jac >= cfg.threshold).any() else None,
        "false_merges": false_merges,
        # exact Jaccard of (dropped, kept) for a sample of them: high = an unplanted duplicate of
        # the synthetic corpus, low = an LSH false positive
        "false_merge_j_min": round(float(false_j.min()), 3) if len(false_j) else None,
        "lost": n - kept - dropped.num_rows,  # every input must be kept or dropped
        "run_s_unaccounted": round(t_run - ph.cc_done, 2),  # run() after components: plan building only
        "sig_rows_checked": sig_rows,
    }
    print("  " + "  ".join(f"{k}={v}" for k, v in res.items()), flush=True)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return res


COLUMNS = [
    ("docs", "docs"), ("total_s", "total s"), ("signatures_s", "sig s"), ("sig_task_s", "sig task s"),
    ("components_s", "cc s"), ("cc_rounds", "rounds"), ("decide_s", "decide s"), ("docs_per_s", "docs/s"),
    ("us_per_doc", "us/doc"), ("sig_us_per_doc", "sig us/doc"), ("cc_us_per_doc", "cc us/doc"),
    ("workers", "workers"), ("peak_rss_mb", "wkr RSS MB"), ("peak_anon_mb", "wkr anon MB"), ("all_workers_anon_mb", "sum anon MB"),
    ("planted_copies", "planted"), ("dropped", "dropped"), ("components", "comps"), ("recall", "recall"),
    ("expected_recall", "exp recall"), ("recall_j_ge_thr", "recall J>=thr"), ("false_merges", "false merges"), ("false_merge_j_min", "fm min J"), ("lost", "lost"),
    ("peak_anon_task", "peak-anon worker task"),
]


RATIO_KEYS = ("us_per_doc", "sig_us_per_doc", "cc_us_per_doc", "peak_anon_mb", "peak_rss_mb", "all_workers_anon_mb")


def print_table(results: list[dict]) -> None:
    heads = [h for _, h in COLUMNS]
    cells = [[str(r.get(k)) for k, _ in COLUMNS] for r in results]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    print(" | ".join(h.rjust(w) for h, w in zip(heads, widths)))
    print("-+-".join("-" * w for w in widths))
    for c in cells:
        print(" | ".join(x.rjust(w) for x, w in zip(c, widths)))
    for prev, r in zip(results, results[1:]):
        marginal = (r["total_s"] - prev["total_s"]) / (r["docs"] - prev["docs"]) * 1e6
        print(f"marginal cost {prev['docs']} -> {r['docs']}: {marginal:.1f} us/doc (fixed overheads cancel)")
    print("\nratios, each size against the previous and against the first (target: flat within +-20%;\n"
          "flat = us/doc and the largest worker's private memory; RSS also counts mapped object-store pages):")
    pairs = [(a, b) for a, b in zip(results, results[1:])] + ([(results[0], results[-1])] if len(results) > 2 else [])
    for base, r in pairs:
        ratios = {k: r[k] / base[k] if base[k] else float("nan") for k in RATIO_KEYS}
        flat = all(0.8 <= ratios[k] <= 1.2 for k in ("us_per_doc", "peak_anon_mb"))
        print(f"  {base['docs']:>8} -> {r['docs']:>8}: " + "  ".join(f"{k}={v:.2f}" for k, v in ratios.items()) + f"  -> {'flat' if flat else 'NOT flat'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=100_000, help="largest size (10k, 100k, 1M, ... up to this)")
    ap.add_argument("--sizes", type=int, nargs="*", help="explicit sizes instead of powers of ten from 10k to --max")
    ap.add_argument("--dup-rate", type=float, default=0.2, help="fraction of documents that are edited copies")
    ap.add_argument("--edit-min", type=float, default=0.01, help="per-word edit probability of a copy, low end")
    ap.add_argument("--edit-max", type=float, default=0.03, help="... high end")
    ap.add_argument("--rows-per-file", type=int, default=2500, help="input parquet rows per file (Ray merges small files into ~128 MiB blocks)")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="where corpora and outputs go (default: a temp folder, removed)")
    ap.add_argument("--keep", action="store_true", help="keep each size's corpus and output")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON", help="stage config changes, e.g. verify=false num_perm=128")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("dedup.components").setLevel(logging.INFO)  # rounds are counted from its log
    data = shared_data_dir()
    if not all((data / rel).is_file() for rel in SOURCES):
        print(f"shared data not found under {data}", file=sys.stderr)
        return 2
    sizes = args.sizes or [s for s in (10_000, 100_000, 1_000_000, 10_000_000) if s <= args.max]
    cfg = MinHashConfig(**{k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    bands, rows = lsh_shape(cfg)
    t = time.perf_counter()
    stream = WordStream(data)
    print(f"word stream: {stream.n} words of {len(stream.doc_lengths)} real texts ({time.perf_counter() - t:.1f}s); "
          f"dedup-minhash {cfg.model_dump(exclude_defaults=True) or 'defaults'}: {bands} bands x {rows} rows, threshold {cfg.threshold}; "
          f"dup rate {args.dup_rate}, edits {args.edit_min}-{args.edit_max} per word; {args.cpus} CPUs", flush=True)
    work = args.workdir or tempfile.mkdtemp(prefix="dedup-scaling-")
    os.makedirs(work, exist_ok=True)
    results = []
    try:
        for n in sizes:
            results.append(run_size(stream, n, args, cfg, work))
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
