"""Reading and writing a stage's folder: `kept/` and `dropped/` parquet, and the completion marker."""
from __future__ import annotations

import glob
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA

MARKER = "_SUCCESS.json"


def parquet_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "*.parquet")))


def count_rows(folder: str) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(folder))


def write_kept(ds, kept_dir: str) -> None:
    """Write a Ray Dataset of documents to `kept_dir`; an empty result still leaves one (empty)
    file, so the next stage reads a schema rather than failing on an empty folder."""
    os.makedirs(kept_dir, exist_ok=True)
    ds.write_parquet(kept_dir)
    if not parquet_files(kept_dir):
        write_kept_empty(kept_dir)


def write_kept_empty(kept_dir: str) -> None:
    os.makedirs(kept_dir, exist_ok=True)
    pq.write_table(DOCUMENT_SCHEMA.empty_table(), os.path.join(kept_dir, "empty.parquet"))


def read_kept(kept_dir: str):
    return read_kept_files(parquet_files(kept_dir))


def read_kept_files(files: list[str], columns: list[str] | None = None):
    return read_parquet_files(files, DOCUMENT_SCHEMA, columns)


# target size of one block of a parquet read (uncompressed, the columns read): Ray Data's default
# target block size
BLOCK_BYTES = 128 * 2**20


def _read_files(batch: pa.Table, schema: pa.Schema) -> pa.Table:
    """Ray task: the `schema` columns of each parquet file named in `batch`, as one table."""
    tables = [pq.read_table(p, columns=schema.names, schema=schema) for p in batch.column("path").to_pylist()]
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
    size, wanted = 0, set(schema.names)
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            size += sum(rg.column(c).total_uncompressed_size for c in range(rg.num_columns)
                        if rg.column(c).path_in_schema.split(".")[0] in wanted)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1))) if ray.is_initialized() else 1
    blocks = max(1, min(len(files), max(cpus, -(-size // BLOCK_BYTES))))
    return ray.data.from_items([{"path": f} for f in files], override_num_blocks=blocks).map_batches(
        _read_files, batch_size=None, batch_format="pyarrow", fn_kwargs={"schema": schema})


def read_dropped_table(dropped_dir: str, columns: list[str] | None = None) -> pa.Table:
    files = parquet_files(dropped_dir)
    if not files:
        return DROPPED_SCHEMA.empty_table() if columns is None else DROPPED_SCHEMA.empty_table().select(columns)
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=DROPPED_SCHEMA) for f in files)


def reset_dir(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


DECISION = "decision"


def reset_outputs(stage_dir: str) -> None:
    """Clear what a pass writes into a stage folder (kept/, dropped/, units/, markers), keeping
    the stage's `decision/`: the decision of a global stage is made before the pass that applies it."""
    os.makedirs(stage_dir, exist_ok=True)
    for name in os.listdir(stage_dir):
        if name == DECISION:
            continue
        path = os.path.join(stage_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_marker(stage_dir: str) -> dict | None:
    return _read_json(os.path.join(stage_dir, MARKER))


def write_marker(stage_dir: str, facts: dict) -> None:
    write_json_atomic(os.path.join(stage_dir, MARKER), facts)


# --------------------------------------------------------------------------- work units
# A resumable pass writes one kept file per work unit, `kept/part-<unit>.parquet`, then commits
# the unit with `units/<unit>.json`. A unit counts as done only when both exist, so a rerun after
# a crash redoes exactly the units without a commit; the kept file is renamed into place, so a
# half-written one is never read.

UNITS = "units"
STARTED = "_STARTED.json"


def unit_kept_path(kept_dir: str, unit: str) -> str:
    return os.path.join(kept_dir, f"part-{unit}.parquet")


def unit_marker_path(stage_dir: str, unit: str) -> str:
    return os.path.join(stage_dir, UNITS, f"{unit}.json")


def committed_unit(stage_dir: str, kept_dir: str, unit: str) -> dict | None:
    """The unit's commit marker, if the unit committed and every kept file it names exists."""
    marker = _read_json(unit_marker_path(stage_dir, unit))
    if marker is None:
        return None
    parts = marker.get("parts") or [os.path.basename(unit_kept_path(kept_dir, unit))]
    return marker if all(os.path.exists(os.path.join(kept_dir, p)) for p in parts) else None


def write_json_atomic(path: str, obj: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def commit_unit(stage_dir: str, unit: str, facts: dict) -> None:
    os.makedirs(os.path.join(stage_dir, UNITS), exist_ok=True)
    write_json_atomic(unit_marker_path(stage_dir, unit), facts)


def unit_markers(stage_dir: str) -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(stage_dir, UNITS, "*.json"))):
        m = _read_json(path)
        if m is not None:
            out.append(m)
    return out


class UnitKeptWriter:
    """Streams one unit's kept batches into temporary parquet files; `commit()` renames them into
    place (an empty unit still gets a file: every committed unit has at least one). With
    `part_rows`, a new file starts every `part_rows` rows (`part-<unit>-NNNN.parquet`), each the
    unit of the next pass: one large input file still feeds every worker after the source."""

    def __init__(self, kept_dir: str, unit: str, part_rows: int | None = None):
        os.makedirs(kept_dir, exist_ok=True)
        self.kept_dir, self.unit, self.part_rows = kept_dir, unit, part_rows
        self.parts: list[tuple[str, str]] = []  # (tmp, final)
        self.writer = None
        self.rows = 0
        self._rows_in_part = 0

    def _open(self) -> None:
        name = self.unit if self.part_rows is None else f"{self.unit}-{len(self.parts):04d}"
        final = unit_kept_path(self.kept_dir, name)
        # unique per attempt: a retried task on another worker never writes into this one's file
        tmp = f"{final}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        self.writer = pq.ParquetWriter(tmp, DOCUMENT_SCHEMA)
        self.parts.append((tmp, final))
        self._rows_in_part = 0

    def _close_part(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self.writer is None:
                self._open()
            take = table.num_rows if self.part_rows is None else min(self.part_rows - self._rows_in_part, table.num_rows)
            self.writer.write_table(table.slice(0, take))
            self.rows += take
            self._rows_in_part += take
            table = table.slice(take)
            if self.part_rows is not None and self._rows_in_part >= self.part_rows:
                self._close_part()

    def commit(self) -> list[str]:
        """Rename the files into place; returns their names."""
        if not self.parts:
            self._open()
        self._close_part()
        for tmp, final in self.parts:
            os.replace(tmp, final)
        return [os.path.basename(final) for _, final in self.parts]

    def abort(self) -> None:
        self._close_part()
        for tmp, _ in self.parts:
            if os.path.exists(tmp):
                os.remove(tmp)


def read_started(stage_dir: str) -> dict | None:
    return _read_json(os.path.join(stage_dir, STARTED))


def write_started(stage_dir: str, facts: dict) -> None:
    os.makedirs(stage_dir, exist_ok=True)
    write_json_atomic(os.path.join(stage_dir, STARTED), facts)
