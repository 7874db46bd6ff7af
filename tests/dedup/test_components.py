"""Connected components (large-star / small-star): labels equal each component's smallest node,
checked against scipy on random graphs in-process and on a small graph on Ray."""
import numpy as np
import pyarrow as pa
import pytest

from dedup.components import both_directions, connected_components, connected_components_local, large_star
from tests.dedup_fixtures import sort_shuffle  # noqa: F401 (fixture)


def key(i: int) -> bytes:
    return b"n%06d" % i


def edge_table(pairs) -> pa.Table:
    return pa.table({"u": pa.array([key(a) for a, _ in pairs], pa.binary()), "v": pa.array([key(b) for _, b in pairs], pa.binary())})


def labels_of(table: pa.Table) -> dict[int, int]:
    out = {}
    for r in table.to_pylist():
        node, label = int(r["node"][1:]), int(r["label"][1:])
        assert out.get(node, label) == label, f"node {node} has two labels"
        out[node] = label
    return out


def reference_labels(pairs, n) -> dict[int, int]:
    """Every node that is not the minimum of its component -> that minimum (scipy)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_cc

    u, v = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    _, comp = scipy_cc(coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    involved = set(u.tolist()) | set(v.tolist())
    minimum = {}
    for i in sorted(involved):
        minimum.setdefault(comp[i], i)
    return {i: minimum[comp[i]] for i in involved if minimum[comp[i]] != i}


def test_random_graphs_match_scipy():
    rng = np.random.default_rng(7)
    for _ in range(150):
        n = int(rng.integers(2, 80))
        pairs = [tuple(map(int, p)) for p in rng.integers(0, n, (int(rng.integers(1, 120)), 2))]
        got, _ = connected_components_local(edge_table(pairs))
        assert labels_of(got) == reference_labels(pairs, n)


def test_long_chain_converges_in_few_rounds():
    rng = np.random.default_rng(1)
    order = rng.permutation(2000)
    pairs = list(zip(order[:-1].tolist(), order[1:].tolist()))
    got, rounds = connected_components_local(edge_table(pairs))
    assert labels_of(got) == {i: 0 for i in range(1, 2000)}
    assert rounds <= 2 * int(np.log2(2000))  # O(log n) in practice, far from the diameter 1999


def test_stability_count():
    # a star around its minimum is stable; a path 2-0-1 centred elsewhere is not
    assert large_star(both_directions(edge_table([(0, 1), (0, 2), (0, 3)]))).column("unstable").to_pylist()[-1] == 0
    assert large_star(both_directions(edge_table([(1, 2), (2, 3)]))).column("unstable").to_pylist()[-1] == 1


@pytest.mark.ray
def test_components_on_ray(sort_shuffle):
    ray = sort_shuffle
    # chain 5~3~9~1 given out of order and duplicated, a pair 7~8, a self-loop on 4, 2 alone
    pairs = [(9, 3), (3, 5), (1, 9), (3, 9), (8, 7), (4, 4), (2, 2)]
    table = edge_table(pairs)
    ds = ray.data.from_arrow([table.slice(0, 3), table.slice(3)])
    got = labels_of(pa.Table.from_pylist(connected_components(ds, num_partitions=2).take_all()))
    assert got == {3: 1, 5: 1, 9: 1, 8: 7}
