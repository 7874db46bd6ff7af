import base64
import functools
import json
import random

import numpy as np
import pytest

from filters.kl_divergence import KlDivergence, KlDivergenceConfig, _KlScore, _KlScoreConfig
from filters.kl_reference import Reference, _encoder, load_reference, save_reference, token_ids
from pipeline.schema import documents_from_rows
from pipeline.executor.runner import run_global
from pipeline.stage import RunContext, run_map_stage_local


def english_pages(shared_data, n=60):
    text = (shared_data / "text" / "wikitext2-valid.txt").read_text(encoding="utf-8")
    arts = [" = " + b for b in text.split("\n = ")[1:] if not b.startswith("=")]
    return arts[:n]


@pytest.fixture
def artifact(shared_data, tmp_path):
    enc = _encoder()
    ids = token_ids(english_pages(shared_data), enc)
    counts = np.bincount(np.concatenate(ids), minlength=enc.spec.n_vocab)
    ref = Reference(counts, {"version": 1, "tokenizer": "llama3", "n_vocab": enc.spec.n_vocab, "seed": 0})
    return str(save_reference(ref, tmp_path / "ref.npz"))


def scorer(artifact, **kw):
    cfg = dict(artifact=artifact, smoothing=0.5, threshold=5.0, min_tokens=200, languages=["en"]) | kw
    return _KlScore(_KlScoreConfig(**cfg))


def test_artifact_round_trip_and_tamper_check(artifact, tmp_path):
    ref = load_reference(artifact)
    meta = json.loads(open(artifact + ".json").read())
    assert meta["sha256"] and ref.counts.sum() > 10_000
    with open(artifact, "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_reference(artifact)
    with pytest.raises(FileNotFoundError):
        load_reference(tmp_path / "missing.npz")


def test_token_garbage_is_dropped_ordinary_text_kept(artifact, shared_data):
    rng = random.Random(0)
    b64 = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(3000))).decode()
    hexdump = "\n".join(" ".join(f"{rng.getrandbits(8):02x}" for _ in range(16)) for _ in range(60))
    numbers = "\n".join(" | ".join(str(rng.randint(0, 99999)) for _ in range(8)) for _ in range(60))
    symbols = "=-" * 600
    # held-out English (not in the reference's 60 articles)
    good = english_pages(shared_data, 80)[70:75]
    rows = [{"id": f"good{i}", "text": t, "language": "en"} for i, t in enumerate(good)]
    rows += [
        {"id": "b64", "text": b64, "language": "en"},
        {"id": "hex", "text": hexdump, "language": "en"},
        {"id": "numbers", "text": numbers, "language": "en"},
        {"id": "symbols", "text": symbols, "language": "en"},
        {"id": "b64-de", "text": b64, "language": "de"},  # other language: unscored
        {"id": "short", "text": "x9 Qz 77 ## ~~", "language": "en"},  # below min_tokens
    ]
    kept, dropped = run_map_stage_local(scorer(artifact), documents_from_rows(rows))
    # a unigram KL sees base64 and number tables; hex dumps and "=-=-" runs are made of tokens the
    # reference knows well (numbers, letters, WikiText's " = " headings) and stay under 5
    assert sorted(dropped.column("id").to_pylist()) == ["b64", "numbers"]
    assert set(dropped.column("reason").to_pylist()) == {"token-kl"}
    notes = {r["id"]: json.loads(r["annotations"] or "{}") for r in kept.to_pylist()}
    assert all(notes[f"good{i}"]["token_kl"] < 5.0 for i in range(len(good)))
    assert "token_kl" not in notes["b64-de"] and "token_kl" not in notes["short"]


def test_fit_on_ray_matches_local_counts(ray_local, shared_data, tmp_path):
    import ray.data

    from filters.kl_reference import fit_reference

    pages = english_pages(shared_data, 12)
    table = documents_from_rows(
        [{"id": str(i), "text": t, "language": "en" if i % 4 else "fr"} for i, t in enumerate(pages)]
    )
    ds = ray.data.from_arrow(table).repartition(3)
    ref = fit_reference(ds, 1.0, seed=7, smoothing=0.5, batch_size=4, languages=["en"])
    enc = _encoder()
    want = np.bincount(np.concatenate(token_ids([t for i, t in enumerate(pages) if i % 4], enc)), minlength=enc.spec.n_vocab)
    assert np.array_equal(ref.counts, want) and ref.meta["sample_docs"] == 9

    stage = KlDivergence(KlDivergenceConfig(sample_fraction=1.0), RunContext(str(tmp_path), str(tmp_path / "kl"), seed=7))
    out = run_global(stage, ds).materialize()
    assert out.count() == len(pages)  # real articles: nothing dropped
    assert load_reference(tmp_path / "kl" / "decision" / "reference" / "token-counts.npz").meta["seed"] == 7


def test_reference_is_the_same_whatever_the_blocks(ray_local, tmp_path):
    """The sample is chosen by document id and the counts are integer sums reduced on Ray: one
    block or seven, any batch size, the same reference bit for bit."""
    import ray.data

    from filters.kl_reference import add_counts, batch_counts, fit_reference, in_sample
    from pipeline.ray_ops import tree_reduce
    from tests.scorer_fixtures import doc

    rng = random.Random(5)
    rows = [{"id": f"doc-{i}", "text": doc(["1", "0", "religion"][i % 3], rng), "language": ["en", "en", "de", None][i % 4]}
            for i in range(140)]
    table = documents_from_rows(rows)
    one = fit_reference(ray.data.from_arrow(table), 0.5, seed=11, smoothing=0.5, batch_size=64, languages=["en"])
    seven = ray.data.from_arrow([table.slice(i, 20) for i in range(0, 140, 20)])
    assert seven.num_blocks() == 7
    other = fit_reference(seven, 0.5, seed=11, smoothing=0.5, batch_size=3, languages=["en"])
    assert np.array_equal(one.counts, other.counts) and one.meta == other.meta
    assert np.array_equal(one.log_probs(0.5), other.log_probs(0.5))
    saved = [save_reference(r, tmp_path / f"{name}.npz") for name, r in (("one", one), ("seven", other))]
    assert open(saved[0], "rb").read() == open(saved[1], "rb").read()  # the artifact too, byte for byte
    # exactly the documents whose seeded id hash falls under the fraction (and in the languages)
    chosen = [r for r, keep in zip(rows, in_sample([r["id"] for r in rows], 11, 0.5)) if keep and r["language"] != "de"]
    enc = _encoder()
    want = np.bincount(np.concatenate(token_ids([r["text"] for r in chosen], enc)), minlength=enc.spec.n_vocab)
    assert np.array_equal(one.counts, want) and one.meta["sample_docs"] == len(chosen)
    assert 30 < len(chosen) < 75
    # deeper reduction trees, in another order, add up to the same counts
    combine = functools.partial(add_counts, enc.spec.n_vocab)
    parts = [ray.put(batch_counts(table.slice(i, 10), enc.spec.n_vocab, ["en"], 11, 0.5)) for i in range(0, 140, 10)]
    for fan_in, order in ((2, parts), (3, parts[::-1])):
        counts, docs = ray.get(tree_reduce(order, combine, fan_in))
        assert np.array_equal(counts, one.counts) and docs == len(chosen)
    reseeded = fit_reference(seven, 0.5, seed=12, smoothing=0.5, batch_size=3, languages=["en"])
    assert not np.array_equal(reseeded.counts, one.counts)
