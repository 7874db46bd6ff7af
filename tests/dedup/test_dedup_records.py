"""dedup-records: a record read twice (overlapping inputs) is one kept record and counted drops,
with ids unique in the ledger; nothing changes when no record is read twice."""
from __future__ import annotations

import glob
import json
import os
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.records import COPY_SCHEMA, REASON, DedupRecords, copy_key, dup_id, resolve_copies
from pipeline import stage_io
from pipeline.config import validate
from pipeline.output.ledger import build_summary
from pipeline.executor.runner import Runner
from pipeline.stage import RunContext
from tests.fault_tools import gzip_members
from tests.make_bad_inputs import DEMO_WARC

PIPELINE = ["read-warc", "dedup-records", "url-safety", "dedup-url"]


def rows(*specs) -> pa.Table:
    """(id, source_file, source_offset, origin) rows of repeated ids, as the decision sees them."""
    from dedup.records import _ROWS_SCHEMA
    from pipeline.decisions import id_keys

    ids = [s[0] for s in specs]
    return pa.table({"_key": pa.array(id_keys(ids), pa.int64()), "id": ids, "source_file": [s[1] for s in specs],
                     "source_offset": [s[2] for s in specs], "_origin": [s[3] for s in specs]}, schema=_ROWS_SCHEMA)


def test_the_copy_that_keeps_its_id_is_whole_then_first_by_base_name_and_offset():
    part = rows(("r1", "/z/b.warc.gz", 10, ""), ("r1", "/a/c.warc.gz", 5, ""), ("r1", "/a/a.warc.gz", 99, "/out/00/dropped/x.parquet"),
                ("r2", "/y/a.warc.gz", 7, ""), ("r2", "/x/a.warc.gz", 7, ""), ("r2", "/w/a.warc.gz", 7, ""), ("solo", "/a", 1, ""))
    out = {r["id"]: r for r in resolve_copies(part).to_pylist()}
    assert out.keys() == {copy_key("r1", "/a/c.warc.gz", 5), copy_key("r1", "/a/a.warc.gz", 99),
                          copy_key("r2", "/x/a.warc.gz", 7), copy_key("r2", "/y/a.warc.gz", 7)}
    # a kept copy wins over a dropped one whatever their names; then base name, offset, full path
    assert out[copy_key("r1", "/a/a.warc.gz", 99)]["_origin"] == "/out/00/dropped/x.parquet"
    assert all(r["duplicate_of"] == r["id"].split("\0")[0] for r in out.values())
    # equal base names and offsets: the ledger ids still differ
    ids = [out[copy_key("r2", f"/{d}/a.warc.gz", 7)]["new_id"] for d in "xy"]
    assert ids[0] == dup_id("r2", "/x/a.warc.gz", 7) and ids[1] == ids[0] + "-2"
    assert resolve_copies(COPY_SCHEMA.empty_table().slice(0, 0)).num_rows == 0


def test_ledger_ids_do_not_depend_on_where_the_file_lives():
    assert dup_id("r", "s3://bucket/warc/x.warc.gz", 5) == dup_id("r", "/local/dir/x.warc.gz", 5)
    assert dup_id("r", "/a/x.warc.gz", 5) != dup_id("r", "/a/x.warc.gz", 6) != dup_id("r", "/a/y.warc.gz", 5)


def overlapping_warcs(folder) -> tuple[list[str], list[bytes]]:
    """20 records of the demo sample (pages, requests, metadata) four times: the same bytes under
    two folders with one base name, a copy with a garbage tail, a copy cut inside its last record
    (a page)."""
    from pipeline.sources.warc import iter_warc

    reasons = [reason for _, reason in iter_warc(str(DEMO_WARC))]
    last_page = max(i for i in range(20) if reasons[i] is None)  # one gzip member per record
    members = gzip_members(DEMO_WARC.read_bytes())[: last_page + 1]
    data = b"".join(members)
    files = {"a/part.warc.gz": data, "b/part.warc.gz": data, "tail.warc.gz": data + b"\x1f\x8b\x08garbage" * 50,
             "cut.warc.gz": data[: len(data) - len(members[-1]) // 2]}
    for name, blob in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(blob)
    return [str(folder / n) for n in files], members


def run(files: list[str], out: str, pipeline=PIPELINE) -> dict:
    cfg = validate({"input": {"paths": files}, "pipeline": pipeline, "run": {"batch_size": 8}}, source="test")
    return build_summary(out, Runner(cfg, out).run())


def ledger(out: str) -> dict[str, dict]:
    table = pq.read_table(os.path.join(out, "ledger")).to_pylist()
    assert len(table) == len({r["record_id"] for r in table}), "a record id is in the ledger twice"
    return {r["record_id"]: r for r in table}


@pytest.mark.ray
def test_overlapping_warcs_keep_each_record_once(tmp_path, ray_local):
    from pipeline.sources.warc import iter_warc

    files, _ = overlapping_warcs(tmp_path / "in")
    out = str(tmp_path / "out")
    summary = run(files, out)
    assert summary["balanced"], summary["problems"]
    led = ledger(out)
    originals = [row for row, _ in iter_warc(files[0])]
    assert summary["input_total"] == 4 * len(originals) + 1  # + the garbage tail, one malformed record
    stage = next(s for s in summary["stages"] if s["name"] == "dedup-records")
    for row, reason in iter_warc(files[0]):
        rid = row["id"]
        copies = {k: v for k, v in led.items() if k.startswith(rid + "#dup-")}
        assert rid in led and len(copies) == 3, (rid, copies)
        assert all(c["duplicate_of"] == rid for c in copies.values())
        if reason is None:  # a page: kept once (or dropped by a later stage), its copies counted here
            assert led[rid]["stage"] != "read-warc"
            by = Counter((c["stage"], c["reason"]) for c in copies.values())
            cut = rid == originals[-1]["id"]
            assert by == ({("dedup-records", REASON): 2, ("read-warc", "truncated"): 1} if cut else {("dedup-records", REASON): 3})
        else:  # dropped by the reader: every copy too, each with its own id
            assert led[rid]["stage"] == "read-warc" and all(c["stage"] == "read-warc" for c in copies.values())
    stage_facts = stage["facts"]
    assert stage_facts["duplicate_records"] == stage["dropped"] > 0 and stage_facts["renamed_drops"] > 0
    # the copy that keeps an id is the first whole one by base name: cut.warc.gz, except for the
    # record cut short there, which a/part.warc.gz keeps (before b/part.warc.gz, the same base name)
    kept = pq.read_table(os.path.join(out, "stages", "03-dedup-url", "kept"), columns=["id", "source_file"]).to_pylist()
    assert {r["id"]: r["source_file"] for r in kept} == {
        r["id"]: files[0] if r["id"] == originals[-1]["id"] else files[3] for r in originals if r["id"] in {k["id"] for k in kept}}
    assert originals[-1]["id"] in {r["id"] for r in kept}

    # deciding again (a rerun after a crash inside the decision) finds the renamed drops unique:
    # nothing more to rename, the same decision
    source_dropped = sorted(glob.glob(os.path.join(out, "stages", "00-read-warc", "dropped", "*.parquet")))
    before = {f: open(f, "rb").read() for f in source_dropped}
    stage = DedupRecords(DedupRecords.Config(), RunContext(output_dir=out, stage_dir=os.path.join(out, "stages", "01-dedup-records")))
    ds = stage_io.read_kept_files(stage_io.parquet_files(os.path.join(out, "stages", "00-read-warc", "kept")), list(stage.reads))
    assert stage.fit(ds) == {"duplicate_records": stage_facts["duplicate_records"], "renamed_drops": 0}
    assert {f: open(f, "rb").read() for f in source_dropped} == before


@pytest.mark.ray
def test_no_copies_no_change(tmp_path, ray_local):
    files, _ = overlapping_warcs(tmp_path / "in")
    out = str(tmp_path / "out")
    summary = run(files[:1], out)
    assert summary["balanced"], summary["problems"]
    stage = next(s for s in summary["stages"] if s["name"] == "dedup-records")
    assert stage["dropped"] == 0 and stage["facts"] == {"duplicate_records": 0, "renamed_drops": 0}
    assert not any("#dup-" in k for k in ledger(out))
    meta = json.load(open(os.path.join(out, "stages", "01-dedup-records", "decision", "_DECISION.json")))
    assert meta["rows"] == 0


@pytest.mark.ray
def test_overlapping_jsonl_documents(tmp_path, ray_local):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
    lines = [json.dumps({"id": f"d{i}", "text": f"document {i}"}) for i in range(10)]
    (tmp_path / "x" / "docs.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "y" / "docs.jsonl").write_text("\n".join(lines[5:] + ["not json"]) + "\n")
    out = str(tmp_path / "out")
    summary = run([str(tmp_path / "x" / "docs.jsonl"), str(tmp_path / "y" / "docs.jsonl")], out, ["read-documents", "dedup-records"])
    assert summary["balanced"], summary["problems"]
    assert summary["input_total"] == 16 and summary["kept_total"] == 10
    led = ledger(out)
    dups = {k: v for k, v in led.items() if v["reason"] == REASON}
    assert sorted(v["duplicate_of"] for v in dups.values()) == [f"d{i}" for i in range(5, 10)]
    assert Counter(v["reason"] for v in led.values() if v["decision"] == "dropped") == {REASON: 5, "unreadable-line:6": 1}
