"""What report.html shows, read from a run's output folder (a local folder or an object-store
URI: everything goes through pipeline/storage.py): summary.json, manifest.json and the stage
folders. Counts come from summary.json; what must be computed over records (the kept set's
languages, topics, tokens and score histograms, dropped tokens, the samples) is computed by Ray
tasks over the parquet files and combined by Ray (`ray_ops.map_reduce`), so the driver receives
a few small results, never the records. Without Ray (`python -m pipeline.report` on a finished
run) the same functions run in this process, one row group and only the needed columns at a
time, so memory stays flat; samples re-read only the row groups that hold them."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import stage_io, storage
from pipeline.ray_ops import map_reduce

SCORE_COLUMNS = ("language_score", "quality_fasttext", "quality_transformer", "code_score", "reasoning_score")
HIST_BINS = 20
SAMPLE_KEPT = 5  # kept documents shown
SAMPLE_PER_REASON = 2  # dropped documents shown per (stage, reason)
MAX_SAMPLED_REASONS = 200  # beyond this many reasons the page only lists counts
TEXT_CHARS = 600  # sampled text is cut here
KEPT_SAMPLE_COLUMNS = ("id", "url", "language", "language_score", "topic", "token_count", "text")
DROPPED_SAMPLE_COLUMNS = ("id", "url", "stage", "reason", "duplicate_of", "text")


def load_json(location: str) -> dict | None:
    return storage.read_json(location)


def parquet_files(folder: str) -> list[str]:
    return stage_io.parquet_files(folder)


def row_groups(files: list[str], columns: list[str]):
    """Yield (file, row group index, table of those of `columns` the file has)."""
    for path in files:
        with storage.open_input(path) as f:
            pf = pq.ParquetFile(f)
            present = [c for c in columns if c in pf.schema_arrow.names]
            for rg in range(pf.num_row_groups):
                yield path, rg, pf.read_row_group(rg, columns=present)


@dataclass
class StageView:
    """One entry of summary.json's `stages`, with its folder."""

    index: int
    name: str
    rows_in: int
    kept: int
    dropped: int
    reasons: dict
    seconds: float
    resumed: bool
    facts: dict
    folder: str

    @property
    def kept_dir(self) -> str:
        return storage.join(self.folder, "kept")

    @property
    def dropped_dir(self) -> str:
        return storage.join(self.folder, "dropped")


def stage_views(output_dir: str, summary: dict) -> list[StageView]:
    views = []
    for s in summary.get("stages", []):
        folder = storage.join(output_dir, "stages", f"{s['index']:02d}-{s['name']}")
        views.append(
            StageView(
                index=s["index"], name=s["name"], rows_in=s["rows_in"], kept=s["kept"], dropped=s["dropped"],
                reasons=dict(s.get("reasons") or {}), seconds=s.get("seconds", 0.0), resumed=bool(s.get("resumed")),
                facts=dict(s.get("facts") or {}), folder=folder,
            )
        )
    return views


def final_kept_position(stages: list[StageView]) -> int | None:
    """Position of the stage whose kept/ is the final kept set (the ledger's rule: the last stage
    with a kept/ folder; sinks after it write everything they get)."""
    for i in range(len(stages) - 1, -1, -1):
        if storage.isdir(stages[i].kept_dir):
            return i
    return None


@dataclass
class Histogram:
    column: str
    edges: np.ndarray
    counts: np.ndarray
    values: int  # non-null values counted
    nulls: int


@dataclass
class KeptStats:
    documents: int = 0
    languages: Counter = field(default_factory=Counter)
    topics: Counter = field(default_factory=Counter)
    tokens: int = 0
    token_nulls: int = 0
    histograms: list[Histogram] = field(default_factory=list)


def _kept_partial(files: list[str]) -> dict:
    """Map step (a Ray task): counts, token total and score ranges of some kept files."""
    out = {"documents": 0, "languages": Counter(), "topics": Counter(), "tokens": 0, "token_nulls": 0,
           "lo": {}, "hi": {}, "nonnull": Counter()}
    for _, _, t in row_groups(files, ["language", "topic", "token_count", *SCORE_COLUMNS]):
        out["documents"] += t.num_rows
        for col, counter in (("language", out["languages"]), ("topic", out["topics"])):
            if col in t.column_names:
                counter.update({k: v for k, v in _value_counts(t.column(col)).items() if k is not None})
        if "token_count" in t.column_names:
            tc = t.column("token_count")
            out["tokens"] += int(pc.sum(tc).as_py() or 0)
            out["token_nulls"] += tc.null_count
        else:
            out["token_nulls"] += t.num_rows
        for c in SCORE_COLUMNS:
            if c in t.column_names and t.column(c).null_count < t.num_rows:
                mm = pc.min_max(t.column(c).cast(pa.float64()))
                out["lo"][c] = min(out["lo"].get(c, np.inf), mm["min"].as_py())
                out["hi"][c] = max(out["hi"].get(c, -np.inf), mm["max"].as_py())
                out["nonnull"][c] += t.num_rows - t.column(c).null_count
    return out


def _merge_kept(parts: list[dict]) -> dict:
    """Combine step: partials of _kept_partial added up (counts summed, ranges widened)."""
    out = _kept_partial([])
    for p in parts:
        for k in ("documents", "tokens", "token_nulls"):
            out[k] += p[k]
        for k in ("languages", "topics", "nonnull"):
            out[k].update(p[k])
        for c, v in p["lo"].items():
            out["lo"][c] = min(out["lo"].get(c, np.inf), v)
        for c, v in p["hi"].items():
            out["hi"][c] = max(out["hi"].get(c, -np.inf), v)
    return out


def _hist_partial(files: list[str], edges: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map step: score histograms of some kept files over fixed bin edges."""
    counts = {c: np.zeros(HIST_BINS, dtype=np.int64) for c in edges}
    for _, _, t in row_groups(files, list(edges)):
        for c in edges:
            if c in t.column_names:
                counts[c] += np.histogram(t.column(c).drop_null().to_numpy().astype(np.float64), bins=edges[c])[0]
    return counts


def _sum_hists(parts: list[dict]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for p in parts:
        for c, v in p.items():
            out[c] = out[c] + v if c in out else v.copy()
    return out


def kept_stats(files: list[str]) -> KeptStats:
    """Counts, token total and score histograms of the final kept set. Two passes over the score
    columns: the first finds each column's range (bins over [0, 1] when the values are
    probabilities, so runs compare), the second bins."""
    found = map_reduce(files, _kept_partial, _merge_kept)
    stats = KeptStats(documents=found["documents"], languages=found["languages"], topics=found["topics"],
                      tokens=found["tokens"], token_nulls=found["token_nulls"])
    lo, hi, nonnull = found["lo"], found["hi"], found["nonnull"]
    scored = [c for c in SCORE_COLUMNS if nonnull[c]]
    edges = {}
    for c in scored:
        a, b = (0.0, 1.0) if lo[c] >= 0.0 and hi[c] <= 1.0 else (lo[c], hi[c] if hi[c] > lo[c] else lo[c] + 1.0)
        edges[c] = np.linspace(a, b, HIST_BINS + 1)
    counts = map_reduce(files, _hist_partial, _sum_hists, edges=edges) if scored else {}
    for c in scored:
        stats.histograms.append(Histogram(c, edges[c], counts[c], int(nonnull[c]), stats.documents - int(nonnull[c])))
    return stats


def _value_counts(col) -> dict:
    vc = pc.value_counts(col)
    return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))


def _dropped_partial(items: list[tuple[int, str]]) -> dict[int, tuple[int, int]]:
    """Map step: per stage position, (tokens of its dropped records, records without token_count)."""
    out: dict[int, tuple[int, int]] = {}
    for pos, path in items:
        tokens, missing = out.get(pos, (0, 0))
        for _, _, t in row_groups([path], ["token_count"]):
            if "token_count" not in t.column_names:
                missing += t.num_rows
            else:
                tokens += int(pc.sum(t.column("token_count")).as_py() or 0)
                missing += t.column("token_count").null_count
        out[pos] = (tokens, missing)
    return out


def _sum_dropped(parts: list[dict]) -> dict[int, tuple[int, int]]:
    out: dict[int, tuple[int, int]] = {}
    for p in parts:
        for pos, (tokens, missing) in p.items():
            a, b = out.get(pos, (0, 0))
            out[pos] = (a + tokens, b + missing)
    return out


def token_funnel(stages: list[StageView], final_pos: int | None, final_tokens: int | None) -> list[int | None]:
    """Tokens kept after each stage where known: the final kept set's total, then backwards by
    adding each stage's dropped tokens while every dropped record has a token_count (so the token
    funnel is only drawn where it is exact)."""
    out: list[int | None] = [None] * len(stages)
    if final_pos is None or final_tokens is None:
        return out
    for i in range(final_pos, len(stages)):
        out[i] = final_tokens  # sinks after the final kept set keep all of it
    items = [(i, f) for i in range(final_pos, 0, -1) if stages[i].dropped for f in parquet_files(stages[i].dropped_dir)]
    lost = map_reduce(items, _dropped_partial, _sum_dropped)
    running = final_tokens
    for i in range(final_pos, 0, -1):
        tokens, missing = lost.get(i, (0, 0))
        if missing:
            break
        running += tokens
        out[i - 1] = running
    return out


def _smallest(t: pa.Table, k: int) -> list[int]:
    if t.num_rows <= k:
        order = pc.sort_indices(t, sort_keys=[("id", "ascending")])
    else:
        order = pc.select_k_unstable(t, k, sort_keys=[("id", "ascending")])
    return order.to_pylist()


def _smallest_partial(items: list[tuple[object, str]], k: int, by: str | None) -> dict:
    """Map step: per (tag, value of `by`), the k smallest (id, file, row group, row) of the files."""
    best: dict = {}
    for tag, path in items:
        for _, rg, t in row_groups([path], ["id"] + ([by] if by else [])):
            if not t.num_rows:
                continue
            if by is None:
                groups = {None: pa.array(np.arange(t.num_rows))}
            else:
                keys = t.column(by)
                groups = {}
                for key in pc.unique(keys).to_pylist():
                    mask = pc.is_null(keys) if key is None else pc.fill_null(pc.equal(keys, key), False)
                    groups[key] = pc.indices_nonzero(mask)
            for key, idx in groups.items():
                sub = t.select(["id"]).take(idx)
                rows = idx.to_pylist()
                picks = best.setdefault((tag, key), [])
                picks += [(sub.column("id")[j].as_py(), path, rg, rows[j]) for j in _smallest(sub, k)]
                best[(tag, key)] = sorted(picks)[:k]
    return best


def _merge_smallest(parts: list[dict], k: int) -> dict:
    out: dict = {}
    for p in parts:
        for key, picks in p.items():
            out[key] = sorted(out.get(key, []) + picks)[:k]
    return out


def smallest_ids(items: list[tuple[object, str]], k: int, by: str | None = None) -> dict:
    """The k records with the smallest ids per (tag, value of column `by`) over (tag, file)
    items, as {(tag, key): [(id, file, row group, row), ...]} sorted by id; reads only `id`
    (and `by`)."""
    return map_reduce(items, _smallest_partial, _Merge(k), k=k, by=by)


class _Merge:
    """_merge_smallest with its k, as a picklable combine function."""

    def __init__(self, k: int):
        self.k = k

    def __call__(self, parts: list[dict]) -> dict:
        return _merge_smallest(parts, self.k)


def _fetch_partial(groups: list[tuple[str, int, list[tuple[int, str]]]], columns: tuple[str, ...]) -> dict[str, dict]:
    """Map step: the picked rows of some (file, row group) pairs, text cut at TEXT_CHARS."""
    out = {}
    for path, rg, rows in groups:
        with storage.open_input(path) as f:
            pf = pq.ParquetFile(f)
            present = [c for c in columns if c in pf.schema_arrow.names]
            t = pf.read_row_group(rg, columns=present).take([r for r, _ in rows])
        for (_, rid), rec in zip(rows, t.to_pylist()):
            out[rid] = {**rec, "text": truncate(rec.get("text"))} if "text" in rec else rec
    return out


def _merge_dicts(parts: list[dict]) -> dict:
    out = {}
    for p in parts:
        out.update(p)
    return out


def fetch_rows(picks: list[tuple], columns: tuple[str, ...]) -> dict[str, dict]:
    """The picked rows (id, file, row group, row) -> {id: row dict}, one row group at a time."""
    by_group: dict = {}
    for rid, path, rg, row in picks:
        by_group.setdefault((path, rg), []).append((row, rid))
    groups = [(path, rg, rows) for (path, rg), rows in sorted(by_group.items())]
    return map_reduce(groups, _fetch_partial, _merge_dicts, columns=columns)


def truncate(text: str | None, limit: int = TEXT_CHARS) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more characters]"


def kept_sample(files: list[str], k: int = SAMPLE_KEPT) -> list[dict]:
    picks = smallest_ids([(None, f) for f in files], k).get((None, None), [])
    rows = fetch_rows(picks, KEPT_SAMPLE_COLUMNS)
    return [rows[p[0]] for p in picks]


def dropped_samples(stages: list[StageView], k: int = SAMPLE_PER_REASON, max_reasons: int = MAX_SAMPLED_REASONS):
    """[(stage, reason, [row dicts])] in pipeline order, reasons sorted; at most `max_reasons`
    (stage, reason) pairs get samples. Returns (samples, number of pairs left without)."""
    items = [(pos, f) for pos, s in enumerate(stages) if s.dropped for f in parquet_files(s.dropped_dir)]
    per_reason = smallest_ids(items, k, by="reason")
    keys = sorted(per_reason, key=lambda key: (key[0], str(key[1])))
    sampled, skipped = keys[:max_reasons], len(keys) - min(len(keys), max_reasons)
    rows = fetch_rows([p for key in sampled for p in per_reason[key]], DROPPED_SAMPLE_COLUMNS)
    out = [(stages[pos].name, reason, [rows[p[0]] for p in per_reason[(pos, reason)]]) for pos, reason in sampled]
    return out, skipped


# --------------------------------------------------------------------------- model-based decisions
# The "Scorers and model-based decisions" section: what train-scorers trained (metrics.json of
# each artifact), how the scores were turned into decisions (quality-threshold, assign-bucket,
# downsample-topics) and what those decisions kept.

RUN_POINTER = "trained-scorers.json"  # classifiers/artifacts.py writes it into the output folder
METRICS = "metrics.json"
RELIABILITY_BINS = 10


def stage_named(stages: list[StageView], name: str) -> StageView | None:
    return next((s for s in reversed(stages) if s.name == name), None)


def kept_files_from(stages: list[StageView], name: str) -> list[str]:
    """The kept files of the pass that ran stage `name`: the first kept/ folder at or after it."""
    start = next((i for i, s in enumerate(stages) if s.name == name), None)
    if start is None:
        return []
    for s in stages[start:]:
        if storage.isdir(s.kept_dir):
            return parquet_files(s.kept_dir)
    return []


# train-scorers writes a shipped default it fell back to as `default:<scorer>/<version>`, which
# names a folder of classifiers/default_artifacts/ in this installation (each node resolves it in
# its own install: classifiers/default_artifacts/__init__.py)
DEFAULT_PREFIX = "default:"
DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "classifiers", "default_artifacts")


@dataclass
class Artifact:
    scorer: str
    location: str | None
    metrics: dict | None  # metrics.json, None when the scorer was not trained

    @property
    def shipped(self) -> bool:
        return bool(self.location) and self.location.startswith(DEFAULT_PREFIX)


def scorer_artifacts(output_dir: str) -> list[Artifact]:
    pointer = load_json(storage.join(output_dir, RUN_POINTER)) or {}
    out = []
    for scorer, location in sorted(pointer.items()):
        folder = os.path.join(DEFAULT_ROOT, location[len(DEFAULT_PREFIX):]) if location and location.startswith(DEFAULT_PREFIX) else location
        metrics = load_json(storage.join(folder, METRICS)) if folder else None
        out.append(Artifact(scorer, location, metrics))
    return out


def _bucket_rules_partial(files: list[str]) -> Counter:
    """Map step: documents per (bucket, the rule assign-bucket wrote in annotations["bucket"])."""
    import json

    out: Counter = Counter()
    for _, _, t in row_groups(files, ["bucket", "annotations"]):
        if "bucket" not in t.column_names:
            continue
        notes = t.column("annotations").to_pylist() if "annotations" in t.column_names else [None] * t.num_rows
        for bucket, ann in zip(t.column("bucket").to_pylist(), notes):
            rule = json.loads(ann).get("bucket") if ann else None
            out[(bucket, rule)] += 1
    return out


def _sum_counters(parts: list[Counter]) -> Counter:
    out: Counter = Counter()
    for p in parts:
        out.update(p)
    return out


def bucket_rules(files: list[str]) -> Counter:
    return map_reduce(files, _bucket_rules_partial, _sum_counters)


def _scores_partial(files: list[str], ids: frozenset, columns: tuple[str, ...]) -> dict:
    """Map step: {id: {column: value}} of the listed ids (a labelled sample) in some files."""
    out = {}
    for _, _, t in row_groups(files, ["id", *columns]):
        mask = pc.is_in(t.column("id"), pa.array(sorted(ids), pa.string()))
        for row in t.filter(mask).to_pylist():
            out[row["id"]] = {c: row.get(c) for c in columns}
    return out


def held_out_split(example_id: str, fraction: float, seed: int) -> bool:
    """train-scorers' held-out split (classifiers/label_sources.is_held_out: a hash of seed and
    id), restated here because the spine does not import the classifiers (tests check they agree)."""
    import xxhash

    return (xxhash.xxh3_64_intdigest(f"{seed}\0{example_id}".encode("utf-8", "surrogatepass")) % 10_000) < fraction * 10_000


def reliability_bins(scores: list[float], targets: list[float], bins: int = RELIABILITY_BINS) -> list[dict]:
    """Per equal-width score bin: documents, mean score and mean target (1/0 labels: the
    positive rate)."""
    out = []
    idx = np.minimum((np.asarray(scores, dtype=float) * bins).astype(int), bins - 1)
    s, y = np.asarray(scores, dtype=float), np.asarray(targets, dtype=float)
    for b in range(bins):
        sel = idx == b
        if sel.any():
            out.append({"lo": b / bins, "hi": (b + 1) / bins, "n": int(sel.sum()),
                        "mean_score": round(float(s[sel].mean()), 4), "positive_rate": round(float(y[sel].mean()), 4)})
    return out


def _teacher_targets(rows: list[dict]) -> tuple[dict[str, float], str]:
    """Each labelled id's target: its 0/1 label where the labels are binary, else the teacher's
    expected score scaled to 0..1 (a 0-5 judge)."""
    labels = {r["label"] for r in rows}
    if labels <= {"0", "1"}:
        return {r["id"]: float(r["label"]) for r in rows}, "positive rate"
    return {r["id"]: float(r["expected"]) / 5.0 for r in rows if r.get("expected") is not None}, "mean teacher score / 5"


def _run_labels(labels_dir: str) -> tuple[list[dict], bool]:
    """train-scorers' labels: labels/combined.parquet (every training label with its scorer and
    teacher) when it exists, else the judge's labels per task (labels/<task>.parquet). Small: a
    labelled sample, not the records."""
    combined = storage.join(labels_dir, "combined.parquet")
    if storage.exists(combined):
        return [r for _, _, t in row_groups([combined], ["scorer", "id", "label"]) for r in t.to_pylist()], True
    files = [f for f in parquet_files(labels_dir) if storage.dirname(f).rstrip("/") == labels_dir.rstrip("/")]
    return [r for _, _, t in row_groups(files, ["id", "task", "label", "expected"]) for r in t.to_pylist()], False


def run_reliability(stages: list[StageView], artifacts: list[Artifact]) -> dict[str, dict]:
    """For binary scorers whose metrics.json records no reliability curve: the curve against this
    run's labels (train-scorers' labels/), on the artifact's held-out split for an artifact trained
    on them, on all of them for a shipped default (which never saw this run's labels). Scores are
    read from the scorer's pass by Ray tasks that return only the labelled documents' scores."""
    trainer = stage_named(stages, "train-scorers")
    if trainer is None:
        return {}
    labels, combined = _run_labels(storage.join(trainer.folder, "labels"))
    out = {}
    for a in artifacts:
        m = a.metrics or {}
        config = m.get("config") or {}
        if m.get("scorer_kind") != "binary" or not m.get("column") or (not a.shipped and "seed" not in config):
            continue
        rows = [r for r in labels if (r.get("scorer") == a.scorer if combined else r.get("task") == m.get("task"))]
        if not a.shipped:
            rows = [r for r in rows if held_out_split(r["id"], config.get("held_out_fraction", 0.2), config["seed"])]
        targets, ylabel = _teacher_targets(rows)
        if not targets:
            continue
        files = kept_files_from(stages, a.scorer)
        scored = map_reduce(files, _scores_partial, _merge_dicts, ids=frozenset(targets), columns=(m["column"],))
        pairs = [(v[m["column"]], targets[i]) for i, v in sorted(scored.items()) if v.get(m["column"]) is not None]
        if pairs:
            source = ("this run's teacher labels (a shipped default: not trained on this run's labels)" if a.shipped
                      else "this run's held-out labelled documents")
            out[a.scorer] = {"bins": reliability_bins([p[0] for p in pairs], [p[1] for p in pairs]), "n": len(pairs),
                             "target": ylabel, "source": source}
    return out
