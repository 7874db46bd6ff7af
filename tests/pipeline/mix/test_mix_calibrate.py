"""Calibrating assign-bucket's thresholds on labelled pages (pipeline/mix/calibrate.py): the
highest recall at the precision asked, chosen on one half and measured on the other; and the
bench's writing of the chosen values into a config."""
import importlib.util
from pathlib import Path

import pytest

from pipeline.mix.calibrate import Page, assign, bucket_pr, calibrate, choose_threshold, is_held_out, precision_recall, reliability

ROOT = Path(__file__).resolve().parents[3]


def test_choose_threshold_highest_recall_at_precision():
    scores = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    positive = [True, True, True, False, True, False, False, False]
    got = choose_threshold(scores, positive, 0.8)
    # at 0.55 (between 0.6 and 0.5): 4 of 4 positives, 1 negative -> P 0.8, R 1.0
    assert (got["threshold"], got["precision"], got["recall"], got["met"]) == (0.55, 0.8, 1.0, True)
    strict = choose_threshold(scores, positive, 0.95)
    # at P >= 0.95 only the top three: half way between 0.8 and 0.7
    assert (strict["threshold"], strict["recall"], strict["met"]) == (0.75, 0.75, True)


def test_choose_threshold_without_reachable_precision_takes_best_f1():
    got = choose_threshold([0.9, 0.8, 0.7], [False, True, False], 0.9)
    assert got["met"] is False and got["tp"] == 1
    none = choose_threshold([0.2, 0.1], [False, False], 0.9)
    assert none["threshold"] == 1.0 and none["met"] is False


def test_precision_recall_and_reliability():
    pr = precision_recall([0.9, 0.6, 0.2], [True, False, True], 0.5)
    assert (pr["precision"], pr["recall"], pr["tp"], pr["fp"], pr["fn"]) == (0.5, 0.5, 1, 1, 1)
    bins = reliability([0.05, 0.15, 0.12, 0.95, 1.0], [False, True, False, True, True])
    assert [(b["lo"], b["n"], b["positive_rate"]) for b in bins] == [(0.0, 1, 0.0), (0.1, 2, 0.5), (0.9, 2, 1.0)]


def test_rule_order_language_code_then_math():
    assert assign(Page("u", "code", 0.9, 0.9, "fr"), 0.5, 0.5, ("en",)) == "multilingual"
    assert assign(Page("u", "code", 0.9, 0.9, "en"), 0.5, 0.5, ("en",)) == "code"
    assert assign(Page("u", "math", 0.2, 0.9, "en"), 0.5, 0.5, ("en",)) == "math_reasoning"
    assert assign(Page("u", None, None, None, "en"), 0.5, 0.5, ("en",)) == "general"


def _pages():
    pages = []
    for i in range(200):  # code pages score high on code, math pages on reasoning, crawl pages low
        pages.append(Page(f"https://docs.example/code/{i}", "code", 0.6 + (i % 40) / 100, 0.2, "en"))
        pages.append(Page(f"https://docs.example/math/{i}", "math", 0.3, 0.5 + (i % 50) / 100, "en"))
        pages.append(Page(f"https://news.example/{i}", None, (i % 70) / 100, (i % 60) / 100, "en"))
    pages.append(Page("https://lemonde.example/x", None, 0.99, 0.99, "fr"))  # not primary: not counted
    return pages


def test_calibrate_chooses_on_tune_and_measures_on_held_out():
    result = calibrate(_pages(), ("en",), 0.9, seed=7)
    tune, held = result["pages"]["tune"], result["pages"]["held_out"]
    assert tune + held == 600 and 250 < tune < 350  # a hash split, about half each
    for label in ("code", "math"):
        assert result["chosen_on_tune"][label]["precision"] >= 0.9 and result["chosen_on_tune"][label]["met"]
        assert result["held_out"][label]["labelled"] > 0 and result["held_out"][label]["precision"] is not None
    # the held-out figures are the rule's on the held-out pages, with the chosen thresholds
    held_pages = [p for p in _pages() if p.language == "en" and is_held_out(p.key, 7)]
    assert result["held_out"] == bucket_pr(held_pages, result["code_threshold"], result["reasoning_threshold"], ("en",))
    assert result["code_threshold"] > 0.59 and result["reasoning_threshold"] > 0.49
    assert result["reliability"]["code"] and result["reliability"]["math"]


def test_bench_writes_thresholds_with_provenance(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_buckets", ROOT / "bench" / "buckets.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    base = tmp_path / "base.yaml"
    base.write_text((ROOT / "configs" / "base.yaml").read_text())
    monkeypatch.setattr(bench, "BASE", str(base))
    result = {**calibrate(_pages(), ("en",), 0.9, seed=7), "source": "scorers"}
    bench.write_config(result, str(tmp_path / "run"))
    import yaml

    cfg = yaml.safe_load(base.read_text())["stages"]["assign-bucket"]
    assert cfg["code_threshold"] == pytest.approx(result["code_threshold"])
    assert cfg["reasoning_threshold"] == pytest.approx(result["reasoning_threshold"])
    assert (cfg["code_column"], cfg["reasoning_column"], cfg["first"]) == ("code_score", "reasoning_score", "code")
    line = next(x for x in base.read_text().splitlines() if x.strip().startswith("code_threshold:"))
    assert "bench/buckets.py --calibrate" in line and "held-out half" in line
    # nothing else changed: the two scores, their thresholds and `first`
    before = (ROOT / "configs" / "base.yaml").read_text().splitlines()
    after = base.read_text().splitlines()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after)) <= 5


def test_math_first_calibration_where_math_pages_read_as_code():
    """Computer-algebra pages score high on code too: tested first, math keeps them, and code's
    threshold is chosen on the pages math leaves."""
    pages = []
    for i in range(120):
        pages.append(Page(f"https://docs.example/code/{i}", "code", 0.7 + (i % 30) / 100, 0.05, "en"))
        pages.append(Page(f"https://docs.example/math/{i}", "math", 0.8 + (i % 20) / 100, 0.6 + (i % 40) / 100, "en"))
        pages.append(Page(f"https://news.example/{i}", None, (i % 50) / 100, (i % 40) / 100, "en"))
    code_first = calibrate(pages, ("en",), 0.9, seed=3, first="code")
    math_first = calibrate(pages, ("en",), 0.9, seed=3, first="math_reasoning")
    assert math_first["first"] == "math_reasoning"
    assert math_first["held_out"]["math"]["recall"] > code_first["held_out"]["math"]["recall"]
    assert math_first["held_out"]["code"]["precision"] >= 0.9 and math_first["held_out"]["code"]["recall"] > 0.9
    assert assign(Page("u", "math", 0.9, 0.9, "en"), 0.5, 0.5, ("en",), first="math_reasoning") == "math_reasoning"
