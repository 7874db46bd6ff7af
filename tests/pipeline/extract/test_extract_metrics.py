"""bench/metrics.py: word-4-gram shingle P/R/F1, as scrapinghub/article-extraction-benchmark defines it."""
from __future__ import annotations

import json

import pytest

from bench.metrics import shingle_prf, shingles, summarize


def test_shingles_are_a_multiset_of_word_4grams():
    assert shingles("a b c d e") == {("a", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert shingles("x y z w x y z w")[("x", "y", "z", "w")] == 2
    # punctuation and spacing are not tokens; case is kept
    assert shingles("Hello, world!  Hi-there") == shingles("Hello world Hi there")
    assert shingles("Hello world hi there") != shingles("hello world hi there")


def test_short_and_empty_texts():
    assert shingles("only two") == {("only", "two"): 1}
    assert shingles("") == {} and shingles(None) == {}


def test_partial_overlap():
    # truth shingles: abcd, bcde; predicted: abcd, bcdx -> tp 1, fp 1, fn 1
    s = shingle_prf("a b c d e", "a b c d x")
    assert (s.precision, s.recall, s.f1) == (0.5, 0.5, 0.5)
    # extra boilerplate lowers precision only
    s = shingle_prf("a b c d e", "a b c d e f g h i")
    assert s.recall == 1.0 and s.precision == pytest.approx(2 / 6)


def test_repeated_text_counts_as_false_positive():
    s = shingle_prf("a b c d", "a b c d a b c d")
    assert s.recall == 1.0 and s.precision < 1.0


def test_edge_cases_follow_the_reference_definition():
    assert shingle_prf("", "") == (1.0, 1.0, 1.0)
    assert shingle_prf("a b c d", "a b c d") == (1.0, 1.0, 1.0)
    nothing = shingle_prf("a b c d e", "")
    assert nothing.precision is None and nothing.recall == 0.0 and nothing.f1 == 0.0
    spurious = shingle_prf("", "a b c d")
    assert spurious.precision == 0.0 and spurious.recall is None and spurious.f1 == 0.0


def test_summary_means_and_published_f1():
    pages = [shingle_prf("a b c d e", "a b c d e"), shingle_prf("a b c d e", "a b c d x"), shingle_prf("a b c d e", "")]
    s = summarize(pages)
    assert s.pages == 3
    assert s.precision == pytest.approx((1.0 + 0.5) / 2)  # the empty prediction has no precision
    assert s.recall == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert s.f1 == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert s.published_f1 == pytest.approx(2 * s.precision * s.recall / (s.precision + s.recall))
    with pytest.raises(ValueError):
        summarize([])


def test_reproduces_the_reference_figures_of_the_stored_outputs(shared_data):
    """The benchmark README gives F1(P,R) 0.958 (P 0.938, R 0.978) for trafilatura 2.0 and 0.922 for
    readability; the mean per-page F1 of the same stored trafilatura output is 0.950."""
    bench = shared_data / "extraction"
    truth = json.loads((bench / "ground-truth.json").read_text(encoding="utf-8"))

    def score(tool):
        stored = json.loads((bench / "output" / f"{tool}.json").read_text(encoding="utf-8"))["output"]
        return summarize(shingle_prf(truth[k]["articleBody"], stored[k]["articleBody"]) for k in sorted(truth))

    traf = score("trafilatura")
    assert round(traf.published_f1, 3) == 0.958 and round(traf.precision, 3) == 0.938 and round(traf.recall, 3) == 0.978
    assert round(traf.f1, 3) == 0.950
    assert round(score("readability").published_f1, 3) == 0.922
