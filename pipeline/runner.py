"""Config -> Ray Data plan. Each stage materialises its kept documents under
OUTPUT/stages/NN-name/kept/ (dropped ones under dropped/) and a completion marker; a rerun with
the same output folder skips every stage whose marker matches the config that produced it."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass

from pipeline import stage_io
from pipeline.config import PipelineConfig
from pipeline.registry import stage_class
from pipeline.stage import GlobalStage, MapStage, MapStageUDF, RunContext, SinkStage, SourceStage, Stage

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


def map_stage(ds, stage: MapStage, ctx: RunContext):
    """Attach a map stage to a dataset as a class UDF (the stage is built once per worker)."""
    import ray
    import ray.data

    res = stage.resources
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    # An autoscaling pool from 1 actor: a fixed pool that takes every CPU starves the read tasks
    # feeding it (seen as a hang on 2-CPU machines).
    max_size = res.concurrency or max(1, int(cpus // max(res.num_cpus, 1e-3)))
    compute = ray.data.ActorPoolStrategy(min_size=1, max_size=max_size)
    kwargs = {}
    if res.memory_gb:
        kwargs["memory"] = int(res.memory_gb * 2**30)
    return ds.map_batches(
        MapStageUDF,
        fn_constructor_args=(type(stage), stage.config, ctx),
        batch_format="pyarrow",
        batch_size=ctx.batch_size,
        compute=compute,
        num_cpus=res.num_cpus,
        num_gpus=res.num_gpus,
        **kwargs,
    )


def apply_stage(stage: Stage, ds, files: list[str] | None):
    """Return the dataset of the stage's kept documents (lazy for map stages)."""
    if isinstance(stage, SourceStage):
        return stage.read(files or [])
    if isinstance(stage, MapStage):
        return map_stage(ds, stage, stage.ctx)
    if isinstance(stage, GlobalStage):
        return stage.run(ds)
    raise TypeError(f"{stage!r} is not a source, map or global stage")


def run_one_stage(stage: Stage, ds, files: list[str] | None, rows_in: int | None) -> tuple[object, dict]:
    """Run `stage`, materialise its output into its folder and write the completion marker
    (without the fingerprint, which the caller adds). Returns (kept dataset, facts)."""
    ctx = stage.ctx
    stage_io.reset_dir(ctx.stage_dir)
    t0 = time.perf_counter()
    facts: dict = {}
    if isinstance(stage, SinkStage):
        facts = stage.write(ds) or {}
        kept_ds = ds
        kept = rows_in if rows_in is not None else ds.count()
    else:
        out = apply_stage(stage, ds, files)
        stage_io.write_kept(out, ctx.kept_dir)
        kept_ds = stage_io.read_kept(ctx.kept_dir)
        kept = stage_io.count_rows(ctx.kept_dir)
    dropped = stage_io.count_rows(ctx.dropped_dir)
    if isinstance(stage, SinkStage) and dropped:
        # the ledger takes a sink's input as the final kept set: a sink must not drop
        raise RuntimeError(f"sink stage {stage.name} dropped {dropped} records; sinks must write everything")
    if rows_in is None:  # a source: what it read is what it kept plus what it dropped
        rows_in = kept + dropped
    marker = {
        "stage": stage.name,
        "rows_in": rows_in,
        "kept": kept,
        "dropped": dropped,
        "seconds": round(time.perf_counter() - t0, 3),
        "facts": facts,
    }
    return kept_ds, marker


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

    def run(self) -> list[StageOutcome]:
        files = self.config.input_files()
        os.makedirs(self.output_dir, exist_ok=True)
        outcomes: list[StageOutcome] = []
        ds = None
        rows_in: int | None = None
        fp = fingerprint("", "input", {"files": files, "seed": self.config.run.seed})
        for index, name in enumerate(self.config.pipeline):
            stage_dir = self.stage_dir(index, name)
            stage = stage_class(name)(self.config.stage_config(name), self.context(stage_dir))
            fp = fingerprint(fp, name, stage.config.model_dump(mode="json"))
            marker = stage_io.read_marker(stage_dir)
            if self.resume and marker and marker.get("fingerprint") == fp:
                log.info("stage %02d %s: complete from an earlier run, skipped", index, name)
                kept_ds = stage_io.read_kept(stage.ctx.kept_dir) if not isinstance(stage, SinkStage) else ds
                skipped = True
            else:
                log.info("stage %02d %s: running", index, name)
                kept_ds, marker = run_one_stage(stage, ds, files, rows_in)
                marker["fingerprint"] = fp
                stage_io.write_marker(stage_dir, marker)
                skipped = False
            outcomes.append(
                StageOutcome(
                    name=name,
                    index=index,
                    stage_dir=stage_dir,
                    rows_in=marker["rows_in"],
                    kept=marker["kept"],
                    dropped=marker["dropped"],
                    seconds=marker["seconds"],
                    skipped=skipped,
                    facts=marker.get("facts", {}),
                )
            )
            log.info(
                "stage %02d %s: in %d kept %d dropped %d (%.1fs)",
                index, name, marker["rows_in"], marker["kept"], marker["dropped"], marker["seconds"],
            )
            ds, rows_in = kept_ds, marker["kept"]
        return outcomes
