"""Stage `downsample-topics`: per-topic keep rates by a seeded hash of the id."""
from collections import Counter

import pytest

from pipeline.mix.keys import seeded_keys, unit_interval
from pipeline.mix.topics import DownsampleTopics
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext, run_map_stage_local

N = 4000


def _run(seed=1, **config):
    topics = ["Entertainment", "Science", None, "Sports"]
    rows = [{"id": f"doc-{i:05d}", "topic": topics[i % 4]} for i in range(N)]
    ctx = RunContext(output_dir="/nonexistent", stage_dir="/nonexistent", seed=seed)
    stage = DownsampleTopics(DownsampleTopics.Config(**config), ctx)
    return run_map_stage_local(stage, documents_from_rows(rows), batch_size=333)


def test_rates_per_topic():
    kept, dropped = _run(keep_rates={"Entertainment": 0.25, "Sports": 0.0}, default_rate=1.0)
    counts = Counter(kept.column("topic").to_pylist())
    assert counts["Science"] == N // 4 and counts[None] == N // 4 and counts["Sports"] == 0
    assert abs(counts["Entertainment"] - N // 16) < 4 * (N / 4 * 0.25 * 0.75) ** 0.5  # binomial, 4 sigma
    reasons = Counter(dropped.column("reason").to_pylist())
    assert reasons == {"topic-downsampled:Sports": N // 4, "topic-downsampled:Entertainment": N // 4 - counts["Entertainment"]}
    # the draw is the documented one: unit(xxh64(id, seed, "downsample-topics")) < rate
    ids = [r for r, t in zip(kept.column("id").to_pylist(), kept.column("topic").to_pylist()) if t == "Entertainment"]
    assert (unit_interval(seeded_keys(ids, 1, "downsample-topics")) < 0.25).all()


def test_default_rate_and_determinism():
    a_kept, _ = _run(keep_rates={"Science": 1.0}, default_rate=0.5)
    b_kept, _ = _run(keep_rates={"Science": 1.0}, default_rate=0.5)
    assert a_kept.column("id").to_pylist() == b_kept.column("id").to_pylist()
    counts = Counter(a_kept.column("topic").to_pylist())
    assert counts["Science"] == N // 4 and counts[None] == N // 4 and 0 < counts["Sports"] < N // 4
    c_kept, _ = _run(seed=2, keep_rates={"Science": 1.0}, default_rate=0.5)
    assert c_kept.column("id").to_pylist() != a_kept.column("id").to_pylist()


def test_rates_outside_0_1_are_config_errors():
    with pytest.raises(Exception):
        DownsampleTopics.Config(keep_rates={"Entertainment": 1.5})
