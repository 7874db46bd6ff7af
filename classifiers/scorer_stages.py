"""The fastText scorer stages: each loads its artifact once per worker and writes one column
(scores never drop: deciding is the mix stage's job, on thresholds in its config).

- `quality-fasttext` -> `quality_fasttext`, P(Wikipedia-reference-like / judge >= 3), with one
  model per language that had enough labels; `annotations["quality-fasttext"]["model"]` names
  the model that scored the document (a language code, or "default", the multilingual model).
- `code-score` -> `code_score`, `reasoning-score` -> `reasoning_score` (same scale).
- `topic` -> `topic`, a taxonomy key; `annotations["topic"]["p"]` its probability.

A scorer without an artifact (train-scorers could not train it: e.g. the judge gave one label
only) leaves its column null ("not scored") and says so once in the log."""
from __future__ import annotations

import logging
from typing import ClassVar

import pyarrow as pa

from classifiers.artifacts import resolve_artifact
from classifiers.scorer_specs import ScorerSpec, spec
from pipeline.schema import merge_annotations, with_column
from pipeline.stage import Annotator, Resources, StageConfig

log = logging.getLogger(__name__)


class ScorerConfig(StageConfig):
    # artifact folder or URI from `curate train <scorer>` (<root>/<scorer>/<version>); None: the
    # one the train-scorers stage trained (or found by fingerprint) earlier in this run
    artifact: str | None = None


class FastTextScorerStage(Annotator):
    reads = ("text", "language", "annotations")
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = ScorerConfig
    spec: ClassVar[ScorerSpec]

    def setup(self) -> None:
        from classifiers.fasttext_scorer import FastTextScorer

        path = resolve_artifact(self.name, self.config.artifact, self.ctx.output_dir if self.ctx else None)
        self.scorer = FastTextScorer(path) if path else None
        if self.scorer is None:
            log.warning("%s: no trained artifact for this run; %s stays null (not scored)", self.name, self.spec.column)

    def annotate(self, batch: pa.Table) -> pa.Table:
        if self.scorer is None or batch.num_rows == 0:
            return batch
        texts = batch.column("text").to_pylist()
        languages = batch.column("language").to_pylist()
        if self.spec.kind == "binary":
            probs, models = self.scorer.probability(texts, languages)
            batch = with_column(batch, self.spec.column, probs)
            if self.spec.per_language:
                batch = merge_annotations(batch, self.name, [{"model": m} if p is not None else None for p, m in zip(probs, models)])
            return batch
        labels, _ = self.scorer.label(texts, languages)
        batch = with_column(batch, self.spec.column, [lab[0] if lab else None for lab in labels])
        return merge_annotations(batch, self.name, [{"p": round(lab[1], 4)} if lab else None for lab in labels])


class QualityFastText(FastTextScorerStage):
    name = "quality-fasttext"
    writes = ("quality_fasttext", "annotations")
    spec = spec("quality-fasttext")


class CodeScore(FastTextScorerStage):
    name = "code-score"
    writes = ("code_score",)
    spec = spec("code-score")


class ReasoningScore(FastTextScorerStage):
    name = "reasoning-score"
    writes = ("reasoning_score",)
    spec = spec("reasoning-score")


class TopicClassifier(FastTextScorerStage):
    name = "topic"
    writes = ("topic", "annotations")
    spec = spec("topic")
