"""The shared base of rule filters that judge a document's text within a set of languages
(Gopher, C4, FineWeb, n-gram repetition): records without text are dropped as `no-text` with a
log line; records whose `language` is set and outside `config.languages` pass untouched (the
rules are English-centric); the rest get `text_reason`."""
from __future__ import annotations

import logging

import pyarrow as pa

from pipeline.stage import Filter

log = logging.getLogger(__name__)


class LanguageScopedTextFilter(Filter):
    reads = ("text", "language")

    def setup(self) -> None:
        languages = getattr(self.config, "languages", None)
        self._languages = set(languages) if languages is not None else None

    def text_reason(self, text: str) -> str | None:
        raise NotImplementedError

    def decide(self, batch: pa.Table) -> list[str | None]:
        if not hasattr(self, "_languages"):
            self.setup()
        texts = batch.column("text").to_pylist()
        languages = batch.column("language").to_pylist()
        reasons: list[str | None] = []
        for text, lang in zip(texts, languages):
            if text is None:
                reasons.append("no-text")
            elif self._languages is not None and lang is not None and lang not in self._languages:
                reasons.append(None)
            else:
                reasons.append(self.text_reason(text))
        n_missing = reasons.count("no-text")
        if n_missing:
            log.warning("%s: %d of %d records have no text (dropped as no-text)", self.name, n_missing, len(texts))
        return reasons
