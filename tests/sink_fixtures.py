"""Inputs of the shard sink and of the ledger, built by hand: tokenised documents with the mix's
columns, and a finished run's stage folders (dropped files, a final kept set) with their
outcomes, at any location (a local folder or an object-store URI)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline import stage_io, storage
from pipeline.output.llama3_tokenizer import load_spec
from pipeline.executor.runner import StageOutcome
from pipeline.schema import documents_from_rows, to_dropped
from pipeline.output.shards import WriteShards
from pipeline.stage import RunContext

EOT = load_spec().eot_id
BUCKETS = ["general", "code", "math_reasoning", "multilingual"]


def mixed_rows(n: int = 400, seed: int = 5, max_body: int = 60) -> list[dict]:
    """Documents whose first token is their number, in every bucket, repeated 1-3 times, some in
    the annealing set."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        bucket = BUCKETS[int(rng.integers(0, 4))]
        tokens = [i] + rng.integers(0, 128000, size=int(rng.integers(0, max_body))).tolist() + [EOT]
        rows.append({"id": f"d{i:04d}", "text": "t", "tokens": tokens, "token_count": len(tokens), "bucket": bucket,
                     "repeats": int(rng.integers(1, 4)), "anneal": bucket in ("code", "math_reasoning") and i % 5 == 0,
                     "language": ["en", "fr", "de"][i % 3], "topic": ["Science", "Travel", None][i % 3]})
    return rows


def count_blocks(monkeypatch, module) -> list[int]:
    """Record how many sorted blocks each `ordered_blocks` call of `module` (shards, ledger) got."""
    from pipeline import ray_ops

    seen = []

    def spy(ds):
        blocks = ray_ops.ordered_blocks(ds)
        seen.append(len(blocks))
        return blocks

    monkeypatch.setattr(module, "ordered_blocks", spy)
    return seen


def use_s3(request, tmp_path, monkeypatch):
    """The `s3_server` fixture's endpoint for this process (AWS_* set, a fresh filesystem
    client), or a skip where tests/conftest.py has no such fixture."""
    try:
        server = request.getfixturevalue("s3_server")
    except pytest.FixtureLookupError:
        pytest.skip("no `s3_server` fixture in tests/conftest.py: the S3 output test needs a local S3 endpoint")
    for key, value in {**server.env, "CURATE_SCRATCH": str(tmp_path / "scratch")}.items():
        monkeypatch.setenv(key, value)
    storage._remote_fs.cache_clear()  # a filesystem client reads the endpoint once
    request.addfinalizer(storage._remote_fs.cache_clear)
    return server


def dataset(rows: list[dict], blocks: int):
    """A Ray Dataset of the rows in `blocks` blocks."""
    import ray.data

    table = documents_from_rows(rows)
    step = max(1, -(-len(rows) // blocks))
    return ray.data.from_arrow([table.slice(s, step) for s in range(0, max(len(rows), 1), step)])


def write_shards(out: str, rows: list[dict], blocks: int = 3, seed: int = 7, **config) -> dict:
    ctx = RunContext(output_dir=out, stage_dir=storage.join(out, "stages", "20-shard"), seed=seed)
    return WriteShards(WriteShards.Config(**config), ctx).write(dataset(rows, blocks))


def stage_folders(root: str, rows: list[dict], files: int = 3) -> list[StageOutcome]:
    """A two-stage run under `root`: stage a drops every 4th record, stage b the next ones, b's
    kept/ holds the rest; each folder in `files` parquet files. Returns the stages' outcomes."""
    docs = documents_from_rows([{**r, "text": "x"} for r in rows])
    pick = [np.arange(len(rows)) % 4 == k for k in range(4)]
    kept = docs.filter(pa.array(pick[2] | pick[3]))
    outcomes, rows_in = [], len(rows)
    for k, name in enumerate(("a", "b")):
        stage_dir = storage.join(root, "stages", f"{k:02d}-{name}")
        dropped = docs.filter(pa.array(pick[k]))
        reasons = [f"{name}-reason-{j % 2}" for j in range(dropped.num_rows)]
        _write_split(storage.join(stage_dir, "dropped"), to_dropped(dropped, name, reasons), files)
        outcomes.append(StageOutcome(name=name, index=k, stage_dir=stage_dir, rows_in=rows_in, kept=rows_in - dropped.num_rows,
                                     dropped=dropped.num_rows, seconds=0.0, skipped=False, facts={}))
        rows_in -= dropped.num_rows
    _write_split(storage.join(outcomes[-1].stage_dir, "kept"), kept, files)
    return outcomes


def _write_split(folder: str, table: pa.Table, files: int) -> None:
    step = -(-table.num_rows // files)
    for k in range(files):
        stage_io.write_parquet(table.slice(k * step, step), storage.join(folder, f"part-{k}.parquet"))


def output_files(root: str, *folders: str) -> dict[str, bytes]:
    """{path relative to root: bytes} of every file under the given folders of `root` and of
    `manifest.json` / `summary.json` when present."""
    out = {}
    for name in ("manifest.json", "summary.json", "report.html"):
        if storage.exists(storage.join(root, name)):
            out[name] = storage.read_bytes(storage.join(root, name))
    for folder in folders:
        base = storage.join(root, folder)
        for loc in storage.listdir(base, recursive=True):
            out[folder + "/" + loc[len(base):].lstrip("/")] = storage.read_bytes(loc)
    return out


# the S3 test runs this in a fresh process, whose Ray workers inherit the AWS_* variables
SHARD_CONFIG = {"max_tokens_per_shard": 150, "range_tokens": 450}


def write_outputs(root: str, blocks: int = 3) -> None:
    """Shards, manifest, ledger, summary and report of `mixed_rows()` under `root`."""
    from pipeline.output.ledger import build_summary
    from pipeline.report.build import write_report

    rows = mixed_rows()
    write_shards(root, rows, blocks=blocks, **SHARD_CONFIG)
    build_summary(root, stage_folders(root, rows))
    write_report(root)


def main(roots: list[str]) -> None:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        for root in roots:
            write_outputs(root)
    finally:
        ray.shutdown()
