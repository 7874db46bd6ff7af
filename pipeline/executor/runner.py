"""Config -> a plan of passes and decisions on Ray. Each stage has its folder OUTPUT/stages/NN-name/
with `dropped/` and a completion marker; a rerun with the same output folder skips every stage
whose marker matches the config that produced it.

The plan (`Runner.plan`):
- a **pass** runs the source (if any) and the map stages that follow it, fused, over work units
  on the run's stage hosts (pipeline/executor/units.py, pipeline/executor/hosts.py); only its last stage writes
  `kept/`; every stage in it writes its own `dropped/` and marker, so the ledger and summary see
  them exactly as if they had run alone. A rerun after a crash redoes only uncommitted units;
- a **decision** (a global stage) reads only the columns the stage declares from the last pass's
  kept files and writes its decision under the stage's `decision/` folder; the map stage that
  applies it (`apply_stage`) opens the next pass. So documents never go through a shuffle: URL
  dedup moves URLs, MinHash signatures, line dedup line hashes;
- the **sink** writes the shards from the last pass's kept files.
Global stages that only implement `run(ds)`, and sources that cannot read one file at a time,
run whole on Ray Data as before (`run_group`).

Why passes on stage hosts: a Ray Data plan per stage started new actors that imported and set up
their stages every time; on the shared WARC files that fixed cost was most of a run
(docs/benchmarks.md). A pass's units are Ray tasks on worker processes that keep the pass's stages
and serve every step of the run (pipeline/executor/hosts.py).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field

from pipeline import stage_io, storage
from pipeline.assets import default_cache_dir  # noqa: F401  (callers import it from here too)
from pipeline.columns import check_reads
from pipeline.config import PipelineConfig
from pipeline.executor.console import PassProgress
from pipeline.executor.hosts import run_units
from pipeline.registry import stage_class
from pipeline.stage import FusedMapUDF, GlobalStage, MapStage, RunContext, SinkStage, SourceStage, Stage
from pipeline.executor.units import PassSpec, is_source_by_units, pass_units, pending_units

log = logging.getLogger(__name__)

DECIDED = "_DECIDED.json"
# where judge labels and trained artifacts are kept when the config does not say (run.shared_cache):
# one cache for every run of a team (or a test session); else each run keeps its own under OUTPUT
SHARED_CACHE_ENV = "CURATE_SHARED_CACHE"  # in the stage's decision/ folder: the decision is complete


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


@dataclass
class Step:
    """One step of the plan: kind "pass" | "fit" | "whole" | "sink", with its (index, stage,
    fingerprint) items (a pass has several)."""

    kind: str
    items: list = field(default_factory=list)

    @property
    def stages(self) -> list[Stage]:
        return [s for _, s, _ in self.items]

    @property
    def names(self) -> str:
        return "+".join(s.name for s in self.stages)


def _actor_pool_args(stages: list[Stage], cluster_cpus: float) -> dict:
    """map_batches arguments for a Ray Data actor pool that runs `stages` (each built once per actor)."""
    import ray.data

    cpus_per_actor = max(s.resources.num_cpus for s in stages)
    gpus_per_actor = max(s.resources.num_gpus for s in stages)
    memory = sum(s.resources.memory_gb or 0 for s in stages)
    cpus = max(1, int(cluster_cpus))
    limits = [s.resources.concurrency for s in stages if s.resources.concurrency]
    max_size = min(limits) if limits else max(1, int(cpus // max(cpus_per_actor, 1e-3)))
    # An autoscaling pool from 1 actor: a fixed pool that takes every CPU starves the read tasks
    # feeding it (seen as a hang on 2-CPU machines).
    compute = ray.data.ActorPoolStrategy(min_size=1, max_size=max_size)
    kwargs = {"memory": int(memory * 2**30)} if memory else {}
    return dict(compute=compute, num_cpus=cpus_per_actor, num_gpus=gpus_per_actor, **kwargs)


def map_stages(ds, stages: list[MapStage]):
    """Attach map stages to a Ray Dataset as one class UDF (each stage built once per worker): the
    whole-dataset form (`GlobalStage.run`, `curate <stage>`, tests)."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 1)
    if max(s.resources.num_cpus for s in stages) >= cpus:
        # one actor takes every CPU (a 1-CPU cluster): the read and list tasks that would feed it
        # could never be scheduled, a hang; run them to the object store first (it spills)
        ds = ds.materialize()
    return ds.map_batches(FusedMapUDF, batch_size=stages[0].ctx.batch_size, batch_format="pyarrow",
                          fn_constructor_args=([(type(s), s.config, s.ctx) for s in stages],), **_actor_pool_args(stages, cpus))


def map_stage(ds, stage: MapStage, ctx: RunContext | None = None):
    """Attach one map stage; `ctx`, when given, replaces the stage's own context."""
    if ctx is not None and stage.ctx is not ctx:
        stage = type(stage)(stage.config, ctx)
    return map_stages(ds, [stage])


def run_pass_units(spec: PassSpec, stages: list[Stage], pending: list[tuple[str, str]]) -> list[dict]:
    """Run a pass's pending units on stage hosts that reserve what its stages declare, with a
    live progress line; returns the units' commits."""
    limits = [s.resources.concurrency for s in stages if s.resources.concurrency]
    progress = PassProgress("+".join(spec.names), len(pending))
    try:
        return run_units(spec, pending, min(limits) if limits else None, progress)
    finally:
        progress.close()


def run_global(stage: GlobalStage, ds):
    """A global stage over a whole Ray Dataset (`curate <stage>`, tests, benches): fit, then
    apply the decision with its map stage; or the stage's own `run`."""
    if not stage.fits():
        return stage.run(ds)
    stage.fit(ds)
    apply = stage.apply_stage()
    return ds if apply is None else map_stage(ds, apply)


def run_group(stages: list[Stage], ds, files: list[str] | None, rows_in: int | None,
              inputs: list[str] | None = None) -> tuple[object, list[dict]]:
    """Run one stage whole on Ray Data (a source without `read_file`, a global stage that only
    implements `run`, a sink; or a lone map stage for `curate <stage>`); materialise the kept
    output into its folder. Returns (kept dataset, one marker per stage, without fingerprints)."""
    t0 = time.perf_counter()
    last = stages[-1]
    facts: dict = {}
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
            out = run_global(last, ds)
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
    """`curate <stage>`: one stage alone; a source that reads file by file runs as a pass."""
    if is_source_by_units(stage):
        t0 = time.perf_counter()
        spec = PassSpec(key=fingerprint("", stage.name, stage.config.model_dump(mode="json"), files), source=(type(stage), stage.config, stage.ctx), maps=())
        pending = pending_units([stage], pass_units(spec, files, None), spec.key, resume=False)
        run_pass_units(spec, [stage], pending)
        marker = pass_markers([stage], None, round(time.perf_counter() - t0, 3))[0]
        return stage_io.read_kept(stage.ctx.kept_dir), marker
    kept_ds, markers = run_group([stage], ds, files, rows_in)
    return kept_ds, markers[0]


def pass_markers(stages: list[Stage], rows_in: int | None, seconds: float, fresh: list[dict] | None = None,
                 names: list[str] | None = None) -> list[dict]:
    """Each stage's marker after a pass, from the unit commits alone (each records what the unit
    read, kept and dropped per stage): those this run's hosts returned (`fresh`), and only for
    the rest of `names` (committed by an interrupted earlier run) a read each; no footers."""
    last = stages[-1]
    if fresh is None or names is None:
        units = stage_io.unit_markers(last.ctx.stage_dir)
    else:
        have = {u["unit"] for u in fresh}
        earlier = [stage_io.read_unit(last.ctx.stage_dir, n) for n in names if n not in have]
        units = fresh + earlier
    first = sum(u["rows_in"] for u in units)  # what the source kept, or what the pass read

    def dropped_by(stage: Stage) -> int:
        return sum(u["dropped"].get(stage.name, 0) for u in units)

    markers = []
    rest = stages
    if isinstance(stages[0], SourceStage):
        dropped = dropped_by(stages[0])
        markers.append({"stage": stages[0].name, "rows_in": first + dropped, "kept": first, "dropped": dropped})
        rows_in, rest = first, stages[1:]
    elif rows_in is not None and first != rows_in:
        raise RuntimeError(f"pass {'+'.join(s.name for s in stages)} read {first} documents, the previous stage kept {rows_in}")
    else:
        rows_in = first
    for s in rest:
        dropped = dropped_by(s)
        markers.append({"stage": s.name, "rows_in": rows_in, "kept": rows_in - dropped, "dropped": dropped})
        rows_in -= dropped
    if sum(u["kept"] for u in units) != rows_in:
        raise RuntimeError(f"pass {'+'.join(s.name for s in stages)}: {sum(u['kept'] for u in units)} documents written, "
                           f"{rows_in} expected")
    for m in markers:
        m.update(seconds=seconds, facts={})
        if len(stages) > 1:
            m["fused_with"] = [s.name for s in stages]
    return markers


def fingerprint(previous: str, name: str, params: dict, extra: object = None) -> str:
    blob = json.dumps([previous, name, params, extra], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_decided(stage: Stage) -> dict | None:
    return storage.read_json(storage.join(stage.ctx.decision_dir, DECIDED))


class Runner:
    def __init__(self, config: PipelineConfig, output_dir: str, resume: bool = True):
        self.config = config
        self.output_dir = storage.abspath(output_dir)
        self.resume = resume

    def stage_dir(self, index: int, name: str) -> str:
        return storage.join(self.output_dir, "stages", f"{index:02d}-{name}")

    def context(self, stage_dir: str) -> RunContext:
        run = self.config.run
        cache = default_cache_dir() if run.cache_dir is None else run.cache_dir
        configured = run.shared_cache or os.environ.get(SHARED_CACHE_ENV)
        shared = storage.join(self.output_dir, configured or "cache")
        if configured and (storage.is_uri(configured) or os.path.isabs(configured)):
            shared = storage.abspath(configured)
        return RunContext(output_dir=self.output_dir, stage_dir=stage_dir, seed=run.seed, batch_size=run.batch_size,
                          cache_dir=cache, shared_cache=shared)

    def plan(self) -> list[Step]:
        """The stages with their fingerprints, as passes, decisions, whole-dataset steps and the sink."""
        fp = fingerprint("", "input", {"files": self.config.input_files(), "seed": self.config.run.seed})
        fuse = self.config.run.fuse_map_stages
        steps: list[Step] = []
        open_pass: Step | None = None
        stages = [stage_class(name)(self.config.stage_config(name), self.context(self.stage_dir(index, name)))
                  for index, name in enumerate(self.config.pipeline)]
        check_reads(stages, self.config.source)  # a stage before the writer of a column it reads: stop now
        for index, (name, stage) in enumerate(zip(self.config.pipeline, stages)):
            fp = fingerprint(fp, name, stage.config.model_dump(mode="json"))
            item = (index, stage, fp)
            if isinstance(stage, MapStage) and open_pass is not None and fuse:
                open_pass.items.append(item)
                continue
            open_pass = None
            if is_source_by_units(stage) or isinstance(stage, MapStage):
                open_pass = Step("pass", [item])
                steps.append(open_pass)
            elif isinstance(stage, GlobalStage) and stage.fits():
                steps.append(Step("fit", [item]))
                apply = stage.apply_stage()
                if apply is not None:  # same folder and fingerprint: its marker is the stage's
                    open_pass = Step("pass", [(index, apply, fp)])
                    steps.append(open_pass)
            else:
                steps.append(Step("sink" if isinstance(stage, SinkStage) else "whole", [item]))
        return steps

    def run(self) -> list[StageOutcome]:
        self.begin()
        for step in self.plan():
            self.run_step(step)
        return self.results()

    def begin(self) -> None:
        self.files = self.config.input_files()
        storage.makedirs(self.output_dir)
        self.outcomes: dict[int, StageOutcome] = {}
        self.decided: dict[int, dict] = {}  # index -> decide seconds and facts
        self.fitted: dict[int, GlobalStage] = {}  # index -> the global stage that fitted
        self.rows_in: int | None = None
        self.inputs: list[str] | None = None  # the kept files of the last pass

    def run_step(self, step: Step) -> None:
        {"pass": self._pass, "fit": self._fit, "whole": self._whole, "sink": self._whole}[step.kind](step)

    def results(self) -> list[StageOutcome]:
        return [self.outcomes[i] for i in sorted(self.outcomes)]

    # ---------------------------------------------------------------- steps

    def _complete(self, step: Step) -> list[dict] | None:
        """The step's markers when a rerun may skip it (every marker matches its fingerprint)."""
        markers = [stage_io.read_marker(s.ctx.stage_dir) for s in step.stages]
        if self.resume and all(m and m.get("fingerprint") == fp for m, (_, _, fp) in zip(markers, step.items)):
            log.info("stage %02d %s: complete from an earlier run, skipped", step.items[0][0], step.names)
            return markers
        return None

    def _record(self, step: Step, markers: list[dict], skipped: bool) -> None:
        for m, (index, stage, fp) in zip(markers, step.items):
            if not skipped:
                m["fingerprint"] = fp
                stage_io.write_marker(stage.ctx.stage_dir, m)
            self.outcomes[index] = StageOutcome(
                name=stage.name, index=index, stage_dir=stage.ctx.stage_dir, rows_in=m["rows_in"], kept=m["kept"],
                dropped=m["dropped"], seconds=m["seconds"], skipped=skipped, facts=m.get("facts", {}),
            )
            log.info("stage %02d %s: in %d kept %d dropped %d (%.1fs%s)", index, stage.name, m["rows_in"], m["kept"],
                     m["dropped"], m["seconds"], ", fused pass" if len(step.items) > 1 else "")
        self.rows_in = markers[-1]["kept"]

    def _pass(self, step: Step) -> None:
        index = step.items[0][0]
        fitted = self.fitted.get(index)
        if fitted is not None and fitted.applies_nothing(self.decided[index].get("facts") or {}):
            # an empty decision (no duplicate records, say): its apply stage passes every document
            # on, so it does not cost a pass of its own
            head = Step("pass", step.items[:1])
            done = self._complete(head)
            if done is None:
                log.info("stage %02d %s: nothing to apply", index, fitted.name)
            self._record(head, done or [self._unchanged(self.decided[index])], skipped=done is not None)
            step = Step("pass", step.items[1:])
            if not step.items:
                return
        stages = step.stages
        last = stages[-1]
        markers = self._complete(step)
        skipped = markers is not None
        if not skipped:
            log.info("stage %02d %s: running", step.items[0][0], step.names)
            t0 = time.perf_counter()
            source = stages[0] if isinstance(stages[0], SourceStage) else None
            maps = stages[1:] if source else stages
            spec = PassSpec(
                key=step.items[-1][2], source=(type(source), source.config, source.ctx) if source else None,
                maps=tuple((type(s), s.config, s.ctx) for s in maps), part_rows=self.config.run.unit_docs,
                part_bytes=self.config.run.unit_bytes,
            )
            units = pass_units(spec, self.files, self.inputs)
            pending = pending_units(stages, units, spec.key, self.resume)
            fresh = run_pass_units(spec, stages, pending)
            log.info("stage %s: %d units run, %d committed earlier", step.names, len(pending), len(units) - len(pending))
            if not units:  # no input at all: the next stage still reads a schema
                stage_io.write_kept_empty(last.ctx.kept_dir)
            markers = pass_markers(stages, self.rows_in, round(time.perf_counter() - t0, 3), fresh, [u for u, _ in units])
            for m, (index, _, _) in zip(markers, step.items):
                self._add_decision(m, index)
        self._record(step, markers, skipped)
        self.inputs = stage_io.parquet_files(last.ctx.kept_dir)

    def _add_decision(self, marker: dict, index: int) -> None:
        """A global stage's marker, written after the pass that applied its decision, carries the
        decision's seconds and facts."""
        decided = self.decided.get(index)
        if decided is not None:
            marker["seconds"] = round(marker["seconds"] + decided["seconds"], 3)
            marker["decide_seconds"] = decided["seconds"]
            marker["facts"] = decided.get("facts") or {}

    def _fit(self, step: Step) -> None:
        index, stage, fp = step.items[0]
        self.fitted[index] = stage
        marker = stage_io.read_marker(stage.ctx.stage_dir)
        decided = _read_decided(stage)
        if self.resume and ((marker and marker.get("fingerprint") == fp) or (decided and decided.get("fingerprint") == fp)):
            log.info("stage %02d %s: fitted in an earlier run, skipped", index, stage.name)
            self.decided[index] = decided or {"seconds": 0.0, "facts": {}}
            if stage.apply_stage() is None:
                self._record(step, [marker or self._unchanged(decided)], skipped=True)
            return
        log.info("stage %02d %s: fitting", index, stage.name)
        t0 = time.perf_counter()
        stage_io.reset_dir(stage.ctx.stage_dir)
        columns = list(dict.fromkeys(("id", *stage.reads)))
        facts = stage.fit(stage_io.read_kept_files(self.inputs or [], columns)) or {}
        decided = {"fingerprint": fp, "seconds": round(time.perf_counter() - t0, 3), "facts": facts}
        stage_io.write_json_atomic(storage.join(stage.ctx.decision_dir, DECIDED), decided)
        self.decided[index] = decided
        if stage.apply_stage() is None:  # nothing to apply: every document passes on
            self._record(step, [self._unchanged(decided)], skipped=False)

    def _unchanged(self, decided: dict) -> dict:
        return {"rows_in": self.rows_in, "kept": self.rows_in, "dropped": 0, "seconds": decided["seconds"],
                "decide_seconds": decided["seconds"], "facts": decided.get("facts") or {}}

    def _whole(self, step: Step) -> None:
        markers = self._complete(step)
        skipped = markers is not None
        last = step.stages[-1]
        if not skipped:
            log.info("stage %02d %s: running", step.items[0][0], step.names)
            _, markers = run_group(step.stages, None, self.files, self.rows_in, self.inputs)
        self._record(step, markers, skipped)
        if not isinstance(last, SinkStage):
            self.inputs = stage_io.parquet_files(last.ctx.kept_dir)
