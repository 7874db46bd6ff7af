"""The record contract: one pyarrow schema for a document between stages, one for dropped records,
one for the ledger. Between stages, data is parquet with exactly these columns (nullable unless
noted); a stage fills the columns it declares in `writes` and leaves the others as they came.
"""
from __future__ import annotations

import json
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

DOCUMENT_SCHEMA = pa.schema(
    [
        # stable identity: the WARC-Record-ID (or a hash of source file + offset), never run order
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("crawl_date", pa.timestamp("us", tz="UTC")),
        pa.field("source_file", pa.string()),
        pa.field("source_offset", pa.int64()),
        pa.field("content_type", pa.string()),
        # raw HTTP payload; the extract stage reads it and clears it
        pa.field("html", pa.binary()),
        pa.field("text", pa.string()),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float32()),
        pa.field("topic", pa.string()),
        pa.field("quality_fasttext", pa.float32()),
        pa.field("quality_transformer", pa.float32()),
        pa.field("code_score", pa.float32()),
        pa.field("reasoning_score", pa.float32()),
        pa.field("bucket", pa.string()),
        # JSON object: per-stage measurements (e.g. {"pii": {"email": 2}, "gopher": {...}})
        pa.field("annotations", pa.string()),
        pa.field("token_count", pa.int64()),
        pa.field("tokens", pa.list_(pa.int32())),
        # stage mix: copies of the document in its bucket's shards (null: 1, no mix ran)
        pa.field("repeats", pa.int32()),
        # stage mix: also written to the annealing shards (top quality slice of code / math)
        pa.field("anneal", pa.bool_()),
    ]
)

DROP_FIELDS = [
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    # for dedup drops: the id of the record that was kept in its place
    pa.field("duplicate_of", pa.string()),
]
DROPPED_SCHEMA = pa.schema(list(DOCUMENT_SCHEMA) + DROP_FIELDS)

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("decision", pa.string(), nullable=False),  # "kept" | "dropped"
        pa.field("reason", pa.string()),
        pa.field("duplicate_of", pa.string()),
        # the mix's choices for the record (null where no mix ran): bucket, copies, anneal set
        pa.field("bucket", pa.string()),
        pa.field("repeats", pa.int32()),
        pa.field("anneal", pa.bool_()),
    ]
)

DOCUMENT_COLUMNS = tuple(DOCUMENT_SCHEMA.names)


def empty_documents() -> pa.Table:
    return DOCUMENT_SCHEMA.empty_table()


def conform(table: pa.Table, schema: pa.Schema = DOCUMENT_SCHEMA) -> pa.Table:
    """Return `table` with exactly `schema`'s columns, in order: missing columns become nulls,
    extra columns are an error (a stage writing an undeclared column is a bug, not data)."""
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise ValueError(f"columns not in the record contract: {extra}")
    n = table.num_rows
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            arrays.append(col)
        else:
            arrays.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def documents_from_rows(rows: Iterable[Mapping]) -> pa.Table:
    """Build a conformed document table from dict rows (tests, CLI input)."""
    rows = list(rows)
    cols = {name: [r.get(name) for r in rows] for name in DOCUMENT_SCHEMA.names}
    return pa.Table.from_pydict(cols, schema=DOCUMENT_SCHEMA)


def with_column(table: pa.Table, name: str, values) -> pa.Table:
    """Set column `name` (which must be in the table) to `values`, cast to its declared type."""
    idx = table.schema.get_field_index(name)
    if idx < 0:
        raise KeyError(name)
    field = table.schema.field(idx)
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=field.type)
    if arr.type != field.type:
        arr = arr.cast(field.type)
    return table.set_column(idx, field, arr)


def merge_annotations(table: pa.Table, key: str, values: list) -> pa.Table:
    """Add `values[i]` (JSON-serialisable or None) under `key` in row i's annotations object."""
    current = table.column("annotations").to_pylist()
    merged = []
    for old, new in zip(current, values):
        obj = json.loads(old) if old else {}
        if new is not None:
            obj[key] = new
        merged.append(json.dumps(obj, sort_keys=True, separators=(",", ":")) if obj else None)
    return with_column(table, "annotations", merged)


def to_dropped(table: pa.Table, stage: str, reasons: list[str], duplicate_of: list | None = None) -> pa.Table:
    """Rows of a document table as dropped records (raw payload cleared: it is never needed again
    and can be large)."""
    n = table.num_rows
    table = with_column(table, "html", pa.nulls(n, pa.binary()))
    table = table.append_column(DROP_FIELDS[0], pa.array([stage] * n, pa.string()))
    table = table.append_column(DROP_FIELDS[1], pa.array(reasons, pa.string()))
    table = table.append_column(DROP_FIELDS[2], pa.array(duplicate_of if duplicate_of is not None else [None] * n, pa.string()))
    return table


def split_by_reason(table: pa.Table, stage: str, reasons: list) -> tuple[pa.Table, pa.Table]:
    """Split a document table into (kept, dropped) from one reason-or-None per row."""
    if len(reasons) != table.num_rows:
        raise ValueError(f"stage {stage}: {len(reasons)} decisions for {table.num_rows} rows")
    drop_mask = pa.array([r is not None for r in reasons], pa.bool_())
    kept = table.filter(pc.invert(drop_mask))
    dropped_rows = table.filter(drop_mask)
    dropped = to_dropped(dropped_rows, stage, [r for r in reasons if r is not None])
    return kept, dropped
