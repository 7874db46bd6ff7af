"""Stage `domain-detect`: is a page code, math or prose? Runs right after `extract`, before the
rule filters, which judge code and math pages by rules made for them (Llama 3 §3.1.1:
"domain-specific pipelines" for code and reasoning pages).

Writes `annotations["domain"]`: `{"code": score, "math": score, "kind": "code" | "math" | null,
"evidence": {"code": {function: [vote, measure]}, "math": {...}}}`; the scores and votes come from
the labelling functions of classifiers/domain_signals.py, over the text and the HTML counts that
`extract` left in `annotations["html"]` (the HTML itself is gone by then; documents read with
`read-documents` have no such counts and are judged on their text). Never drops.

Why a stage after `extract` rather than inside it: the text features need the extracted text, and
a separate stage lets a config move, drop or re-tune it (a new rule reruns from here, not the
extraction); the HTML counts, which need the parsed tree, are measured inside `extract`
(pipeline/extract/features.py), where the tree already exists.
"""
from __future__ import annotations

import json
from typing import ClassVar

import pyarrow as pa

from classifiers.domain_signals import DomainSignalsConfig, KindRule, code_signal, domain_kind, math_signal
from pipeline.schema import merge_annotations
from pipeline.stage import Annotator, Resources, StageConfig

ANNOTATION_KEY = "domain"


class DomainDetectConfig(StageConfig):
    # weights and saturation points of the labelling functions (classifiers/domain_signals.py)
    signals: DomainSignalsConfig = DomainSignalsConfig()
    # how the scores make the kind the filters read
    kind: KindRule = KindRule()
    # each labelling function's vote and measure in the annotation (~200 bytes a page), so a
    # decision can be read back; False writes the scores and the kind only
    evidence: bool = True


def _html_counts(annotations: str | None) -> dict | None:
    if not annotations or '"html"' not in annotations:
        return None
    return json.loads(annotations).get("html")


def detect(text: str, html: dict | None, config: DomainDetectConfig) -> dict:
    """The `annotations["domain"]` value of one page."""
    code = code_signal(text, html, config.signals)
    math_ = math_signal(text, html, config.signals)
    out = {"code": code.score, "math": math_.score, "kind": domain_kind(code, math_, config.kind)}
    if config.evidence:
        out["evidence"] = {"code": code.evidence(), "math": math_.evidence()}
    return out


class DomainDetect(Annotator):
    name: ClassVar[str] = "domain-detect"
    # `annotations` (the HTML counts) is read when present, not required: documents read with
    # read-documents have none
    reads: ClassVar[tuple[str, ...]] = ("text",)
    writes: ClassVar[tuple[str, ...]] = ("annotations",)
    resources: ClassVar[Resources] = Resources(num_cpus=1, memory_gb=0.5)
    Config: ClassVar[type[StageConfig]] = DomainDetectConfig

    def annotate(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        annotations = batch.column("annotations").to_pylist()
        values = [
            None if text is None else detect(text, _html_counts(ann), self.config)
            for text, ann in zip(texts, annotations)
        ]
        return merge_annotations(batch, ANNOTATION_KEY, values)
