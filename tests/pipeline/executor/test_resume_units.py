"""Resume by work unit, in process: a map pass whose marker is gone (a crash before the pass
finished) redoes only the units without a commit; a changed config redoes them all."""
from __future__ import annotations

import glob
import os

import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.output.ledger import build_summary
from pipeline.executor.runner import Runner
from tests.fault_tools import split_demo, unit_files, write_config

pytestmark = pytest.mark.ray


def run(config_path: str, out: str, overrides: dict | None = None):
    outcomes = Runner(load_config(config_path, overrides), out).run()
    return outcomes, build_summary(out, outcomes)


def kept_rows(stage_dir: str) -> list[dict]:
    return sorted(pq.read_table(os.path.join(stage_dir, "kept"), columns=["id", "url"]).to_pylist(), key=lambda r: r["id"])


def test_only_uncommitted_units_are_redone(tmp_path, ray_local):
    files = split_demo(tmp_path / "in", 4)
    # unfused: the source pass and the url-safety pass are separate passes
    config = write_config(tmp_path, files, ["read-warc", "url-safety"], run={"fuse_map_stages": False})
    out = str(tmp_path / "out")
    _, first = run(config, out)
    source, pass_dir = os.path.join(out, "stages", "00-read-warc"), os.path.join(out, "stages", "01-url-safety")
    before, rows_before = unit_files(pass_dir), kept_rows(pass_dir)
    units = sorted(k[len("units/") : -len(".json")] for k in before if k.startswith("units/"))
    assert len(units) == 4 and len(unit_files(source)) == 8  # one unit per input file, marker + kept each
    # a crash in the middle of the pass: no stage marker, two units never committed
    os.remove(os.path.join(pass_dir, "_SUCCESS.json"))
    lost = units[1:3]
    for unit in lost:
        os.remove(os.path.join(pass_dir, "units", f"{unit}.json"))
    open(os.path.join(pass_dir, "kept", f"part-{lost[0]}.parquet.123.tmp"), "w").write("half a file")

    outcomes, second = run(config, out)
    after = unit_files(pass_dir)
    for unit in units:
        same = after[f"units/{unit}.json"] == before[f"units/{unit}.json"]
        assert same == (unit not in lost), unit
    assert not glob.glob(os.path.join(pass_dir, "kept", "*.tmp"))
    assert [o.skipped for o in outcomes] == [True, False]
    assert kept_rows(pass_dir) == rows_before
    assert {k: v for k, v in second.items() if k != "stages"} == {k: v for k, v in first.items() if k != "stages"}

    # another threshold: the pass's fingerprint changes, every unit is redone
    outcomes, _ = run(config, out, {"stages": {"url-safety": {"soft_banned_min_words": 3}}})
    redone = unit_files(pass_dir)
    assert [o.skipped for o in outcomes] == [True, False]
    assert all(redone[k] != after[k] for k in after if k.startswith("units/"))
