"""Within one k-means cluster: pairs of documents whose embeddings' cosine similarity reaches
the threshold, their connected components, and one document kept per component by the MinHash
stage's keep rule (the smallest node key: newest crawl, then longest text, then smallest id).

A cluster is never split across partitions (the shuffle key is the cluster), so its components
are found in the task that holds it; no edge crosses clusters.
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from dedup.components import connected_components_local
from dedup.embeddings import embedding_matrix
from dedup.nodes import node_ids
from dedup.partitions import group_starts
from pipeline.drop_listed import DROP_LIST_SCHEMA, drop_list_rows

# decision rows (as pipeline/drop_listed.py's) with a reason each, plus one stats row per task
# (id null) carrying the number of groups it found
DECISION_FIELDS = [pa.field("reason", pa.string()), pa.field("groups", pa.int64())]
PARTITION_SCHEMA = pa.schema(list(DROP_LIST_SCHEMA) + DECISION_FIELDS)
_PAIR_CHUNK = 1024  # rows of the similarity matrix at a time: 1024 x cluster size floats


def similar_pairs(emb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) row pairs, i < j, with emb[i] . emb[j] >= threshold."""
    us, vs = [], []
    with threadpool_limits(1):
        for start in range(0, len(emb), _PAIR_CHUNK):
            sims = emb[start : start + _PAIR_CHUNK] @ emb.T
            i, j = np.nonzero(sims >= threshold)
            i = i + start
            upper = j > i
            us.append(i[upper])
            vs.append(j[upper])
    if not us:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(us), np.concatenate(vs)


def cluster_drops(nodes: pa.Array, emb: np.ndarray, threshold: float, cluster: int) -> tuple[pa.Table, int]:
    """The decision rows of one cluster (its rows sorted by node) and its number of groups."""
    u, v = similar_pairs(emb, threshold)
    if len(u) == 0:
        return None, 0
    edges = pa.table({"u": nodes.take(pa.array(u)), "v": nodes.take(pa.array(v))})
    labels, _ = connected_components_local(edges)
    if labels.num_rows == 0:
        return None, 0
    row_of = {n: i for i, n in enumerate(nodes.to_pylist())}
    node_rows = [row_of[n] for n in labels.column("node").to_pylist()]
    label_rows = [row_of[n] for n in labels.column("label").to_pylist()]
    sims = np.einsum("ij,ij->i", emb[node_rows], emb[label_rows])
    # one reason per 0.01 of similarity (bounded: the report and ledger count by reason)
    reasons = [f"semantic-duplicate:cos>={math.floor(s * 100) / 100:.2f}" for s in sims.tolist()]
    rows = drop_list_rows(node_ids(labels.column("node")), node_ids(labels.column("label")))
    rows = rows.append_column(DECISION_FIELDS[0], pa.array(reasons, pa.string()))
    groups = len(pc.unique(labels.column("label")))
    return rows.append_column(DECISION_FIELDS[1], pa.nulls(rows.num_rows, pa.int64())), groups


def partition_drops(part: pa.Table, threshold: float) -> pa.Table:
    """Ray task over one key partition of (node, emb, _cluster, cluster) rows: the decision rows
    of every cluster in it, and a stats row (null id) with the number of groups found."""
    schema = PARTITION_SCHEMA
    if part.num_rows == 0:
        return schema.empty_table()
    part = part.sort_by([("_cluster", "ascending"), ("node", "ascending")])
    keys = part.column("_cluster").to_numpy()
    starts = np.flatnonzero(group_starts(keys)).tolist() + [part.num_rows]
    emb = embedding_matrix(part.column("emb"))
    nodes = part.column("node").combine_chunks()
    clusters = part.column("cluster").to_numpy()
    out, groups = [], 0
    for a, b in zip(starts[:-1], starts[1:]):
        rows, g = cluster_drops(nodes.slice(a, b - a), emb[a:b], threshold, int(clusters[a]))
        if rows is not None:
            out.append(rows)
            groups += g
    stats = pa.table({f.name: pa.nulls(1, f.type) for f in schema}, schema=schema)
    stats = stats.set_column(schema.get_field_index("groups"), "groups", pa.array([groups], pa.int64()))
    return pa.concat_tables([*[t.cast(schema) for t in out], stats])

