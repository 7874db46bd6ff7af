"""dedup-minhash: signatures equal datasketch's, the LSH shape and S-curve, and exact keep/drop
decisions on a small hand-made corpus run on Ray."""
import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from pipeline.executor.runner import run_global
from dedup.lsh import band_keys, detection_probability, optimal_param, s_curve
from dedup.minhash import MinHashDedup, lsh_shape, node_keys
from dedup.signatures import shingles, signatures, word_lists, xxh3_shingle_hash
from dedup.signatures import bottom_k, minhash_signatures, shingle_hashes
from dedup.verify import estimate
from pipeline import stage_io
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext
from tests.dedup_fixtures import edit, sort_shuffle, text  # noqa: F401 (sort_shuffle: fixture)

datasketch = pytest.importorskip("datasketch")

UTC = dt.timezone.utc


# --- signatures --------------------------------------------------------------------------------

SIG_TEXTS = [
    "The quick brown fox jumps over the lazy dog; the dog sleeps.",
    "  Leading and trailing   whitespace, tabs\tand\nnewlines  ",
    "short text",
    "",
    None,
    "Ünïcödé wörds — with «punctuation» and emoji 🎉 and 数字 123 tokens here",
    " ".join(text(1, 400)),
]


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("hash_name", ["sha1", "xxh3"])
def test_signatures_equal_datasketch(scheme, hash_name):
    if scheme == "affine32" and not hasattr(datasketch.MinHash(num_perm=1), "scheme"):
        pytest.skip("datasketch < 2.0 has no affine32 scheme")
    sig, counts = signatures(pa.array(SIG_TEXTS, pa.string()), n=5, num_perm=64, seed=3, scheme=scheme, hash_name=hash_name)
    kw = {"num_perm": 64, "seed": 3, "scheme": scheme}
    if hash_name == "xxh3":
        kw["hashfunc"] = xxh3_shingle_hash
    for i, t in enumerate(SIG_TEXTS):
        sh = shingles(t, 5)
        assert counts[i] == len(sh)
        ref = datasketch.MinHash(**kw)
        ref.update_batch(sh)
        assert np.array_equal(sig[i].astype(np.uint64), ref.hashvalues.astype(np.uint64)), (scheme, hash_name, t)


def test_signatures_cross_chunk_boundaries(monkeypatch):
    """A document cut by the shingle chunk boundary gets the min over both parts."""
    import dedup.signatures as s

    texts = pa.array([" ".join(text(i, 120)) for i in range(5)])
    whole, _ = s.signatures(texts, num_perm=32)
    monkeypatch.setattr(s, "CHUNK", 7)
    chunked, _ = s.signatures(texts, num_perm=32)
    assert np.array_equal(whole, chunked)


def test_normalisation_and_shingles():
    assert word_lists(pa.array(["  Hello,  WORLD!\tIt's\u00a0fine.  ", "", None, " ... "])).to_pylist() == [
        ["hello", "world", "it", "s", "fine"], None, None, None
    ]
    assert shingles("a b c", 5) == [b"a b c"]  # a short text is one short shingle
    assert shingles("a b c d e f", 5) == [b"a b c d e", b"b c d e f"]
    assert shingles("!!! ...", 5) == []


# --- LSH shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128, 250])
def test_band_choice_equals_datasketch(threshold, num_perm):
    from datasketch.lsh import _optimal_param

    assert optimal_param(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert optimal_param(threshold, num_perm, 0.2, 0.8) == _optimal_param(threshold, num_perm, 0.2, 0.8)


def test_s_curve():
    b, r = optimal_param(0.8, 128)
    curve = s_curve(b, r)
    assert list(curve) == [0.6, 0.7, 0.8, 0.9]
    assert all(x < y for x, y in zip(curve.values(), list(curve.values())[1:]))
    assert curve[0.6] < 0.05 and curve[0.9] > 0.9  # steep around the threshold
    assert detection_probability(1.0, b, r) == 1.0 and detection_probability(0.0, b, r) == 0.0
    # the measured rate of two documents at a known Jaccard sharing a band follows the curve
    base = text(5, 300)
    near = edit(base, range(0, 300, 25), seed=1)  # 12 scattered edits
    a_sh, b_sh = set(shingles(" ".join(base))), set(shingles(" ".join(near)))
    jac = len(a_sh & b_sh) / len(a_sh | b_sh)
    hits = 0
    for seed in range(200):
        sig, _ = signatures(pa.array([" ".join(base), " ".join(near)]), num_perm=128, seed=seed)
        keys = band_keys(sig, b, r, np.zeros(2, dtype=np.uint64))
        hits += bool((keys[0] == keys[1]).any())
    assert abs(hits / 200 - detection_probability(jac, b, r)) < 0.12


def test_config_validation():
    with pytest.raises(ValueError):
        MinHashDedup.Config(bands=4)
    with pytest.raises(ValueError):
        MinHashDedup.Config(bands=20, rows=10, num_perm=128)
    assert lsh_shape(MinHashDedup.Config(bands=16, rows=8)) == (16, 8)


def test_node_key_order_is_the_keep_rule():
    rows = [
        {"id": "b", "text": "x" * 10, "crawl_date": dt.datetime(2020, 1, 1, tzinfo=UTC)},
        {"id": "a", "text": "x" * 10, "crawl_date": None},
        {"id": "c", "text": "x" * 99, "crawl_date": dt.datetime(2020, 1, 1, tzinfo=UTC)},
        {"id": "d", "text": "x" * 10, "crawl_date": dt.datetime(2021, 1, 1, tzinfo=UTC)},
        {"id": "a2", "text": "x" * 10, "crawl_date": dt.datetime(2020, 1, 1, tzinfo=UTC)},
        {"id": "e", "text": "x", "crawl_date": dt.datetime(1960, 1, 1, tzinfo=UTC)},
    ]
    keys = node_keys(documents_from_rows(rows)).to_pylist()
    assert [rows[i]["id"] for i in np.argsort(np.array(keys, dtype=object))] == ["d", "c", "a2", "b", "e", "a"]


# --- decisions on Ray --------------------------------------------------------------------------

D2020, D2021 = dt.datetime(2020, 5, 1, tzinfo=UTC), dt.datetime(2021, 5, 1, tzinfo=UTC)


def corpus():
    a = text(10)
    b = text(20)
    c = text(30)
    chain0 = text(40)
    chain1 = edit(chain0, [30, 90, 150, 210], seed=2)  # 4 edits: Jaccard ~0.87
    chain2 = edit(chain1, [60, 120, 180, 240], seed=3)  # 4 more: ~0.76 from chain0
    v_base = text(60)
    v_far = edit(v_base, range(7, 300, 27), seed=10)  # 11 edits: Jaccard ~0.69
    docs = [
        # exact copies: the most recent crawl is kept
        {"id": "a-old", "text": " ".join(a), "crawl_date": D2020, "language": "en"},
        {"id": "a-new", "text": " ".join(a), "crawl_date": D2021, "language": "en"},
        # near copies (3 of 300 words edited), same date: the longer text is kept
        {"id": "b-short", "text": " ".join(edit(b, [40, 140, 240], seed=4)), "crawl_date": D2020, "language": "en"},
        {"id": "b-long", "text": " ".join(b) + " tail", "crawl_date": D2020, "language": "en"},
        # full tie: the smallest id is kept; a copy in another language is not compared
        {"id": "c2", "text": " ".join(c), "crawl_date": None, "language": "en"},
        {"id": "c1", "text": " ".join(c), "crawl_date": None, "language": "en"},
        {"id": "c-fr", "text": " ".join(c), "crawl_date": None, "language": "fr"},
        # chain: 0~1 and 1~2 linked, 0-2 not (below the threshold); components keep the newest (2) for all three
        {"id": "chain-0", "text": " ".join(chain0), "crawl_date": D2020, "language": "en"},
        {"id": "chain-1", "text": " ".join(chain1), "crawl_date": D2020, "language": "en"},
        {"id": "chain-2", "text": " ".join(chain2), "crawl_date": D2021, "language": "en"},
        # one band in common but far below the threshold: linked only without `verify`
        {"id": "v-base", "text": " ".join(v_base), "crawl_date": D2021, "language": "en"},
        {"id": "v-far", "text": " ".join(v_far), "crawl_date": D2020, "language": "en"},
        # unrelated and empty documents are kept
        {"id": "u1", "text": " ".join(text(50)), "crawl_date": D2020, "language": "en"},
        {"id": "u2", "text": "A short unrelated note.", "crawl_date": D2020, "language": "en"},
        {"id": "empty1", "text": "", "language": "en"},
        {"id": "empty2", "text": None, "language": "en"},
    ]
    return docs


EXPECTED_DROPS = {
    "a-old": "a-new",
    "b-short": "b-long",
    "c2": "c1",
    "chain-0": "chain-2",
    "chain-1": "chain-2",
}


def pair_signals(t1: str, t2: str, cfg) -> tuple[float, bool, float]:
    """(exact shingle Jaccard, share an LSH bucket, verify's estimated Jaccard) under `cfg`, seed 0."""
    a, b = set(shingles(t1, cfg.ngram)), set(shingles(t2, cfg.ngram))
    bands, rows = lsh_shape(cfg)
    hv, counts = shingle_hashes(pa.array([t1, t2]), cfg.ngram, cfg.shingle_hash)
    keys = band_keys(minhash_signatures(hv, counts, cfg.num_perm, 0, cfg.scheme), bands, rows, np.zeros(2, dtype=np.uint64))
    sk = bottom_k(hv, counts, cfg.verify_k, 0)
    return len(a & b) / len(a | b), bool((keys[0] == keys[1]).any()), float(estimate(sk[:1], sk[1:])[0])


def shared_bucket(t1: str, t2: str, cfg) -> bool:
    return pair_signals(t1, t2, cfg)[1]


def linked(t1: str, t2: str, cfg) -> bool:
    """Whether the stage makes an edge between the two: a shared bucket, and verified if asked."""
    _, shared, est = pair_signals(t1, t2, cfg)
    return shared and (not cfg.verify or est >= cfg.verify_threshold)


def run_stage(tmp_path, ray, rows, **config):
    cfg = MinHashDedup.Config(num_partitions=2, **config)
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "stage"), seed=0)
    stage = MinHashDedup(cfg, ctx)
    # two input blocks, so buckets and components really cross partitions
    table = documents_from_rows(rows)
    half = table.num_rows // 2
    out = run_global(stage, ray.data.from_arrow([table.slice(0, half), table.slice(half)]))
    kept = sorted(r["id"] for r in out.take_all())
    dropped = stage_io.read_dropped_table(ctx.dropped_dir).to_pylist()
    return kept, {d["id"]: d for d in dropped}


@pytest.mark.ray
@pytest.mark.parametrize("verify", [False, True])
def test_minhash_decisions_on_ray(tmp_path, sort_shuffle, verify):
    docs = corpus()
    by_id = {d["id"]: d["text"] for d in docs}
    cfg = MinHashDedup.Config(verify=verify)
    # preconditions of the hand-made corpus, so the decisions below test the stage, not luck
    assert linked(by_id["b-short"], by_id["b-long"], cfg)
    assert linked(by_id["chain-0"], by_id["chain-1"], cfg) and linked(by_id["chain-1"], by_id["chain-2"], cfg)
    assert not linked(by_id["a-new"], by_id["u1"], cfg)
    j_far, shared_far, est_far = pair_signals(by_id["v-base"], by_id["v-far"], cfg)
    assert j_far < 0.75 and shared_far and est_far < cfg.verify_threshold

    kept, dropped = run_stage(tmp_path, sort_shuffle, docs, verify=verify)
    expected = dict(EXPECTED_DROPS, **({} if verify else {"v-far": "v-base"}))
    assert {i: d["duplicate_of"] for i, d in dropped.items()} == expected
    assert {d["reason"] for d in dropped.values()} == {"near-duplicate"}
    assert {d["stage"] for d in dropped.values()} == {"dedup-minhash"}
    assert kept == sorted(set(by_id) - set(expected))
    assert dropped["a-old"]["text"] == by_id["a-old"]  # the dropped record is the full document


@pytest.mark.ray
def test_minhash_across_languages_when_asked(tmp_path, sort_shuffle):
    docs = [d for d in corpus() if d["id"] in ("c1", "c2", "c-fr", "u1")]
    kept, dropped = run_stage(tmp_path, sort_shuffle, docs, per_language=False)
    assert {i: d["duplicate_of"] for i, d in dropped.items()} == {"c2": "c-fr", "c1": "c-fr"}
    assert kept == ["c-fr", "u1"]


@pytest.mark.ray
@pytest.mark.slow
def test_minhash_decisions_on_ray_hash_shuffle(tmp_path, ray_local):
    """The same decisions under Ray's default hash shuffle (~1 min on the 2-core test box)."""
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    if DataContext.get_current().shuffle_strategy not in (ShuffleStrategy.HASH_SHUFFLE, ShuffleStrategy.SHUFFLE_V2):
        pytest.skip("the default shuffle strategy here is not a hash shuffle")
    kept, dropped = run_stage(tmp_path, ray_local, corpus())
    assert {i: d["duplicate_of"] for i, d in dropped.items()} == EXPECTED_DROPS

