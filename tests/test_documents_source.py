"""`read-documents`: extracted documents from parquet and jsonl as a source, one unit per file;
an unreadable file is one counted drop, never a crash."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.config import validate
from pipeline.documents_source import ReadDocuments
from pipeline.ledger import build_summary
from pipeline.runner import Runner
from pipeline.schema import DOCUMENT_SCHEMA, documents_from_rows
from pipeline.stage import RunContext


def write_inputs(folder):
    rows = [{"id": f"p{i}", "text": f"document number {i} has some words"} for i in range(5)]
    pq.write_table(documents_from_rows(rows), folder / "a.parquet")
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "j1", "text": "a json line", "annotations": {"k": 1}},
        {"text": "a line without an id", "url": "https://example.org/x"},
    ]))
    (folder / "c.parquet").write_bytes(b"PAR1 not really parquet")
    return [str(folder / n) for n in ("a.parquet", "b.jsonl", "c.parquet")]


def test_read_file_coerces_rows_and_counts_an_unreadable_file(tmp_path):
    files = write_inputs(tmp_path)
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "s"))
    stage = ReadDocuments(ReadDocuments.Config(batch_rows=2), ctx)
    a = list(stage.read_file(files[0]))
    assert [t.num_rows for t in a] == [2, 2, 1] and all(t.schema == DOCUMENT_SCHEMA for t in a)
    b = list(stage.read_file(files[1]))[0].to_pylist()
    assert b[0]["id"] == "j1" and json.loads(b[0]["annotations"]) == {"k": 1}
    assert b[1]["id"].startswith("derived-")
    assert list(stage.read_file(files[2])) == []
    dropped = pq.read_table(tmp_path / "s" / "dropped").to_pylist()
    assert len(dropped) == 1 and dropped[0]["reason"].startswith("unreadable-file:") and dropped[0]["stage"] == "read-documents"


@pytest.mark.ray
def test_read_documents_then_a_map_stage_through_the_runner(tmp_path, ray_local):
    files = write_inputs(tmp_path)
    cfg = validate({"input": {"paths": files}, "pipeline": ["read-documents", "tokenize"], "run": {"unit_docs": 2}}, source="test")
    out = str(tmp_path / "out")
    outcomes = Runner(cfg, out).run()
    summary = build_summary(out, outcomes)
    assert summary["balanced"] and summary["input_total"] == 8 and summary["kept_total"] == 7
    kept = pq.read_table(f"{out}/stages/01-tokenize/kept")
    assert kept.num_rows == 7 and min(kept.column("token_count").to_pylist()) > 0
    # the parquet file of 5 documents became 3 parts of at most 2, each a unit of any later pass
    parts = sorted(p.name for p in (tmp_path / "out" / "stages" / "01-tokenize" / "kept").glob("part-00000-*"))
    assert len(parts) == 3 and parts[-1].endswith("-0002.parquet")
