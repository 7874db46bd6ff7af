"""Stage `extract`: raw HTTP payload -> main text, following Llama 3 §3.1 (a parser tuned for
precision in boilerplate removal; math and code kept; image alt text kept; markdown markers
removed). The page-level work is pipeline/extract/page.py; this stage batches it, runs it under a
hard time limit in a child process (pipeline/extract/worker.py) and keeps the page's code and
math counts in annotations["html"].

Drop reasons: empty-payload, html-too-large, not-decodable, no-text, extraction-timeout,
extraction-failed:<ExceptionType>.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import ClassVar

import pyarrow as pa

from pipeline.extract.page import ExtractConfig, Outcome, PageOutcome, extract_document, extract_page, trafilatura_options
from pipeline.schema import merge_annotations, split_by_reason, with_column
from pipeline.stage import MapStage, Resources, StageConfig

__all__ = ["Extract", "ExtractConfig", "Outcome", "PageOutcome", "extract_document", "extract_page"]

log = logging.getLogger(__name__)


class Extract(MapStage):
    name: ClassVar[str] = "extract"
    reads: ClassVar[tuple[str, ...]] = ("html", "content_type", "url")
    writes: ClassVar[tuple[str, ...]] = ("text", "html", "annotations")
    resources: ClassVar[Resources] = Resources(num_cpus=1.0)
    Config: ClassVar[type[StageConfig]] = ExtractConfig

    def setup(self) -> None:
        # trafilatura logs a warning per discarded page; our drop reasons already count them
        logging.getLogger("trafilatura").setLevel(logging.ERROR)
        trafilatura_options(self.config, fast=True)
        # the hard limit: a child process that is killed when a page holds it past the limit,
        # which the in-process watchdog cannot do while lxml runs C code (issue 7)
        self._isolated = None
        if self.config.timeout_s:
            from pipeline.extract.worker import IsolatedExtractor

            self._isolated = IsolatedExtractor(self.config, target=extract_page)

    def teardown(self) -> None:
        if getattr(self, "_isolated", None) is not None:
            self._isolated.close()
            self._isolated = None

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        payloads = batch.column("html").to_pylist()
        content_types = batch.column("content_type").to_pylist()
        urls = batch.column("url").to_pylist()
        if self._isolated is not None:
            outcomes = [PageOutcome(*o) for o in self._isolated.extract_many(payloads, content_types, urls)]
        else:
            outcomes = [extract_page(p, ct, self.config, u) for p, ct, u in zip(payloads, content_types, urls)]
        batch = with_column(batch, "text", [o.text for o in outcomes])
        if self.config.html_signals:
            batch = merge_annotations(batch, "html", [o.html for o in outcomes])
        # the raw payload is never needed again and is most of the bytes
        batch = with_column(batch, "html", pa.nulls(batch.num_rows, pa.binary()))
        reasons = [o.reason for o in outcomes]
        counts = Counter(r for r in reasons if r)
        if counts:
            log.debug("extract: %d of %d dropped: %s", sum(counts.values()), len(reasons), dict(sorted(counts.items())))
        return split_by_reason(batch, self.name, reasons)
