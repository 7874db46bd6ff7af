"""The mix end to end on the demo sample: WARC in, per-bucket shards and the annealing set out.
The trained scorers' columns follow the offline 135M judge, which carries little signal, so a
stand-in stage after them rewrites those columns from the demo's URLs to make the expected buckets
known (code: /programming/, math: mathcorner, topic: the arts and sports sites, which the test's
config drops whole)."""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline import registry
from pipeline.config import load_config
from pipeline.output.megatron import MegatronReader
from pipeline.report.build import write_report
from pipeline.schema import with_column
from pipeline.stage import Annotator
from tests.e2e_checks import SHARED_WARC_JUDGE, ledger, run_pipeline

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.ray, pytest.mark.slow]
SCORER = "t-synthetic-scores"
# assign-bucket on the stand-in scorers' columns, not on the shipped config's choice
STAND_IN_BUCKETS = {"code_column": "code_score", "reasoning_column": "reasoning_score", "code_threshold": 0.5,
                    "reasoning_threshold": 0.5, "first": "code"}


class SyntheticScores(Annotator):
    """Known code, reasoning and topic columns in place of the trained scorers'."""

    name = SCORER
    reads = ("url",)
    writes = ("code_score", "reasoning_score", "topic")

    def annotate(self, batch: pa.Table) -> pa.Table:
        urls = [u or "" for u in batch.column("url").to_pylist()]
        batch = with_column(batch, "code_score", [0.9 if "/programming/" in u else 0.1 for u in urls])
        batch = with_column(batch, "reasoning_score", [0.8 + len(u) / 1000 if "mathcorner" in u else 0.2 for u in urls])
        topics = ["entertainment" if ("artsdesk" in u or "sideline" in u) else "other" for u in urls]
        return with_column(batch, "topic", topics)


def write_config(folder: Path) -> str:
    base = load_config(ROOT / "configs" / "demo.yaml")
    steps = list(base.pipeline)
    steps.insert(steps.index("assign-bucket"), SCORER)  # after the trained scorers: its columns win
    config = {
        "extends": str(ROOT / "configs" / "demo.yaml"),
        "input": {"paths": [str(ROOT / "demo" / "sample.warc.gz")]},
        "pipeline": steps,
        # the mix alone: no quality filtering, buckets from the stand-in scores (tests/pipeline/mix/test_mix_demo.py
        # runs the demo as it ships)
        "stages": {"shard": {"max_tokens_per_shard": 2000}, "downsample-topics": {"keep_rates": {"entertainment": 0.0}},
                   "quality-threshold": {"percentile": 0}, "assign-bucket": STAND_IN_BUCKETS},
    }
    path = folder / "mix.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def scorer_registered():
    registry.STAGES[SCORER] = "tests.pipeline.mix.test_mix_e2e:SyntheticScores"
    yield
    registry.STAGES.pop(SCORER, None)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, ray_local, scorer_registered):
    folder = tmp_path_factory.mktemp("mix-e2e")
    config = write_config(folder)
    out = folder / "out"
    summary = run_pipeline(config, str(out))
    write_report(str(out))
    return config, out, summary


def _kept(out: Path) -> list[dict]:
    mix_dir = next(d for d in sorted((out / "stages").iterdir()) if d.name.endswith("-mix"))
    return pq.read_table(mix_dir / "kept", columns=["id", "bucket", "repeats", "anneal", "token_count", "tokens"]).to_pylist()


def test_every_bucket_has_shards_and_the_shares_are_reported(mixed_run):
    _, out, summary = mixed_run
    assert summary["balanced"], summary["problems"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["buckets"]) == {"general", "math_reasoning", "code", "multilingual"}
    mix = summary["mix"]
    assert mix["shards_match_plan"] is True
    for bucket, b in mix["buckets"].items():
        assert b["tokens"] == manifest["buckets"][bucket]["tokens"]
        assert b["achieved"] == pytest.approx(manifest["buckets"][bucket]["share"])
        # within 1 pp, or reported unmet with the shortfall
        off = abs(b["achieved"] - b["target"]) * 100
        unmet = {u["bucket"]: u for u in mix["unmet"]}
        assert off <= 1.0 or unmet[bucket]["shortfall_pp"] == pytest.approx(-100 * (b["achieved"] - b["target"]), abs=1e-3)
        assert b["repetition"] <= b["max_epochs"] + 1e-9
    # the scarcest bucket is repeated to its limit and sets the total
    limit = mix["buckets"][mix["limited_by"]]
    assert limit["repetition"] == pytest.approx(limit["max_epochs"])
    assert sum(v["share"] for v in mix["languages"].values()) == pytest.approx(1.0)
    assert {"en", "fr"} <= set(mix["languages"]) and set(mix["topics"]) == {"other"}  # entertainment: rate 0
    # the annealing set: at least the best-scored document of code and of math
    assert {b: v["documents"] >= 1 for b, v in mix["anneal"].items() if b != "shards"} == {"code": True, "math_reasoning": True}


def test_shards_hold_the_kept_documents_repeats_times_and_the_anneal_set(mixed_run):
    _, out, _ = mixed_run
    manifest = json.loads((out / "manifest.json").read_text())
    kept = _kept(out)
    want = Counter()
    for r in kept:
        want[(r["bucket"], tuple(r["tokens"]))] += r["repeats"]
    got = Counter()
    for s in manifest["shards"]:
        reader = MegatronReader(out / s["prefix"])
        got.update((s["bucket"], tuple(reader[i].tolist())) for i in range(len(reader)))
    assert got == want
    anneal = Counter()
    for s in manifest["anneal"]["shards"]:
        reader = MegatronReader(out / s["prefix"])
        anneal.update(tuple(reader[i].tolist()) for i in range(len(reader)))
    marked = [r for r in kept if r["anneal"]]
    assert marked and {r["bucket"] for r in marked} <= {"code", "math_reasoning"}
    assert anneal == Counter(tuple(r["tokens"]) for r in marked)


def test_every_choice_is_in_the_ledger(mixed_run):
    _, out, summary = mixed_run
    led = ledger(out)
    kept = {r["id"]: r for r in _kept(out)}
    assert {i for i, r in led.items() if r["decision"] == "kept"} == set(kept)
    for rid, r in kept.items():
        assert (led[rid]["bucket"], led[rid]["repeats"], led[rid]["anneal"]) == (r["bucket"], r["repeats"], r["anneal"])
    mix_drops = [r for r in led.values() if r["stage"] == "mix"]
    assert mix_drops and all(r["reason"] == f"mix-downsampled:{r['bucket']}" for r in mix_drops)
    topic_drops = [r for r in led.values() if r["stage"] == "downsample-topics"]
    assert topic_drops and all(r["reason"] == "topic-downsampled:entertainment" for r in topic_drops)
    stages = {s["name"]: s for s in summary["stages"]}
    assert stages["mix"]["dropped"] == len(mix_drops)


def test_report_shows_the_mix(mixed_run):
    _, out, summary = mixed_run
    html = (out / "report.html").read_text()
    mix_html = html[html.index('<section id="mix">'):]
    mix_html = mix_html[: mix_html.index("</section>")]
    for text in ("math_reasoning", "multilingual", "repetition", "Annealing set", "Languages"):
        assert text in mix_html
    assert mix_html.count("<svg") >= 2


def test_second_run_is_byte_identical(mixed_run, tmp_path):
    config, out, _ = mixed_run
    second = tmp_path / "second"
    run_pipeline(config, str(second))
    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / "manifest.json").read_bytes() == (second / "manifest.json").read_bytes()
    for s in manifest["shards"] + manifest["anneal"]["shards"]:
        assert (out / s["bin"]).read_bytes() == (second / s["bin"]).read_bytes()
    for name in sorted(os.listdir(out / "ledger")):
        assert (out / "ledger" / name).read_bytes() == (second / "ledger" / name).read_bytes()


class HashedScores(Annotator):
    """Stand-in scorers for real pages: seeded-hash scores, uniform in [0, 1), and no topic."""

    name = "t-hashed-scores"
    reads = ("id",)
    writes = ("code_score", "reasoning_score")

    def annotate(self, batch: pa.Table) -> pa.Table:
        from pipeline.mix.keys import seeded_keys, unit_interval

        ids = batch.column("id").to_pylist()
        batch = with_column(batch, "code_score", unit_interval(seeded_keys(ids, 0, "code")))
        return with_column(batch, "reasoning_score", unit_interval(seeded_keys(ids, 0, "reasoning")))


def test_shared_warcs_mix_within_one_point(shared_data, tmp_path, ray_local):
    """Done-when of issue #6 on every shared WARC file: each bucket's share within 1 pp of its
    target wherever the input allows, else reported unmet with the shortfall."""
    import glob

    warcs = sorted(glob.glob(str(shared_data / "warc" / "*.warc.gz")))
    if not warcs:
        pytest.skip("no WARC files in ../shared/data/warc")
    registry.STAGES["t-hashed-scores"] = "tests.pipeline.mix.test_mix_e2e:HashedScores"
    try:
        base = load_config(ROOT / "configs" / "commoncrawl.yaml")
        steps = list(base.pipeline)
        # the stand-in scores replace the trained scorers' code/reasoning columns before bucketing
        steps.insert(steps.index("assign-bucket"), "t-hashed-scores")
        path = tmp_path / "cc-mix.yaml"
        # thresholds for uniform stand-in scores: ~15% of English pages code, ~25% of the rest math
        stages = {**SHARED_WARC_JUDGE["stages"],
                  "assign-bucket": {**STAND_IN_BUCKETS, "code_threshold": 0.85, "reasoning_threshold": 0.75}}
        path.write_text(yaml.safe_dump({
            "extends": str(ROOT / "configs" / "commoncrawl.yaml"), "input": {"paths": warcs}, "pipeline": steps,
            "stages": stages,
        }))
        out = tmp_path / "out"
        summary = run_pipeline(str(path), str(out))
    finally:
        registry.STAGES.pop("t-hashed-scores", None)
    assert summary["balanced"], summary["problems"]
    mix = summary["mix"]
    unmet = {u["bucket"]: u for u in mix["unmet"]}
    print(json.dumps({b: (v["target"], round(v["achieved"], 4), v["tokens"], v["repetition"]) for b, v in mix["buckets"].items()}))
    for bucket, b in mix["buckets"].items():
        assert abs(b["achieved"] - b["target"]) <= 0.01 or bucket in unmet, (bucket, b, mix["unmet"])
    assert set(json.loads((out / "manifest.json").read_text())["buckets"]) == set(mix["buckets"])
    assert mix["anneal"]["shards"]["documents"] >= 2
