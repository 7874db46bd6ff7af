"""The ledger written by Ray tasks: sorted by record id, cut into parts of a fixed number of rows,
byte-identical however the rows were partitioned, balanced, and loud about repeated ids."""
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import ray_ops, stage_io, storage
from pipeline.output import ledger
from pipeline.schema import documents_from_rows, to_dropped
from tests.sink_fixtures import count_blocks, mixed_rows, output_files, stage_folders

pytestmark = pytest.mark.ray


@pytest.fixture
def small_parts(monkeypatch):
    monkeypatch.setattr(ledger, "ROWS_PER_LEDGER_FILE", 70)
    monkeypatch.setattr(ledger, "ROW_GROUP_ROWS", 32)


def test_parts_are_sorted_cut_by_rows_and_balanced(ray_local, tmp_path, small_parts):
    rows = mixed_rows(400)
    root = str(tmp_path / "run")
    summary = ledger.build_summary(root, stage_folders(root, rows))
    assert summary["balanced"] and summary["input_total"] == 400 and summary["kept_total"] == 200
    assert summary["stages"][0]["reasons"] == {"a-reason-0": 50, "a-reason-1": 50}
    files = stage_io.parquet_files(storage.join(root, "ledger"))
    assert [storage.basename(f) for f in files] == [f"part-{k:05d}.parquet" for k in range(6)] == summary["ledger"]["files"]
    ids, position = [], 0
    for f in files:
        meta = pq.ParquetFile(f).metadata
        assert meta.num_rows == min(70, 400 - position)
        for g in range(meta.num_row_groups):  # row groups start every 32 rows of the whole ledger
            n = meta.row_group(g).num_rows
            assert n == min(32 - position % 32, 70 - position % 70, 400 - position)
            position += n
        ids += pq.read_table(f).column("record_id").to_pylist()
    assert ids == sorted(r["id"] for r in rows)


def test_one_block_and_many_blocks_give_identical_files(ray_local, tmp_path, small_parts, monkeypatch):
    rows = mixed_rows(400)
    seen = count_blocks(monkeypatch, ledger)
    one = str(tmp_path / "one")
    ledger.build_summary(one, stage_folders(one, rows, files=1))
    monkeypatch.setattr(ray_ops, "SMALL_BYTES", 0)  # Ray's sort: a range of ids per block
    many = str(tmp_path / "many")
    ledger.build_summary(many, stage_folders(many, rows, files=7))
    assert seen[0] == 1 and seen[1] > 1, seen
    a, b = output_files(one, "ledger"), output_files(many, "ledger")
    assert len(a) == 7 and a == b  # 6 parts and summary.json


def test_repeated_ids_fail_loudly_within_and_across_parts(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "ROWS_PER_LEDGER_FILE", 10)
    rows = mixed_rows(40)
    root = str(tmp_path / "run")
    outcomes = stage_folders(root, rows)
    # three ids dropped by stage a a second time: d0002's pair is rows 2-3 (inside part 0);
    # d0008's is rows 9-10 (the last row of part 0 and the first of part 1); d0025's rows 27-28
    again = documents_from_rows([{"id": rid, "text": "x"} for rid in ("d0002", "d0008", "d0025")])
    stage_io.write_parquet(to_dropped(again, "a", ["again"] * 3), storage.join(outcomes[0].stage_dir, "dropped", "part-x.parquet"))
    with pytest.raises(ledger.LedgerImbalance, match="more than once") as info:
        ledger.build_summary(root, outcomes)
    assert "['d0002', 'd0008', 'd0025']" in str(info.value)
    summary = storage.read_json(storage.join(root, "summary.json"))
    assert not summary["balanced"] and summary["ledger"]["rows"] == 43


def test_empty_run_writes_one_empty_part(ray_local, tmp_path):
    root = str(tmp_path / "run")
    summary = ledger.build_summary(root, stage_folders(root, []))
    assert summary["balanced"] and summary["ledger"] == {"rows": 0, "files": ["part-00000.parquet"]}
    table = pq.read_table(storage.join(root, "ledger", "part-00000.parquet"))
    assert table.num_rows == 0 and table.schema.equals(pa.schema(ledger.LEDGER_SCHEMA), check_metadata=False)
