"""dedup-minhash's edge verification and partition count: exact decisions on hand-made signatures."""
import logging

import numpy as np
import pyarrow as pa
import pytest

from dedup.components import connected_components_local
from dedup.minhash import MinHashConfig, cluster_local
from dedup.partitions import map_partitions_by_key
from dedup.signatures import EMPTY, bottom_k, fmix64
from dedup.verify import estimate, sig_rows, sketch_column, verified_edges, verified_edges_local
from pipeline.schema import documents_from_rows
from tests.dedup_fixtures import edit, sort_shuffle, text  # noqa: F401 (sort_shuffle: fixture)

K = 8


def sketch(*hashes: int) -> np.ndarray:
    """A bottom-8 sketch: the hashes ascending, padded with EMPTY."""
    out = np.full(K, EMPTY, dtype=np.uint32)
    out[: len(hashes)] = sorted(hashes)
    return out


# the 8 smallest of A u B are 1..8, 7 of them in both: 0.875; A u C and B u C: 6 of 8, 0.75
SIGS = {b"A": sketch(*range(1, 9)), b"B": sketch(*range(1, 8), 100), b"C": sketch(*range(1, 7), 200, 201)}


def sigs_table() -> pa.Table:
    nodes = sorted(SIGS)
    return sig_rows(pa.array(nodes, pa.binary()), sketch_column(np.stack([SIGS[n] for n in nodes])))


def edges(*pairs) -> pa.Table:
    return pa.table({"u": pa.array([u for u, _ in pairs], pa.binary()), "v": pa.array([v for _, v in pairs], pa.binary())})


def test_bottom_k_estimate_is_exact_for_short_documents():
    # fewer than k hashes: the sketches are the whole sets, {1,2,3} vs {2,3,4}: 2 / 4
    assert estimate(sketch(1, 2, 3)[None], sketch(2, 3, 4)[None])[0] == 0.5
    assert estimate(SIGS[b"A"][None], SIGS[b"B"][None])[0] == 0.875
    assert estimate(sketch()[None], sketch()[None])[0] == 0.0  # empty sketches share nothing


def test_bottom_k_sketch_of_shingle_hashes():
    hv = np.array([5, 3, 5, 9, 1, 7, 7], dtype=np.uint64)  # doc 0: 5 3 5 9; doc 1: 1 7 7
    sk = bottom_k(hv, np.array([4, 3]), k=2, seed=0)
    mix = np.uint64(1)  # seed 0's mixing constant

    def seeded(xs):
        return sorted(int(x) for x in fmix64(np.array(xs, dtype=np.uint64) ^ mix) >> np.uint64(32))

    assert sk[0].tolist() == seeded([5, 3, 9])[:2]  # the 2 smallest distinct: a repeat counts once
    assert sk[1].tolist() == seeded([1, 7])  # 7 twice: two distinct hashes fill k = 2
    assert bottom_k(hv, np.array([4, 3]), k=2, seed=1).tolist() != sk.tolist()  # the seed changes the sample


def test_verify_keeps_edges_at_or_above_the_threshold(caplog):
    # A-B appears twice (two bands): one edge out; A-C at 0.75 and B-C at 0.75 fall below 0.8;
    # A-Z names a node without signature: not linked, and said so
    cand = edges((b"A", b"B"), (b"A", b"B"), (b"A", b"C"), (b"B", b"C"), (b"A", b"Z"))
    with caplog.at_level(logging.WARNING):
        out = verified_edges_local(cand, sigs_table(), threshold=0.8)
    assert sorted(zip(out.column("u").to_pylist(), out.column("v").to_pylist())) == [(b"A", b"B")]
    assert "1 candidate edges without both signatures" in caplog.text
    # at 0.75 the 6/8 pairs pass too
    out = verified_edges_local(cand, sigs_table(), threshold=0.75)
    assert sorted(zip(out.column("u").to_pylist(), out.column("v").to_pylist())) == [(b"A", b"B"), (b"A", b"C"), (b"B", b"C")]


def test_verify_breaks_the_chain():
    """Without verify, A-B and B-C chain C to A; with it, only the A-B edge is made: C stays."""
    cand = edges((b"A", b"B"), (b"B", b"C"))
    plain, _ = connected_components_local(cand)
    assert sorted(plain.column("node").to_pylist()) == [b"B", b"C"]
    out = verified_edges_local(cand, sigs_table(), threshold=0.8)
    verified, _ = connected_components_local(out)
    assert verified.column("node").to_pylist() == [b"B"] and verified.column("label").to_pylist() == [b"A"]


def test_cluster_local_decisions():
    """The stage's steps in-process on real texts: a 2-edit copy is dropped, an 11-edit copy
    (Jaccard ~0.69, below 0.8) is not, with and without sharing a band."""
    base = text(60)
    rows = [
        {"id": "base", "text": " ".join(base) + " tail"},  # longest: kept
        {"id": "near", "text": " ".join(edit(base, [40, 200], seed=1))},
        {"id": "far", "text": " ".join(edit(base, range(7, 300, 27), seed=10))},
        {"id": "other", "text": " ".join(text(61))},
    ]
    table = documents_from_rows([dict(r, language="en") for r in rows])
    out = cluster_local(table, MinHashConfig(), seed=0)
    from dedup.nodes import node_ids

    assert dict(zip(node_ids(out["labels"].column("node")).to_pylist(), node_ids(out["labels"].column("label")).to_pylist())) == {"near": "base"}


@pytest.mark.ray
def test_verify_on_ray_equals_local(sort_shuffle):
    ray = sort_shuffle
    cand = edges((b"A", b"B"), (b"A", b"B"), (b"A", b"C"), (b"B", b"C"))
    local = verified_edges_local(cand, sigs_table(), 0.8)
    on_ray = verified_edges(ray.data.from_arrow([cand.slice(0, 2), cand.slice(2)]), ray.data.from_arrow(sigs_table()), 0.8, 2)
    assert sorted((r["u"], r["v"]) for r in on_ray.take_all()) == sorted(zip(local.column("u").to_pylist(), local.column("v").to_pylist()))


@pytest.mark.ray
def test_num_partitions_sets_partitions_under_sort_shuffle(sort_shuffle):
    """Under the sort shuffle the partition count follows `num_partitions`, not the input blocks,
    and a key never straddles two partitions."""
    ray = sort_shuffle
    keys = np.arange(60) % 7
    ds = ray.data.from_arrow(pa.table({"k": keys, "x": np.arange(60)}))  # one input block

    def summary(part: pa.Table) -> pa.Table:
        return pa.table({"keys": [sorted(set(part.column("k").to_pylist()))], "rows": [part.num_rows]})

    for n in (1, 3):
        parts = map_partitions_by_key(ds, "k", summary, n).take_all()
        nonempty = [p for p in parts if p["rows"]]
        assert len(parts) == n
        seen = [k for p in nonempty for k in p["keys"]]
        assert sorted(seen) == list(range(7))  # each key in exactly one partition
        assert sum(p["rows"] for p in nonempty) == 60
