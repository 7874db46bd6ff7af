"""The transformer quality scorer: a deterministic CPU fine-tune of the packaged MiniLM encoder
into a versioned artifact, and the cascade that sends only fastText's uncertain band to it."""
import json
import os

import pytest

pytest.importorskip("torch", reason="torch is needed for the transformer scorer")

from classifiers import artifacts  # noqa: E402
from classifiers.quality_transformer import QualityTransformer  # noqa: E402
from classifiers.scorer_specs import spec  # noqa: E402
from classifiers.train_settings import TrainSettings, TransformerParams  # noqa: E402
from classifiers.training import train_scorer  # noqa: E402
from pipeline.schema import documents_from_rows  # noqa: E402
from pipeline.stage import RunContext, run_map_stage_local  # noqa: E402
from tests.scorer_fixtures import examples  # noqa: E402

TINY = TrainSettings(transformer=TransformerParams(max_length=32, epochs=2, batch_size=8, lr=1e-4, max_train_examples=32))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    root = tmp_path_factory.mktemp("art")
    return train_scorer(spec("quality-transformer"), examples(["1", "0"], 25), TINY, str(root), seed=0, device="cpu")


def test_fine_tune_is_versioned_and_deterministic(artifact, tmp_path):
    meta = artifacts.read_metrics(artifact)
    assert meta["kind"] == "transformer" and meta["examples_per_model"]["transformer"] == min(32, meta["n_train"])
    assert meta["metrics"]["held_out"]["roc_auc"] > 0.8  # two vocabularies: learnable in two epochs
    again = train_scorer(spec("quality-transformer"), examples(["1", "0"], 25), TINY, str(tmp_path), seed=0, device="cpu")
    assert os.path.basename(again) == os.path.basename(artifact)
    weights = [f for f in os.listdir(os.path.join(artifact, "model")) if f.endswith(".safetensors")]
    assert weights
    for f in weights:
        with open(os.path.join(artifact, "model", f), "rb") as a, open(os.path.join(again, "model", f), "rb") as b:
            assert a.read() == b.read()


class Counting:
    def __init__(self, scorer):
        self.scorer, self.seen, self.batch_size = scorer, [], scorer.batch_size

    def probability(self, texts, languages=None):
        self.seen.extend(texts)
        return self.scorer.probability(texts)


def test_cascade_scores_only_the_uncertain_band(artifact, tmp_path, monkeypatch):
    import classifiers.training

    real = classifiers.training.load_scorer
    monkeypatch.setattr(classifiers.training, "load_scorer", lambda path, device: Counting(real(path, device)))
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "s"))
    stage = QualityTransformer(QualityTransformer.Config(artifact=artifact, device="cpu", band_low=0.2, band_high=0.8), ctx)
    assert stage.resources.num_gpus == 0
    rows = [
        {"id": "sure-bad", "text": "cheap deal click now", "quality_fasttext": 0.05},
        {"id": "unsure", "text": "the species of the river", "quality_fasttext": 0.5},
        {"id": "sure-good", "text": "the treaty of the dynasty", "quality_fasttext": 0.95},
        {"id": "unscored", "text": "orbit of the molecule", "quality_fasttext": None},
        {"id": "empty", "text": "", "quality_fasttext": None},
    ]
    kept, dropped = run_map_stage_local(stage, documents_from_rows(rows))
    got = {r["id"]: r for r in kept.to_pylist()}
    assert dropped.num_rows == 0 and len(got) == 5
    assert sorted(stage.scorer.seen) == sorted(["the species of the river", "orbit of the molecule", ""])
    assert got["sure-bad"]["quality_transformer"] == pytest.approx(0.05)
    assert got["sure-good"]["quality_transformer"] == pytest.approx(0.95)
    assert 0 <= got["unsure"]["quality_transformer"] <= 1 and got["empty"]["quality_transformer"] is None
    by = {i: json.loads(r["annotations"])["quality-transformer"]["by"] for i, r in got.items() if r["annotations"]}
    assert by == {"sure-bad": "fasttext", "unsure": "transformer", "sure-good": "fasttext", "unscored": "transformer"}


def test_band_must_be_ordered():
    with pytest.raises(ValueError, match="band_low"):
        QualityTransformer.Config(band_low=0.9, band_high=0.1)
