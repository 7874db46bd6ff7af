"""train-scorers plumbing: a seeded sample that does not depend on how the data is split into
blocks, judge labels turned into artifacts (trained once per version), untrainable scorers
recorded as null. The judge here is a tiny in-test stand-in; tests/test_scorers_e2e.py runs the
real one."""
import json
import os

import pytest

from classifiers import artifacts
from classifiers.judge import JudgeConfig
from classifiers.train_scorers import TrainScorersConfig, label_and_train, sample, sample_keys
from tests.scorer_fixtures import VocabJudge, corpus_table


def test_sample_keys_skip_empty_and_depend_on_seed():
    t = corpus_table(40)
    a = sample_keys(t, seed=1, fraction=1.0)
    assert a.num_rows == 40 and "empty" not in a.column("id").to_pylist()
    b = sample_keys(t, seed=2, fraction=1.0)
    assert a.column("_sample_key").to_pylist() != b.column("_sample_key").to_pylist()
    assert 0 < sample_keys(t, seed=1, fraction=0.5).num_rows < 40


@pytest.mark.ray
def test_sample_same_whatever_the_blocks(ray_local):
    import ray.data

    t = corpus_table(300)
    one = sample(ray.data.from_arrow(t), 25, seed=3)
    many = sample(ray.data.from_arrow([t.slice(i, 37) for i in range(0, t.num_rows, 37)]), 25, seed=3)
    assert len(one) == 25 and [r["id"] for r in one] == [r["id"] for r in many]
    assert [r["id"] for r in sample(ray.data.from_arrow(t), 25, seed=4)] != [r["id"] for r in one]
    assert len(sample(ray.data.from_arrow(t), 1000, seed=3)) == 300  # all documents with text


def test_label_and_train(tmp_path, monkeypatch):
    import classifiers.judge

    judge = VocabJudge()
    monkeypatch.setattr(classifiers.judge, "build_judge", lambda config, cache_dir=None, shared_cache=None: judge)
    rows = corpus_table(200).to_pylist()[:200]
    cfg = TrainScorersConfig(
        scorers=["quality-fasttext", "code-score", "topic"], judge=JudgeConfig(),
        train={"fasttext": {"dim": 16, "epoch": 10, "min_count": 1}},
    )
    got = label_and_train(rows, cfg, str(tmp_path / "cache"), 0, str(tmp_path / "labels"))
    assert got["code-score"] is None  # one class: recorded, not trained, no crash
    for name in ("quality-fasttext", "topic"):
        assert got[name].startswith(str(tmp_path / "cache" / "artifacts" / name))
        assert artifacts.read_metrics(got[name])["n_train"] > 100
    assert sorted(os.listdir(tmp_path / "labels")) == ["code.parquet", "quality.parquet", "topic.parquet"]
    mtime = os.stat(os.path.join(got["topic"], "metrics.json")).st_mtime_ns
    assert label_and_train(rows, cfg, str(tmp_path / "cache"), 0, str(tmp_path / "labels")) == got
    assert os.stat(os.path.join(got["topic"], "metrics.json")).st_mtime_ns == mtime  # found, not retrained
    artifacts.write_run_pointer(str(tmp_path), got)
    assert json.loads((tmp_path / artifacts.RUN_POINTER).read_text()) == got
