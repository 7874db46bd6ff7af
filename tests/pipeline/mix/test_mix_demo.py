"""The demo as it ships (configs/demo.yaml, its trained scorers, assign-bucket's calibrated
thresholds, the quality decision): all four buckets and the annealing set are filled, the demo's
code and math pages land in their buckets, and quality filtering drops by score with its reason
in the ledger. No stand-in scores (tests/pipeline/mix/test_mix_e2e.py uses URL-based ones to test the mix
itself)."""
from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.report.build import write_report
from tests.e2e_checks import ledger, run_pipeline

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.ray, pytest.mark.slow]
DOMAIN_PAGES = {"code-python-comprehensions": "code", "math-pythagoras-images": "math_reasoning",
                "math-quadratic-mathml": "math_reasoning"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, ray_local):
    out = tmp_path_factory.mktemp("demo-mix") / "out"
    summary = run_pipeline(str(ROOT / "configs" / "demo.yaml"), str(out))
    write_report(str(out))
    return out, summary


def _record_id():
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "demo" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda key: module.record_uuid(key, "response")


def test_every_bucket_and_the_annealing_set_are_filled(demo):
    out, summary = demo
    assert summary["balanced"], summary["problems"]
    manifest = json.loads((out / "manifest.json").read_text())
    tokens = {b: v["tokens"] for b, v in manifest["buckets"].items()}
    assert set(tokens) == {"general", "math_reasoning", "code", "multilingual"} and all(tokens.values()), tokens
    anneal = summary["mix"]["anneal"]
    assert anneal["shards"]["documents"] >= 2
    assert anneal["code"]["documents"] >= 1 and anneal["math_reasoning"]["documents"] >= 1


def test_the_demo_code_and_math_pages_are_bucketed(demo):
    out, _ = demo
    led = ledger(out)
    rid = _record_id()
    got = {key: (led[rid(key)]["bucket"], led[rid(key)]["stage"], led[rid(key)]["reason"]) for key in DOMAIN_PAGES}
    assert {k: v[0] for k, v in got.items()} == DOMAIN_PAGES, got
    # only the demo's code and math pages are in those buckets
    others = Counter(r["bucket"] for i, r in led.items() if i not in {rid(k) for k in DOMAIN_PAGES})
    assert others["code"] == 0 and others["math_reasoning"] == 0, others


def test_quality_filtering_drops_by_score_with_reasons(demo):
    out, summary = demo
    stage = next(s for s in summary["stages"] if s["name"] == "quality-threshold")
    assert stage["dropped"] >= 1 and stage["facts"]["mode"] == "percentile"
    drops = [r for r in ledger(out).values() if r["stage"] == "quality-threshold"]
    assert len(drops) == stage["dropped"]
    for r in drops:
        assert re.fullmatch(r"quality_(fasttext|transformer)<\d\.\d{4}\(p\d+(\.\d+)?,[a-z]+\)", r["reason"]), r["reason"]
    report = (out / "report.html").read_text()
    assert "Quality filtering (quality-threshold)" in report and "Agreement with the teachers" in report
