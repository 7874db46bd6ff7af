"""Labelling functions for code and math (classifiers/domain_signals.py) and the `domain-detect`
stage that writes their verdict into annotations["domain"] (classifiers/domain_detect.py)."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from classifiers.domain_detect import DomainDetect, DomainDetectConfig, detect
from classifiers.domain_signals import (
    DomainSignalsConfig,
    KindRule,
    Signal,
    code_measures,
    code_signal,
    domain_kind,
    math_measures,
    math_signal,
)
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests import domain_pages as pages
from tests.golden import check_golden

NEWS = (
    "The council approved the new budget on Monday after a long debate about funding for public transport.\n"
    "Officials said the plan would be reviewed again in spring, once the first quarterly figures are published."
)


def test_golden(regen_golden):
    got = {r["id"]: r for r in check_golden(DomainDetect(), "domain-detect", regen_golden)}
    kinds = {rid: json.loads(r["annotations"])["domain"]["kind"] for rid, r in got.items() if r["annotations"]}
    # what the golden records are for, independent of the frozen file
    for rid, (_, kind) in pages.KEPT.items():
        assert kinds[rid] == kind, rid
    assert kinds["prose-news"] is None and kinds["prose-sports-series"] is None
    assert kinds["prose-shell-tip"] is None  # one shell command does not make a page code
    assert kinds["code-by-html-counts"] == "code"  # the HTML's code blocks decide a short page
    assert got["no-text"]["annotations"] is None
    assert all(r["decision"] == "kept" for r in got.values())


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        DomainDetectConfig(threshold=0.5)
    with pytest.raises(ValidationError):
        DomainDetectConfig(signals={"latex": {"weight": 0.5, "full_at": 3, "cap": 1}})
    with pytest.raises(ValidationError):
        DomainDetectConfig(kind={"min_score": 2})


def test_annotation_keeps_what_was_there_and_reads_the_html_counts():
    html = {"pre": 3, "pre_chars": 400, "highlight": 3}
    text = "Install it, then run the example below.\n" + "x = compute(1)\nprint(x)\n" * 5
    rows = [{"id": "a", "text": text, "annotations": json.dumps({"html": html, "pii": {"email": 1}})}]
    kept, dropped = run_map_stage_local(DomainDetect(), documents_from_rows(rows))
    assert dropped.num_rows == 0
    ann = json.loads(kept.column("annotations")[0].as_py())
    assert ann["pii"] == {"email": 1} and ann["html"] == html
    assert ann["domain"]["kind"] == "code"
    assert ann["domain"]["evidence"]["code"]["code_blocks"][0] > 0  # [vote, measure]
    without_html = detect(text, None, DomainDetectConfig())
    assert without_html["code"] < ann["domain"]["code"]


def test_evidence_can_be_left_out():
    out = detect(pages.CAS_SESSION, None, DomainDetectConfig(evidence=False))
    assert set(out) == {"code", "math", "kind"} and out["kind"] == "math"


def test_prompts_and_code_lines_are_counted():
    m = code_measures(">>> import csv\n>>> rows = []\n$ pip install fastgeo\nIn [3]: x.mean()\nplain text here", None)
    assert m["prompts"] == 4
    m = code_measures("for i in range(3):\n    total += i\nreturn total;\nThe loop adds the numbers.", None)
    assert m["code_lines"] == pytest.approx(3 / 4)


def test_prices_and_ellipses_are_not_prompts():
    m = code_measures("$ 25 for the ticket\n... and then the crowd left\nThe show was great.", None)
    assert m["prompts"] == 0


def test_keywords_and_math_words_need_three_hits():
    assert code_measures("We store the int in a dict and move on.", None)["code_words"] == 0
    assert code_measures("int x; char c; void f(void); the struct holds a dict.", None)["code_words"] > 0
    assert math_measures("The equation made the news, and the derivative too.", None)["math_words"] == 0
    assert math_measures("The polynomial equation has a derivative and an integral.", None)["math_words"] > 0


def test_everyday_words_that_look_mathematical_are_not_math():
    text = ("The series resumes on Sunday; the limit on tickets is four, prime seats sold out, "
            "and the root cause of the delay was a factor nobody expected. " * 5)
    assert math_signal(text).score == 0


def test_latex_notation_and_cas_syntax_are_counted():
    m = math_measures("Let \\( x^2 + y_1 = \\frac{1}{2} \\) and \\[ \\sum_{k=1}^n k \\].", {"math": 2})
    assert m["latex"] >= 4 and m["math_markup"] == 2 and m["notation"] > 0
    m = math_measures("(%i1) f(x) := x^2$\n(%o1) done\nIn[2]:= Integrate[x, x]\nload(\"affine\")$", None)
    assert m["cas"] >= 4
    assert math_measures("See Maxima and SymPy, or Mathematica.", None)["cas_names"] == 3


def test_no_catastrophic_backtracking_on_long_identifier_lists():
    text = "f(" + ", ".join(f"argument_{i}" for i in range(3000)) + " and then nothing closes"
    math_measures(text, None)  # must return at once (a nested quantifier here once took minutes)


def test_votes_combine_as_a_noisy_or():
    config = DomainSignalsConfig()
    s = code_signal(">>> x = 1\n" * 3 + "def f(x):\n    return x;\n", {"pre": 1, "pre_chars": 40}, config)
    expected = 1.0
    for v in s.votes.values():
        expected *= 1 - v
    assert s.score == pytest.approx(1 - expected, abs=1e-4)
    assert all(0 <= v <= 1 for v in s.votes.values())
    assert set(s.evidence()) == {k for k, v in s.votes.items() if v > 0}


def _sig(score: float, **votes) -> Signal:
    return Signal(score, votes, {k: 0.0 for k in votes})


def test_kind_rule():
    rule = KindRule()
    assert domain_kind(_sig(0.9), _sig(0.1), rule) == "code"
    assert domain_kind(_sig(0.5), _sig(0.2), rule) is None  # under min_score
    assert domain_kind(_sig(0.9), _sig(0.85), rule) == "math"  # a tie within the margin goes to math
    assert domain_kind(_sig(1.0), _sig(0.7), rule) == "code"  # a Python page about numbers
    assert domain_kind(_sig(1.0), _sig(0.7, cas=0.6), rule) == "math"  # a CAS manual page of code
    assert domain_kind(_sig(0.7), _sig(0.7), KindRule(min_score=0.8)) is None


def test_pages_of_the_shared_domains_data_get_their_kind(shared_data):
    """Extraction and domain-detect over the 200 documentation pages: the kinds are precise."""
    from pipeline.extract.stage import Extract, ExtractConfig
    from pipeline.sources.warc import read_warc_local

    labels = json.loads((shared_data / "domains" / "labels.json").read_text())
    table, _ = read_warc_local([str(shared_data / "domains" / "docs-code-math.warc.gz")])
    kept, _ = run_map_stage_local(Extract(ExtractConfig(timeout_s=0)), table)
    kept, _ = run_map_stage_local(DomainDetect(), kept)
    got = [(labels[u], json.loads(a)["domain"]["kind"]) for u, a in zip(kept.column("url").to_pylist(), kept.column("annotations").to_pylist())]
    for kind in ("code", "math"):
        called = [label for label, k in got if k == kind]
        assert len(called) >= 50 and called.count(kind) / len(called) >= 0.95, (kind, len(called))
