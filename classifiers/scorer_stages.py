"""The scorer stages (fastText; the topic classifier's linear model): each loads its artifact once
per worker and writes one column (scores never drop: deciding is quality-threshold's and the
mix stages' job, on thresholds in their configs).

- `quality-fasttext` -> `quality_fasttext`, P(Wikipedia-reference-like / judge >= 3), with one
  model per language that had enough labels; `annotations["quality-fasttext"]["model"]` names
  the model that scored the document (a language code, or "default", the multilingual model).
- `code-score` -> `code_score`, `reasoning-score` -> `reasoning_score` (same scale).
- `topic` -> `topic`, a taxonomy key; `annotations["topic"]["p"]` its probability.

Which artifact scores, in order: the configured `artifact:`; else the one this run's train-scorers
trained (trained-scorers.json; a `default:` reference there is the shipped default it fell back
to); else the shipped default (classifiers/default_artifacts/: quality-fasttext, code-score and
reasoning-score), so `curate code-score --input docs.jsonl --output DIR` works with no training run.
The log names the artifact. A scorer without any (topic, whose WebOrganizer labels may not be
shipped, when train-scorers had no WebOrganizer file) leaves its column null ("not scored") and
says so once in the log."""
from __future__ import annotations

import logging
from typing import ClassVar

import pyarrow as pa

from classifiers import default_artifacts
from classifiers.artifacts import resolve_artifact
from classifiers.scorer_specs import ScorerSpec, spec
from pipeline.schema import merge_annotations, with_column
from pipeline.stage import Annotator, Resources, StageConfig

log = logging.getLogger(__name__)


class ScorerConfig(StageConfig):
    # artifact folder or URI from `curate train <scorer>` (<root>/<scorer>/<version>); None: the
    # one the train-scorers stage trained (or found by fingerprint) earlier in this run
    artifact: str | None = None


def scorer_artifact(scorer: str, configured: str | None, output_dir: str | None) -> tuple[str | None, str]:
    """(artifact location or None, where it came from) for a scorer stage; see the module docstring."""
    if configured:
        return resolve_artifact(scorer, configured, output_dir), "configured"
    try:
        location, origin = resolve_artifact(scorer, None, output_dir), "trained by this run's train-scorers"
    except FileNotFoundError:  # no train-scorers in this run (e.g. `curate code-score`)
        location, origin = None, "no train-scorers in this run"
    if default_artifacts.is_ref(location):
        return default_artifacts.resolve_ref(location), "shipped default (train-scorers fell back to it)"
    if location is None:
        default = default_artifacts.default_artifact(scorer)
        if default is not None:
            return default, f"shipped default ({origin})"
    return location, origin


class FastTextScorerStage(Annotator):
    # `language` (per-language models) and `annotations` are read when present, null otherwise:
    # `curate code-score --input docs.jsonl` needs only `text`
    reads = ("text",)
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = ScorerConfig
    spec: ClassVar[ScorerSpec]

    def setup(self) -> None:
        from classifiers.training import load_scorer

        path, origin = scorer_artifact(self.name, self.config.artifact, self.ctx.output_dir if self.ctx else None)
        self.scorer = load_scorer(path) if path else None
        if self.scorer is not None:
            # a fall-back to the shipped default is worth a warning: it was not trained on this data
            (log.warning if "default" in origin else log.info)("%s: scoring with %s (%s)", self.name, path, origin)
        elif self.spec.has_default:
            log.warning("%s: no artifact (%s) and no shipped default; %s stays null (not scored)", self.name, origin, self.spec.column)
        else:
            log.warning("%s: no artifact (%s); %s stays null (not scored). No default ships: WebOrganizer's topic "
                        "labels are for test use only; train-scorers trains one when the file is present "
                        "(train-scorers.teachers.weborganizer), or set `artifact:` to one from `curate train topic`",
                        self.name, origin, self.spec.column)

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
