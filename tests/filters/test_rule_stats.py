"""Score once, decide many: a rule filter that keeps its statistics (annotations[<name>]) judges
them again under a new threshold without measuring the text again (filters/text_rules.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pytest

import filters.fineweb_quality as fineweb_quality
import filters.gopher_quality as gopher_quality
import filters.ngram_repetition as ngram_repetition
from filters.fineweb_quality import FineWebQuality, FineWebQualityConfig
from filters.gopher_quality import GopherQuality, GopherQualityConfig
from filters.ngram_repetition import NgramRepetition, NgramRepetitionConfig
from pipeline.schema import DOCUMENT_COLUMNS, documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import GOLDEN_DIR


@dataclass
class Case:
    stage: type
    measures: tuple[tuple[object, str], ...]  # (module, function) that measure a text
    new_thresholds: object  # a config that changes thresholds only
    other_measures: object  # a config that changes what is measured
    # ngram-repetition measures up to the first rule broken: over a first run's statistics the
    # tighter thresholds find more than they need (the same values where both have one)
    all_measured: bool = True


CASES = {
    "gopher-quality": Case(GopherQuality, ((gopher_quality, "language_stats"),),
                           GopherQualityConfig(min_stop_words=4, min_doc_words=80, max_symbol_word_ratio=0.05),
                           GopherQualityConfig(stop_words=("the", "and"))),
    "fineweb-quality": Case(FineWebQuality, ((fineweb_quality, "fineweb_stats"), (fineweb_quality, "language_stats")),
                            FineWebQualityConfig(line_punct_thr=0.5, short_line_thr=0.3, char_duplicates_ratio=0.001),
                            FineWebQualityConfig(short_line_length=50)),
    "ngram-repetition": Case(NgramRepetition, ((ngram_repetition, "_Ngrams"), (ngram_repetition, "_duplicates")),
                             NgramRepetitionConfig(dup_line_frac=0.1, top_n_grams={2: 0.1, 3: 0.1, 4: 0.1}),
                             NgramRepetitionConfig(word_segmenter="jieba"), all_measured=False),
}


def _rows(name):
    lines = (GOLDEN_DIR / name / "input.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def _by_id(kept: pa.Table, dropped: pa.Table) -> dict:
    out = {r["id"]: ("kept", None, r) for r in kept.to_pylist()}
    out.update({r["id"]: ("dropped", r.pop("reason"), {c: r[c] for c in DOCUMENT_COLUMNS if c != "html"})
                for r in dropped.to_pylist()})
    return out


def _first_run_output(name) -> pa.Table:
    """What a first run wrote, kept and dropped documents alike, each with its statistics."""
    kept, dropped = run_map_stage_local(CASES[name].stage(), documents_from_rows(_rows(name)))
    return pa.concat_tables([kept, dropped.select(list(DOCUMENT_COLUMNS))])


def _no_measuring(monkeypatch, case):
    def measured(*args, **kwargs):
        raise AssertionError("the text was measured again")

    for module, function in case.measures:
        monkeypatch.setattr(module, function, measured)


@pytest.mark.parametrize("name", CASES)
def test_a_new_threshold_decides_from_the_kept_statistics_as_a_fresh_run_does(name, monkeypatch):
    case = CASES[name]
    fresh = _by_id(*run_map_stage_local(case.stage(case.new_thresholds), documents_from_rows(_rows(name))))
    first = _by_id(*run_map_stage_local(case.stage(), documents_from_rows(_rows(name))))
    assert {i: r for i, (_, r, _) in fresh.items()} != {i: r for i, (_, r, _) in first.items()}  # the thresholds matter
    again = _first_run_output(name)
    _no_measuring(monkeypatch, case)
    rerun = _by_id(*run_map_stage_local(case.stage(case.new_thresholds), again))
    if case.all_measured:
        assert rerun == fresh  # decisions, reasons and every column, statistics included
        return
    assert {i: r for i, (_, r, _) in rerun.items()} == {i: r for i, (_, r, _) in fresh.items()}
    for i, (_, _, row) in rerun.items():
        kept = json.loads(row["annotations"] or "{}").get(name, {})
        assert {k: kept.get(k) for k in json.loads(fresh[i][2]["annotations"] or "{}").get(name, {})} == \
            json.loads(fresh[i][2]["annotations"] or "{}").get(name, {})
        assert {c: v for c, v in row.items() if c != "annotations"} == {c: v for c, v in fresh[i][2].items() if c != "annotations"}


@pytest.mark.parametrize("name", CASES)
def test_statistics_measured_another_way_are_measured_again(name, monkeypatch):
    case = CASES[name]
    again = _first_run_output(name)
    _no_measuring(monkeypatch, case)
    with pytest.raises(AssertionError, match="measured again"):
        run_map_stage_local(case.stage(case.other_measures), again)


@pytest.mark.parametrize("name", CASES)
def test_the_statistics_are_the_same_from_run_to_run(name):
    a, b = _first_run_output(name), _first_run_output(name)
    assert a.equals(b)
    stats = [json.loads(x)[name] for x in a.column("annotations").to_pylist() if x and name in x]
    assert len(stats) >= 20 and all("key" in s for s in stats)
