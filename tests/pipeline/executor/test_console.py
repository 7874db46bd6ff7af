"""What a person sees: the ledger command's counts and record look-up, the funnel table, the live
pass line."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.cli import main
from pipeline.executor.console import PassProgress, funnel
from pipeline.schema import LEDGER_SCHEMA


def _ledger(tmp_path):
    rows = [{"record_id": f"r{i}", "stage": "shard", "decision": "kept"} for i in range(3)]
    rows += [{"record_id": "d1", "stage": "c4-quality", "decision": "dropped", "reason": "c4-too-few-sentences"},
             {"record_id": "d2", "stage": "dedup-url", "decision": "dropped", "reason": "older-crawl", "duplicate_of": "r1"}]
    (tmp_path / "ledger").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA), tmp_path / "ledger" / "part-0.parquet")
    return tmp_path


def test_ledger_counts_and_why_a_record_was_dropped(tmp_path, capsys):
    out = _ledger(tmp_path)
    assert main(["ledger", str(out)]) == 0
    text = capsys.readouterr().out
    assert "older-crawl" in text and "c4-too-few-sentences" in text
    assert text.strip().splitlines()[-1].split()[-1] == "5"
    assert main(["ledger", str(out), "--id", "d2"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["stage"] == "dedup-url" and row["duplicate_of"] == "r1"
    assert main(["ledger", str(out), "--id", "missing"]) == 1
    assert main(["ledger", str(tmp_path / "nothing")]) == 2


def test_funnel_names_every_stage_and_its_top_reasons():
    summary = {"stages": [{"name": "read-warc", "rows_in": 10, "kept": 7, "dropped": 3,
                           "reasons": {"warc-type:request": 2, "truncated": 1}},
                          {"name": "shard", "rows_in": 7, "kept": 7, "dropped": 0, "reasons": {}}],
               "input_total": 10, "kept_total": 7, "dropped_total": 3, "balanced": True}
    lines = funnel(summary).splitlines()
    assert lines[1].startswith("read-warc") and "warc-type:request 2, truncated 1" in lines[1]
    assert lines[-1].endswith("balanced")


def test_pass_line_counts_units_documents_and_eta():
    stream = io.StringIO()
    p = PassProgress("extract+langid", 4, stream)
    p.unit_done({"rows_in": 100})
    line = p.line()
    assert "units 1/4" in line and "100 docs" in line and "ETA" in line


def test_benign_ray_warnings_are_dropped_and_others_kept(caplog):
    import logging

    from pipeline.executor.console import BENIGN_RAY_WARNINGS, quiet_ray_logs

    quiet_ray_logs(False)
    quiet_ray_logs(False)  # a second run in the process adds no second filter
    try:
        with caplog.at_level(logging.WARNING):
            for name, text in BENIGN_RAY_WARNINGS.items():
                logging.getLogger(name).warning("Warning: %s; see the docs", text)
                logging.getLogger(name).warning("a real problem in %s", name)
        messages = [r.getMessage() for r in caplog.records]
        assert messages == [f"a real problem in {name}" for name in BENIGN_RAY_WARNINGS]
        assert all(len(logging.getLogger(name).filters) == 1 for name in BENIGN_RAY_WARNINGS)
    finally:
        for name in BENIGN_RAY_WARNINGS:
            logger = logging.getLogger(name)
            logger.filters = [f for f in logger.filters if type(f).__name__ != "_DropMessage"]


def test_ray_data_execution_lines_with_verbose(tmp_path):
    """`-v` lets Ray Data's own lines through (without it they stay quiet: checked on the stage
    command's run in tests/pipeline/test_cli.py, which needs that run anyway)."""
    import subprocess
    import sys

    from tests.fault_tools import curate_env

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "A short page about bread and flour.", "url": "http://x/a"}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "-v", "topic", "--input", str(src), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env=curate_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (proc.stdout + proc.stderr).count("execution finished") >= 1
