"""Stage `assign-bucket`: one Llama 3 data-mix bucket per document, from the columns the scorers
write, with the rule that decided it under annotations["bucket"].

The scores: the code and reasoning scorers' columns, or domain-detect's labelling-function scores
(`domain.code`, `domain.math` in annotations), whichever configs/base.yaml says (bench/buckets.py
measures both on labelled pages). Rules, in order (Llama 3 §3.3.1 mixes general knowledge,
math/reasoning, code and multilingual):
1. a language outside `primary_languages` -> `multilingual` (reason `language:<lang>`);
2. `code_column` >= `code_threshold` -> `code`;
3. `reasoning_column` >= `reasoning_threshold` -> `math_reasoning` (2 and 3 swap with `first:
   math_reasoning`);
4. otherwise `general`, saying why: `below-thresholds`, or `no-scorer:<columns>` when a score is
   null (the scorer did not run), or `no-language` when langid gave none.
"""
from __future__ import annotations

import json
from typing import Literal

import pyarrow as pa

from pipeline.schema import merge_annotations, with_column
from pipeline.stage import Annotator, Resources, StageConfig

BUCKETS = ("general", "math_reasoning", "code", "multilingual")
SCORE_COLUMNS = ("code_score", "reasoning_score", "quality_fasttext", "quality_transformer")
# domain-detect's labelling-function scores (annotations["domain"]["code" | "math"], 0..1)
DOMAIN_SCORES = ("domain.code", "domain.math")
Source = Literal[SCORE_COLUMNS + DOMAIN_SCORES]


def source_values(batch: pa.Table, source: str) -> list[float | None]:
    """A score per row: a scorer's column, or a domain-detect score from the annotations."""
    if source in SCORE_COLUMNS:
        return batch.column(source).to_pylist()
    key = source.split(".", 1)[1]
    return [(json.loads(a).get("domain") or {}).get(key) if a else None for a in batch.column("annotations").to_pylist()]


class AssignBucketConfig(StageConfig):
    # Llama 3's general, code and math data are English-centric; every other language is the
    # multilingual bucket (§3.1.1 "Multilingual data")
    primary_languages: tuple[str, ...] = ("en",)
    # the scores that decide code and math: domain-detect's labelling functions (or a scorer's
    # column: code_score / reasoning_score). A threshold belongs to its score: the values are
    # calibrated on labelled pages by bench/buckets.py --calibrate (highest recall at precision
    # >= 0.9 on a tune half of ../shared/data/domains; configs/base.yaml gives the held-out
    # precision and recall); recalibrate when the functions change, and set both places (a test
    # holds them equal)
    code_column: Source = "domain.code"
    code_threshold: float = 0.4325
    reasoning_column: Source = "domain.math"
    reasoning_threshold: float = 0.6564
    # which domain is tested first when a page reaches both thresholds (computer-algebra manuals
    # read as code; bench/buckets.py --calibrate chose math first)
    first: Literal["code", "math_reasoning"] = "math_reasoning"


class AssignBucket(Annotator):
    name = "assign-bucket"
    reads = ("language", "code_score", "reasoning_score", "annotations")
    writes = ("bucket", "annotations")
    resources = Resources(num_cpus=1)
    Config = AssignBucketConfig

    def needs(self) -> tuple[str, ...]:
        c = self.config
        return tuple(dict.fromkeys(("language", *(x if x in SCORE_COLUMNS else "annotations" for x in (c.code_column, c.reasoning_column)))))

    def annotate(self, batch: pa.Table) -> pa.Table:
        c = self.config
        languages = batch.column("language").to_pylist()
        code = source_values(batch, c.code_column)
        reasoning = source_values(batch, c.reasoning_column)
        buckets, reasons = [], []
        for lang, cs, rs in zip(languages, code, reasoning):
            bucket, reason = self.rule(lang, cs, rs)
            buckets.append(bucket)
            reasons.append(reason)
        batch = with_column(batch, "bucket", buckets)
        return merge_annotations(batch, "bucket", reasons)

    def rule(self, language: str | None, code: float | None, reasoning: float | None) -> tuple[str, str]:
        c = self.config
        if language is not None and language not in c.primary_languages:
            return "multilingual", f"language:{language}"
        tests = [("code", c.code_column, code, c.code_threshold), ("math_reasoning", c.reasoning_column, reasoning, c.reasoning_threshold)]
        for bucket, column, score, threshold in (tests if c.first == "code" else tests[::-1]):
            if score is not None and score >= threshold:
                return bucket, f"{column}>={threshold:g}"
        missing = [name for name, v in ((c.code_column, code), (c.reasoning_column, reasoning)) if v is None]
        why = "no-scorer:" + ",".join(missing) if missing else "below-thresholds"
        if language is None:
            why = f"no-language;{why}"
        return "general", why
