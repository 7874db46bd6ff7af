"""fastText scorers: deterministic versioned artifacts, per-language models, the scorer stages
(columns only, never drops), and the artifact lookup the stages rely on."""
import json
import os

import pytest

from classifiers import artifacts
from classifiers.train_settings import FastTextParams
from classifiers.fasttext_scorer import TrainingDataError, train_fasttext_scorer
from classifiers.scorer_specs import spec
from classifiers.scorer_stages import CodeScore, QualityFastText, TopicClassifier
from classifiers.train_settings import TrainSettings
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext, run_map_stage_local
from tests.scorer_fixtures import doc, examples

SMALL = TrainSettings(fasttext=FastTextParams(dim=16, epoch=10, min_count=1), min_language_examples=50, min_class_examples=10)


def _files(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = f.read()
    return out


def test_training_is_deterministic_and_versioned(tmp_path):
    exs = examples(["1", "0"], 60)
    a = train_fasttext_scorer(spec("code-score"), exs, SMALL, str(tmp_path / "a"), seed=3)
    b = train_fasttext_scorer(spec("code-score"), list(reversed(exs)), SMALL, str(tmp_path / "b"), seed=3)
    assert os.path.basename(a) == os.path.basename(b)  # version = hash(data, settings), not read order
    assert _files(a) == _files(b)  # byte-identical model and metrics
    meta = artifacts.read_metrics(a)
    held = meta["metrics"]["held_out"]
    assert meta["n_train"] + meta["n_held_out"] == 120 and held["n"] == meta["n_held_out"] > 0
    assert held["roc_auc"] > 0.95 and meta["training_data_sha256"] and meta["config"]["seed"] == 3
    # another seed or setting is another version
    c = train_fasttext_scorer(spec("code-score"), exs, SMALL, str(tmp_path / "a"), seed=4)
    assert c != a and os.path.isdir(a)


def test_existing_version_is_not_retrained(tmp_path):
    exs = examples(["1", "0"], 40)
    a = train_fasttext_scorer(spec("code-score"), exs, SMALL, str(tmp_path), seed=0)
    before = os.stat(os.path.join(a, "default.bin")).st_mtime_ns
    assert train_fasttext_scorer(spec("code-score"), exs, SMALL, str(tmp_path), seed=0) == a
    assert os.stat(os.path.join(a, "default.bin")).st_mtime_ns == before
    assert not [n for n in os.listdir(tmp_path / "code-score") if n.startswith(".tmp")]


def test_one_class_cannot_train(tmp_path):
    with pytest.raises(TrainingDataError, match="two classes"):
        train_fasttext_scorer(spec("code-score"), examples(["1"], 30), SMALL, str(tmp_path), seed=0)
    assert not os.path.exists(tmp_path / "code-score") or not os.listdir(tmp_path / "code-score")


def _ctx(tmp_path):
    return RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "stage"))


def test_quality_stage_per_language_models(tmp_path):
    en = examples(["1", "0"], 60, seed=1, language="en", prefix="en-")
    de = examples(["1", "0"], 10, seed=2, language="de", prefix="de-")  # too few for its own model
    path = train_fasttext_scorer(spec("quality-fasttext"), en + de, SMALL, str(tmp_path / "art"), seed=0)
    assert sorted(artifacts.read_metrics(path)["models"]) == ["default", "en"]
    import random

    rng = random.Random(9)
    rows = [
        {"id": "good-en", "text": doc("1", rng), "language": "en"},
        {"id": "spam-en", "text": doc("0", rng), "language": "en"},
        {"id": "good-de", "text": doc("1", rng), "language": "de"},
        {"id": "no-lang", "text": doc("0", rng), "language": None},
        {"id": "empty", "text": "  ", "language": "en"},
        {"id": "none", "text": None, "language": None},
    ]
    stage = QualityFastText(QualityFastText.Config(artifact=path), _ctx(tmp_path))
    kept, dropped = run_map_stage_local(stage, documents_from_rows(rows))
    assert dropped.num_rows == 0 and kept.num_rows == len(rows)  # scorers never drop
    got = {r["id"]: r for r in kept.to_pylist()}
    assert got["good-en"]["quality_fasttext"] > 0.5 > got["spam-en"]["quality_fasttext"]
    assert got["good-de"]["quality_fasttext"] > got["no-lang"]["quality_fasttext"]
    models = {i: json.loads(r["annotations"])["quality-fasttext"]["model"] for i, r in got.items() if r["annotations"]}
    assert models == {"good-en": "en", "spam-en": "en", "good-de": "default", "no-lang": "default"}
    assert got["empty"]["quality_fasttext"] is None and got["none"]["quality_fasttext"] is None


def test_topic_stage_writes_taxonomy_keys(tmp_path):
    labels = ["sports-fitness", "food-dining", "religion"]
    path = train_fasttext_scorer(spec("topic"), examples(labels, 50), SMALL, str(tmp_path), seed=0)
    assert artifacts.read_metrics(path)["metrics"]["held_out"]["accuracy"] > 0.9
    import random

    rng = random.Random(5)
    rows = [{"id": lab, "text": doc(lab, rng)} for lab in labels]
    kept, _ = run_map_stage_local(TopicClassifier(TopicClassifier.Config(artifact=path), _ctx(tmp_path)), documents_from_rows(rows))
    for r in kept.to_pylist():
        assert r["topic"] == r["id"]
        assert 0 < json.loads(r["annotations"])["topic"]["p"] <= 1


def test_stage_artifact_lookup(tmp_path, monkeypatch):
    from classifiers import default_artifacts

    monkeypatch.setattr(default_artifacts, "ROOT", tmp_path / "no-defaults")
    rows = documents_from_rows([{"id": "a", "text": "Some text here."}])
    # a configured artifact must exist
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        CodeScore(CodeScore.Config(artifact=str(tmp_path / "nope")), _ctx(tmp_path)).setup()
    # no artifact configured, no train-scorers pointer and no shipped default: null column, kept
    kept, dropped = run_map_stage_local(CodeScore(CodeScore.Config(), _ctx(tmp_path)), rows)
    assert kept.column("code_score").to_pylist() == [None] and dropped.num_rows == 0
    # train-scorers could not train it: the column stays null, the record is kept
    artifacts.write_run_pointer(str(tmp_path), {"code-score": None})
    kept, dropped = run_map_stage_local(CodeScore(CodeScore.Config(), _ctx(tmp_path)), rows)
    assert kept.column("code_score").to_pylist() == [None] and dropped.num_rows == 0
    # and the pointer's artifact is used when there is one
    path = train_fasttext_scorer(spec("code-score"), examples(["1", "0"], 40), SMALL, str(tmp_path / "art"), seed=0)
    artifacts.write_run_pointer(str(tmp_path), {"code-score": path})
    kept, _ = run_map_stage_local(CodeScore(CodeScore.Config(), _ctx(tmp_path)), rows)
    assert 0.0 <= kept.column("code_score").to_pylist()[0] <= 1.0


def test_stage_falls_back_to_shipped_default(tmp_path, monkeypatch, caplog):
    """No run artifact and none configured: the shipped default scores, and the log names it; a
    `default:` reference in trained-scorers.json resolves in this installation."""
    import logging

    from classifiers import default_artifacts

    root = tmp_path / "defaults"
    path = train_fasttext_scorer(spec("code-score"), examples(["1", "0"], 40), SMALL, str(root), seed=0)
    version = os.path.basename(path)
    (root / default_artifacts.INDEX).write_text(json.dumps({"code-score": version}))
    monkeypatch.setattr(default_artifacts, "ROOT", root)
    rows = documents_from_rows([{"id": "a", "text": "Some text here."}])
    out = tmp_path / "single-stage"  # as `curate code-score --input .. --output DIR`: no pointer there
    with caplog.at_level(logging.INFO, logger="classifiers.scorer_stages"):
        kept, _ = run_map_stage_local(CodeScore(CodeScore.Config(), _ctx(out)), rows)
    assert 0.0 <= kept.column("code_score").to_pylist()[0] <= 1.0
    assert f"code-score/{version}" in caplog.text and "shipped default" in caplog.text
    ref = default_artifacts.default_ref("code-score")
    assert ref == f"default:code-score/{version}" and default_artifacts.resolve_ref(ref) == path
    artifacts.write_run_pointer(str(tmp_path), {"code-score": ref})
    kept2, _ = run_map_stage_local(CodeScore(CodeScore.Config(), _ctx(tmp_path)), rows)
    assert kept2.column("code_score").to_pylist() == kept.column("code_score").to_pylist()
    # topic ships none: its column stays null and the log says why
    with caplog.at_level(logging.WARNING, logger="classifiers.scorer_stages"):
        kept, _ = run_map_stage_local(TopicClassifier(TopicClassifier.Config(), _ctx(out)), rows)
    assert kept.column("topic").to_pylist() == [None] and "test use only" in caplog.text


def test_linear_topic_scorer(tmp_path):
    """The topic classifier's model: TF-IDF + logistic regression, plain arrays, deterministic."""
    from classifiers.training import LinearScorer, train_linear_scorer

    labels = ["sports-fitness", "food-dining", "religion"]
    exs = examples(labels, 50)
    # with the MiniLM embedding model mixed in (the default), from a subsample of 60 documents
    mixed = SMALL.model_copy(update={"linear": SMALL.linear.model_copy(update={"encoder": True, "encoder_max_train": 60})})
    a = train_linear_scorer(spec("topic"), exs, mixed, str(tmp_path / "a"), 0)
    b = train_linear_scorer(spec("topic"), list(reversed(exs)), mixed, str(tmp_path / "b"), 0)
    assert _files(a) == _files(b) and sorted(os.listdir(a)) == ["encoder.npz", "linear.npz", "metrics.json", "tfidf.json"]
    meta = artifacts.read_metrics(a)
    assert meta["kind"] == "linear" and meta["metrics"]["held_out"]["accuracy"] > 0.9
    assert meta["examples_per_model"] == {"encoder": 60, "linear": meta["n_train"]}
    import random

    rng = random.Random(5)
    got, names = LinearScorer(a).label([doc(lab, rng) for lab in labels] + ["", "zzzz unseen"])
    assert [g[0] for g in got[:3]] == labels and got[3] is None and got[4] is None and set(names) == {"linear"}
    # binary use of the same model (TF-IDF alone): P("1")
    alone = SMALL.model_copy(update={"linear": SMALL.linear.model_copy(update={"encoder": False})})
    path = train_linear_scorer(spec("code-score"), examples(["1", "0"], 40), alone, str(tmp_path / "c"), 0)
    assert "encoder.npz" not in os.listdir(path)
    probs, _ = LinearScorer(path).probability([doc("1", rng), doc("0", rng)])
    assert probs[0] > 0.5 > probs[1]
