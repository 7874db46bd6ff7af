"""Stage `downsample-topics`: keep rates derived from the run's topic distribution (a Ray
aggregate) against a target, exact seeded cuts per topic, only in the downsampled buckets."""
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.mix.keys import seeded_keys
from pipeline.mix.topics import DownsampleTopics, capped_rates
from pipeline.executor.runner import run_global
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext

# general: entertainment 500, science 200, sports 200, history 100; code: 300 software pages
COUNTS = {"entertainment": 500, "science": 200, "sports": 200, "history": 100}


def _rows():
    rows = []
    for topic, n in COUNTS.items():
        rows += [{"id": f"{topic}-{i:04d}", "topic": topic, "bucket": "general"} for i in range(n)]
    rows += [{"id": f"code-{i:04d}", "topic": "software-development", "bucket": "code"} for i in range(300)]
    rows += [{"id": f"none-{i:04d}", "topic": None, "bucket": "general"} for i in range(50)]
    return rows


def _run(tmp_path, rows, name="t", seed=3, blocks=4, **config):
    import ray.data

    table = documents_from_rows(rows)
    step = -(-len(rows) // blocks)
    ds = ray.data.from_arrow([table.slice(s, step) for s in range(0, len(rows), step)])
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / name), seed=seed)
    stage = DownsampleTopics(DownsampleTopics.Config(**config), ctx)
    kept = run_global(stage, ds).take_all()
    folder = tmp_path / name / "dropped"
    dropped = pq.read_table(folder).to_pylist() if folder.exists() else []
    return kept, dropped, stage


def test_capped_rates_water_filling():
    # uniform target over 4 topics, cap 1.5 x 25% = 37.5%: entertainment (50%) is capped; with it
    # capped the kept total is 500 / (1 - 0.375) = 800 -> 300 entertainment, 37.5% of 800
    rates = capped_rates(COUNTS, {}, 1.5)
    assert rates == {"entertainment": pytest.approx(0.6), "history": 1.0, "science": 1.0, "sports": 1.0}
    # cap 1.0 (the target itself) caps every topic over 25% in turn: all at 100 documents
    rates = capped_rates(COUNTS, {}, 1.0)
    kept = {t: rates[t] * n for t, n in COUNTS.items()}
    assert kept == pytest.approx({t: 100 for t in COUNTS})
    # weights: a topic wanted at half weight is capped earlier; an under-represented topic never is
    rates = capped_rates(COUNTS, {"sports": 0.5}, 1.5)
    kept = {t: rates[t] * n for t, n in COUNTS.items()}
    total = sum(kept.values())
    assert kept["sports"] / total == pytest.approx(1.5 * 0.5 / 3.5) and rates["history"] == 1.0
    assert max(kept[t] / total for t in COUNTS) <= 1.5 * 1 / 3.5 + 1e-9
    assert capped_rates(COUNTS, {}, 10.0) == {t: 1.0 for t in COUNTS}  # nothing over-represented


def test_measured_rates_exact_cuts_and_reasons(ray_local, tmp_path):
    kept, dropped, stage = _run(tmp_path, _rows(), max_ratio=1.5, min_documents=10)
    counts = Counter((r["bucket"], r["topic"]) for r in kept)
    # exactly 300 of 500 entertainment pages; the code bucket and untopical pages untouched
    assert counts[("general", "entertainment")] == 300
    assert counts[("code", "software-development")] == 300 and counts[("general", None)] == 50
    assert Counter(d["reason"] for d in dropped) == {"topic-downsampled:entertainment": 200}
    # which 300: the first in the seeded hash order of their ids
    ids = [f"entertainment-{i:04d}" for i in range(500)]
    keys = seeded_keys(ids, 3, "downsample-topics")
    first = {i for _, i in sorted(zip(keys.tolist(), ids))[:300]}
    assert {r["id"] for r in kept if r["topic"] == "entertainment"} == first


def test_facts_say_what_was_measured_and_kept(ray_local, tmp_path):
    stage = DownsampleTopics(DownsampleTopics.Config(max_ratio=1.5, min_documents=10),
                             RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "f"), seed=3))
    facts = stage.fit(_dataset_again(_rows()))
    ent = facts["topics"]["entertainment"]
    assert (ent["documents"], ent["share"], ent["target_share"], ent["rate"], ent["kept"]) == (500, 0.5, 0.25, 0.6, 300)
    assert ent["kept_share"] == 0.375 and facts["would_drop"] == 200 and facts["documents"] == 1000
    assert not stage.applies_nothing(facts)


def _dataset_again(rows):
    import ray.data

    return ray.data.from_arrow(documents_from_rows(rows))


def test_too_few_documents_and_hand_rates(ray_local, tmp_path):
    kept, dropped, stage = _run(tmp_path, _rows(), name="few", min_documents=5000)
    assert not dropped and len(kept) == len(_rows())
    facts = stage.fit(_dataset_again(_rows()))
    assert "min_documents" in facts["not_measured"] and stage.applies_nothing(facts)
    # a hand-set rate still applies (0: the whole topic), measured or not
    kept, dropped, _ = _run(tmp_path, _rows(), name="hand", min_documents=5000, keep_rates={"sports": 0.0})
    assert Counter(d["reason"] for d in dropped) == {"topic-downsampled:sports": 200}


def test_same_choice_on_any_partitioning_and_seeded(ray_local, tmp_path):
    rows = _rows()
    a, _, _ = _run(tmp_path, rows, name="a", blocks=1, max_ratio=1.5, min_documents=10)
    b, _, _ = _run(tmp_path, rows[::-1], name="b", blocks=9, max_ratio=1.5, min_documents=10)
    c, _, _ = _run(tmp_path, rows, name="c", seed=4, max_ratio=1.5, min_documents=10)
    assert sorted(r["id"] for r in a) == sorted(r["id"] for r in b)
    assert sorted(r["id"] for r in a) != sorted(r["id"] for r in c)


def test_config_errors():
    with pytest.raises(Exception):
        DownsampleTopics.Config(keep_rates={"entertainment": 1.5})
    with pytest.raises(Exception):
        DownsampleTopics.Config(buckets=["poetry"])
    with pytest.raises(Exception):
        DownsampleTopics.Config(max_ratio=0.5)
