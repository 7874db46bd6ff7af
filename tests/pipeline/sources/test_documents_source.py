"""`read-documents`: extracted documents from parquet and jsonl(.gz) as a source, one unit per file;
nothing is lost silently: an unreadable file, line or row group is one counted drop, never a
crash, and every other record is read."""
from __future__ import annotations

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import validate
from pipeline.sources.documents import ReadDocuments
from pipeline.output.ledger import build_summary
from pipeline.executor.runner import Runner
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


def read(path, batch_rows=256):
    """(kept rows, dropped rows) of one file read by the stage, in this process."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(output_dir=tmp, stage_dir=tmp + "/s")
        kept = [r for t in ReadDocuments(ReadDocuments.Config(batch_rows=batch_rows), ctx).read_file(str(path)) for r in t.to_pylist()]
        dropped = pq.read_table(tmp + "/s/dropped").to_pylist() if os.path.isdir(tmp + "/s/dropped") else []
    return kept, dropped


def jsonl_lines(n=600, bad=(300,)):
    lines = [json.dumps({"id": f"r{i}", "text": f"document {i} has a few words"}) for i in range(1, n + 1)]
    for b in bad:
        lines[b - 1] = '{"id": "r%d", "text": not json' % b
    return ("\n".join(lines) + "\n").encode()


def test_a_bad_line_mid_file_is_one_drop_and_every_other_line_is_read(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(jsonl_lines())
    kept, dropped = read(tmp_path / "a.jsonl")
    assert len(kept) == 599 and "r300" not in {r["id"] for r in kept}
    assert [(r["reason"], r["source_offset"]) for r in dropped] == [("unreadable-line:300", 300)]
    assert [r["source_offset"] for r in kept[:3]] == [1, 2, 3] and kept[0]["source_file"] == str(tmp_path / "a.jsonl")
    # the drop's id is stable and does not depend on the folder
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.jsonl").write_bytes(jsonl_lines())
    _, again = read(tmp_path / "elsewhere" / "a.jsonl")
    assert again[0]["id"] == dropped[0]["id"]


def test_gzip_members_and_json_gz(tmp_path):
    data = jsonl_lines(10, bad=())
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(data[:200]) + gzip.compress(data[200:]))
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(data))
    (tmp_path / "c.jsonl").write_bytes(gzip.compress(data))  # gzip whatever the name says
    for name in ("a.jsonl.gz", "b.json.gz", "c.jsonl"):
        kept, dropped = read(tmp_path / name)
        assert [r["id"] for r in kept] == [f"r{i}" for i in range(1, 11)] and dropped == [], name


def test_a_cut_gzip_keeps_the_lines_before_the_cut(tmp_path):
    data = gzip.compress(jsonl_lines(2000, bad=()))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    kept, dropped = read(tmp_path / "cut.jsonl.gz")
    assert 0 < len(kept) < 2000 and [r["id"] for r in kept] == [f"r{i}" for i in range(1, len(kept) + 1)]
    assert [(r["reason"], r["source_offset"]) for r in dropped] == [("truncated-gzip", len(kept) + 1)]
    (tmp_path / "junk.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    kept, dropped = read(tmp_path / "junk.jsonl.gz")
    assert kept == [] and [r["reason"] for r in dropped] == ["corrupt-gzip"]


def test_rows_that_do_not_fit_the_contract(tmp_path):
    (tmp_path / "mixed.jsonl").write_text("\n".join([
        json.dumps({"id": "ok", "text": "fine", "later_only": 1}),
        "[1, 2]",
        json.dumps({"id": "n", "text": "count", "token_count": "many"}),
        json.dumps({"text": "no id", "url": "https://example.org/a"}),
        json.dumps({"text": "no id", "url": "https://example.org/a"}),
        json.dumps({"id": "late", "text": "t", "url": "https://example.org/late", "annotations": {"b": 1}}),
        "",
    ]) + "\n")
    kept, dropped = read(tmp_path / "mixed.jsonl")
    assert [(r["reason"], r["source_offset"]) for r in dropped] == [("unreadable-line:2", 2), ("invalid-line:3", 3)]
    ids = [r["id"] for r in kept]
    assert ids[0] == "ok" and ids[-1] == "late" and ids[1].startswith("derived-") and ids[1] != ids[2]
    # a column only later rows have is not lost, nested values stay as they were
    assert kept[-1]["url"] == "https://example.org/late" and json.loads(kept[-1]["annotations"]) == {"b": 1}


def test_an_undecodable_parquet_row_group_is_one_drop(tmp_path):
    table = pa.table({"id": [f"p{i}" for i in range(300)], "text": [f"text {i}" for i in range(300)], "other": list(range(300))})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=100, compression="none")
    offset = pq.ParquetFile(tmp_path / "p.parquet").metadata.row_group(1).column(0).data_page_offset
    data = bytearray((tmp_path / "p.parquet").read_bytes())
    data[offset : offset + 16] = b"\xff" * 16  # the page header of row group 1
    (tmp_path / "p.parquet").write_bytes(bytes(data))
    kept, dropped = read(tmp_path / "p.parquet", batch_rows=64)
    assert [r["id"] for r in kept] == [f"p{i}" for i in list(range(100)) + list(range(200, 300))]
    assert [r["source_offset"] for r in kept[:2]] == [0, 1] and kept[-1]["source_offset"] == 299
    assert [(r["reason"], r["source_offset"]) for r in dropped] == [("unreadable-row-group:1", 100)]


@pytest.mark.ray
def test_600_lines_with_a_bad_line_300_balance(tmp_path, ray_local):
    (tmp_path / "docs.jsonl").write_bytes(jsonl_lines())
    cfg = validate({"input": {"paths": [str(tmp_path / "docs.jsonl")]}, "pipeline": ["read-documents", "tokenize"]}, source="test")
    out = str(tmp_path / "out")
    summary = build_summary(out, Runner(cfg, out).run())
    assert summary["balanced"], summary["problems"]
    assert (summary["input_total"], summary["kept_total"], summary["dropped_total"]) == (600, 599, 1)
    assert summary["stages"][0]["reasons"] == {"unreadable-line:300": 1}
