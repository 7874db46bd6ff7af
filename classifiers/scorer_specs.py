"""The scorers that learn from labels: which judge task labels them, what they predict and which
column of the record contract they fill.

Scale: every score column (`quality_fasttext`, `quality_transformer`, `code_score`,
`reasoning_score`) is a probability in 0..1 that the document is positive: the judge gives it
`positive_min` or more on its 0..5 scale (default 3, FineWeb-Edu's cut), or it comes from the
positives set. The mix stage thresholds these probabilities. `topic` is a taxonomy key.

Models: fastText for the binary scorers (thousands of documents per second, per language for
quality); the topic classifier is linear (TF-IDF + logistic regression, optionally mixed with
MiniLM embeddings: bench/scorers.py measured fastText 0.1 accuracy lower on WebOrganizer's topics);
the quality transformer is the optional cascade.

`has_default`: a default artifact ships in classifiers/default_artifacts/ (made by
scripts/build_default_artifacts.py from licensed data), so the stage scores with no training run.
The topic classifier has none: the only topic labels we have (WebOrganizer's) are for test use
only, so its artifact is trained at run time when the file is present."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScorerSpec:
    name: str         # registry / CLI / artifact folder name
    task: str         # the judge task whose labels train it
    kind: str         # "binary" (probability of positive) or "multiclass" (a label)
    column: str       # DOCUMENT_SCHEMA column it writes
    model: str = "fasttext"  # "fasttext", "linear" or "transformer"
    per_language: bool = False  # one model per language with enough labels, else the default one
    has_default: bool = False  # a default artifact ships with the package


SCORERS: dict[str, ScorerSpec] = {
    s.name: s
    for s in (
        ScorerSpec("quality-fasttext", "quality", "binary", "quality_fasttext", per_language=True, has_default=True),
        ScorerSpec("code-score", "code", "binary", "code_score", has_default=True),
        ScorerSpec("reasoning-score", "reasoning", "binary", "reasoning_score", has_default=True),
        ScorerSpec("topic", "topic", "multiclass", "topic", model="linear"),
        ScorerSpec("quality-transformer", "quality", "binary", "quality_transformer", model="transformer"),
    )
}


def spec(name: str) -> ScorerSpec:
    try:
        return SCORERS[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}") from None
