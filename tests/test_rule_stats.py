"""Score once, decide many: a rule filter that keeps its statistics (annotations[<name>]) judges
them again under a new threshold without measuring the text again (filters/text_rules.py)."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest

import filters.gopher_quality as gopher_quality
from filters.gopher_quality import GopherQuality, GopherQualityConfig
from pipeline.schema import DOCUMENT_COLUMNS, documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import GOLDEN_DIR

NEW_THRESHOLDS = GopherQualityConfig(min_stop_words=4, min_doc_words=80, max_symbol_word_ratio=0.05)


def _rows():
    lines = (GOLDEN_DIR / "gopher-quality" / "input.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def _by_id(kept: pa.Table, dropped: pa.Table) -> dict:
    out = {r["id"]: ("kept", None, r) for r in kept.to_pylist()}
    out.update({r["id"]: ("dropped", r.pop("reason"), {c: r[c] for c in DOCUMENT_COLUMNS if c != "html"})
                for r in dropped.to_pylist()})
    return out


def _first_run_output() -> pa.Table:
    """What a first run wrote, kept and dropped documents alike, each with its statistics."""
    kept, dropped = run_map_stage_local(GopherQuality(), documents_from_rows(_rows()))
    return pa.concat_tables([kept, dropped.select(list(DOCUMENT_COLUMNS))])


def _no_measuring(monkeypatch):
    def measured(*args, **kwargs):
        raise AssertionError("the text was measured again")

    monkeypatch.setattr(gopher_quality, "language_stats", measured)


def test_a_new_threshold_decides_from_the_kept_statistics_as_a_fresh_run_does(monkeypatch):
    fresh = _by_id(*run_map_stage_local(GopherQuality(NEW_THRESHOLDS), documents_from_rows(_rows())))
    first = _by_id(*run_map_stage_local(GopherQuality(), documents_from_rows(_rows())))
    assert {i: r for i, (_, r, _) in fresh.items()} != {i: r for i, (_, r, _) in first.items()}  # the thresholds matter
    again = _first_run_output()
    _no_measuring(monkeypatch)
    rerun = _by_id(*run_map_stage_local(GopherQuality(NEW_THRESHOLDS), again))
    assert rerun == fresh  # decisions, reasons and every column, statistics included


def test_statistics_measured_under_other_word_lists_are_measured_again(monkeypatch):
    again = _first_run_output()
    _no_measuring(monkeypatch)
    with pytest.raises(AssertionError, match="measured again"):
        run_map_stage_local(GopherQuality(GopherQualityConfig(stop_words=("the", "and"))), again)


def test_the_statistics_are_the_same_from_run_to_run():
    a = _first_run_output()
    b = _first_run_output()
    assert a.equals(b)
    stats = [json.loads(x)["gopher-quality"] for x in a.column("annotations").to_pylist() if x]
    assert len(stats) >= 30 and all(set(s) >= {"key", "n_words", "stop_words"} for s in stats)
