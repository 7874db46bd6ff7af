"""The scorers that learn from labels: which judge task labels them, what they predict and which
column of the record contract they fill.

Scale: every score column (`quality_fasttext`, `quality_transformer`, `code_score`,
`reasoning_score`) is a probability in 0..1 that the document is positive: the judge gives it
`positive_min` or more on its 0..5 scale (default 3, FineWeb-Edu's cut), or it comes from the
positives set. The mix stage thresholds these probabilities. `topic` is a taxonomy key."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScorerSpec:
    name: str         # registry / CLI / artifact folder name
    task: str         # the judge task whose labels train it
    kind: str         # "binary" (probability of positive) or "multiclass" (a label)
    column: str       # DOCUMENT_SCHEMA column it writes
    model: str = "fasttext"  # "fasttext" or "transformer"
    per_language: bool = False  # one model per language with enough labels, else the default one


SCORERS: dict[str, ScorerSpec] = {
    s.name: s
    for s in (
        ScorerSpec("quality-fasttext", "quality", "binary", "quality_fasttext", per_language=True),
        ScorerSpec("code-score", "code", "binary", "code_score"),
        ScorerSpec("reasoning-score", "reasoning", "binary", "reasoning_score"),
        ScorerSpec("topic", "topic", "multiclass", "topic"),
        ScorerSpec("quality-transformer", "quality", "binary", "quality_transformer", model="transformer"),
    )
}
FASTTEXT_SCORERS = tuple(n for n, s in SCORERS.items() if s.model == "fasttext")


def spec(name: str) -> ScorerSpec:
    try:
        return SCORERS[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}") from None
