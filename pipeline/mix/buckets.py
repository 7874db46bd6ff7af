"""Stage `assign-bucket`: one Llama 3 data-mix bucket per document, from the columns the scorers
write, with the rule that decided it under annotations["bucket"].

Rules, in order (Llama 3 §3.3.1 mixes general knowledge, math/reasoning, code and multilingual):
1. a language outside `primary_languages` -> `multilingual` (reason `language:<lang>`);
2. `code_column` >= `code_threshold` -> `code`;
3. `reasoning_column` >= `reasoning_threshold` -> `math_reasoning`;
4. otherwise `general`, saying why: `below-thresholds`, or `no-scorer:<columns>` when a score is
   null (the scorer did not run), or `no-language` when langid gave none.
"""
from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from pipeline.schema import merge_annotations, with_column
from pipeline.stage import Annotator, Resources, StageConfig

BUCKETS = ("general", "math_reasoning", "code", "multilingual")
SCORE_COLUMNS = ("code_score", "reasoning_score", "quality_fasttext", "quality_transformer")


class AssignBucketConfig(StageConfig):
    # Llama 3's general, code and math data are English-centric; every other language is the
    # multilingual bucket (§3.1.1 "Multilingual data")
    primary_languages: tuple[str, ...] = ("en",)
    code_column: str = Field("code_score", pattern="|".join(SCORE_COLUMNS))
    # provisional: the code scorer's scale is not fixed yet; 0.5 is the midpoint of a probability
    code_threshold: float = 0.5
    reasoning_column: str = Field("reasoning_score", pattern="|".join(SCORE_COLUMNS))
    # provisional, as code_threshold
    reasoning_threshold: float = 0.5


class AssignBucket(Annotator):
    name = "assign-bucket"
    reads = ("language", "code_score", "reasoning_score")
    writes = ("bucket", "annotations")
    resources = Resources(num_cpus=1)
    Config = AssignBucketConfig

    def annotate(self, batch: pa.Table) -> pa.Table:
        c = self.config
        languages = batch.column("language").to_pylist()
        code = batch.column(c.code_column).to_pylist()
        reasoning = batch.column(c.reasoning_column).to_pylist()
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
        if code is not None and code >= c.code_threshold:
            return "code", f"{c.code_column}>={c.code_threshold:g}"
        if reasoning is not None and reasoning >= c.reasoning_threshold:
            return "math_reasoning", f"{c.reasoning_column}>={c.reasoning_threshold:g}"
        missing = [name for name, v in ((c.code_column, code), (c.reasoning_column, reasoning)) if v is None]
        why = "no-scorer:" + ",".join(missing) if missing else "below-thresholds"
        if language is None:
            why = f"no-language;{why}"
        return "general", why
