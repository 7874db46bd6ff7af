"""Stage `quality-threshold`: Llama 3's quality filtering as a decision on the scorers' columns.
Percentiles per language from a Ray histogram, thresholds, exempt code/math pages, reasons that
name the score and the threshold, the keep curve in the facts, and score once / decide many: a new
percentile reruns only this stage."""
from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from filters.quality_threshold import QualityThreshold, QualityThresholdConfig, bin_of, percentile_cut
from pipeline import registry
from pipeline.config import validate
from pipeline.executor.runner import Runner, run_global
from pipeline.schema import documents_from_rows, with_column
from pipeline.stage import Annotator, RunContext
from tests.golden import check_golden

pytestmark = pytest.mark.ray


def _doc(i, lang, fast, trans=None, kind=None, model="default"):
    ann = {"quality-fasttext": {"model": model}}
    if kind:
        ann["domain"] = {"kind": kind}
    return {"id": f"d{i:03d}", "text": "t", "language": lang, "quality_fasttext": fast, "quality_transformer": trans,
            "annotations": json.dumps(ann)}


def _rows():
    rows = [_doc(i, "en", i / 100) for i in range(100)]  # en: 0.00 .. 0.99
    rows += [_doc(100 + i, "fr", 0.3 + i / 1000) for i in range(10)]  # fr: 0.300 .. 0.309, its own scale
    rows += [_doc(200, "en", 0.01, kind="code"), _doc(201, "en", 0.02, kind="math")]  # exempt
    rows += [_doc(202, "en", None), _doc(203, "de", None)]  # unscored
    rows += [_doc(204, "en", 0.9, trans=0.05), _doc(205, "en", 0.05, trans=0.95)]  # the transformer's score wins
    return rows


def _dataset(rows, blocks=3):
    import ray.data

    table = documents_from_rows(rows)
    step = -(-len(rows) // blocks)
    return ray.data.from_arrow([table.slice(s, step) for s in range(0, len(rows), step)])


def _run(tmp_path, rows, name="qt", blocks=3, **config):
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / name), seed=1)
    stage = QualityThreshold(QualityThreshold.Config(**config), ctx)
    kept = run_global(stage, _dataset(rows, blocks)).take_all()
    dropped_dir = tmp_path / name / "dropped"
    dropped = pq.read_table(dropped_dir).to_pylist() if dropped_dir.exists() else []
    facts = stage.fit(_dataset(rows, blocks))  # the same facts again: deterministic
    return kept, dropped, facts


def test_percentile_per_language_with_exempt_unscored_and_cascade(ray_local, tmp_path):
    kept, dropped, facts = _run(tmp_path, _rows(), percentile=30)
    reasons = {d["id"]: d["reason"] for d in dropped}
    # en: 102 scored (100 + the two cascade pages); 30% of 102 = 30.6 -> the 30 lowest go
    en_low = sorted([(i / 100, f"d{i:03d}") for i in range(100)] + [(0.05, "d204"), (0.95, "d205")])[:30]
    assert {i for i, r in reasons.items() if r.endswith(",en)")} == {i for _, i in en_low}
    cut = facts["groups"]["en"]["threshold"]
    assert reasons["d000"] == f"quality_fasttext<{cut:.4f}(p30,en)" and reasons["d204"] == f"quality_transformer<{cut:.4f}(p30,en)"
    assert "d205" not in reasons  # fastText 0.05, transformer 0.95: the transformer's cascade score counts
    # fr: its own percentile (3 of 10), not the English scale that would drop all of them
    assert sorted(i for i, r in reasons.items() if r.endswith(",fr)")) == ["d100", "d101", "d102"]
    # exempt domain pages and unscored pages are kept, and counted
    assert not {"d200", "d201", "d202", "d203"} & set(reasons)
    assert facts["exempt"] == {"code": 1, "math": 1} and facts["unscored"] == {"de": 1, "en": 1}
    assert facts["scored_by"] == {"quality_fasttext": 110, "quality_transformer": 2}
    assert facts["would_drop"] == len(dropped) == 33 and len(kept) == len(_rows()) - 33
    # the keep curve: p50 of en keeps about half; threshold 0.5 keeps the scores >= 0.5
    assert facts["groups"]["en"]["percentiles"]["p50"]["kept"] == pytest.approx(0.5, abs=0.02)
    assert facts["groups"]["en"]["thresholds"]["0.5"] == pytest.approx(51 / 102, abs=1e-3)


def test_threshold_mode_group_thresholds_and_unscored_drop(ray_local, tmp_path):
    kept, dropped, facts = _run(tmp_path, _rows(), mode="threshold", threshold=0.5, thresholds={"fr": 0.305},
                                unscored="drop")
    reasons = {d["id"]: d["reason"] for d in dropped}
    assert reasons["d049"] == "quality_fasttext<0.5" and "d050" not in reasons
    assert reasons["d204"] == "quality_transformer<0.5"
    assert Counter(r for i, r in reasons.items() if i.startswith("d10")) == {"quality_fasttext<0.305": 5}
    assert reasons["d202"] == reasons["d203"] == "quality-unscored"
    assert facts["would_drop"] == len(dropped) == 50 + 1 + 5 + 2


def test_pooled_groups_and_exemption_off(ray_local, tmp_path):
    _, dropped, facts = _run(tmp_path, _rows(), percentile=10, group_by="none", exempt_domains=())
    assert set(facts["groups"]) == {"all"}
    reasons = {d["id"]: d["reason"] for d in dropped}
    assert reasons["d200"].endswith("(p10)")  # a code page is judged like the others now
    assert len(dropped) == facts["would_drop"] == int(0.1 * facts["groups"]["all"]["documents"])


def test_nothing_to_drop_applies_nothing(ray_local, tmp_path):
    stage = QualityThreshold(QualityThreshold.Config(percentile=0),
                             RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "z"), seed=1))
    facts = stage.fit(_dataset(_rows()))
    assert facts["would_drop"] == 0 and stage.applies_nothing(facts)


def test_same_decision_on_any_partitioning(ray_local, tmp_path):
    rows = _rows()
    a = _run(tmp_path, rows, name="a", blocks=1, percentile=40)
    b = _run(tmp_path, rows[::-1], name="b", blocks=7, percentile=40)
    assert sorted((d["id"], d["reason"]) for d in a[1]) == sorted((d["id"], d["reason"]) for d in b[1])
    assert a[2] == b[2]


def test_percentile_cut_and_bins():
    import numpy as np

    counts = np.zeros(10, dtype=np.int64)
    counts[[1, 3, 5]] = [2, 5, 3]  # 10 documents in bins 1, 3, 5
    # the cut is the highest bin edge with at most the percentile below it
    assert percentile_cut(counts, 20) == 3  # the 2 in bin 1 are exactly 20%
    assert percentile_cut(counts, 50) == 3  # bin 3 would take 70%: never more than asked
    assert percentile_cut(counts, 70) == 5 and percentile_cut(counts, 0) == 1  # (bin 0 is empty)
    assert bin_of(1.0, 100) == 99 and bin_of(0.0, 100) == 0 and bin_of(0.4999, 10_000) == 4999


def test_config_is_validated():
    with pytest.raises(Exception):
        QualityThresholdConfig(columns=["code_score"])
    with pytest.raises(Exception):
        QualityThresholdConfig(percentile=100)


def test_golden(ray_local, tmp_path, regen_golden):
    """The decision and its application on a fixed set of pages: per-language percentiles, the
    transformer cascade, exempt code/math pages, unscored pages."""
    import json as _json
    from pathlib import Path

    rows = [_json.loads(line) for line in (Path(__file__).resolve().parents[1] / "golden" / "quality-threshold" / "input.jsonl").read_text().splitlines()]
    stage = QualityThreshold(QualityThreshold.Config(percentile=25),
                             RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "g"), seed=1))
    stage.fit(_dataset(rows))
    got = check_golden(stage.apply_stage(), "quality-threshold", regen_golden)
    assert {g["decision"] for g in got} == {"kept", "dropped"}


# ---- score once, decide many: the runner reruns only quality-threshold when its percentile changes

class CountingScorer(Annotator):
    """A stand-in scorer that writes quality_fasttext from the text length and counts its batches
    in a file (one line per batch), so a test can tell whether it ran again."""

    name = "t-counting-scorer"
    reads = ("text",)
    writes = ("quality_fasttext",)

    def annotate(self, batch):
        with open(self.ctx.output_dir + "/scorer-calls.txt", "a") as f:
            f.write(f"{batch.num_rows}\n")
        return with_column(batch, "quality_fasttext", [len(t or "") / 100 for t in batch.column("text").to_pylist()])


def test_a_new_percentile_does_not_rescore(ray_local, tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": f"p{i:02d}", "text": "x" * i, "language": "en"}) + "\n" for i in range(1, 41)))
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(registry.STAGES, CountingScorer.name, "tests.filters.test_quality_threshold:CountingScorer")

        def run(percentile):
            cfg = validate({"input": {"paths": [str(src)]}, "pipeline": ["read-documents", CountingScorer.name, "quality-threshold"],
                            "stages": {"quality-threshold": {"percentile": percentile}}}, source="test")
            return {o.name: o for o in Runner(cfg, str(out)).run()}

        first = run(25)
        calls = (out / "scorer-calls.txt").read_text()
        second = run(50)
        assert (out / "scorer-calls.txt").read_text() == calls  # the scorer did not run again
    assert second["read-documents"].skipped and second[CountingScorer.name].skipped
    assert not second["quality-threshold"].skipped
    assert (first["quality-threshold"].dropped, second["quality-threshold"].dropped) == (10, 20)
    assert second["quality-threshold"].facts["percentile"] == 50
