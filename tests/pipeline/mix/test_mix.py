"""Stage `mix` on local Ray: synthetic buckets with hand-computed copies, determinism, the
annealing set and the drops it writes."""
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipeline.mix.keys import seeded_keys
from pipeline.mix.stage import PLAN_FILE, Mix
from pipeline.executor.runner import run_global
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext

pytestmark = pytest.mark.ray
SEED = 5
SIZES = {"general": 100, "math_reasoning": 10, "code": 10, "multilingual": 10}  # documents of 10 tokens


def _rows():
    rows = []
    for bucket, n in SIZES.items():
        for i in range(n):
            rows.append({"id": f"{bucket}-{i:03d}", "bucket": bucket, "token_count": 10, "text": "t",
                         # the domain scores rank against the quality scores: the anneal set
                         # must follow quality (the fastText one, or the transformer's where set)
                         "code_score": (n - i) / n if bucket == "code" else None,
                         "reasoning_score": i / n if bucket == "math_reasoning" else None,
                         "quality_fasttext": i / n if bucket in ("code", "math_reasoning") else None,
                         "quality_transformer": (n - i) / n if bucket == "math_reasoning" else None})
    return rows


def _dataset(rows, blocks=4):
    import ray.data

    table = documents_from_rows(rows)
    step = -(-len(rows) // blocks)
    return ray.data.from_arrow([table.slice(s, step) for s in range(0, len(rows), step)])


def _run(tmp_path, rows, blocks=4, seed=SEED, name="mix", **config):
    stage_dir = tmp_path / name
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(stage_dir), seed=seed)
    kept = run_global(Mix(Mix.Config(**config), ctx), _dataset(rows, blocks)).take_all()
    dropped = pq.read_table(stage_dir / "dropped").to_pylist() if (stage_dir / "dropped").exists() else []
    return kept, dropped, json.loads((stage_dir / "decision" / PLAN_FILE).read_text())


def _first_by_key(bucket, n):
    ids = [f"{bucket}-{i:03d}" for i in range(SIZES[bucket])]
    keys = seeded_keys(ids, SEED, "mix")
    return set(sorted(ids, key=lambda i: (int(keys[ids.index(i)]), i))[:n])


@pytest.fixture(scope="module")
def mixed(ray_local, tmp_path_factory):
    return _run(tmp_path_factory.mktemp("mix"), _rows(), anneal={"top_fraction": 0.3})


def test_exact_copies_for_1000_100_100_100_tokens(mixed):
    kept, dropped, plan = mixed
    copies = {r["id"]: r["repeats"] for r in kept}
    by_bucket = Counter()
    for r in kept:
        by_bucket[r["bucket"]] += r["repeats"] * r["token_count"]
    # total 1600 tokens (math_reasoning: 100 tokens x 4 epochs = 25%); goals 800/400/272/128
    assert by_bucket == {"general": 800, "math_reasoning": 400, "code": 270, "multilingual": 130}
    # general: rate 0.8 -> the first 80 documents in seeded order, once
    assert {i for i in copies if i.startswith("general")} == _first_by_key("general", 80)
    assert {copies[i] for i in copies if i.startswith("general")} == {1}
    # math: 4 copies each; code: 2 each + 1 for the first 7 (70 of the 72 remaining tokens);
    # multilingual: 1 each + 1 for the first 3 (30 of 28)
    assert all(copies[f"math_reasoning-{i:03d}"] == 4 for i in range(10))
    assert {i for i in copies if i.startswith("code") and copies[i] == 3} == _first_by_key("code", 7)
    assert Counter(copies[i] for i in copies if i.startswith("code")) == {3: 7, 2: 3}
    assert {i for i in copies if i.startswith("multilingual") and copies[i] == 2} == _first_by_key("multilingual", 3)
    # the 20 general documents left out are dropped, with the reason
    assert len(dropped) == 20 and {d["reason"] for d in dropped} == {"mix-downsampled:general"}
    assert {d["id"] for d in dropped} | {i for i in copies if i.startswith("general")} == {f"general-{i:03d}" for i in range(100)}
    realised = {b: v["tokens"] for b, v in plan["realised"].items()}
    assert realised == by_bucket
    assert plan["plan"]["limited_by"] == "math_reasoning" and plan["unmet"] == []


def test_anneal_is_the_top_scored_slice_of_code_and_math(mixed):
    kept, _, plan = mixed
    anneal = sorted(r["id"] for r in kept if r["anneal"])
    # top 30% of 10 scored documents each, by quality, not by the domain score: code by
    # quality_fasttext (i = 9, 8, 7), math by quality_transformer, which wins over fastText where
    # it has a value ((10 - i) / 10: i = 0, 1, 2)
    assert anneal == ["code-007", "code-008", "code-009", "math_reasoning-000", "math_reasoning-001", "math_reasoning-002"]
    assert plan["anneal"]["code"]["documents"] == 3 and plan["anneal"]["code"]["eligible_documents"] == 10
    assert all(r["anneal"] is False for r in kept if r["bucket"] in ("general", "multilingual"))


def test_requested_total_and_determinism_across_partitioning(ray_local, tmp_path):
    rows = _rows()
    a, da, pa_ = _run(tmp_path, rows, blocks=3, name="a", total_tokens=800)
    b, db, _ = _run(tmp_path, rows[::-1], blocks=7, name="b", total_tokens=800)
    key = lambda r: r["id"]  # noqa: E731
    assert sorted(((r["id"], r["repeats"], r["anneal"]) for r in a), key=str) == sorted(((r["id"], r["repeats"], r["anneal"]) for r in b), key=str)
    assert sorted(d["id"] for d in da) == sorted(d["id"] for d in db)
    tokens = Counter()
    for r in sorted(a, key=key):
        tokens[r["bucket"]] += r["repeats"] * r["token_count"]
    # goals 400/200/136/64: general 40 docs; math 2 copies; code 1 + 4 (40 of 36); multilingual 6 docs (60 of 64)
    assert tokens == {"general": 400, "math_reasoning": 200, "code": 140, "multilingual": 60}
    c, _, _ = _run(tmp_path, rows, name="c", seed=SEED + 1, total_tokens=800)
    assert {r["id"] for r in c} != {r["id"] for r in a}


def test_bad_input_is_dropped_with_reasons_and_unmet_targets_reported(ray_local, tmp_path):
    rows = [r for r in _rows() if r["bucket"] != "multilingual"]
    rows += [{"id": "no-bucket", "token_count": 5, "text": "t"},
             {"id": "odd-bucket", "bucket": "poetry", "token_count": 5, "text": "t"},
             {"id": "no-tokens", "bucket": "general", "text": "t"}]
    kept, dropped, plan = _run(tmp_path, rows)
    reasons = {d["id"]: d["reason"] for d in dropped}
    assert reasons["no-bucket"] == "mix-no-bucket" and reasons["odd-bucket"] == "mix-unknown-bucket:poetry"
    assert reasons["no-tokens"] == "mix-no-tokens"
    assert len(kept) + len(dropped) == len(rows)
    unmet = {u["bucket"]: u for u in plan["unmet"]}
    assert unmet["multilingual"]["shortfall_pp"] == pytest.approx(8.0)
    # the others take multilingual's 8%: on their renormalised shares, off the configured ones
    for bucket, target in (("general", 0.50), ("math_reasoning", 0.25), ("code", 0.17)):
        assert unmet[bucket]["planned_share"] == pytest.approx(target / 0.92)
        assert unmet[bucket]["why"].startswith("renormalised"), unmet[bucket]


def test_config_rejects_unknown_buckets():
    with pytest.raises(Exception):
        Mix.Config(targets={"poetry": 1.0})
    with pytest.raises(Exception):
        Mix.Config(anneal={"columns": {"code": "nonsense"}})
    with pytest.raises(Exception):
        Mix.Config(anneal={"columns": {"code": []}})
    # one column or several (the first with a value ranks)
    assert Mix.Config(anneal={"columns": {"code": "code_score"}}).anneal.columns == {"code": ("code_score",)}
    assert Mix.Config().anneal.columns["math_reasoning"] == ("quality_transformer", "quality_fasttext")


@pytest.mark.parametrize("fetch_limit", [1, 3, 1000])
def test_cuts_equal_a_local_sort_whatever_the_fetch_limit(ray_local, fetch_limit):
    """Radix refinement (small fetch limits) must choose exactly what sorting everything would."""
    import numpy as np
    import pyarrow as pa
    import ray.data

    from pipeline.mix.cuts import KEYED_SCHEMA, choose_stop, find_cuts

    rng = np.random.default_rng(3)
    n = 300
    ids = [f"d{i:04d}" for i in range(n)]
    # few distinct high bits (ties on the first 16 and 32 bits, as equal scores give) and random low bits
    keys = (rng.integers(0, 3, n).astype(np.uint64) << np.uint64(40)) | rng.integers(0, 2**20, n).astype(np.uint64)
    groups = np.where(np.arange(n) % 3 == 0, "a", "b")
    weights = rng.integers(1, 50, n)
    table = pa.table([pa.array(groups), pa.array(keys, pa.uint64()), pa.array(ids), pa.array(weights, pa.int64())],
                     schema=KEYED_SCHEMA)
    keyed = ray.data.from_arrow([table.slice(0, 120), table.slice(120)])
    fractions = {"a": 0.37, "b": 0.81}
    results = find_cuts(keyed, lambda totals: fractions, ["a", "b"], fetch_limit=fetch_limit)
    for g, fraction in fractions.items():
        docs = sorted((int(k), i, int(w)) for gg, k, i, w in zip(groups, keys, ids, weights) if gg == g)
        total = sum(d[2] for d in docs)
        j = choose_stop([d[2] for d in docs], fraction * total)
        r = results[g]
        assert r.documents == j and r.weight == sum(d[2] for d in docs[:j]) and r.total_weight == total
        taken = r.cut.taken(np.array([d[0] for d in docs], np.uint64), [d[1] for d in docs])
        assert taken.tolist() == [True] * j + [False] * (len(docs) - j)


def test_first_fit_lands_near_the_goal_where_a_long_document_sits_at_the_cut(ray_local):
    import numpy as np
    import pyarrow as pa
    import ray.data

    from pipeline.mix.cuts import KEYED_SCHEMA, first_fit

    ids = [f"d{i:02d}" for i in range(12)]
    keys = np.arange(1, 13, dtype=np.uint64) << np.uint64(50)  # seeded order = id order here
    weights = [300, 200, 5000, 100, 250, 80, 6000, 120, 90, 60, 400, 70]
    table = pa.table([pa.array(["code"] * 12), pa.array(keys, pa.uint64()), pa.array(ids), pa.array(weights, pa.int64())],
                     schema=KEYED_SCHEMA)
    keyed = ray.data.from_arrow([table.slice(0, 5), table.slice(5)])
    r = first_fit(keyed, "code", 1000)
    # in order: 300 + 200 fit, 5000 does not (the cut), then 100 + 250 + 80 fit, 6000, 120, 90 not,
    # 60 fits (990); the smallest left out, 70, would overshoot by 60, more than the 10 missing
    taken = r.cut.taken(keys, ids)
    assert [i for i, t in zip(ids, taken) if t] == ["d00", "d01", "d03", "d04", "d05", "d09"]
    assert (r.weight, r.documents, r.total_weight) == (990, 6, sum(weights))
    assert (r.cut.key, r.cut.id) == (int(keys[2]), "d02") and r.cut.extra == {"d03", "d04", "d05", "d09"}
    # short of a target by more than the smallest document's overshoot: that document is added
    r = first_fit(keyed, "code", 985)  # 930 fits; 60 more overshoots by 5, less than the 55 missing
    assert r.weight == 990 and "d09" in r.cut.extra
    assert first_fit(keyed, "code", 1000, fetch_limit=5) is None  # too many documents to fetch: the prefix stays
    # one long document holding most of a small bucket: in key order 300 x 3, then 3000 does not
    # fit, 300 does (1200); taking 3000 too lands 900 past 3300. Longest first: 3000 + 300 = 3300
    few = pa.table([pa.array(["ml"] * 5), pa.array(keys[:5], pa.uint64()), pa.array(ids[:5]), pa.array([300, 300, 300, 3000, 300], pa.int64())],
                   schema=KEYED_SCHEMA)
    r = first_fit(ray.data.from_arrow(few), "ml", 3300)
    assert r.weight == 3300 and r.documents == 2
    assert [i for i, t in zip(ids[:5], r.cut.taken(keys[:5], ids[:5])) if t] == ["d00", "d03"]


def test_mix_with_long_documents_still_within_one_point(ray_local, tmp_path):
    """A bucket of a few long documents and many short ones: the closest prefix would miss its
    share by a long document; the mix fills it first-fit and every share is within 1 point."""
    rows = [{"id": f"general-{i:03d}", "bucket": "general", "token_count": 100, "text": "t"} for i in range(100)]
    rows += [{"id": f"code-{i:03d}", "bucket": "code", "token_count": 3000 if i % 5 == 0 else 150, "text": "t"} for i in range(40)]
    rows += [{"id": f"math_reasoning-{i:03d}", "bucket": "math_reasoning", "token_count": 120, "text": "t"} for i in range(60)]
    rows += [{"id": f"multilingual-{i:03d}", "bucket": "multilingual", "token_count": 40, "text": "t"} for i in range(60)]
    kept, _, plan = _run(tmp_path, rows, name="long")
    assert plan["unmet"] == [], plan["unmet"]
    tokens = Counter()
    for r in kept:
        tokens[r["bucket"]] += r["repeats"] * r["token_count"]
    total = sum(tokens.values())
    for b, target in {"general": 0.5, "math_reasoning": 0.25, "code": 0.17, "multilingual": 0.08}.items():
        assert abs(tokens[b] / total - target) <= 0.01, (b, tokens)
