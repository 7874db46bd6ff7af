"""Decisions of global stages, stored for the map stages that apply them.

A global stage decides on a few columns of its whole input (URL keys, MinHash signatures, line
hashes) and its decision is a table keyed by an int64: a document's id hash (`id_keys`) or a
line key. The Ray tasks sort it by key and write it as Arrow IPC files under the stage's
`decision/` folder; the stage that applies it memory-maps those files on every worker and looks
keys up with binary searches. So the documents never go through a shuffle, a worker's private
memory does not grow with the decision (the pages are the OS's, shared by the workers of a
machine). On an object store each node fetches the files once into its scratch space
(`storage.local_path`) and maps that copy.
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import xxhash

from pipeline import storage

META = "_DECISION.json"
_SIGN = np.uint64(1 << 63)


def id_keys(ids) -> np.ndarray:
    """int64 key of each document id (xxh3-64 of its UTF-8 bytes)."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    values = ids.to_pylist() if isinstance(ids, pa.Array) else list(ids)
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(i.encode("utf-8", "surrogatepass")) for i in values), dtype=np.uint64, count=len(values)
    ).view(np.int64)


def _file_name(first_key: int) -> str:
    # unsigned hex of key + 2^63: names sort as the int64 keys do
    return f"part-{(np.int64(first_key).view(np.uint64) ^ _SIGN):016x}.arrow"


def _write_block(block: pa.Table, folder: str, key: str) -> pa.Table:
    """Ray task: one sorted key range -> one IPC file named by its first key."""
    if block.num_rows == 0:
        return pa.table({"rows": pa.array([0], pa.int64()), "bytes": pa.array([0], pa.int64())})
    # equal keys in a stable order (id, then the rest): the first match of a lookup is deterministic
    block = block.sort_by([(key, "ascending")] + [(c, "ascending") for c in block.column_names if c != key]).combine_chunks()
    path = storage.join(folder, _file_name(block.column(key)[0].as_py()))
    with storage.atomic_path(path) as tmp:
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, block.schema) as writer:
            writer.write_table(block, max_chunksize=block.num_rows)
        nbytes = os.path.getsize(tmp)
    return pa.table({"rows": pa.array([block.num_rows], pa.int64()), "bytes": pa.array([nbytes], pa.int64())})


def write_decision(ds, folder: str, key: str, meta: dict | None = None) -> dict:
    """Sort the Ray Dataset `ds` by its int64 column `key` (Ray's sort: a range per block) and
    write it under `folder`, replacing an earlier decision there. Returns {rows, bytes, files};
    `meta` goes into the folder's META file beside them."""
    storage.makedirs(folder)
    for old in _parts(folder) + [storage.join(folder, META)]:
        storage.remove(old)
    from pipeline.ray_ops import map_whole, sort_rows

    stats = map_whole(sort_rows(ds, [key]), _write_block, {"folder": folder, "key": key})
    rows = size = 0
    for batch in stats.iter_batches(batch_format="pyarrow", batch_size=None):
        rows += int(sum(batch.column("rows").to_pylist()))
        size += int(sum(batch.column("bytes").to_pylist()))
    facts = {"rows": rows, "bytes": size, "files": len(_parts(folder))}
    write_meta(folder, {**(meta or {}), "key": key, **facts})
    return facts


def _parts(folder: str) -> list[str]:
    return [f for f in storage.listdir(folder, ".arrow") if storage.basename(f).startswith("part-")]


def write_meta(folder: str, meta: dict) -> None:
    storage.write_json(storage.join(folder, META), meta)


def read_meta(folder: str) -> dict:
    meta = storage.read_json(storage.join(folder, META))
    if meta is None:
        raise FileNotFoundError(f"no decision in {folder} (its stage has not decided: was the run cut short?)")
    return meta


class DecisionTable:
    """The sorted decision files of one folder, memory-mapped; lookups by int64 key."""

    def __init__(self, folder: str):
        self.meta = read_meta(folder)
        key = self.meta["key"]
        self.tables = []
        for part in _parts(folder):
            with pa.memory_map(storage.local_path(part)) as source:
                self.tables.append(pa.ipc.open_file(source).read_all())
        self._keys = [t.column(key).chunk(0).to_numpy() for t in self.tables if t.num_rows]
        self.tables = [t for t in self.tables if t.num_rows]
        self._firsts = np.array([k[0] for k in self._keys], dtype=np.int64)
        self.rows = sum(t.num_rows for t in self.tables)

    def _ranges(self, keys: np.ndarray):
        """For each file: (positions in `keys`, first and end row of each key's equal range)."""
        if not self.tables or len(keys) == 0:
            return
        file_of = np.searchsorted(self._firsts, keys, side="right") - 1
        for f in np.unique(file_of[file_of >= 0]).tolist():
            pos = np.flatnonzero(file_of == f)
            lo = np.searchsorted(self._keys[f], keys[pos], side="left")
            hi = np.searchsorted(self._keys[f], keys[pos], side="right")
            yield f, pos, lo, hi

    def contains(self, keys: np.ndarray) -> np.ndarray:
        out = np.zeros(len(keys), dtype=bool)
        for _, pos, lo, hi in self._ranges(np.asarray(keys, dtype=np.int64)):
            out[pos] = hi > lo
        return out

    def match_ids(self, ids: list[str], columns: list[str]) -> list[dict | None]:
        """For each id, the decision row (the requested columns) whose `id` equals it, or None.
        Keys are id hashes, so rows under an equal key are compared on the id itself."""
        out: list[dict | None] = [None] * len(ids)
        for f, pos, lo, hi in self._ranges(id_keys(ids)):
            table = self.tables[f]
            for p, a, b in zip(pos.tolist(), lo.tolist(), hi.tolist()):
                for r in range(a, b):
                    if table.column("id")[r].as_py() == ids[p]:
                        out[p] = {c: table.column(c)[r].as_py() for c in columns}
                        break
        return out
