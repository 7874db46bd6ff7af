"""The spine on Ray with tiny stages: stage folders, ledger balance, resume, determinism."""
import json
import os

import pyarrow.parquet as pq
import pytest

from pipeline import registry
from pipeline.config import validate
from pipeline.output.ledger import LedgerImbalance, build_summary
from pipeline.executor.runner import Runner
from tests.spine_stages import SPINE_STAGES

pytestmark = pytest.mark.ray


@pytest.fixture
def spine(monkeypatch, tmp_path, ray_local):
    for k, v in SPINE_STAGES.items():
        monkeypatch.setitem(registry.STAGES, k, v)
    rows = [
        {"id": "a", "text": "hello world"},
        {"id": "b", "text": "hi"},
        {"id": "c", "text": "hello world"},
        {"id": "d", "text": "something else"},
        {"id": "e", "text": "broken", "bad": True},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = validate(
        {"input": {"paths": [str(src)]}, "pipeline": ["t-source", "t-short", "t-exact", "t-sink"],
         "stages": {"t-short": {"min_chars": 5}}},
        source="test",
    )
    return cfg, tmp_path


def read_ledger(out):
    return {r["record_id"]: r for r in pq.read_table(os.path.join(out, "ledger")).to_pylist()}


def test_every_record_lands_in_the_ledger(spine):
    cfg, tmp = spine
    out = str(tmp / "out")
    outcomes = Runner(cfg, out).run()
    summary = build_summary(out, outcomes)
    ledger = read_ledger(out)
    assert set(ledger) == {"a", "b", "c", "d", "e"}
    assert ledger["a"]["decision"] == "kept" and ledger["a"]["stage"] == "t-sink"
    assert (ledger["b"]["stage"], ledger["b"]["reason"]) == ("t-short", "too-short")
    assert (ledger["c"]["reason"], ledger["c"]["duplicate_of"]) == ("exact-duplicate", "a")
    assert (ledger["e"]["stage"], ledger["e"]["reason"]) == ("t-source", "bad-line")
    assert summary["input_total"] == 5 and summary["kept_total"] == 2 and summary["balanced"]
    by_name = {s["name"]: s for s in summary["stages"]}
    assert by_name["t-short"]["reasons"] == {"too-short": 1}
    assert by_name["t-exact"]["rows_in"] == 3 and by_name["t-exact"]["kept"] == 2
    assert os.path.exists(os.path.join(out, "stages", "02-t-exact", "_SUCCESS.json"))


def test_rerun_resumes_and_config_change_recomputes(spine):
    cfg, tmp = spine
    out = str(tmp / "out")
    Runner(cfg, out).run()
    first = pq.read_table(os.path.join(out, "stages", "01-t-short", "kept")).sort_by("id")
    again = Runner(cfg, out).run()
    assert all(o.skipped for o in again)
    changed = validate({**cfg.model_dump(exclude={"source", "base_dir"}), "stages": {"t-short": {"min_chars": 12}}}, source="t")
    third = Runner(changed, out).run()
    assert [o.skipped for o in third] == [True, False, False, False]
    assert third[1].dropped == 3  # both "hello world" records (11 chars) now too short as well
    assert first.num_rows == 3


def test_imbalance_fails_loudly(spine):
    cfg, tmp = spine
    out = str(tmp / "out")
    outcomes = Runner(cfg, out).run()
    # lose a dropped file behind the runner's back: the ledger must notice
    dropped_dir = os.path.join(out, "stages", "01-t-short", "dropped")
    for f in os.listdir(dropped_dir):
        os.remove(os.path.join(dropped_dir, f))
    with pytest.raises(LedgerImbalance):
        build_summary(out, outcomes)
    assert json.load(open(os.path.join(out, "summary.json")))["balanced"] is False
