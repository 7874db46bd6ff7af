"""`quality-transformer`: the DistilRoBERTa-class quality scorer, as a cascade behind fastText.

On CPU a transformer costs far more per document than extraction, so it only sees documents whose
`quality_fasttext` falls in the uncertain band [band_low, band_high] (or was not scored); fastText
is trusted outside it. `quality_transformer` is the cascade's score (0..1, the same scale as
`quality_fasttext`) and `annotations["quality-transformer"]["by"]` says which model gave it.
band_low 0 / band_high 1 scores everything with the transformer."""
from __future__ import annotations

import logging
from typing import Literal

import pyarrow as pa
from pydantic import Field, model_validator

from classifiers.artifacts import resolve_artifact
from classifiers.scorer_stages import ScorerConfig
from pipeline.schema import merge_annotations, with_column
from pipeline.stage import Annotator, Resources

log = logging.getLogger(__name__)


class QualityTransformerConfig(ScorerConfig):
    # fastText's uncertain band (our measurement in bench/scorers.py: outside 0.2..0.8 fastText
    # and the transformer agree on most documents)
    band_low: float = Field(0.2, ge=0.0, le=1.0)
    band_high: float = Field(0.8, ge=0.0, le=1.0)
    # auto: a GPU when the Ray cluster has one (the stage then asks Ray for one per worker)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(32, ge=1)     # documents per forward pass (length-sorted within a batch)
    num_threads: int = Field(1, ge=1)     # torch threads per worker = the worker's Ray CPUs

    @model_validator(mode="after")
    def _band(self):
        if self.band_low > self.band_high:
            raise ValueError(f"band_low {self.band_low} > band_high {self.band_high}")
        return self


def _resources(config: QualityTransformerConfig) -> Resources:
    from classifiers.judge.stage import _gpu_available

    gpu = config.device == "cuda" or (config.device == "auto" and _gpu_available())
    return Resources(num_cpus=config.num_threads, num_gpus=1 if gpu else 0, memory_gb=1.0)


class QualityTransformer(Annotator):
    name = "quality-transformer"
    reads = ("text", "quality_fasttext", "annotations")
    writes = ("quality_transformer", "annotations")
    resources = Resources(num_cpus=1, memory_gb=1.0)
    Config = QualityTransformerConfig

    def __init__(self, config=None, ctx=None):
        super().__init__(config, ctx)
        self.resources = _resources(self.config)
        self.scorer = None

    def setup(self) -> None:
        from classifiers.training import load_scorer

        path = resolve_artifact(self.name, self.config.artifact, self.ctx.output_dir if self.ctx else None)
        if path is None:
            log.warning("%s: no trained artifact for this run; quality_transformer stays null", self.name)
            return
        self.scorer = load_scorer(path, self.config.device)
        self.scorer.batch_size = self.config.batch_size
        if self.config.num_threads:
            import torch

            torch.set_num_threads(self.config.num_threads)

    def in_band(self, fast: float | None) -> bool:
        return fast is None or self.config.band_low <= fast <= self.config.band_high

    def annotate(self, batch: pa.Table) -> pa.Table:
        if self.scorer is None or batch.num_rows == 0:
            return batch
        texts = batch.column("text").to_pylist()
        fast = batch.column("quality_fasttext").to_pylist()
        todo = [i for i, f in enumerate(fast) if self.in_band(f)]
        probs, _ = self.scorer.probability([texts[i] for i in todo])
        scores = list(fast)
        by: list = [None if f is None else {"by": "fasttext"} for f in fast]
        for i, p in zip(todo, probs):
            scores[i] = p
            by[i] = None if p is None else {"by": "transformer"}
        batch = with_column(batch, "quality_transformer", scores)
        return merge_annotations(batch, self.name, by)
