"""Stage `assign-bucket`: one bucket per document from language and scores, with its reason."""
import json

import pytest

from pipeline.mix.buckets import AssignBucket
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local

CASES = [
    # (language, code_score, reasoning_score) -> (bucket, reason)
    (("fr", 0.9, 0.9), ("multilingual", "language:fr")),  # language first: French code is multilingual
    (("en", 0.9, 0.9), ("code", "code_score>=0.5")),  # code before math
    (("en", 0.5, None), ("code", "code_score>=0.5")),  # the threshold itself passes
    (("en", 0.49, 0.7), ("math_reasoning", "reasoning_score>=0.5")),
    (("en", 0.1, 0.2), ("general", "below-thresholds")),
    (("en", None, None), ("general", "no-scorer:code_score,reasoning_score")),
    (("en", None, 0.1), ("general", "no-scorer:code_score")),
    ((None, 0.1, 0.1), ("general", "no-language;below-thresholds")),
    ((None, 0.8, None), ("code", "code_score>=0.5")),
]


def _run(cases, **config):
    # the cases' scorer columns and thresholds, whatever the calibrated defaults (domain-detect's)
    config = {"code_column": "code_score", "reasoning_column": "reasoning_score", "code_threshold": 0.5,
              "reasoning_threshold": 0.5, "first": "code", **config}
    rows = [{"id": f"d{i}", "language": lang, "code_score": cs, "reasoning_score": rs, "annotations": '{"pii":{"email":1}}'}
            for i, ((lang, cs, rs), _) in enumerate(cases)]
    kept, dropped = run_map_stage_local(AssignBucket(AssignBucket.Config(**config)), documents_from_rows(rows), batch_size=4)
    assert dropped.num_rows == 0 and kept.num_rows == len(rows)
    return kept.to_pylist()


def test_rules_and_reasons():
    out = _run(CASES)
    for row, (_, (bucket, reason)) in zip(out, CASES):
        annotations = json.loads(row["annotations"])
        assert (row["bucket"], annotations["bucket"]) == (bucket, reason), row["id"]
        assert annotations["pii"] == {"email": 1}  # other stages' annotations stay


def test_thresholds_columns_and_languages_come_from_config():
    cases = [(("de", 0.6, 0.2), None), (("en", 0.6, 0.2), None), (("en", 0.3, 0.95), None)]
    out = _run(cases, primary_languages=["en", "de"], code_threshold=0.7, reasoning_column="quality_fasttext")
    # de is primary now; code needs 0.7; the reasoning rule reads quality_fasttext (null here)
    assert [r["bucket"] for r in out] == ["general", "general", "general"]
    assert json.loads(out[2]["annotations"])["bucket"] == "no-scorer:quality_fasttext"


def test_unknown_score_column_is_a_config_error():
    with pytest.raises(Exception):
        AssignBucket.Config(code_column="text")


def test_math_first_when_configured():
    cases = [(("en", 0.9, 0.9), None), (("en", 0.9, 0.2), None), (("en", 0.1, 0.6), None)]
    out = _run(cases, first="math_reasoning")
    assert [(r["bucket"], json.loads(r["annotations"])["bucket"]) for r in out] == [
        ("math_reasoning", "reasoning_score>=0.5"), ("code", "code_score>=0.5"), ("math_reasoning", "reasoning_score>=0.5")]


def test_domain_detect_scores_as_the_source():
    """`domain.code` / `domain.math`: domain-detect's labelling-function scores in annotations."""
    rows = [{"id": "a", "language": "en", "code_score": 0.01, "annotations": json.dumps({"domain": {"code": 0.9, "math": 0.0}})},
            {"id": "b", "language": "en", "code_score": 0.99, "annotations": json.dumps({"domain": {"code": 0.1, "math": 0.8}})},
            {"id": "c", "language": "en", "code_score": 0.99, "annotations": None}]
    stage = AssignBucket(AssignBucket.Config(code_column="domain.code", reasoning_column="domain.math", code_threshold=0.5,
                                             reasoning_threshold=0.6))
    kept, _ = run_map_stage_local(stage, documents_from_rows(rows))
    out = {r["id"]: (r["bucket"], json.loads(r["annotations"])["bucket"]) for r in kept.to_pylist()}
    assert out == {"a": ("code", "domain.code>=0.5"), "b": ("math_reasoning", "domain.math>=0.6"),
                   "c": ("general", "no-scorer:domain.code,domain.math")}
