"""Resumable passes by work unit. A pass is the source (optional) followed by map stages, fused:
the source reads one input file per unit, a map pass processes one parquet file of the previous
pass's `kept/` per unit. Each unit writes its kept rows to `kept/part-<unit>[-NNNN].parquet` and
commits with `units/<unit>.json` (pipeline/stage_io.py), so a rerun after a killed driver redoes
only the units without a commit, and a unit that Ray retries after a killed worker rewrites the
same files. Unit names come from the input (file index and name, or the previous unit's name),
never from run order, so the set of kept files, and all that is sorted from it, is the same however
often a run was interrupted.

The source cuts each input file's documents into parts of `part_bytes` (`run.unit_bytes`) and,
when set, `part_rows` (`run.unit_docs`), each a unit of the next pass, so one large WARC file still
spreads over every worker after the read, and file counts follow bytes, not documents.

Only a row of counts per unit travels back to the driver: the documents go from file to file on
the workers, through the output location every node reaches (a shared folder or an object store).
Units run on the run's stage hosts (pipeline/executor/hosts.py), which reserve what the pass's stages declare.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import xxhash

from pipeline import stage_io, storage
from pipeline.schema import conform
from pipeline.stage import FusedMapUDF, RunContext, SourceStage, Stage, StageConfig, unit_drop_prefix, unit_scope

log = logging.getLogger(__name__)

Spec = tuple[type[Stage], StageConfig, RunContext]


def source_unit(index: int, path: str) -> str:
    """Unit name of the index-th input file (the input list is part of the fingerprint)."""
    return f"{index:05d}-{xxhash.xxh3_64_hexdigest(storage.basename(path).encode('utf-8', 'surrogatepass'))[:8]}"


def file_unit(path: str) -> str:
    """Unit name for a parquet file of a previous stage: its name, without our own decoration."""
    name = storage.basename(path)
    name = name[: -len(".parquet")] if name.endswith(".parquet") else name
    return name[len("part-") :] if name.startswith("part-") else name


@dataclass(frozen=True)
class PassSpec:
    """What one pass runs: an optional source, then map stages; `key` names the pass (its
    fingerprint), so a host builds its stages once per pass."""

    key: str
    source: Spec | None
    maps: tuple[Spec, ...]
    part_rows: int | None = None
    part_bytes: int | None = None

    @property
    def out(self) -> RunContext:
        """The context whose folder holds the pass's kept files and unit commits: its last stage's."""
        return (self.maps[-1] if self.maps else self.source)[2]

    @property
    def specs(self) -> list[Spec]:
        return ([self.source] if self.source else []) + list(self.maps)

    @property
    def names(self) -> list[str]:
        return [s[0].name for s in self.specs]


def _identity(units: list[tuple[str, str]]) -> str:
    """Digest of the unit list and its inputs' sizes: a partial pass resumes only over the very
    inputs it started on (an earlier stage recomputed since would have new files). Sizes come
    from one listing per folder, not a request per file."""
    sizes: dict[str, int] = {}
    for folder in dict.fromkeys(storage.dirname(f) for _, src in units for f in unit_inputs(src)):
        try:
            sizes.update(storage.list_with_sizes(folder))
        except (OSError, NotADirectoryError):
            pass
    h = hashlib.sha256()
    for unit, src in units:
        size = sum(sizes.get(f, -1) for f in unit_inputs(src))
        h.update(f"{unit}\0{src}\0{size}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def pending_units(stages: list[Stage], units: list[tuple[str, str]], fingerprint: str, resume: bool) -> list[tuple[str, str]]:
    """Units still to run. Resumes a pass started with the same fingerprint and inputs; otherwise
    clears the stages' outputs (a global stage's decision stays) and starts afresh."""
    last = stages[-1].ctx
    started = {"fingerprint": fingerprint, "inputs": _identity(units), "units": len(units)}
    if resume and stage_io.read_started(last.stage_dir) == started:
        if not storage.is_uri(last.kept_dir):  # attempts cut by the kill (an object store has none)
            for tmp in storage.glob(storage.join(last.kept_dir, "*.tmp")):
                storage.remove(tmp)
        done = stage_io.committed_units(last.stage_dir, last.kept_dir)
        pending = [(u, s) for u, s in units if u not in done]
        clear_unit_drops(stages, [u for u, _ in pending])
        log.info("stage %s: resuming, %d of %d units committed earlier are skipped",
                 "+".join(s.name for s in stages), len(units) - len(pending), len(units))
        return pending
    for s in stages:
        stage_io.reset_outputs(s.ctx.stage_dir)
    stage_io.write_started(last.stage_dir, started)
    return list(units)


def clear_unit_drops(stages: list[Stage] | list[Spec], units: list[str]) -> None:
    """Remove the dropped files that units about to be redone wrote before the run was cut (or
    their host died): the redo writes its own (one listing per stage folder)."""
    prefixes = tuple(unit_drop_prefix(u) for u in units)
    if not prefixes:
        return
    for s in stages:
        ctx = s[2] if isinstance(s, tuple) else s.ctx
        for f in storage.listdir(ctx.dropped_dir, ".parquet"):
            if storage.basename(f).startswith(prefixes):
                storage.remove(f)


def _node_id() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


class UnitWork:
    """A pass's stages, built once per worker, run over whole units."""

    def __init__(self, spec: PassSpec):
        self.spec = spec
        self.source = None
        if spec.source is not None:
            cls, config, ctx = spec.source
            self.source = cls(config, ctx)
            self.source.ensure_setup()
        self.fused = FusedMapUDF(list(spec.maps)) if spec.maps else None

    def close(self) -> None:
        if self.fused is not None:
            self.fused.close()
        if self.source is not None:
            self.source.teardown()

    def _batches(self, src: str, counter: list[int]) -> Iterator[pa.Table]:
        """The unit's input documents: what the source reads from the file, or the parquet file."""
        if self.source is not None:
            tables = (conform(t) for t in self.source.read_file(src))
        else:
            tables = (pa.Table.from_batches([rb]) for f in unit_inputs(src)
                      for rb in _stored_batches(f, self.spec.out.batch_size))
        for table in tables:
            counter[0] += table.num_rows
            yield self.fused(table) if self.fused is not None else table

    def run(self, unit: str, src: str) -> dict:
        cpu0 = time.process_time()
        ctx = self.spec.out
        cut = self.source is not None
        writer = stage_io.UnitKeptWriter(ctx.kept_dir, unit, self.spec.part_rows if cut else None,
                                         self.spec.part_bytes if cut else None)
        counter = [0]
        try:
            with unit_scope(unit) as drops:
                for table in self._batches(src, counter):
                    writer.write(conform(table))
        except BaseException:
            writer.abort()
            raise
        parts = writer.commit()
        # rows_in: the documents the unit's first stage kept (a source) or read (a map pass); the
        # node and the CPU seconds of this process (not of an extraction child) are for the
        # record only: outputs never depend on them
        dropped = {c[0].name: drops.get(c[2].dropped_dir, 0) for c in self.spec.specs}
        facts = {"unit": unit, "input": src, "rows_in": counter[0], "kept": writer.rows, "parts": parts, "node": _node_id(),
                 "dropped": dropped, "cpu_s": round(time.process_time() - cpu0, 4)}
        stage_io.commit_unit(ctx.stage_dir, unit, facts)
        return facts


# a map pass spreads small data over at least this many units (a constant, not the CPU count:
# units, and so every output file, must be the same on any cluster shape)
MIN_UNITS = 64


def pass_units(spec: PassSpec, files: list[str] | None, inputs: list[str] | None) -> list[tuple[str, str]]:
    if spec.source is not None:
        return [(source_unit(i, f), f) for i, f in enumerate(files or [])]
    return group_files(inputs or [], spec.part_bytes)


def _stored_batches(path: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A kept file's batches. A store failing mid-file (its reads are not storage.retrying's)
    is a transient StorageError: the host pool redoes the unit once the store answers again."""
    try:
        yield from stage_io.parquet_file(path).iter_batches(batch_size=batch_size)
    except (OSError, pa.ArrowException) as err:
        if storage.is_permanent(err):
            raise
        raise storage.StorageError(f"cannot read {path}: {err}", transient=True) from err


def unit_inputs(src: str) -> list[str]:
    """The input files of a unit (a map pass's unit may group several)."""
    return src.split("\n")


def group_files(files: list[str], unit_bytes: int | None) -> list[tuple[str, str]]:
    """A map pass's units: consecutive kept files grouped up to `unit_bytes` of stored parquet.
    After extraction a source's parts shrink 10-50x (HTML gone), so one unit per file would make
    millions of small units per pass at Common Crawl scale. Small inputs are not grouped below
    1/MIN_UNITS of their total, so they still spread over every worker. Groups follow from the
    sorted names and stored sizes alone (files of deterministic content)."""
    if not files or unit_bytes is None:
        return [(file_unit(f), f) for f in files]
    sizes: dict[str, int] = {}
    for folder in dict.fromkeys(storage.dirname(f) for f in files):
        sizes.update(storage.list_with_sizes(folder, ".parquet"))
    target = min(unit_bytes, sum(sizes.get(f, 0) for f in files) / MIN_UNITS)
    groups: list[list[str]] = []
    held = 0
    for f in files:
        if not groups or held + sizes.get(f, 0) > target:
            groups.append([])
            held = 0
        groups[-1].append(f)
        held += sizes.get(f, 0)
    return [(file_unit(g[0]) if len(g) == 1 else f"{file_unit(g[0])}-x{len(g)}", "\n".join(g)) for g in groups]


def is_source_by_units(stage: Stage) -> bool:
    """A source that reads one file at a time can run as units (others read on Ray Data)."""
    return isinstance(stage, SourceStage) and callable(getattr(stage, "read_file", None))

