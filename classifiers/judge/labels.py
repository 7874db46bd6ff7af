"""The labels file: what the judge writes and the scorers train from. Parquet with columns id,
text, task, label, expected, prompt_version, model, sorted by (task, id); a folder of such files
reads as one table. Paths are local or object-store URIs (pipeline/storage.py)."""
from __future__ import annotations

import logging
import os
from typing import Sequence

import pyarrow as pa

from classifiers.judge.judge import JudgeScore
from pipeline import storage
from pipeline.stage_io import parquet_files, read_parquet, write_parquet

log = logging.getLogger(__name__)

LABELS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("task", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("expected", pa.float64(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
    ]
)
_ORDER = [("task", "ascending"), ("id", "ascending")]


def labels_table(ids: Sequence[str], texts: Sequence[str], scores: Sequence[JudgeScore], prompt_version: str | None = None, model: str | None = None) -> pa.Table:
    """Rows for the scores that have a label (failed ones are left out, and counted in the log);
    `prompt_version` / `model` replace the scores' own when given."""
    if not len(ids) == len(texts) == len(scores):
        raise ValueError(f"write_labels: {len(ids)} ids, {len(texts)} texts, {len(scores)} scores")
    rows = [(i, t, s) for i, t, s in zip(ids, texts, scores) if not s.failed]
    if len(rows) < len(scores):
        log.warning("labels: %d of %d documents have no label and are not written", len(scores) - len(rows), len(scores))
    cols = {
        "id": [i for i, _, _ in rows],
        "text": [t for _, t, _ in rows],
        "task": [s.task for _, _, s in rows],
        "label": [s.label for _, _, s in rows],
        "expected": [float(s.expected) for _, _, s in rows],
        "prompt_version": [prompt_version or s.prompt_version for _, _, s in rows],
        "model": [model or s.model for _, _, s in rows],
    }
    return pa.Table.from_pydict(cols, schema=LABELS_SCHEMA).sort_by(_ORDER)


def write_labels(path, ids: Sequence[str], texts: Sequence[str], scores: Sequence[JudgeScore], *, prompt_version: str | None = None, model: str | None = None) -> None:
    """Write one labels parquet file atomically."""
    write_labels_table(labels_table(ids, texts, scores, prompt_version, model), path)


def write_labels_table(table: pa.Table, path) -> None:
    """Write a labels table (sorted by task, id) to `path` (a local path or URI), atomically."""
    write_parquet(table.cast(LABELS_SCHEMA).sort_by(_ORDER), os.fspath(path))


def read_labels(path) -> pa.Table:
    """A labels file, or every labels parquet file in a folder (local or URI), as one table sorted
    by (task, id)."""
    path = os.fspath(path)
    if storage.isdir(path) or (storage.is_uri(path) and not path.endswith(".parquet")):
        tables = [read_parquet(f, schema=LABELS_SCHEMA) for f in parquet_files(path)]
        table = pa.concat_tables(tables) if tables else LABELS_SCHEMA.empty_table()
    else:
        table = read_parquet(path, schema=LABELS_SCHEMA)
    return table.sort_by(_ORDER)
