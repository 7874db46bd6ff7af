"""Domain-aware rule filters (filters/text_rules.py): a page `domain-detect` called code or math is
judged by its filter's `domains[kind]` overrides, which keep real code and math pages and still
drop the boilerplate of those domains (tests/domain_pages.py)."""
from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from filters.c4_lines import C4LineFilter
from filters.c4_quality import C4Quality, C4QualityConfig
from filters.fineweb_quality import FineWebQuality, FineWebQualityConfig
from filters.gopher_quality import GopherQuality, GopherQualityConfig
from filters.line_repetition import LineRepetition, LineRepetitionConfig
from filters.ngram_repetition import NgramRepetition, NgramRepetitionConfig
from filters.text_rules import domain_kind_of
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests import domain_pages as pages

FILTERS = [
    GopherQuality(),
    GopherQuality(GopherQualityConfig(alpha_ratio_over="words")),  # as configs/base.yaml sets it
    C4Quality(),
    C4LineFilter(),
    FineWebQuality(),
    NgramRepetition(),
    LineRepetition(),
]


def _run(stage, rows):
    kept, dropped = run_map_stage_local(stage, documents_from_rows(rows))
    decided = {r: None for r in kept.column("id").to_pylist()}
    decided.update(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()))
    return decided, kept


@pytest.mark.parametrize("stage", FILTERS, ids=lambda s: f"{s.name}")
def test_real_code_and_math_pages_pass_every_filter_as_their_domain(stage):
    decided, _ = _run(stage, pages.filter_rows())
    for rid, (_, kind) in pages.KEPT.items():
        assert decided[f"{rid}-as-{kind}"] is None, (stage.name, rid, decided[f"{rid}-as-{kind}"])


def test_the_prose_rules_drop_each_of_them():
    """What the issue measured: as prose, every real page falls to some rule."""
    rows = pages.filter_rows()
    prose_rules = [GopherQuality(GopherQualityConfig(alpha_ratio_over="words")), C4Quality(), FineWebQuality(), NgramRepetition()]
    reasons = {rid: [] for rid in pages.KEPT}
    for stage in prose_rules:
        decided, _ = _run(stage, rows)
        for rid in pages.KEPT:
            if decided[f"{rid}-as-prose"]:
                reasons[rid].append(decided[f"{rid}-as-prose"])
    assert all(reasons.values()), reasons


def test_boilerplate_of_the_domains_is_still_dropped():
    """Each boilerplate page falls to at least one filter under its domain's rules."""
    rows = pages.filter_rows()
    dropped_by = {rid: [] for rid in pages.BOILERPLATE}
    for stage in FILTERS:
        decided, _ = _run(stage, rows)
        for rid, (_, kind) in pages.BOILERPLATE.items():
            if decided[f"{rid}-as-{kind}"]:
                dropped_by[rid].append(f"{stage.name}: {decided[f'{rid}-as-{kind}']}")
    assert all(dropped_by.values()), dropped_by


def test_line_repetition_leaves_code_examples_whole():
    text = pages.CODE_TUTORIAL + "\n" + "\n".join(f"    writer.writerow([\"item {i}\", {i}])" for i in range(12))
    rows = [
        {"id": "prose", "text": text},
        {"id": "code", "text": text, "annotations": pages.annotations("code")},
    ]
    _, kept = _run(LineRepetition(), rows)
    out = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    assert out["code"] == text
    assert out["prose"] != text  # the template rule removes the repeated writerow lines


@pytest.mark.parametrize(
    "config_cls, override",
    [
        (GopherQualityConfig, {"min_words": 10}),
        (C4QualityConfig, {"min_sentences": 3}),
        (FineWebQualityConfig, {"line_punct_thr": 2.0}),
        (NgramRepetitionConfig, {"dup_n_grams": "many"}),
        (LineRepetitionConfig, {"max_line_repeats": 0}),
    ],
)
def test_domain_overrides_are_validated_at_load(config_cls, override):
    with pytest.raises(ValidationError):
        config_cls(domains={"code": override})


def test_domain_overrides_cannot_nest():
    with pytest.raises(ValidationError):
        GopherQualityConfig(domains={"code": {"domains": {}}})


def test_overrides_apply_on_top_of_the_configured_values():
    c = GopherQualityConfig(min_stop_words=3, domains={"code": {"min_doc_words": 10}})
    code = c.for_domain("code")
    assert code.min_doc_words == 10 and code.min_stop_words == 3 and code.domains == {}
    assert code.alpha_ratio_over == "words"  # the other code overrides stay
    assert c.for_domain("math").min_doc_words == 25  # the math overrides too
    assert c.for_domain("table") is c and c.for_domain(None) is c


def test_given_overrides_merge_into_the_defaults():
    c = FineWebQualityConfig(domains={"code": {"short_line_thr": 0.95}, "math": None})
    assert c.domains == {"code": {"line_punct_thr": None, "short_line_thr": 0.95, "char_duplicates_ratio": 0.4}}
    assert FineWebQualityConfig(domains={}).domains == FineWebQualityConfig().domains
    assert FineWebQualityConfig(domains=None).domains == {}


def test_no_overrides_means_prose_rules_for_every_page():
    stage = FineWebQuality(FineWebQualityConfig(domains=None))
    decided, _ = _run(stage, pages.filter_rows())
    assert decided["dom-code-tutorial-as-code"] == decided["dom-code-tutorial-as-prose"] is not None


def test_language_scope_follows_the_domain_config():
    rows = [{"id": "x", "text": pages.MATH_STUB, "language": "fr", "annotations": pages.annotations("math")}]
    decided, _ = _run(GopherQuality(GopherQualityConfig(languages=["en"])), rows)
    assert decided["x"] is None  # French: outside the rules
    stage = GopherQuality(GopherQualityConfig(languages=["en"], domains={"math": {"languages": None}}))
    decided, _ = _run(stage, rows)
    assert decided["x"] == "gopher-short-doc"


def test_c4_lines_keeps_the_text_of_a_code_page_whole():
    rows = [{"id": "x", "text": pages.CODE_TUTORIAL, "language": "en", "annotations": pages.annotations("code")}]
    _, kept = _run(C4LineFilter(), rows)
    assert kept.column("text")[0].as_py() == pages.CODE_TUTORIAL


@pytest.mark.parametrize(
    "annotations, kind",
    [
        (None, None),
        ('{"pii":{"email":1}}', None),
        (json.dumps({"domain": {"code": 0.9, "math": 0.1, "kind": "code"}}), "code"),
        (json.dumps({"domain": {"kind": None}}), None),
        (json.dumps({"domain": "weird"}), None),
    ],
)
def test_domain_kind_of(annotations, kind):
    assert domain_kind_of(annotations) == kind
