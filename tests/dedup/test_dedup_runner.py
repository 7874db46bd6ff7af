"""Both dedup stages through the real runner: stage folders, ledger balance, duplicate_of."""
import json
import os

import pyarrow.parquet as pq
import pytest

from pipeline import registry
from pipeline.config import validate
from pipeline.output.ledger import build_summary
from pipeline.executor.runner import Runner
from tests.spine_stages import SPINE_STAGES
from tests.dedup_fixtures import sort_shuffle, text  # noqa: F401 (sort_shuffle: fixture)

pytestmark = pytest.mark.ray


def test_url_then_minhash_through_the_runner(monkeypatch, tmp_path, sort_shuffle):
    for k, v in SPINE_STAGES.items():
        monkeypatch.setitem(registry.STAGES, k, v)
    t1, t2, t3 = (" ".join(text(s, 200)) for s in (101, 102, 103))
    rows = [
        {"id": "a1", "url": "http://x.com/a", "text": t1},
        {"id": "a2", "url": "http://X.com/a/?utm_source=feed", "text": t1 + " more"},  # same page, undated: a1 wins the tie
        {"id": "b1", "url": "http://x.com/b", "text": t2},
        {"id": "b2", "url": "http://x.com/c", "text": t2},  # another page with the same text
        {"id": "c", "text": t3},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = validate(
        {
            "input": {"paths": [str(src)]},
            "pipeline": ["t-source", "dedup-url", "dedup-minhash", "t-sink"],
            "stages": {"dedup-url": {"num_partitions": 2}, "dedup-minhash": {"num_partitions": 2}},
        },
        source="test",
    )
    out = str(tmp_path / "out")
    outcomes = Runner(cfg, out).run()
    summary = build_summary(out, outcomes)
    ledger = {r["record_id"]: r for r in pq.read_table(os.path.join(out, "ledger")).to_pylist()}
    assert (ledger["a2"]["stage"], ledger["a2"]["reason"], ledger["a2"]["duplicate_of"]) == ("dedup-url", "older-crawl", "a1")
    assert (ledger["b2"]["stage"], ledger["b2"]["reason"], ledger["b2"]["duplicate_of"]) == ("dedup-minhash", "near-duplicate", "b1")
    assert {i for i, r in ledger.items() if r["decision"] == "kept"} == {"a1", "b1", "c"}
    assert summary["balanced"] and summary["kept_total"] == 3
