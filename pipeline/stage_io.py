"""Reading and writing a stage's folder: `kept/` and `dropped/` parquet, and the completion marker.
Folders are local paths or object-store URIs (pipeline/storage.py)."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import storage
from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA

MARKER = "_SUCCESS.json"


def parquet_files(folder: str) -> list[str]:
    return storage.listdir(folder, ".parquet")


def parquet_file(location: str) -> pq.ParquetFile:
    return pq.ParquetFile(storage.open_input(location))


def read_parquet(location: str, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table:
    def read():
        with storage.open_input(location) as f:
            return pq.read_table(f, columns=columns, schema=schema)

    return storage.retrying("read", location, read)


def write_parquet(table: pa.Table, location: str) -> None:
    """Write a table whole (atomically: readers see the old file or the new one)."""
    with storage.atomic_path(location) as path:
        pq.write_table(table, path)


def count_rows(folder: str) -> int:
    return sum(row_counts(parquet_files(folder)))


def _num_rows(location: str) -> int:
    with storage.open_input(location) as f:
        return pq.ParquetFile(f).metadata.num_rows


def _map_io(fn, locations: list[str]) -> list:
    """fn over many small reads side by side (on an object store each is a request or two: one
    after another would take minutes)."""
    if len(locations) <= 4:
        return [fn(loc) for loc in locations]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(32, len(locations))) as ex:
        return list(ex.map(fn, locations))


def row_counts(files: list[str]) -> list[int]:
    """Rows of each parquet file, from its footer."""
    return _map_io(_num_rows, files)


def write_kept(ds, kept_dir: str) -> None:
    """Write a Ray Dataset of documents to `kept_dir`; an empty result still leaves one (empty)
    file, so the next stage reads a schema rather than failing on an empty folder."""
    storage.makedirs(kept_dir)
    ds.write_parquet(kept_dir)
    if not parquet_files(kept_dir):
        write_kept_empty(kept_dir)


def write_kept_empty(kept_dir: str) -> None:
    write_parquet(DOCUMENT_SCHEMA.empty_table(), storage.join(kept_dir, "empty.parquet"))


def read_kept(kept_dir: str):
    return read_kept_files(parquet_files(kept_dir))


def read_kept_files(files: list[str], columns: list[str] | None = None):
    return read_parquet_files(files, DOCUMENT_SCHEMA, columns)


# target size of one block of a parquet read (uncompressed, the columns read): Ray Data's default
# target block size
BLOCK_BYTES = 128 * 2**20


def _read_files(batch: pa.Table, schema: pa.Schema) -> pa.Table:
    """Ray task: the `schema` columns of each parquet file named in `batch`, as one table."""
    tables = [read_parquet(p, columns=schema.names, schema=schema) for p in batch.column("path").to_pylist()]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_parquet_files(files: list[str], schema: pa.Schema, columns: list[str] | None = None):
    """A Ray Dataset over parquet `files` (the `columns` of `schema`), in as many blocks as the
    columns' size needs (at least one per CPU, at most one per file), each block read by one task.
    Ray's own `read_parquet` splits any read into >= 200 blocks (`read_op_min_num_blocks`), and a
    sort shuffle's cost grows with blocks squared: URL dedup's decision over 2,144 pages took 9.7 s
    in 120 blocks; its planning (footer and sampling tasks) cost ~2 s more per read."""
    import ray
    import ray.data

    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    if not files:
        return ray.data.from_arrow(schema.empty_table())
    size = columns_bytes(files, set(schema.names))
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1))) if ray.is_initialized() else 1
    blocks = max(1, min(len(files), max(cpus, -(-size // BLOCK_BYTES))))
    return ray.data.from_items([{"path": f} for f in files], override_num_blocks=blocks).map_batches(
        _read_files, batch_size=None, batch_format="pyarrow", fn_kwargs={"schema": schema})


def columns_bytes(files: list[str], wanted: set[str]) -> int:
    """Uncompressed bytes of the `wanted` columns over `files`. Locally from the footers; on an
    object store from the listed file sizes (a footer read per file would be a request each),
    scaled by nothing: compressed size understates, which only makes blocks larger."""
    if files and storage.is_uri(files[0]):
        sizes = dict(storage.list_with_sizes(storage.dirname(files[0]), ".parquet"))
        return sum(sizes.get(f, 0) for f in files)
    size = 0
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            size += sum(rg.column(c).total_uncompressed_size for c in range(rg.num_columns)
                        if rg.column(c).path_in_schema.split(".")[0] in wanted)
    return size


def read_dropped_table(dropped_dir: str, columns: list[str] | None = None) -> pa.Table:
    files = parquet_files(dropped_dir)
    if not files:
        return DROPPED_SCHEMA.empty_table() if columns is None else DROPPED_SCHEMA.empty_table().select(columns)
    return pa.concat_tables(read_parquet(f, columns=columns, schema=DROPPED_SCHEMA) for f in files)


def reset_dir(folder: str) -> None:
    storage.reset_dir(folder)


DECISION = "decision"


def reset_outputs(stage_dir: str) -> None:
    """Clear what a pass writes into a stage folder (kept/, dropped/, units/, markers), keeping
    the stage's `decision/`: the decision of a global stage is made before the pass that applies it."""
    if not storage.is_uri(stage_dir):
        os.makedirs(stage_dir, exist_ok=True)
        entries = [os.path.join(stage_dir, n) for n in os.listdir(stage_dir) if n != DECISION]
        for path in entries:
            if os.path.isdir(path):
                storage.rmtree(path)
            else:
                os.remove(path)
        return
    decision = storage.join(stage_dir, DECISION) + "/"
    for loc in storage.listdir(stage_dir, recursive=True):
        if not loc.startswith(decision):
            storage.remove(loc)


def _read_json(path: str) -> dict | None:
    return storage.read_json(path)


def read_marker(stage_dir: str) -> dict | None:
    return _read_json(storage.join(stage_dir, MARKER))


def write_marker(stage_dir: str, facts: dict) -> None:
    write_json_atomic(storage.join(stage_dir, MARKER), facts)


# --------------------------------------------------------------------------- work units
# A resumable pass writes one kept file per work unit, `kept/part-<unit>.parquet`, then commits
# the unit with `units/<unit>.json`. A unit counts as done only when both exist, so a rerun after
# a crash redoes exactly the units without a commit; the kept file is renamed into place, so a
# half-written one is never read.

UNITS = "units"
STARTED = "_STARTED.json"


def unit_kept_path(kept_dir: str, unit: str) -> str:
    return storage.join(kept_dir, f"part-{unit}.parquet")


def unit_marker_path(stage_dir: str, unit: str) -> str:
    return storage.join(stage_dir, UNITS, f"{unit}.json")


def committed_units(stage_dir: str, kept_dir: str) -> set[str]:
    """Units whose commit marker and kept files all exist: two listings, however many units."""
    kept = {storage.basename(f) for f in storage.listdir(kept_dir, ".parquet")}
    out = set()
    for m in unit_markers(stage_dir):
        parts = m.get("parts") or [f"part-{m['unit']}.parquet"]
        if all(p in kept for p in parts):
            out.add(m["unit"])
    return out


def read_unit(stage_dir: str, unit: str) -> dict:
    marker = _read_json(unit_marker_path(stage_dir, unit))
    if marker is None:
        raise RuntimeError(f"unit {unit} of {stage_dir} has no commit")
    return marker


def write_json_atomic(path: str, obj: dict) -> None:
    storage.write_json(path, obj)


def commit_unit(stage_dir: str, unit: str, facts: dict) -> None:
    write_json_atomic(unit_marker_path(stage_dir, unit), facts)


def unit_markers(stage_dir: str) -> list[dict]:
    found = _map_io(_read_json, storage.listdir(storage.join(stage_dir, UNITS), ".json"))
    return [m for m in found if m is not None]


class UnitKeptWriter:
    """Streams one unit's kept batches into temporary parquet files; `commit()` renames them into
    place (an empty unit still gets a file: every committed unit has at least one). With
    `part_rows` or `part_bytes`, a new file starts after that many rows or (Arrow) bytes
    (`part-<unit>-NNNN.parquet`), each the unit of the next pass: one large input file still
    feeds every worker after the source, and files stay sized in bytes however small the pages.
    Cuts depend only on the rows, so every cluster shape cuts the same parts."""

    def __init__(self, kept_dir: str, unit: str, part_rows: int | None = None, part_bytes: int | None = None):
        storage.makedirs(kept_dir)
        self.kept_dir, self.unit, self.part_rows, self.part_bytes = kept_dir, unit, part_rows, part_bytes
        self.parts: list[storage.AtomicFile] = []
        self.writer = None
        self.rows = 0
        self._rows_in_part = 0
        self._bytes_in_part = 0

    @property
    def _cutting(self) -> bool:
        return self.part_rows is not None or self.part_bytes is not None

    def _open(self) -> None:
        name = f"{self.unit}-{len(self.parts):04d}" if self._cutting else self.unit
        part = storage.AtomicFile(unit_kept_path(self.kept_dir, name))
        self.writer = pq.ParquetWriter(part.path, DOCUMENT_SCHEMA)
        self.parts.append(part)
        self._rows_in_part = self._bytes_in_part = 0

    def _close_part(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _take(self, table: pa.Table) -> int:
        """Rows of `table` that still fit the open part (at least one)."""
        take = table.num_rows
        if self.part_rows is not None:
            take = min(take, self.part_rows - self._rows_in_part)
        if self.part_bytes is not None and take:
            per_row = table.nbytes / table.num_rows
            take = min(take, max(1, int((self.part_bytes - self._bytes_in_part) // max(per_row, 1))))
        return max(take, 1)

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self.writer is None:
                self._open()
            take = self._take(table)
            chunk = table.slice(0, take)
            self.writer.write_table(chunk)
            self.rows += take
            self._rows_in_part += take
            self._bytes_in_part += chunk.nbytes
            table = table.slice(take)
            if (self.part_rows is not None and self._rows_in_part >= self.part_rows) or (
                    self.part_bytes is not None and self._bytes_in_part >= self.part_bytes):
                self._close_part()

    def commit(self) -> list[str]:
        """Rename the files into place; returns their names."""
        if not self.parts:
            self._open()
        self._close_part()
        for part in self.parts:
            part.commit()
        return [storage.basename(part.location) for part in self.parts]

    def abort(self) -> None:
        self._close_part()
        for part in self.parts:
            part.abort()


def read_started(stage_dir: str) -> dict | None:
    return _read_json(storage.join(stage_dir, STARTED))


def write_started(stage_dir: str, facts: dict) -> None:
    write_json_atomic(storage.join(stage_dir, STARTED), facts)
