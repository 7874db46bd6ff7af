"""The `curate` console script: help for every stage, and one stage run on jsonl input."""
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.registry import STAGES
from tests.fault_tools import curate_env

ROOT = Path(__file__).resolve().parents[2]
CURATE = [sys.executable, "-m", "pipeline.cli"]


def test_help_lists_every_stage():
    out = subprocess.run(CURATE + ["--help"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    for name in ["run", *STAGES]:
        assert name in out
    sub = subprocess.run(CURATE + ["extract", "--help"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "--input" in sub and "--output" in sub


def test_bad_config_value_exits_with_named_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"extends: {ROOT / 'configs' / 'base.yaml'}\ninput: {{paths: [x]}}\nstages: {{langid: {{min_score: lots}}}}\n")
    r = subprocess.run(CURATE + ["run", "--config", str(cfg), "--output", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert "stages.langid.min_score" in r.stderr and "'lots'" in r.stderr


@pytest.mark.ray
def test_single_stage_on_jsonl(tmp_path):
    rows = [
        {"id": "en", "text": "The library reopened on Monday after a long renovation of its reading rooms.", "extra": 1},
        {"id": "fr", "text": "La bibliothèque a rouvert lundi après une longue rénovation de ses salles."},
        {"id": "empty", "text": ""},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out = tmp_path / "out"
    r = subprocess.run(CURATE + ["langid", "--input", str(src), "--output", str(out)], capture_output=True, text=True, cwd=ROOT,
                       timeout=600, env=curate_env())
    assert r.returncode == 0, r.stderr[-3000:]
    # without -v, none of Ray's own lines (Ray Data's per-execution lines, its start-up warnings);
    # with -v they show: tests/pipeline/executor/test_console.py
    said = r.stdout + r.stderr
    assert "execution finished" not in said
    assert "Token authentication is enabled" not in said and "Progress bars disabled" not in said
    kept = {row["id"]: row for row in pq.read_table(out / "kept").to_pylist()}
    dropped = {row["id"]: row for row in pq.read_table(out / "dropped").to_pylist()}
    assert kept["en"]["language"] == "en" and kept["fr"]["language"] == "fr"
    assert dropped["empty"]["stage"] == "langid" and dropped["empty"]["reason"] == "no-text"
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"stage": "langid", "kept": 2, "dropped": 1, "output": str(out)}


def test_a_stage_alone_runs_on_plain_documents_and_says_what_it_assumed(tmp_path, caplog):
    # id, text, url only: no language, no crawl date (issue 20: dedup-minhash used to stop here)
    import json
    import logging

    import pyarrow.parquet as pq

    from pipeline.cli import main

    text = "The football team won the championship game last night after a dramatic overtime goal. " * 3
    src = tmp_path / "plain.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": text, "url": f"http://x/{i}"}) + "\n" for i in ("a", "b")))
    with caplog.at_level(logging.WARNING, logger="pipeline.sources.inputs"):
        assert main(["dedup-minhash", "--input", str(src), "--output", str(tmp_path / "out")]) == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "no 'language' column" in said and "no 'crawl_date' column" in said
    kept = pq.read_table(tmp_path / "out" / "kept").num_rows
    dropped = pq.read_table(tmp_path / "out" / "dropped").num_rows
    assert (kept, dropped) == (1, 1)
