"""pipeline/decisions.py: a decision written by Ray tasks, sorted by key, memory-mapped and looked
up; the small-data path (one task) and the shuffle path (Ray's sort) give the same answers."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline import ray_ops
from pipeline.decisions import DecisionTable, id_keys, read_meta, write_decision
from pipeline.drop_listed import DropListConfig, DropListed, drop_list_rows
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext

pytestmark = pytest.mark.ray


class _Drops(DropListed):
    name = "t-drops"


def drop_rows() -> list[pa.Table]:
    ids = [f"doc-{i:03d}" for i in range(0, 300, 3)]
    return [drop_list_rows(pa.array(ids[i::3]), pa.array([f"kept-{x}" for x in ids[i::3]])) for i in range(3)]


@pytest.mark.parametrize("small", [True, False])
def test_written_sorted_and_found_by_id(tmp_path, ray_local, monkeypatch, small):
    if not small:  # force Ray's sort: the decision is "too big" for one task
        monkeypatch.setattr(ray_ops, "SMALL_BYTES", 0)
    folder = str(tmp_path / "decision")
    facts = write_decision(ray_local.data.from_arrow(drop_rows()), folder, "_key", meta={"reason": "x"})
    assert facts["rows"] == 100 and read_meta(folder)["reason"] == "x"
    table = DecisionTable(folder)
    keys = np.concatenate([k for k in table._keys])
    assert (np.diff(keys) >= 0).all() and table.rows == 100
    asked = [f"doc-{i:03d}" for i in range(300)]
    found = table.match_ids(asked, ["duplicate_of"])
    assert [f["duplicate_of"] if f else None for f in found] == [f"kept-doc-{i:03d}" if i % 3 == 0 else None for i in range(300)]
    assert table.contains(id_keys(asked)).tolist() == [i % 3 == 0 for i in range(300)]


def test_equal_keys_keep_a_stable_first_row(tmp_path, ray_local):
    """An id listed twice (an unconverged components run can give a node two labels): the
    smallest duplicate_of comes first and is the one applied."""
    rows = drop_list_rows(pa.array(["a", "a", "b"]), pa.array(["z", "m", "q"]))
    folder = str(tmp_path / "d")
    write_decision(ray_local.data.from_arrow([rows.slice(0, 1), rows.slice(1)]), folder, "_key")
    assert DecisionTable(folder).match_ids(["a", "b", "c"], ["duplicate_of"]) == [{"duplicate_of": "m"}, {"duplicate_of": "q"}, None]


def test_drop_listed_applies_the_decision_to_a_batch(tmp_path, ray_local):
    folder = str(tmp_path / "decision")
    write_decision(ray_local.data.from_arrow(drop_rows()), folder, "_key")
    stage = _Drops(DropListConfig(decision_dir=folder, reason="near-duplicate"), RunContext(str(tmp_path), str(tmp_path / "s")))
    batch = documents_from_rows([{"id": f"doc-{i:03d}", "text": "t"} for i in range(10)])
    kept, dropped = stage.process(batch)
    assert kept.column("id").to_pylist() == [f"doc-{i:03d}" for i in range(10) if i % 3]
    assert dropped.column("duplicate_of").to_pylist() == ["kept-doc-000", "kept-doc-003", "kept-doc-006", "kept-doc-009"]
    assert set(dropped.column("reason").to_pylist()) == {"near-duplicate"} and set(dropped.column("stage").to_pylist()) == {"t-drops"}


def test_a_missing_decision_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="has not decided"):
        DecisionTable(str(tmp_path / "nothing"))
