"""The judge without a model: expected scores, the label cache, prompts and taxonomies, the labels
file, and the `judge` stage around a fake backend."""
import json
import math

import pyarrow.parquet as pq
import pytest

from classifiers.judge import LABELS_SCHEMA, TASKS, JudgeConfig, JudgeScore, read_labels, write_labels
from classifiers.judge.cache import LabelCache
from classifiers.judge.judge import Judge, score_from_probs
from classifiers.judge.prompts import get_prompt, versions
from classifiers.judge.stage import JudgeStage
from classifiers.judge.taxonomy import load_taxonomy
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext, run_map_stage_local
from tests.judge_fakes import FakeBackend


def make_judge(tmp_path, backend=None, **config):
    backend = backend or FakeBackend()
    return Judge(backend, JudgeConfig(**config), LabelCache(str(tmp_path / "label-cache"))), backend


def test_expected_score_renormalises_over_labels():
    prompt = get_prompt("quality")
    s = score_from_probs(prompt, {"0": 0.1, "5": 0.3}, "m")  # labels 1-4 absent: probability 0
    assert s.probs["5"] == pytest.approx(0.75) and s.probs["2"] == 0.0
    assert sum(s.probs.values()) == pytest.approx(1.0)
    assert s.expected == pytest.approx(0.75 * 5) and s.label == "5"
    tie = score_from_probs(prompt, {"2": 0.5, "4": 0.5}, "m")
    assert tie.label == "2" and tie.expected == pytest.approx(3.0)
    assert score_from_probs(prompt, None, "m").failed and math.isnan(score_from_probs(prompt, {}, "m").expected)


def test_topic_score_is_probability_of_the_argmax_key():
    topics = load_taxonomy(None)
    prompt = get_prompt("topic", topics=topics)
    s = score_from_probs(prompt, {"C": 0.6, "T": 0.2}, "m")  # C = 3rd topic, T = 20th
    assert s.label == topics[2].key == "software-development"
    assert s.expected == pytest.approx(0.75) and set(s.probs) == {t.key for t in topics}


def test_second_call_makes_no_model_call(tmp_path):
    judge, backend = make_judge(tmp_path)
    texts = ["a page about rivers", "a page about code", "a page about rivers"]
    first = judge.score(texts, "quality")
    assert len(backend.calls) == 2  # the repeated text is scored once
    assert first[0] == first[2]
    again = judge.score(texts, "quality")
    assert len(backend.calls) == 2 and again == first
    judge.close()
    # a new process (crash and rerun) finds the labels in the same cache folder
    rerun, backend2 = make_judge(tmp_path)
    assert rerun.score(texts, "quality") == first and backend2.calls == []
    # another task, or another model, is another label
    rerun.score(texts[:1], "code")
    other_model, backend3 = make_judge(tmp_path, FakeBackend(model_id="other"))
    other_model.score(texts[:1], "quality")
    assert len(backend2.calls) == 1 and len(backend3.calls) == 1


def test_failed_labels_are_not_cached(tmp_path):
    judge, backend = make_judge(tmp_path, FakeBackend(fail_on="broken"))
    scores = judge.score(["fine text", "broken text"], "quality")
    assert not scores[0].failed and scores[1].failed
    judge.score(["fine text", "broken text"], "quality")
    assert backend.calls == ["broken text", "fine text", "broken text"]  # retried, not remembered


def test_documents_are_truncated_before_hashing(tmp_path):
    judge, backend = make_judge(tmp_path, max_chars=100)
    head = "x" * 100
    a, b = judge.score([head + " ending one", head + " ending two"], "quality")
    assert backend.calls == [head] and a == b


def test_prompt_versions_pin_and_fail_clearly(tmp_path):
    for task in TASKS:
        assert versions(task)[0] == "v1"
    judge, _ = make_judge(tmp_path, prompt_versions={"quality": "v1"})
    assert judge.prompt("quality").version == "quality-v1"
    bad, _ = make_judge(tmp_path, prompt_versions={"code": "v99"})
    with pytest.raises(ValueError, match="no prompt version 'v99'.*versions: v1"):
        bad.score(["x"], "code")
    with pytest.raises(ValueError, match="unknown judge task"):
        judge.score(["x"], "sentiment")
    prompt = get_prompt("quality")
    assert "<<<\nsome {braces} text\n>>>" in prompt.messages("some {braces} text")[1]["content"]


def test_topic_prompt_version_follows_the_taxonomy():
    default = load_taxonomy(None)
    renamed = load_taxonomy([{"name": t.name, "description": t.description + "."} for t in default])
    a, b = get_prompt("topic", topics=default), get_prompt("topic", topics=renamed)
    assert a.version != b.version and a.version.startswith("topic-v1+tax-")
    assert a.tokens[-1] == "X" and "X: Travel & Tourism" in a.user


def test_taxonomy_sources(tmp_path, shared_data):
    default = load_taxonomy(None)
    assert len(default) == 24 and len({t.key for t in default}) == 24
    weborganizer = load_taxonomy(str(shared_data / "topics" / "taxonomy" / "taxonomies" / "topics.yaml"))
    assert [t.key for t in weborganizer] == [t.key for t in default]
    assert "architecture" in weborganizer[1].description  # their "Includes:" lines become the description
    inline = load_taxonomy(["Cats", {"name": "Dogs", "description": "barking"}])
    assert [t.key for t in inline] == ["cats", "dogs"]
    with pytest.raises(ValueError, match="duplicate"):
        load_taxonomy(["Art", "art"])
    with pytest.raises(ValueError, match="1..26 topics"):
        get_prompt("topic", topics=load_taxonomy([f"topic {i}" for i in range(27)]))
    with pytest.raises(FileNotFoundError):
        load_taxonomy(str(tmp_path / "missing.yaml"))


def test_labels_file_roundtrip(tmp_path):
    scores = [
        JudgeScore("quality", "3", 2.9, {"3": 0.9}, "quality-v1", "m"),
        JudgeScore("code", "0", 0.1, {"0": 0.9}, "code-v1", "m"),
        JudgeScore("quality", "", math.nan, {}, "quality-v1", "m"),  # failed: not written
        JudgeScore("quality", "1", 1.2, {"1": 0.8}, "quality-v1", "m"),
    ]
    path = tmp_path / "labels.parquet"
    write_labels(path, ["b", "a", "c", "a"], ["tb", "ta", "tc", "ta"], scores)
    table = read_labels(path)
    assert table.schema == LABELS_SCHEMA
    assert list(zip(table["task"].to_pylist(), table["id"].to_pylist())) == [("code", "a"), ("quality", "a"), ("quality", "b")]
    assert table["expected"].to_pylist() == [0.1, 1.2, 2.9]
    write_labels(tmp_path / "dir" / "part-2.parquet", ["z"], ["tz"], scores[:1], model="override")
    write_labels(tmp_path / "dir" / "part-1.parquet", ["y"], ["ty"], scores[:1])
    folder = read_labels(tmp_path / "dir")
    assert folder["id"].to_pylist() == ["y", "z"] and folder["model"].to_pylist() == ["m", "override"]
    with pytest.raises(ValueError, match="2 ids, 1 texts"):
        write_labels(path, ["a", "b"], ["t"], scores[:2])


def stage_with_fake(tmp_path, monkeypatch, backend, **config):
    monkeypatch.setattr("classifiers.judge.stage.build_judge",
                        lambda cfg, cache_dir, shared_cache=None: Judge(backend, cfg, LabelCache(str(tmp_path / "label-cache"))))
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "judge"), cache_dir=str(tmp_path))
    return JudgeStage(JudgeStage.Config(**config), ctx)


def test_stage_annotates_every_document_and_writes_labels(tmp_path, monkeypatch):
    backend = FakeBackend(fail_on="garbled")
    stage = stage_with_fake(tmp_path, monkeypatch, backend, tasks=["quality", "topic"], device="cpu")
    rows = [
        {"id": "d1", "text": "A tutorial on sorting lists in Python.", "annotations": json.dumps({"pii": {"email": 1}})},
        {"id": "d2", "text": None},
        {"id": "d3", "text": "garbled"},
        {"id": "d4", "text": "News about a local election."},
    ]
    kept, dropped = run_map_stage_local(stage, documents_from_rows(rows), batch_size=3)
    assert dropped.num_rows == 0 and kept["id"].to_pylist() == ["d1", "d2", "d3", "d4"]
    ann = [json.loads(a) if a else None for a in kept["annotations"].to_pylist()]
    assert ann[0]["pii"] == {"email": 1}  # earlier stages' annotations stay
    assert 0.0 <= ann[0]["judge_quality"] <= 5.0 and ann[0]["judge_topic_label"] in {t.key for t in load_taxonomy(None)}
    assert 0.0 < ann[3]["judge_topic"] <= 1.0
    assert ann[1] is None and ann[2] is None  # no text / no label: nothing claimed
    labels = read_labels(tmp_path / "judge" / "labels")
    assert sorted(zip(labels["task"].to_pylist(), labels["id"].to_pylist())) == [("quality", "d1"), ("quality", "d4"), ("topic", "d1"), ("topic", "d4")]
    assert dict(zip(labels["id"].to_pylist(), labels["text"].to_pylist()))["d1"] == rows[0]["text"]
    # rerun in the same folder: the same label files, no model calls for what was labelled
    before = sorted(p.name for p in (tmp_path / "judge" / "labels").iterdir())
    calls = len(backend.calls)
    stage2 = stage_with_fake(tmp_path, monkeypatch, backend, tasks=["quality", "topic"], device="cpu")
    kept2, _ = run_map_stage_local(stage2, documents_from_rows(rows), batch_size=3)
    assert kept2.equals(kept) and sorted(p.name for p in (tmp_path / "judge" / "labels").iterdir()) == before
    assert backend.calls[calls:] == ["garbled", "garbled"]  # only the failed document is asked again
    assert pq.read_table(tmp_path / "judge" / "labels" / before[0]).schema == LABELS_SCHEMA


def test_stage_resources_follow_device_and_backend():
    assert JudgeStage(JudgeStage.Config(device="cuda")).resources.num_gpus == 1
    assert JudgeStage(JudgeStage.Config(device="cpu")).resources.num_gpus == 0
    assert JudgeStage(JudgeStage.Config(backend="openai", device="cuda")).resources.num_gpus == 0
    with pytest.raises(ValueError, match="tasks"):
        JudgeStage.Config(tasks=["sentiment"])
    with pytest.raises(ValueError, match="extra"):
        JudgeStage.Config(api_key="sk-should-not-be-accepted")
