"""Stage `downsample-topics`: keep each document of topic T with probability `keep_rates[T]`
(Llama 3 §3.3.1 downsamples over-represented categories such as arts and entertainment).

The draw is a seeded hash of the document id, so a document's fate depends only on its id, its
topic, the rates and the run seed. Documents without a topic (no knowledge classifier ran) are
kept, and the log says how many."""
from __future__ import annotations

import logging
from typing import Annotated

import pyarrow as pa
from pydantic import Field

from pipeline.mix.keys import seeded_keys, unit_interval
from pipeline.stage import Filter, Resources, StageConfig

log = logging.getLogger(__name__)


class DownsampleTopicsConfig(StageConfig):
    # topic -> probability of keeping a document of that topic; topics not listed use default_rate.
    # Llama 3 gives no numbers: the rates are a data decision, set per run in the config.
    keep_rates: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = {}
    default_rate: float = Field(1.0, ge=0.0, le=1.0)


class DownsampleTopics(Filter):
    name = "downsample-topics"
    reads = ("id", "topic")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = DownsampleTopicsConfig

    def decide(self, batch: pa.Table) -> list[str | None]:
        topics = batch.column("topic").to_pylist()
        seed = self.ctx.seed if self.ctx is not None else 0
        draws = unit_interval(seeded_keys(batch.column("id").to_pylist(), seed, "downsample-topics"))
        rates = self.config.keep_rates
        reasons: list[str | None] = []
        for topic, u in zip(topics, draws.tolist()):
            rate = 1.0 if topic is None else rates.get(topic, self.config.default_rate)
            reasons.append(None if u < rate else f"topic-downsampled:{topic}")
        untopical = topics.count(None)
        if untopical:
            log.info("downsample-topics: %d of %d documents have no topic (no classifier ran): kept", untopical, len(topics))
        return reasons
