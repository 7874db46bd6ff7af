"""train-scorers plumbing: a seeded sample that does not depend on how the data is split into
blocks, judge labels turned into artifacts (trained once per version), untrainable scorers
recorded as null. The judge here is a tiny in-test stand-in; tests/classifiers/test_scorers_e2e.py runs the
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
    from classifiers import default_artifacts

    judge = VocabJudge()
    monkeypatch.setattr(classifiers.judge, "build_judge", lambda config, cache_dir=None, shared_cache=None: judge)
    monkeypatch.setattr(default_artifacts, "ROOT", tmp_path / "no-defaults")  # no shipped default to fall back to
    rows = corpus_table(200).to_pylist()[:200]
    cfg = TrainScorersConfig(
        scorers=["quality-fasttext", "code-score", "topic"], judge=JudgeConfig(),
        # the judge's topic labels (no WebOrganizer file), no reference texts
        teachers={"weborganizer": None, "references": [], "rule_drops": False},
        train={"fasttext": {"dim": 16, "epoch": 10, "min_count": 1}, "linear": {"encoder": False}},
    )
    got, facts = label_and_train(rows, cfg, str(tmp_path / "cache"), 0, str(tmp_path / "labels"))
    assert got["code-score"] is None  # one class: recorded, not trained, no crash
    assert facts["artifacts"]["code-score"] is None and facts["judged"] == 200
    for name in ("quality-fasttext", "topic"):
        assert got[name].startswith(str(tmp_path / "cache" / "artifacts" / name))
        assert artifacts.read_metrics(got[name])["n_train"] > 100
    assert artifacts.read_metrics(got["topic"])["kind"] == "linear"
    assert sorted(os.listdir(tmp_path / "labels")) == ["code.parquet", "quality.parquet", "topic.parquet"]
    assert (tmp_path / "teacher-labels.parquet").exists()
    mtime = os.stat(os.path.join(got["topic"], "metrics.json")).st_mtime_ns
    assert label_and_train(rows, cfg, str(tmp_path / "cache"), 0, str(tmp_path / "labels"))[0] == got
    assert os.stat(os.path.join(got["topic"], "metrics.json")).st_mtime_ns == mtime  # found, not retrained
    artifacts.write_run_pointer(str(tmp_path), got)
    assert json.loads((tmp_path / artifacts.RUN_POINTER).read_text()) == got


@pytest.mark.ray
def test_judge_labels_in_ray_tasks_resume_from_the_cache(tmp_path, ray_local):
    """The judged part of the sample is labelled in Ray tasks of `judge_chunk` documents (here
    against an OpenAI-compatible server); each task's labels reach the label cache under the run's
    shared cache as it ends, so a rerun asks the server for nothing."""
    from classifiers.train_scorers import judge_distributed
    from tests.judge_fakes import QUALITY_TOP, FakeOpenAIServer, chat_response

    def chat_ok(path, body, n):
        return (200, chat_response(QUALITY_TOP), 0) if path == "/chat/completions" else (404, {"error": "not found"}, 0)

    texts = [f"page number {i} about rivers" for i in range(10)]
    with FakeOpenAIServer(chat_ok) as server:
        cfg = TrainScorersConfig(judge_chunk=4, judge={"backend": "openai", "base_url": server.base_url, "model": "fake"})
        scores = judge_distributed(texts, ["quality"], cfg, str(tmp_path / "local"), str(tmp_path / "shared"))
        asked = sum(1 for p, _, _ in server.requests if p == "/chat/completions")
        again = judge_distributed(texts, ["quality"], cfg, str(tmp_path / "local"), str(tmp_path / "shared"))
        asked_again = sum(1 for p, _, _ in server.requests if p == "/chat/completions") - asked
    assert len(scores["quality"]) == 10 and all(s.label == "3" for s in scores["quality"])
    assert asked == 10 and asked_again == 0 and again == scores
    cache = tmp_path / "shared" / "judge" / "label-cache"
    assert len(os.listdir(cache)) == 3  # one file per task: 4 + 4 + 2 documents
