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

import pyarrow as pa

from filters.c4_quality import C4QualityConfig, c4_page
from filters.text_rules import domain_kinds
from pipeline.stage import Editor, Edits, Resources


class C4LineFilter(Editor):
    name = "c4-lines"
    # `annotations` (the domain kind) is read when present: `reads` is what an input must have
    reads = ("text", "language")
    writes = ("text",)
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = C4QualityConfig
    emptied_reason = "c4-no-lines-left"  # every line removed, with the sentence rule switched off

    def setup(self) -> None:
        self._configs = self.config.domain_configs()

    def edit(self, batch: pa.Table) -> Edits:
        texts = batch.column("text").to_pylist()
        languages = batch.column("language").to_pylist()
        kinds = domain_kinds(batch) if len(self._configs) > 1 else [None] * len(texts)
        new_texts: list[str | None] = []
        reasons: list[str | None] = []
        for text, lang, kind in zip(texts, languages, kinds):
            config = self._configs.get(kind, self.config)
            new, reason = None, None
            if config.languages is None or lang is None or lang in config.languages:
                result = c4_page(text, config)
                reason = result.page_reason
                if reason is None and config.rewrite_lines:
                    new = "\n".join(result.kept).strip()
            new_texts.append(new)
            reasons.append(reason)
        return Edits(new_texts, reasons)
