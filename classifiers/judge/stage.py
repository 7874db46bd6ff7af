"""The `judge` stage: labels documents with the LLM judge. It writes each task's expected score
into `annotations` (`judge_<task>`; topic also `judge_topic_label`) and, per batch, a labels
parquet file under the stage's `labels/` folder (named by content, so a retried Ray task
rewrites the same file), which `read_labels(DIR/labels)` reads as one table."""
from __future__ import annotations

import logging
from typing import Literal

import pyarrow as pa
import xxhash
from pydantic import Field

from classifiers.judge.config import JudgeConfig
from classifiers.judge.labels import labels_table, write_labels_table
from classifiers.judge.judge import build_judge
from classifiers.judge.prompts import TASKS
from pipeline import storage
from pipeline.schema import merge_annotations
from pipeline.stage import Annotator, Resources

log = logging.getLogger(__name__)


class JudgeStageConfig(JudgeConfig):
    # which prompts to run on every document (each is one forward pass per document)
    tasks: list[Literal[TASKS]] = Field(default_factory=lambda: ["quality"], min_length=1)
    # also write labels parquet under the stage folder's labels/ (the scorers' training data)
    write_labels: bool = True


def _gpu_available() -> bool:
    """Whether a local model would get a GPU: the Ray cluster's view when Ray runs (the driver
    may have none while workers do), else torch's on this machine."""
    try:
        import ray

        if ray.is_initialized():
            return ray.cluster_resources().get("GPU", 0) > 0
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def stage_resources(config: JudgeStageConfig) -> Resources:
    on_gpu = config.backend == "local" and (config.device == "cuda" or (config.device == "auto" and _gpu_available()))
    if on_gpu:
        return Resources(num_cpus=1, num_gpus=1, memory_gb=2.0)
    if config.backend == "local":
        return Resources(num_cpus=1, memory_gb=2.0)  # a 135M model in float32 plus activations
    # http: the work is on the server; few workers, each with `concurrency` requests in flight
    return Resources(num_cpus=0.25, memory_gb=0.5, concurrency=2)


class JudgeStage(Annotator):
    name = "judge"
    reads = ("text",)
    writes = ("annotations",)
    resources = Resources(num_cpus=1, memory_gb=2.0)
    Config = JudgeStageConfig

    def __init__(self, config=None, ctx=None):
        super().__init__(config, ctx)
        self.resources = stage_resources(self.config)  # num_gpus follows `device`
        self.judge = None

    def setup(self) -> None:
        if self.judge is None:
            ctx = self.ctx
            self.judge = build_judge(self.config, ctx.cache_dir if ctx else None, shared_cache=ctx.shared if ctx else None)

    def teardown(self) -> None:
        if self.judge is not None:
            self.judge.close()
            self.judge = None

    def annotate(self, batch: pa.Table) -> pa.Table:
        ids = batch.column("id").to_pylist()
        texts = batch.column("text").to_pylist()
        rows = [i for i, t in enumerate(texts) if t]
        if len(rows) < len(texts):
            log.warning("judge: %d of %d documents have no text and get no judge labels", len(texts) - len(rows), len(texts))
        label_tables = []
        for task in self.config.tasks:
            scores = self.judge.score([texts[i] for i in rows], task)
            values: list = [None] * len(texts)
            topic_labels: list = [None] * len(texts)
            for i, s in zip(rows, scores):
                if not s.failed:
                    values[i] = s.expected
                    topic_labels[i] = s.label
            batch = merge_annotations(batch, f"judge_{task}", values)
            if task == "topic":
                batch = merge_annotations(batch, "judge_topic_label", topic_labels)
            label_tables.append(labels_table([ids[i] for i in rows], [texts[i] for i in rows], scores))
        if self.config.write_labels and self.ctx is not None and rows:
            self._write_labels(pa.concat_tables(label_tables))
        # every batch: a Ray Data worker may go away without teardown, and the next run reuses these
        self.judge.flush()
        return batch

    def _write_labels(self, table: pa.Table) -> None:
        h = xxhash.xxh3_64()
        for task, rid in zip(table.column("task").to_pylist(), table.column("id").to_pylist()):
            h.update(f"{task}\0{rid}\0".encode("utf-8", "surrogatepass"))
        write_labels_table(table, storage.join(self.ctx.stage_dir, "labels", f"part-{h.hexdigest()}.parquet"))
