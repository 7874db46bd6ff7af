"""Resumable passes by work unit: the source reads one input file per unit, a map pass processes
one parquet file of the previous stage's `kept/` per unit. Each unit writes its kept rows to
`kept/part-<unit>.parquet` and commits with `units/<unit>.json` (pipeline/stage_io.py), so a
rerun after a killed driver redoes only the units without a commit, and a task that Ray retries
after a killed worker rewrites the same files. Unit names come from the input (file index and name,
or the previous unit's name), never from run order, so the set of kept files, and all that is
sorted from it, is the same however often a run was interrupted.

Only a row of counts per unit travels back to the driver: the documents go from file to file on
the workers (the output folder is shared by every node, as it already is for dropped records).
"""
from __future__ import annotations

import glob
import hashlib
import logging
import os
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from pipeline import stage_io
from pipeline.schema import conform
from pipeline.stage import FusedMapUDF, MapStage, RunContext, SourceStage, Stage, StageConfig

log = logging.getLogger(__name__)

UNIT_STATS = pa.schema([("unit", pa.string()), ("rows_in", pa.int64()), ("kept", pa.int64())])


def source_unit(index: int, path: str) -> str:
    """Unit name of the index-th input file (the input list is part of the fingerprint)."""
    return f"{index:05d}-{xxhash.xxh3_64_hexdigest(os.path.basename(path).encode('utf-8', 'surrogatepass'))[:8]}"


def file_unit(path: str) -> str:
    """Unit name for a parquet file of a previous stage: its name, without our own decoration."""
    name = os.path.basename(path)
    name = name[: -len(".parquet")] if name.endswith(".parquet") else name
    return name[len("part-") :] if name.startswith("part-") else name


def _identity(units: list[tuple[str, str]]) -> str:
    """Digest of the unit list and its inputs' sizes: a partial pass resumes only over the very
    inputs it started on (an earlier stage recomputed since would have new files)."""
    h = hashlib.sha256()
    for unit, src in units:
        size = os.path.getsize(src) if os.path.exists(src) else -1
        h.update(f"{unit}\0{src}\0{size}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def pending_units(stages: list[Stage], units: list[tuple[str, str]], fingerprint: str, resume: bool) -> list[tuple[str, str]]:
    """Units still to run. Resumes a pass started with the same fingerprint and inputs; otherwise
    clears the stages' folders and starts afresh."""
    last = stages[-1].ctx
    started = {"fingerprint": fingerprint, "inputs": _identity(units), "units": len(units)}
    if resume and stage_io.read_started(last.stage_dir) == started:
        for tmp in glob.glob(os.path.join(last.kept_dir, "*.tmp")):  # attempts cut by the kill
            os.remove(tmp)
        pending = [(u, s) for u, s in units if stage_io.committed_unit(last.stage_dir, last.kept_dir, u) is None]
        log.info("stage %s: resuming, %d of %d units committed earlier are skipped",
                 "+".join(s.name for s in stages), len(units) - len(pending), len(units))
        return pending
    for s in stages:
        stage_io.reset_dir(s.ctx.stage_dir)
    stage_io.write_started(last.stage_dir, started)
    return list(units)


def _node_id() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _run_unit(ctx: RunContext, unit: str, src: str, tables: Iterator[pa.Table], counter: list[int]) -> dict:
    writer = stage_io.UnitKeptWriter(ctx.kept_dir, unit)
    try:
        for table in tables:
            writer.write(conform(table))
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    # the node is for the record only (which machine did what); outputs never depend on it
    facts = {"unit": unit, "input": src, "rows_in": counter[0], "kept": writer.rows, "node": _node_id()}
    stage_io.commit_unit(ctx.stage_dir, unit, facts)
    return {"unit": unit, "rows_in": counter[0], "kept": writer.rows}


def source_units(batch: pa.Table, stage_cls: type[SourceStage], config: StageConfig, ctx: RunContext) -> pa.Table:
    """Ray task: read each unit's input file with the source's `read_file(path)`."""
    stage = stage_cls(config, ctx)
    stage.setup()
    rows = []
    for unit, src in zip(batch.column("unit").to_pylist(), batch.column("input").to_pylist()):
        counter = [-1]  # a source's input count is what it kept plus what it dropped: not known here
        rows.append(_run_unit(ctx, unit, src, stage.read_file(src), counter))
    return pa.Table.from_pylist(rows, schema=UNIT_STATS)


class MapUnitsUDF:
    """Ray actor: consecutive map stages (built once per actor) over whole units."""

    def __init__(self, specs: list[tuple[type[MapStage], StageConfig, RunContext]]):
        self.fused = FusedMapUDF(specs)
        self.ctx = specs[-1][2]

    def _batches(self, src: str, counter: list[int]) -> Iterator[pa.Table]:
        counter[0] = 0
        parquet = pq.ParquetFile(src)
        for rb in parquet.iter_batches(batch_size=self.ctx.batch_size):
            counter[0] += rb.num_rows
            yield self.fused(pa.Table.from_batches([rb]))

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        for unit, src in zip(batch.column("unit").to_pylist(), batch.column("input").to_pylist()):
            counter = [0]
            rows.append(_run_unit(self.ctx, unit, src, self._batches(src, counter), counter))
        return pa.Table.from_pylist(rows, schema=UNIT_STATS)


def run_pending(pending: list[tuple[str, str]], attach: Callable) -> int:
    """Run the pending units through `attach(ds)` (which adds the map_batches step); only the
    per-unit counts come back. Returns the number of units run."""
    import ray.data

    if not pending:
        return 0
    ds = ray.data.from_items([{"unit": u, "input": s} for u, s in pending], override_num_blocks=len(pending))
    done = 0
    for stats in attach(ds).iter_batches(batch_format="pyarrow", batch_size=None):
        done += stats.num_rows
    return done
