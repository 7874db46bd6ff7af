"""The scorers in the pipeline, with the real offline judge: train-scorers labels a seeded sample
of the demo pages, trains the fastText scorers into the run's shared cache, and the scorer stages
fill their columns without dropping anything. A second run with the same shared cache (judge labels
cached, artifacts found by version) gives the same artifacts and byte-identical scores."""
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.e2e_checks import run_pipeline
from tests.judge_models import cache_with_models, shared_model_cache

ROOT = Path(__file__).resolve().parents[2]
# the real judge costs ~4 CPU-seconds per document and task on CPU (bench/scorers.py)
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(2400)]
# code-score and reasoning-score are the same machinery as quality-fasttext (tests/classifiers/test_scorers.py);
# two judge tasks keep the real judge's CPU time in bounds
SCORERS = {"quality-fasttext": "quality_fasttext", "topic": "topic"}


def _config(tmp_path) -> str:
    cfg = tmp_path / "scorers.yaml"
    # the converted judge model comes from the session's model cache (converting it again took
    # ~15 s of this test); the labels and artifacts start empty in the test's shared cache
    cache = cache_with_models(tmp_path / "cache", shared_model_cache())
    cfg.write_text(
        f"extends: {ROOT / 'configs' / 'base.yaml'}\n"
        f"input: {{paths: [{ROOT / 'demo' / 'sample.warc.gz'}]}}\n"
        # labels and artifacts in a shared cache that both runs (two output folders) reuse
        f"run: {{batch_size: 64, cache_dir: {cache}, shared_cache: {tmp_path / 'shared'}}}\n"
        f"pipeline: [read-warc, extract, langid, train-scorers, {', '.join(SCORERS)}]\n"
        "stages:\n"
        "  train-scorers:\n"
        f"    scorers: [{', '.join(SCORERS)}]\n"
        "    sample_size: 10\n"       # a seeded fifth of the demo pages that survive langid (10: the least allowed)
        "    judge: {device: cpu, max_chars: 500}\n"  # ~1 CPU s per label instead of ~9 at 3,000
        # the judge's labels alone (the teachers beside it: tests/classifiers/test_teachers.py)
        "    teachers: {weborganizer: null, references: [], rule_drops: false}\n"

        # the 135M judge scores most pages 0-1: quality trains on its ranking, as the demo does
        "    train: {fasttext: {min_count: 1}, min_class_examples: 2, positive_quantile: 0.5}\n"
    )
    return str(cfg)


def _scores(out):
    stage_dirs = sorted(d for d in os.listdir(os.path.join(out, "stages")))
    table = pq.read_table(os.path.join(out, "stages", stage_dirs[-1], "kept"))
    cols = ["id", "annotations", *SCORERS.values()]
    return sorted(table.select(cols).to_pylist(), key=lambda r: r["id"]), stage_dirs


def test_train_scorers_then_score(tmp_path, ray_local):
    config = _config(tmp_path)
    out1, out2 = str(tmp_path / "run1"), str(tmp_path / "run2")
    summary = run_pipeline(config, out1)
    assert summary["balanced"]
    trained = json.loads(Path(out1, "trained-scorers.json").read_text())
    assert sorted(trained) == sorted(SCORERS)
    # quality always has two classes (top half of the judge's ranking); topic only when the 135M
    # judge gives the pages more than one topic, else its column stays empty (checked below)
    assert trained["quality-fasttext"] is not None
    rows, stage_dirs = _scores(out1)
    markers = {d: json.loads(Path(out1, "stages", d, "_SUCCESS.json").read_text()) for d in stage_dirs}
    for d, m in markers.items():
        if any(d.endswith(name) for name in [*SCORERS, "train-scorers"]):
            assert m["dropped"] == 0 and m["kept"] == m["rows_in"], (d, m)  # scoring never drops
    for name, column in SCORERS.items():
        values = [r[column] for r in rows]
        if trained[name] is None:
            assert values == [None] * len(rows)
        else:
            assert all(v is not None for v in values), name
            assert trained[name].startswith(str(tmp_path / "shared" / "artifacts" / name))
    assert {json.loads(r["annotations"])["quality-fasttext"]["model"] for r in rows if trained["quality-fasttext"]} <= {"default", "en"}
    assert os.listdir(tmp_path / "shared" / "judge" / "label-cache")  # the judge's labels, for the rerun
    # same input, config and caches: same artifacts, identical scores
    run_pipeline(config, out2)
    assert json.loads(Path(out2, "trained-scorers.json").read_text()) == trained
    assert _scores(out2)[0] == rows
