"""Stage `quality-threshold`: Llama 3's model-based quality filtering (§3.1.2). The scorers only
write scores (`quality_fasttext`, and `quality_transformer` where the cascade ran); this stage is
the decision: it keeps documents by a score threshold or by a percentile of the scores.

- The score of a document: the first of `columns` with a value (the transformer cascade's score
  where it ran, else fastText's). Documents with none are kept (`unscored: keep`) or dropped as
  `quality-unscored`.
- Groups: a percentile is taken per group, by default per language (`group_by: language`): a
  language with its own quality model has its own scale, and the multilingual default model
  scores languages on different scales too (on the demo it puts every non-English page under
  every English one, so one pooled percentile would drop a language wholesale). `group_by:
  model` groups by the model that scored (`annotations["quality-fasttext"]["model"]`), `none`
  pools everything.
- Exempt: pages that `domain-detect` recognised as code or math (`annotations["domain"]["kind"]`)
  are neither counted nor dropped: Llama 3 judges code and reasoning pages in pipelines of their
  own, and a quality model trained on prose ranks every API reference at the bottom.
- Percentile mode is global: it needs the whole distribution. `fit` sums a histogram of the
  scores per group (`bins` equal bins over [0, 1]) with Ray tasks, reduced by Ray tasks
  (`reduce_blocks`), so the driver gets one small table; the cut of each group is the lowest
  edge of the bin where the running count would pass `percentile`% (so at most that share is
  dropped; a bin is never split, which makes the decision deterministic and exact to 1/bins).
  The cuts go to a small file (`decision/_DECISION.json`) that the next pass applies.
- Drop reasons name the score and the threshold: `quality_fasttext<0.4213(p30,en)` in percentile
  mode, `quality_fasttext<0.5` in threshold mode.
- The facts (summary.json, report.html) say what each threshold would keep: per group the score
  at p10..p90 and the share kept at thresholds 0.1..0.9, from the same histogram.

Score once, decide many: the stage reads the scorers' columns and writes none, so a new
threshold or percentile reruns only this stage and what follows (the runner's fingerprints).
"""
from __future__ import annotations

import json
import logging
import math
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from pipeline.decisions import read_meta, write_meta
from pipeline.ray_ops import reduce_blocks, sum_tables
from pipeline.stage import Filter, GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

QUALITY_COLUMNS = ("quality_transformer", "quality_fasttext")
UNSCORED = "quality-unscored"
REPORT_PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
REPORT_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_HIST = pa.schema([("group", pa.string()), ("column", pa.string()), ("bin", pa.int64()), ("n", pa.int64())])
_OTHER = ("unscored", "exempt")  # groups of the histogram's bookkeeping rows (not score distributions)


class QualityThresholdConfig(StageConfig):
    # score columns in order of preference: a document's quality is the first with a value
    # (quality-transformer writes its cascade score, fastText's outside the uncertain band)
    columns: tuple[str, ...] = QUALITY_COLUMNS
    # percentile: drop the lowest `percentile`% of each group; threshold: drop below a score
    mode: Literal["percentile", "threshold"] = "percentile"
    # p10: configs/base.yaml gives the measurement
    percentile: float = Field(10.0, ge=0.0, lt=100.0)
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    # threshold mode: a threshold per group (e.g. {en: 0.6}); groups not listed use `threshold`;
    # applied at the histogram's resolution (rounded up to a multiple of 1/bins)
    thresholds: dict[str, float] = {}
    group_by: Literal["language", "model", "none"] = "language"
    # domain-detect's kinds that the prose quality model does not judge
    exempt_domains: tuple[str, ...] = ("code", "math")
    unscored: Literal["keep", "drop"] = "keep"
    # histogram resolution: percentile cuts are exact to 1/bins of the score scale
    bins: int = Field(10_000, ge=10, le=1_000_000)

    @field_validator("columns")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(c not in QUALITY_COLUMNS for c in v):
            raise ValueError(f"columns must be a non-empty list of {QUALITY_COLUMNS}, got {list(v)}")
        return v


def _annotation(obj: dict, *path: str):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def score_rows(batch: pa.Table, c: QualityThresholdConfig) -> list[tuple[str, str | None, float | None, str | None]]:
    """Per row: (group, column that gave the score, score, exempt domain kind). Shared by the
    decision and its application, so both see the same groups and scores."""
    cols = [batch.column(name).to_pylist() for name in c.columns]
    languages = batch.column("language").to_pylist()
    needs_annotations = c.group_by == "model" or bool(c.exempt_domains)
    annotations = batch.column("annotations").to_pylist() if needs_annotations else [None] * batch.num_rows
    exempt = set(c.exempt_domains)
    out = []
    for i, (lang, ann) in enumerate(zip(languages, annotations)):
        obj = json.loads(ann) if ann and ann[0] == "{" else {}
        column, score = next(((name, float(vals[i])) for name, vals in zip(c.columns, cols)
                              if vals[i] is not None and not math.isnan(vals[i])), (None, None))
        kind = _annotation(obj, "domain", "kind")
        if c.group_by == "language":
            group = lang or "none"
        elif c.group_by == "model":
            group = _annotation(obj, "quality-fasttext", "model") or "none"
        else:
            group = "all"
        out.append((group, column, score, kind if kind in exempt else None))
    return out


def bin_of(score: float, bins: int) -> int:
    """The histogram bin of a score. Scores are float32: 0.22 is 0.2199999988, so the product is
    rounded (to 1/1000 of a bin) before the floor, and 0.22 falls in the bin that starts at 0.22."""
    return min(bins - 1, max(0, int(math.floor(round(score * bins, 3)))))


class _Histograms:
    """Ray task: per (group, column) the count of documents in each score bin; unscored and
    exempt documents as rows of their own (group "unscored" / "exempt")."""

    def __init__(self, config: QualityThresholdConfig):
        self.config = config

    def __call__(self, batch: pa.Table) -> pa.Table:
        counts: dict[tuple[str, str, int], int] = {}
        for group, column, score, kind in score_rows(batch, self.config):
            if kind is not None:
                key = ("exempt", kind, -1)
            elif score is None:
                key = ("unscored", group, -1)
            else:
                key = (group, column, bin_of(score, self.config.bins))
            counts[key] = counts.get(key, 0) + 1
        rows = sorted(counts.items())
        return pa.table([pa.array([k[0] for k, _ in rows], pa.string()), pa.array([k[1] for k, _ in rows], pa.string()),
                         pa.array([k[2] for k, _ in rows], pa.int64()), pa.array([n for _, n in rows], pa.int64())], schema=_HIST)


def _sum_hist(parts: list[pa.Table]) -> pa.Table | None:
    return sum_tables(parts, ["group", "column", "bin"])


def percentile_cut(counts: np.ndarray, percentile: float) -> int:
    """The bin whose lower edge is the cut: the largest b with sum(counts[:b]) <= percentile% of
    the total (documents below it are dropped: at most that share)."""
    below = np.concatenate([[0], np.cumsum(counts)])
    allowed = percentile / 100.0 * below[-1]
    return int(np.flatnonzero(below <= allowed + 1e-9)[-1])


def _kept_share(counts: np.ndarray, cut_bin: int) -> float:
    total = counts.sum()
    return round(float(counts[cut_bin:].sum() / total), 4) if total else 1.0


def _curve(counts: np.ndarray, bins: int) -> dict:
    """What each percentile and each threshold would keep, from one group's histogram."""
    at_p = {}
    for p in REPORT_PERCENTILES:
        b = percentile_cut(counts, p)
        at_p[f"p{p}"] = {"threshold": round(b / bins, 6), "kept": _kept_share(counts, b)}
    at_t = {f"{t:g}": _kept_share(counts, bin_of(t, bins)) for t in REPORT_THRESHOLDS}
    return {"percentiles": at_p, "thresholds": at_t}


def reason_for(column: str, threshold: float, percentile: float | None, group: str | None) -> str:
    if percentile is None:
        return f"{column}<{threshold:g}"
    where = f"p{percentile:g}" + (f",{group}" if group is not None else "")
    return f"{column}<{threshold:.4f}({where})"


class QualityThreshold(GlobalStage):
    name = "quality-threshold"
    reads = ("id", "language", *QUALITY_COLUMNS, "annotations")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = QualityThresholdConfig

    def needs(self) -> tuple[str | tuple[str, ...], ...]:
        c = self.config  # a document's score is the first of `columns` with a value: one will do
        grouping = ("language",) if c.group_by == "language" else ()
        annotations = ("annotations",) if c.group_by == "model" or c.exempt_domains else ()
        return ("id", *grouping, tuple(c.columns), *annotations)

    def fit(self, ds) -> dict:
        c = self.config
        partial = ds.map_batches(_Histograms(c), batch_format="pyarrow", batch_size=None)
        hist = reduce_blocks(partial, _sum_hist)
        rows = list(zip(*(hist.column(k).to_pylist() for k in ("group", "column", "bin", "n")))) if hist is not None else []
        per_group: dict[str, np.ndarray] = {}
        by_column: dict[str, int] = {}
        # bookkeeping rows: ("unscored", language group, -1, n) and ("exempt", domain kind, -1, n)
        unscored = {key: n for group, key, _, n in rows if group == "unscored"}
        exempt = {key: n for group, key, _, n in rows if group == "exempt"}
        for group, column, b, n in rows:
            if group in _OTHER:
                continue
            per_group.setdefault(group, np.zeros(c.bins, dtype=np.int64))[b] += n
            by_column[column] = by_column.get(column, 0) + n
        cuts, groups = {}, {}
        for group, counts in sorted(per_group.items()):
            if c.mode == "percentile":
                cut_bin = percentile_cut(counts, c.percentile)
                threshold = round(cut_bin / c.bins, 6)
            else:
                # applied at the histogram's resolution: the threshold rounded up to a bin edge
                cut_bin = min(c.bins, math.ceil(round(c.thresholds.get(group, c.threshold) * c.bins, 6)))
                threshold = round(cut_bin / c.bins, 6)
            n = int(counts.sum())
            dropped = int(counts[:cut_bin].sum())
            cuts[group] = {"threshold": threshold, "bin": cut_bin}
            groups[group] = {"documents": n, "threshold": threshold, "dropped": dropped, "kept": n - dropped,
                             **_curve(counts, c.bins)}
        all_counts = sum(per_group.values()) if per_group else np.zeros(c.bins, dtype=np.int64)
        write_meta(self.ctx.decision_dir, {"cuts": cuts})
        would_drop = sum(g["dropped"] for g in groups.values()) + (sum(unscored.values()) if c.unscored == "drop" else 0)
        facts = {
            "mode": c.mode, "percentile": c.percentile if c.mode == "percentile" else None,
            "threshold": c.threshold if c.mode == "threshold" else None, "group_by": c.group_by,
            "scored_by": dict(sorted(by_column.items())), "unscored": dict(sorted(unscored.items())),
            "unscored_policy": c.unscored, "exempt": dict(sorted(exempt.items())),
            "groups": groups, "all": {"documents": int(all_counts.sum()), **_curve(all_counts, c.bins)},
            "would_drop": would_drop,
        }
        log.info("%s: %s; cuts %s; %d documents to drop", self.name,
                 f"p{c.percentile:g}" if c.mode == "percentile" else f"threshold {c.threshold:g}",
                 {g: v["threshold"] for g, v in cuts.items()}, would_drop)
        return facts

    def applies_nothing(self, facts: dict) -> bool:
        return facts.get("would_drop") == 0

    def apply_stage(self) -> "QualityThresholdApply":
        return QualityThresholdApply(self.config, self.ctx)


class QualityThresholdApply(Filter):
    """The pass after the decision (same config, same folder): documents under their group's cut
    are dropped."""

    name, reads, resources, Config = QualityThreshold.name, QualityThreshold.reads, QualityThreshold.resources, QualityThresholdConfig

    def setup(self) -> None:
        self._cuts = read_meta(self.ctx.decision_dir)["cuts"]  # the decision's cuts, once per worker

    def decide(self, batch: pa.Table) -> list[str | None]:
        c = self.config
        percentile = c.percentile if c.mode == "percentile" else None
        reasons: list[str | None] = []
        for group, column, score, kind in score_rows(batch, c):
            if kind is not None:
                reasons.append(None)
            elif score is None:
                reasons.append(UNSCORED if c.unscored == "drop" else None)
            else:
                cut = self._cuts.get(group)
                below = cut is not None and bin_of(score, c.bins) < cut["bin"]
                named = group if c.group_by != "none" else None
                reasons.append(reason_for(column, cut["threshold"], percentile, named) if below else None)
        return reasons
