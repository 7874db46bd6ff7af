"""Config -> Ray Data plan. Each stage materialises its output under OUTPUT/stages/NN-name/:
`dropped/` always, `kept/` at the end of every Ray pass, and a completion marker; a rerun with
the same output folder skips every stage whose marker matches the config that produced it.

Consecutive map stages run fused in one Ray pass (`run.fuse_map_stages`, default on): a pass per
stage costs seconds of fixed Ray overhead and a parquet round trip each, which dominated small
runs (14 passes for the demo). A fused group writes `kept/` only after its last stage; every
stage in it still writes its own `dropped/` and marker, so the ledger and summary see them
exactly as if they had run alone.

The source and the map passes run by work unit (pipeline/units.py: one input file, or one kept
file of the previous stage, each committed on its own), so a rerun after a crash redoes only the
units of the interrupted pass that had not committed; global stages and the sink rerun whole."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass

from pipeline import stage_io, units
from pipeline.config import PipelineConfig
from pipeline.registry import stage_class
from pipeline.stage import FusedMapUDF, GlobalStage, MapStage, RunContext, SinkStage, SourceStage, Stage

log = logging.getLogger(__name__)


@dataclass
class StageOutcome:
    name: str
    index: int
    stage_dir: str
    rows_in: int
    kept: int
    dropped: int
    seconds: float
    skipped: bool
    facts: dict


def _actor_pool_args(stages: list[MapStage]) -> dict:
    """map_batches arguments for an actor pool that runs `stages` (each built once per actor)."""
    import ray
    import ray.data

    cpus_per_actor = max(s.resources.num_cpus for s in stages)
    gpus_per_actor = max(s.resources.num_gpus for s in stages)
    memory = sum(s.resources.memory_gb or 0 for s in stages)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    limits = [s.resources.concurrency for s in stages if s.resources.concurrency]
    max_size = min(limits) if limits else max(1, int(cpus // max(cpus_per_actor, 1e-3)))
    # An autoscaling pool from 1 actor: a fixed pool that takes every CPU starves the read tasks
    # feeding it (seen as a hang on 2-CPU machines).
    compute = ray.data.ActorPoolStrategy(min_size=1, max_size=max_size)
    kwargs = {"memory": int(memory * 2**30)} if memory else {}
    return dict(
        fn_constructor_args=([(type(s), s.config, s.ctx) for s in stages],),
        batch_format="pyarrow",
        compute=compute,
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor,
        **kwargs,
    )


def map_stages(ds, stages: list[MapStage]):
    """Attach map stages to a dataset as one class UDF (each stage built once per worker)."""
    import ray

    if max(s.resources.num_cpus for s in stages) >= ray.cluster_resources().get("CPU", 1):
        # one actor takes every CPU (a 1-CPU cluster): the read and list tasks that would feed it
        # could never be scheduled, a hang; run them to the object store first (it spills)
        ds = ds.materialize()
    return ds.map_batches(FusedMapUDF, batch_size=stages[0].ctx.batch_size, **_actor_pool_args(stages))


def map_stage(ds, stage: MapStage, ctx: RunContext | None = None):
    """Attach one map stage (global stages use this to run a per-document step); `ctx`, when
    given, replaces the stage's own context."""
    if ctx is not None and stage.ctx is not ctx:
        stage = type(stage)(stage.config, ctx)
    return map_stages(ds, [stage])


def _run_by_units(stages: list[Stage], files: list[str] | None, inputs: list[str] | None, fp: str, resume: bool) -> None:
    """The source over input files, or a map pass over the previous kept files, one unit each."""
    last = stages[-1]
    if isinstance(last, SourceStage):
        units_list = [(units.source_unit(i, f), f) for i, f in enumerate(files or [])]
    else:
        units_list = [(units.file_unit(f), f) for f in inputs or []]
    pending = units.pending_units(stages, units_list, fp, resume)
    if isinstance(last, SourceStage):
        def attach(ds):
            return ds.map_batches(
                units.source_units, batch_size=1, batch_format="pyarrow", num_cpus=last.resources.num_cpus,
                fn_kwargs={"stage_cls": type(last), "config": last.config, "ctx": last.ctx},
            )
    else:
        def attach(ds):
            return ds.map_batches(units.MapUnitsUDF, batch_size=1, **_actor_pool_args(stages))
    ran = units.run_pending(pending, attach)
    log.info("stage %s: %d units run, %d committed earlier", "+".join(s.name for s in stages), ran, len(units_list) - ran)
    if not stage_io.parquet_files(last.ctx.kept_dir):  # no input at all: the next stage still reads a schema
        stage_io.write_kept_empty(last.ctx.kept_dir)


def by_units(stages: list[Stage], inputs: list[str] | None) -> bool:
    """Whether this group runs as resumable units: map passes over a kept folder, and sources
    that read one file at a time."""
    last = stages[-1]
    if isinstance(last, SourceStage):
        return callable(getattr(last, "read_file", None))
    return inputs is not None and all(isinstance(s, MapStage) for s in stages)


def run_group(
    stages: list[Stage], ds, files: list[str] | None, rows_in: int | None,
    inputs: list[str] | None = None, fp: str = "", resume: bool = False,
) -> tuple[object, list[dict]]:
    """Run one stage, or several consecutive map stages fused in one pass; materialise the kept
    output into the last stage's folder. `inputs` (the previous stage's kept files) lets map
    passes run by resumable units. Returns (kept dataset, one marker per stage, without
    fingerprints)."""
    t0 = time.perf_counter()
    last = stages[-1]
    facts: dict = {}
    if by_units(stages, inputs):
        _run_by_units(stages, files, inputs, fp, resume)
        kept_ds = stage_io.read_kept(last.ctx.kept_dir)
    else:
        for s in stages:
            stage_io.reset_dir(s.ctx.stage_dir)
        if ds is None and inputs is not None:
            ds = stage_io.read_kept_files(inputs)
        if isinstance(last, SinkStage):
            facts = last.write(ds) or {}
            kept_ds = ds
        else:
            if isinstance(last, SourceStage):
                out = last.read(files or [])
            elif isinstance(last, GlobalStage):
                out = last.run(ds)
            elif all(isinstance(s, MapStage) for s in stages):
                out = map_stages(ds, stages)
            else:
                raise TypeError(f"cannot run {stages!r} as one group")
            stage_io.write_kept(out, last.ctx.kept_dir)
            kept_ds = stage_io.read_kept(last.ctx.kept_dir)
    seconds = round(time.perf_counter() - t0, 3)
    markers = []
    for s in stages:
        dropped = stage_io.count_rows(s.ctx.dropped_dir)
        if isinstance(s, SinkStage):
            if dropped:  # the ledger takes a sink's input as the final kept set: a sink must not drop
                raise RuntimeError(f"sink stage {s.name} dropped {dropped} records; sinks must write everything")
            kept = rows_in
        elif s is last:
            kept = stage_io.count_rows(s.ctx.kept_dir)
        else:
            kept = rows_in - dropped
        if rows_in is None:  # a source: what it read is what it kept plus what it dropped
            rows_in = kept + dropped
        marker = {"stage": s.name, "rows_in": rows_in, "kept": kept, "dropped": dropped, "seconds": seconds, "facts": facts if s is last else {}}
        if len(stages) > 1:
            marker["fused_with"] = [x.name for x in stages]
        markers.append(marker)
        rows_in = kept
    return kept_ds, markers


def run_one_stage(stage: Stage, ds, files: list[str] | None, rows_in: int | None) -> tuple[object, dict]:
    kept_ds, markers = run_group([stage], ds, files, rows_in)
    return kept_ds, markers[0]


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "llama3-curate")


def fingerprint(previous: str, name: str, params: dict, extra: object = None) -> str:
    blob = json.dumps([previous, name, params, extra], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Runner:
    def __init__(self, config: PipelineConfig, output_dir: str, resume: bool = True):
        self.config = config
        self.output_dir = os.path.abspath(output_dir)
        self.resume = resume

    def stage_dir(self, index: int, name: str) -> str:
        return os.path.join(self.output_dir, "stages", f"{index:02d}-{name}")

    def context(self, stage_dir: str) -> RunContext:
        run = self.config.run
        cache = default_cache_dir() if run.cache_dir is None else os.path.join(self.output_dir, run.cache_dir)
        return RunContext(
            output_dir=self.output_dir, stage_dir=stage_dir, seed=run.seed, batch_size=run.batch_size, cache_dir=cache
        )

    def groups(self) -> list[list[tuple[int, Stage, str]]]:
        """The stages with their fingerprints, grouped into Ray passes."""
        fp = fingerprint("", "input", {"files": self.config.input_files(), "seed": self.config.run.seed})
        groups: list[list[tuple[int, Stage, str]]] = []
        for index, name in enumerate(self.config.pipeline):
            stage = stage_class(name)(self.config.stage_config(name), self.context(self.stage_dir(index, name)))
            fp = fingerprint(fp, name, stage.config.model_dump(mode="json"))
            fuse = (
                self.config.run.fuse_map_stages
                and groups
                and isinstance(stage, MapStage)
                and all(isinstance(s, MapStage) for _, s, _ in groups[-1])
            )
            if fuse:
                groups[-1].append((index, stage, fp))
            else:
                groups.append([(index, stage, fp)])
        return groups

    def run(self) -> list[StageOutcome]:
        files = self.config.input_files()
        os.makedirs(self.output_dir, exist_ok=True)
        outcomes: list[StageOutcome] = []
        ds = None
        rows_in: int | None = None
        inputs: list[str] | None = None  # the previous stage's kept files
        for group in self.groups():
            stages = [s for _, s, _ in group]
            markers = [stage_io.read_marker(s.ctx.stage_dir) for s in stages]
            names = "+".join(s.name for s in stages)
            if self.resume and all(m and m.get("fingerprint") == fp for m, (_, _, fp) in zip(markers, group)):
                log.info("stage %02d %s: complete from an earlier run, skipped", group[0][0], names)
                last = stages[-1]
                kept_ds = ds if isinstance(last, SinkStage) else stage_io.read_kept(last.ctx.kept_dir)
                skipped = True
            else:
                log.info("stage %02d %s: running", group[0][0], names)
                kept_ds, markers = run_group(stages, ds, files, rows_in, inputs, group[-1][2], self.resume)
                for m, (_, _, fp), s in zip(markers, group, stages):
                    m["fingerprint"] = fp
                    stage_io.write_marker(s.ctx.stage_dir, m)
                skipped = False
            for (index, stage, _), m in zip(group, markers):
                outcomes.append(
                    StageOutcome(
                        name=stage.name, index=index, stage_dir=stage.ctx.stage_dir, rows_in=m["rows_in"],
                        kept=m["kept"], dropped=m["dropped"], seconds=m["seconds"], skipped=skipped,
                        facts=m.get("facts", {}),
                    )
                )
                log.info(
                    "stage %02d %s: in %d kept %d dropped %d (%.1fs%s)", index, stage.name, m["rows_in"], m["kept"],
                    m["dropped"], m["seconds"], ", fused pass" if len(group) > 1 else "",
                )
            ds, rows_in = kept_ds, markers[-1]["kept"]
            if not isinstance(stages[-1], SinkStage):
                inputs = stage_io.parquet_files(stages[-1].ctx.kept_dir)
        return outcomes
