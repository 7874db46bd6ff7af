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
        pq.write_table(DOCUMENT_SCHEMA.empty_table(), os.path.join(kept_dir, "empty.parquet"))


def read_kept(kept_dir: str):
    import ray.data

    return ray.data.read_parquet(parquet_files(kept_dir), schema=DOCUMENT_SCHEMA)


def read_dropped_table(dropped_dir: str, columns: list[str] | None = None) -> pa.Table:
    files = parquet_files(dropped_dir)
    if not files:
        return DROPPED_SCHEMA.empty_table() if columns is None else DROPPED_SCHEMA.empty_table().select(columns)
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=DROPPED_SCHEMA) for f in files)


def reset_dir(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def read_marker(stage_dir: str) -> dict | None:
    path = os.path.join(stage_dir, MARKER)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_marker(stage_dir: str, facts: dict) -> None:
    tmp = os.path.join(stage_dir, MARKER + ".tmp")
    with open(tmp, "w") as f:
        json.dump(facts, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(stage_dir, MARKER))
