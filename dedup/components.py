"""Connected components of an edge dataset on Ray, by alternating large-star / small-star rounds
(Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014).

Nodes are binary keys whose byte order is the keep order, so every component ends as a star
around its smallest key: the document to keep. Each round is two keyed shuffles of the edges
(`map_partitions_by_key`); a reduce task holds one partition of edges, never the whole graph.

- large-star at node x: link every neighbour y > x to m = min(Γ(x) ∪ {x}).
- small-star at node x: link x and every neighbour y < x to m = min of those.
Convergence is tested locally during large-star: the graph is a forest of stars centred on
their minima iff every node has either no smaller neighbour, or exactly one neighbour and that
one smaller. Each large-star task counts the nodes that break this; the driver only reads the
sum (one integer per round).
"""
from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dedup.partitions import dense_ranks, group_starts, map_partitions_by_key

log = logging.getLogger(__name__)

EDGE_SCHEMA = pa.schema([pa.field("u", pa.binary()), pa.field("v", pa.binary())])
# large-star output: edges plus one stats row per task (u, v null) carrying its unstable count
_LS_SCHEMA = pa.schema(list(EDGE_SCHEMA) + [pa.field("unstable", pa.int64())])


_KEYED_SCHEMA = pa.schema([pa.field("x", pa.binary()), pa.field("y", pa.binary())])


def _keyed(u: pa.Array, v: pa.Array) -> pa.Table:
    return pa.table({"x": u, "y": v}, schema=_KEYED_SCHEMA)


def _ranked_pairs(part: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Distinct (x, y) pairs of a partition as int ranks sorted by (x, y), self-loops removed."""
    uniq, (x, y) = dense_ranks(part.column("x").combine_chunks(), part.column("y").combine_chunks())
    keep = x != y
    x, y = x[keep], y[keep]
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    distinct = group_starts(x, y)
    return uniq, x[distinct], y[distinct]


# Each function below takes a whole block; an empty block may come without columns.


def both_directions(batch: pa.Table) -> pa.Table:
    if batch.num_rows == 0:
        return _KEYED_SCHEMA.empty_table()
    u, v = batch.column("u"), batch.column("v")
    return pa.concat_tables([_keyed(u, v), _keyed(v, u)])


def larger_first(batch: pa.Table) -> pa.Table:
    if batch.num_rows == 0:
        return _KEYED_SCHEMA.empty_table()
    u, v = batch.column("u"), batch.column("v")
    u_big = pc.greater(u, v)
    return _keyed(pc.if_else(u_big, u, v), pc.if_else(u_big, v, u))


def large_star(part: pa.Table) -> pa.Table:
    """One partition of (x, y) rows holding each x's whole neighbourhood (both directions)."""
    if part.num_rows == 0:
        return _LS_SCHEMA.empty_table()
    uniq, x, y = _ranked_pairs(part)
    start = group_starts(x)
    seg = np.flatnonzero(start)
    gid = np.cumsum(start) - 1
    node = x[seg]
    m = np.minimum(np.minimum.reduceat(y, seg), node) if len(seg) else node
    smaller = np.bincount(gid, weights=(y < x), minlength=len(seg))
    larger = np.bincount(gid, weights=(y > x), minlength=len(seg))
    unstable = int(np.count_nonzero((smaller >= 2) | ((smaller == 1) & (larger >= 1))))
    emit = y > x
    eu, ev = y[emit], m[gid[emit]]
    edges = pa.table({"u": uniq.take(pa.array(eu)), "v": uniq.take(pa.array(ev)), "unstable": pa.nulls(len(eu), pa.int64())}, schema=_LS_SCHEMA)
    stats = pa.table({"u": pa.nulls(1, pa.binary()), "v": pa.nulls(1, pa.binary()), "unstable": [unstable]}, schema=_LS_SCHEMA)
    return pa.concat_tables([edges, stats])


def small_star(part: pa.Table) -> pa.Table:
    """One partition of (x, y) rows with y < x: each x with its smaller neighbours."""
    if part.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    uniq, x, y = _ranked_pairs(part)
    start = group_starts(x)
    seg = np.flatnonzero(start)
    gid = np.cumsum(start) - 1
    m = np.minimum.reduceat(y, seg)  # every y < x here, so min(N(x) ∪ {x}) = min N(x)
    # x itself and each smaller neighbour other than m link to m
    node_u = x[seg]
    nb = y != m[gid]
    eu = np.concatenate([node_u, y[nb]])
    ev = np.concatenate([m, m[gid[nb]]])
    order = np.lexsort((ev, eu))
    return pa.table({"u": uniq.take(pa.array(eu[order])), "v": uniq.take(pa.array(ev[order]))}, schema=EDGE_SCHEMA)


def _edges_only(batch: pa.Table) -> pa.Table:
    if batch.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    return batch.filter(batch.column("u").is_valid()).select(["u", "v"])


def connected_components(edges, num_partitions: int | None = None, max_rounds: int = 64):
    """Dataset of (node, label) for every node of `edges` (columns u, v: binary) that is not
    the smallest of its component; `label` is that smallest node. Component minima and nodes
    without edges appear in no row."""
    current = edges.select_columns(["u", "v"]).materialize()
    for round_no in range(1, max_rounds + 1):
        ls = map_partitions_by_key(current.map_batches(both_directions, batch_format="pyarrow"), "x", large_star, num_partitions)
        ls = ls.materialize()
        unstable = ls.sum("unstable") or 0
        log.info("connected components: round %d, %d nodes not yet in a star around their minimum", round_no, unstable)
        if unstable == 0:
            break
        ls_edges = ls.map_batches(_edges_only, batch_format="pyarrow")
        current = map_partitions_by_key(ls_edges.map_batches(larger_first, batch_format="pyarrow"), "x", small_star, num_partitions)
        current = current.materialize()
    else:
        log.warning(
            "connected components: no convergence in %d rounds; labels are each node's smallest "
            "neighbour, which may leave a component with more than one kept record", max_rounds,
        )
    return current.map_batches(_leaf_to_centre, batch_format="pyarrow")


def _leaf_to_centre(batch: pa.Table) -> pa.Table:
    """In a star forest, the larger end of each edge is a leaf, the smaller its centre."""
    if batch.num_rows == 0:
        return pa.table({"node": pa.array([], pa.binary()), "label": pa.array([], pa.binary())})
    t = larger_first(batch)
    t = t.filter(pc.not_equal(t.column("x"), t.column("y")))  # a self-loop is no duplicate
    return pa.table({"node": t.column("x"), "label": t.column("y")})


def connected_components_local(edges: pa.Table, max_rounds: int = 64) -> tuple[pa.Table, int]:
    """The same rounds in this process, with the whole graph as one partition (tests, small
    inputs). Returns ((node, label) table, rounds run)."""
    current = edges.select(["u", "v"])
    for round_no in range(1, max_rounds + 1):
        ls = large_star(both_directions(current))
        if (pc.sum(ls.column("unstable")).as_py() or 0) == 0:
            break
        current = small_star(larger_first(_edges_only(ls)))
    return _leaf_to_centre(current), round_no

