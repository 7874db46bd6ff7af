"""Stage `downsample-topics` (global): Llama 3 §3.3.1 downsamples over-represented knowledge
categories ("such as arts and entertainment"). The keep rates come from the run's own topic
distribution against a target, not from hand-set numbers:

1. A Ray aggregate counts the documents of each topic in the downsampled buckets (`buckets`:
   the general bucket by default: code and math pages are chosen by their own classifiers, and
   capping "software development" would cut the code bucket the mix is short of).
2. The target share of a topic is its weight (`target_weights`, 1 for a topic not listed: uniform)
   over the weights of the topics present. A topic may keep at most `max_ratio` x its target
   share of the kept documents: the kept counts are k_t = min(n_t, cap_t x K) with K = sum k_t
   (water-filling: capping one topic shrinks K, which may cap the next), rate_t = k_t / n_t.
   `keep_rates` sets a topic's rate by hand instead (e.g. 0 to drop one whole).
3. Which documents of a topic stay is exact and seeded: the first round(rate x n_t) in the order
   of a seeded hash of the id (pipeline/mix/cuts.py), so the count does not depend on chance or
   on partitioning; the cut goes to `decision/_DECISION.json`, applied in the next pass
   (`topic-downsampled:<topic>`).
Below `min_documents` topical documents the distribution is not measured (a few pages over 24
topics are noise) and nothing is dropped; documents without a topic are always kept."""
from __future__ import annotations

import logging
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from pipeline.decisions import read_meta, write_meta
from pipeline.mix.buckets import BUCKETS
from pipeline.mix.cuts import KEYED_SCHEMA, Cut, find_cuts
from pipeline.mix.keys import seeded_keys
from pipeline.ray_ops import reduce_blocks, sum_tables
from pipeline.stage import Filter, GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

SALT = "downsample-topics"
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class DownsampleTopicsConfig(StageConfig):
    # the buckets whose documents are downsampled by topic (stage assign-bucket runs before)
    buckets: tuple[str, ...] = ("general",)
    # relative target weight per topic; a topic not listed weighs 1 (uniform target)
    target_weights: dict[str, Annotated[float, Field(gt=0.0)]] = {}
    # a topic may hold at most this multiple of its target share
    max_ratio: float = Field(3.0, ge=1.0)
    # fewer topical documents than this: nothing is measured, nothing dropped
    min_documents: int = Field(100, ge=0)
    # topic -> rate set by hand, instead of the measured one
    keep_rates: dict[str, Rate] = {}

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(v) - set(BUCKETS))
        if unknown:
            raise ValueError(f"unknown buckets {unknown}; buckets are {BUCKETS}")
        return v


def capped_rates(counts: dict[str, int], weights: dict[str, float], max_ratio: float) -> dict[str, float]:
    """Keep rates such that no topic holds more than max_ratio x its target share of the kept
    documents (target: the weights of the topics present, normalised), dropping as little as
    possible: k_t = min(n_t, cap_t K), K = sum_t k_t."""
    present = {t: n for t, n in counts.items() if n > 0}
    total_w = sum(weights.get(t, 1.0) for t in present)
    cap = {t: max_ratio * weights.get(t, 1.0) / total_w for t in present}
    capped: set[str] = set()
    kept_total = float(sum(present.values()))
    while True:
        over = [t for t in present if t not in capped and present[t] > cap[t] * kept_total + 1e-9]
        if not over:
            break
        capped |= set(over)
        room = 1.0 - sum(cap[t] for t in capped)
        if room <= 1e-12:  # every topic at its cap (max_ratio 1): the target itself
            break
        kept_total = sum(n for t, n in present.items() if t not in capped) / room
    return {t: (min(1.0, cap[t] * kept_total / n) if t in capped else 1.0) for t, n in sorted(present.items())}


def _in_buckets(batch: pa.Table, buckets: tuple[str, ...]) -> np.ndarray:
    mask = pc.fill_null(pc.is_in(batch.column("bucket"), pa.array(list(buckets), pa.string())), False)
    has_topic = pc.is_valid(batch.column("topic"))
    return pc.and_(mask, has_topic).to_numpy(zero_copy_only=False)


class _TopicKeys:
    """Ray task: (topic, seeded key, id, 1) of the topical documents in the downsampled buckets."""

    def __init__(self, seed: int, buckets: tuple[str, ...]):
        self.seed, self.buckets = seed, buckets

    def __call__(self, batch: pa.Table) -> pa.Table:
        batch = batch.filter(pa.array(_in_buckets(batch, self.buckets)))
        ids = batch.column("id").to_pylist()
        return pa.table([batch.column("topic"), pa.array(seeded_keys(ids, self.seed, SALT), pa.uint64()),
                         batch.column("id"), pa.array(np.ones(len(ids), np.int64))], schema=KEYED_SCHEMA)


def _count(batch: pa.Table) -> pa.Table:
    vc = pc.value_counts(batch.column("group"))
    return pa.table({"group": vc.field("values"), "n": vc.field("counts").cast(pa.int64())})


def _sum_counts(parts: list[pa.Table]) -> pa.Table | None:
    return sum_tables(parts, ["group"])


class DownsampleTopics(GlobalStage):
    name = "downsample-topics"
    reads = ("id", "topic", "bucket")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = DownsampleTopicsConfig

    def fit(self, ds) -> dict:
        c = self.config
        seed = self.ctx.seed
        keyed = ds.map_batches(_TopicKeys(seed, c.buckets), batch_format="pyarrow").materialize()
        sums = reduce_blocks(keyed.map_batches(_count, batch_format="pyarrow", batch_size=None), _sum_counts)
        counts = dict(zip(sums.column("group").to_pylist(), sums.column("n").to_pylist())) if sums is not None else {}
        total = sum(counts.values())
        if total < c.min_documents:
            rates = {t: 1.0 for t in sorted(counts)}
            why = f"{total} topical documents in {list(c.buckets)} < min_documents {c.min_documents}: distribution not measured"
            log.info("%s: %s; nothing dropped", self.name, why)
        else:
            rates = capped_rates(counts, c.target_weights, c.max_ratio)
            why = None
        rates.update({t: r for t, r in c.keep_rates.items() if t in counts})
        downsampled = sorted(t for t, r in rates.items() if r < 1.0)
        results = find_cuts(keyed, lambda totals: {t: rates[t] for t in downsampled}, downsampled) if downsampled else {}
        write_meta(self.ctx.decision_dir, {"seed": seed, "cuts": {t: [r.cut.key, r.cut.id] for t, r in results.items()}})
        present_w = sum(c.target_weights.get(t, 1.0) for t in counts) or 1.0
        topics = {t: {"documents": n, "share": round(n / total, 4), "target_share": round(c.target_weights.get(t, 1.0) / present_w, 4),
                      "rate": round(rates[t], 4), "kept": results[t].documents if t in results else n}
                  for t, n in sorted(counts.items())}
        kept = sum(v["kept"] for v in topics.values())
        for v in topics.values():
            v["kept_share"] = round(v["kept"] / kept, 4) if kept else 0.0
        facts = {"buckets": list(c.buckets), "max_ratio": c.max_ratio, "documents": total, "kept": kept,
                 "would_drop": total - kept, "topics": topics}
        if why:
            facts["not_measured"] = why
        log.info("%s: %d of %d topical documents kept; rates %s", self.name, kept, total,
                 {t: round(rates[t], 3) for t in downsampled})
        return facts

    def applies_nothing(self, facts: dict) -> bool:
        return not facts.get("would_drop")

    def apply_stage(self) -> "DownsampleTopicsApply":
        return DownsampleTopicsApply(self.config, self.ctx)


class DownsampleTopicsApply(Filter):
    """The pass after the decision (same config, same folder): a downsampled topic's documents
    past its cut are dropped."""

    name, reads, resources, Config = DownsampleTopics.name, DownsampleTopics.reads, DownsampleTopics.resources, DownsampleTopicsConfig

    def setup(self) -> None:
        meta = read_meta(self.ctx.decision_dir)
        self._seed, self._cuts = meta["seed"], {t: Cut(*x) for t, x in meta["cuts"].items()}

    def decide(self, batch: pa.Table) -> list[str | None]:
        reasons: list[str | None] = [None] * batch.num_rows
        if not self._cuts:
            return reasons
        ids = batch.column("id").to_pylist()
        topics = batch.column("topic").to_pylist()
        keys = seeded_keys(ids, self._seed, SALT)
        eligible = _in_buckets(batch, self.config.buckets)
        for topic, cut in self._cuts.items():
            idx = np.flatnonzero(eligible & np.array([t == topic for t in topics], dtype=bool))
            taken = cut.taken(keys[idx], [ids[i] for i in idx])
            for i in idx[~taken].tolist():
                reasons[i] = f"topic-downsampled:{topic}"
        return reasons
