"""C4 as datatrove runs it: the page decisions of `c4-quality`, and on the pages it keeps, `text`
rewritten to the lines C4 keeps (stripped, citations out, joined by "\\n"). FineWeb ran datatrove's
C4QualityFilter this way (with filter_no_terminal_punct=False).

A separate stage because a Filter only decides: use `c4-quality` to judge pages on C4's rules and
keep their text whole, `c4-lines` (instead of it, same config) to also remove the lines.

Code and math pages (`domain-detect`) are judged with the config's `domains` overrides
(filters/c4_quality.py) and keep their text whole: the line rules would take out short statements
and every indentation.
"""
from __future__ import annotations

import logging

import pyarrow as pa

from filters.c4_quality import C4QualityConfig, c4_page
from filters.text_rules import domain_kinds
from pipeline.schema import split_by_reason, with_column
from pipeline.stage import MapStage, Resources

log = logging.getLogger(__name__)


class C4LineFilter(MapStage):
    name = "c4-lines"
    # `annotations` (the domain kind) is read when present: `reads` is what an input must have
    reads = ("text", "language")
    writes = ("text",)
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = C4QualityConfig

    def setup(self) -> None:
        self._configs = self.config.domain_configs()

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        texts = batch.column("text").to_pylist()
        languages = batch.column("language").to_pylist()
        kinds = domain_kinds(batch) if len(self._configs) > 1 else [None] * len(texts)
        reasons: list[str | None] = []
        new_texts: list[str | None] = []
        for text, lang, kind in zip(texts, languages, kinds):
            config = self._configs.get(kind, self.config)
            reason = None
            if text is None:
                reason = "no-text"
            elif config.languages is None or lang is None or lang in config.languages:
                result = c4_page(text, config)
                reason = result.page_reason
                if reason is None and config.rewrite_lines:
                    text = "\n".join(result.kept).strip()
                    if not text:  # every line removed, with the sentence rule switched off
                        reason = "c4-no-lines-left"
            reasons.append(reason)
            new_texts.append(text)
        n_missing = sum(1 for t in texts if t is None)
        if n_missing:
            log.warning("c4-lines: %d of %d records have no text (dropped as no-text)", n_missing, len(texts))
        # dropped records keep their original text (what was judged); kept ones get the new text
        kept, dropped = split_by_reason(batch, self.name, reasons)
        kept_texts = [t for t, r in zip(new_texts, reasons) if r is None]
        return with_column(kept, "text", kept_texts), dropped
