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


def read_kept_files(files: list[str]):
    import ray.data

    return ray.data.read_parquet(files, schema=DOCUMENT_SCHEMA)


def read_dropped_table(dropped_dir: str, columns: list[str] | None = None) -> pa.Table:
    files = parquet_files(dropped_dir)
    if not files:
        return DROPPED_SCHEMA.empty_table() if columns is None else DROPPED_SCHEMA.empty_table().select(columns)
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=DROPPED_SCHEMA) for f in files)


def reset_dir(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_marker(stage_dir: str) -> dict | None:
    return _read_json(os.path.join(stage_dir, MARKER))


def write_marker(stage_dir: str, facts: dict) -> None:
    _write_json_atomic(os.path.join(stage_dir, MARKER), facts)


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
    if not os.path.exists(unit_kept_path(kept_dir, unit)):
        return None
    return _read_json(unit_marker_path(stage_dir, unit))


def _write_json_atomic(path: str, obj: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def commit_unit(stage_dir: str, unit: str, facts: dict) -> None:
    os.makedirs(os.path.join(stage_dir, UNITS), exist_ok=True)
    _write_json_atomic(unit_marker_path(stage_dir, unit), facts)


class UnitKeptWriter:
    """Streams one unit's kept batches into a temporary parquet file; `commit()` renames it into
    place (an empty unit still gets a file: every committed unit has exactly one)."""

    def __init__(self, kept_dir: str, unit: str):
        os.makedirs(kept_dir, exist_ok=True)
        self.final = unit_kept_path(kept_dir, unit)
        # unique per attempt: a retried task on another worker never writes into this one's file
        self.tmp = f"{self.final}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        self.writer = pq.ParquetWriter(self.tmp, DOCUMENT_SCHEMA)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table)
            self.rows += table.num_rows

    def commit(self) -> None:
        self.writer.close()
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        self.writer.close()
        if os.path.exists(self.tmp):
            os.remove(self.tmp)


def read_started(stage_dir: str) -> dict | None:
    return _read_json(os.path.join(stage_dir, STARTED))


def write_started(stage_dir: str, facts: dict) -> None:
    os.makedirs(stage_dir, exist_ok=True)
    _write_json_atomic(os.path.join(stage_dir, STARTED), facts)
