"""Labels and artifacts where every node finds them: the judge's label cache (parquet files that
several writers add to without locking) and the scorer artifacts, on a local folder and on S3
(SeaweedFS, the `s3_server` fixture; those cases skip without the `weed` binary)."""
import json
import random
import uuid

import numpy as np
import pytest

from classifiers import artifacts
from classifiers.train_settings import FastTextParams
from classifiers.fasttext_scorer import FastTextScorer, train_fasttext_scorer
from classifiers.judge import JudgeConfig
from classifiers.judge.cache import LabelCache, label_cache_dir
from classifiers.judge.judge import Judge, build_judge
from classifiers.scorer_specs import spec
from classifiers.train_scorers import TrainScorersConfig, label_and_train
from classifiers.train_settings import TrainSettings
from classifiers.training import load_scorer
from pipeline import storage
from tests.judge_fakes import FakeBackend
from tests.scorer_fixtures import VocabJudge, corpus_table, doc, examples

SMALL = TrainSettings(fasttext=FastTextParams(dim=16, epoch=10, min_count=1), min_language_examples=50, min_class_examples=10)


@pytest.fixture(params=["local", "s3"])
def shared(request, tmp_path, monkeypatch):
    """A shared root: a local folder, or a prefix in a fresh bucket of the test S3 server."""
    monkeypatch.setenv("CURATE_SCRATCH", str(tmp_path / "scratch"))  # node-local copies of remote files
    if request.param == "local":
        return str(tmp_path / "shared")
    server = request.getfixturevalue("s3_server")
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    storage._remote_fs.cache_clear()  # a filesystem client reads the endpoint once
    request.addfinalizer(storage._remote_fs.cache_clear)
    return f"{server.create_bucket(f'scorers-{uuid.uuid4().hex[:12]}')}/shared"


def _label(sha: str, n: int) -> tuple:
    return (sha, str(n % 6), float(n % 6), {str(n % 6): 1.0})


# --------------------------------------------------------------------------- label cache


def test_two_writers_and_a_reader_see_every_label(shared):
    folder = label_cache_dir(shared)
    a, b = LabelCache(folder), LabelCache(folder)
    assert a.get(["x"], "quality-v1", "m") == {} and b.get(["x"], "quality-v1", "m") == {}  # both listed: empty
    a.put([_label(f"a{i}", i) for i in range(5)], "quality-v1", "m")
    b.put([_label(f"b{i}", i) for i in range(3)], "quality-v1", "m")
    b.put([_label("a0", 0)], "code-v1", "m")  # another prompt version is another key
    a.close()
    b.close()
    files = storage.listdir(folder, ".parquet")
    assert len(files) == 2 and all(storage.basename(f).startswith("part-") for f in files)
    reader = LabelCache(folder)
    got = reader.get([f"a{i}" for i in range(5)] + [f"b{i}" for i in range(3)] + ["zz"], "quality-v1", "m")
    assert sorted(got) == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(3)]
    assert got["a4"] == ("4", 4.0, {"4": 1.0}) and len(reader) == 9
    assert list(reader.get(["a0"], "code-v1", "m")) == ["a0"] and reader.get(["a0"], "quality-v1", "other") == {}
    # the same labels written again make the same file (named by content): nothing is duplicated
    again = LabelCache(folder)
    again.put([_label(f"a{i}", i) for i in range(5)], "quality-v1", "m")
    again.close()
    assert storage.listdir(folder, ".parquet") == files
    # a writer that started before the others wrote sees their files after a refresh
    assert a.refresh() == 1 and len(a) == 9


def test_a_cut_labelling_run_resumes_from_what_it_flushed(shared):
    class Killed(Exception):
        pass

    class CutBackend(FakeBackend):
        """Dies once it has labelled `cut_after` documents, like a worker killed mid-run."""

        def token_probs(self, prompt, texts):
            if self.cut_after is not None and len(self.calls) >= self.cut_after:
                raise Killed
            return super().token_probs(prompt, texts)

    folder = label_cache_dir(shared)
    texts = [f"document number {i}" for i in range(30)]
    backend = CutBackend()
    backend.cut_after = 16  # two chunks of 8 (batch_size 1) are labelled, the third is cut
    judge = Judge(backend, JudgeConfig(batch_size=1), LabelCache(folder, flush_every=8))
    with pytest.raises(Killed):
        judge.score(texts, "quality")  # no close(): the process dies
    assert len(storage.listdir(folder, ".parquet")) == 2
    rerun_backend = CutBackend()
    rerun_backend.cut_after = None
    rerun = Judge(rerun_backend, JudgeConfig(batch_size=1), LabelCache(folder, flush_every=8))
    scores = rerun.score(texts, "quality")
    rerun.close()
    assert len(rerun_backend.calls) == 30 - 16 and not set(rerun_backend.calls) & set(backend.calls)
    whole = Judge(FakeBackend(), JudgeConfig(batch_size=1), None).score(texts, "quality")
    assert scores == whole  # resumed labels are the labels an undisturbed run gives
    assert len(storage.listdir(folder, ".parquet")) == 4  # the rerun's own 14 labels: one flush at 8, one on close


def test_build_judge_puts_labels_in_the_shared_root_and_models_locally(shared, tmp_path, monkeypatch):
    seen = {}

    class NoModel(FakeBackend):
        def __init__(self, config, cache_dir):
            super().__init__()
            seen["models"] = cache_dir

    monkeypatch.setattr("classifiers.judge.local.LocalBackend", NoModel)
    local = str(tmp_path / "node-cache")
    judge = build_judge(JudgeConfig(), local, shared_cache=shared)
    assert judge.cache.folder == storage.abspath(label_cache_dir(shared)) and seen["models"] == local
    # a configured cache_dir holds the labels; models go there too unless it is a URI
    configured = build_judge(JudgeConfig(cache_dir=shared), local, shared_cache=str(tmp_path / "unused"))
    assert configured.cache.folder == storage.abspath(label_cache_dir(shared))
    assert seen["models"] == (local if storage.is_uri(shared) else shared)
    http = build_judge(JudgeConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m"), local, shared_cache=shared)
    assert http.cache.folder == storage.abspath(label_cache_dir(shared))


# --------------------------------------------------------------------------- artifacts


def test_artifact_round_trip(shared, tmp_path, monkeypatch):
    exs = examples(["1", "0"], 40)
    root = artifacts.artifacts_root(shared)
    location = train_fasttext_scorer(spec("code-score"), exs, SMALL, root, seed=0)
    assert location == storage.join(storage.abspath(root), "code-score", storage.basename(location))
    assert artifacts.is_artifact(location) and artifacts.read_metrics(location)["scorer"] == "code-score"
    assert sorted(storage.basename(f) for f in storage.listdir(location)) == ["default.bin", "metrics.json"]
    # the same model and metrics as one trained in a local folder
    here = train_fasttext_scorer(spec("code-score"), exs, SMALL, str(tmp_path / "local"), seed=0)
    assert storage.read_bytes(storage.join(location, "default.bin")) == storage.read_bytes(storage.join(here, "default.bin"))
    assert artifacts.read_metrics(location) == artifacts.read_metrics(here)
    texts = [doc("1", random.Random(9)), doc("0", random.Random(8))]
    want = FastTextScorer(here).probability(texts)
    assert FastTextScorer(location).probability(texts) == want and load_scorer(location).probability(texts) == want
    # found again, not retrained
    monkeypatch.setattr("classifiers.fasttext_model.train", lambda *a, **k: pytest.fail("retrained"))
    assert train_fasttext_scorer(spec("code-score"), exs, SMALL, root, seed=0) == location
    # the run pointer names it for every node
    out = storage.join(shared, "out")
    artifacts.write_run_pointer(out, {"code-score": location, "topic": None})
    assert artifacts.resolve_artifact("code-score", None, out) == location
    assert artifacts.resolve_artifact("topic", None, out) is None
    assert artifacts.resolve_artifact("code-score", location, None) == location


def test_a_half_written_artifact_is_not_one(shared):
    """Model files without metrics.json (an upload cut before its last file) are not an artifact."""
    half = storage.join(artifacts.artifacts_root(shared), "code-score", "0123456789abcdef")
    storage.write_bytes(storage.join(half, "default.bin"), b"partial")
    assert not artifacts.is_artifact(half)
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        artifacts.resolve_artifact("code-score", half, None)
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        artifacts.local_copy(half)


def test_label_and_train_writes_labels_and_artifacts_to_the_shared_root(shared, tmp_path, monkeypatch):
    import classifiers.judge

    monkeypatch.setattr(classifiers.judge, "build_judge", lambda config, cache_dir=None, shared_cache=None: VocabJudge())
    rows = corpus_table(120).to_pylist()[:120]
    cfg = TrainScorersConfig(scorers=["quality-fasttext", "topic"], judge=JudgeConfig(),
                             teachers={"weborganizer": None, "references": [], "rule_drops": False},  # the judge's labels only
                             train={"fasttext": {"dim": 16, "epoch": 10, "min_count": 1}, "linear": {"encoder": False}})
    labels = storage.join(shared, "run", "labels")
    got, _ = label_and_train(rows, cfg, str(tmp_path / "node-cache"), 0, labels, shared)
    for name in ("quality-fasttext", "topic"):
        assert got[name].startswith(storage.join(storage.abspath(shared), "artifacts", name) + "/")
        assert artifacts.read_metrics(got[name])["n_train"] > 50
    assert not (tmp_path / "node-cache" / "artifacts").exists()
    assert [storage.basename(f) for f in storage.listdir(labels)] == ["quality.parquet", "topic.parquet"]
    assert storage.exists(storage.join(shared, "run", "teacher-labels.parquet"))
    from classifiers.judge import read_labels

    assert read_labels(labels).num_rows == 240


def test_kl_reference_round_trip(shared):
    from filters.kl_reference import Reference, load_reference, save_reference

    counts = np.arange(50, dtype=np.int64)
    location = save_reference(Reference(counts, {"version": 1, "tokenizer": "llama3", "seed": 3}), storage.join(shared, "ref", "counts.npz"))
    ref = load_reference(location)
    assert np.array_equal(ref.counts, counts) and ref.meta["seed"] == 3
    assert json.loads(storage.read_text(location + ".json"))["sha256"]
    storage.write_bytes(location, storage.read_bytes(location) + b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_reference(location)
    with pytest.raises(FileNotFoundError):
        load_reference(storage.join(shared, "ref", "missing.npz"))
