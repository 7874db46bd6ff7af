"""Reading documents given to a single stage (`curate <stage> --input`): jsonl or parquet rows
coerced to the record contract, or WARC files through the read-warc stage."""
from __future__ import annotations

import glob
import json
import logging
import os
from datetime import datetime, timezone

import pyarrow as pa
import xxhash

from pipeline.schema import DOCUMENT_SCHEMA, conform

log = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def expand_inputs(patterns: list[str]) -> list[str]:
    files: list[str] = []
    for p in patterns:
        if "://" in p:
            files.append(p)
        elif os.path.isdir(p):
            files.extend(sorted(glob.glob(os.path.join(p, "*.parquet")) + glob.glob(os.path.join(p, "*.jsonl*"))))
        else:
            matches = sorted(glob.glob(p))
            if not matches:
                raise FileNotFoundError(f"--input {p!r} matches no file")
            files.extend(matches)
    return [os.path.abspath(f) if "://" not in f else f for f in dict.fromkeys(files)]


def is_warc(path: str) -> bool:
    return path.lower().endswith(WARC_SUFFIXES)


def _parse_time(v):
    if v is None or isinstance(v, datetime):
        return v
    try:
        d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        log.warning("unparseable crawl_date %r: set to null", v)
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def coerce_documents(batch: pa.Table) -> pa.Table:
    """Cast user-supplied columns to the contract's types, derive missing ids from content, and
    drop (with a log line) columns the contract does not know."""
    unknown = [c for c in batch.column_names if c not in DOCUMENT_SCHEMA.names]
    if unknown:
        log.warning("input columns not in the record contract are ignored: %s", unknown)
        batch = batch.drop_columns(unknown)
    cols = {}
    n = batch.num_rows
    for name in batch.column_names:
        target = DOCUMENT_SCHEMA.field(name).type
        col = batch.column(name)
        if col.type == target:
            cols[name] = col
        elif pa.types.is_timestamp(target):
            cols[name] = pa.array([_parse_time(v) for v in col.to_pylist()], target)
        elif name == "annotations":
            cols[name] = pa.array([v if isinstance(v, str) or v is None else json.dumps(v, sort_keys=True) for v in col.to_pylist()], target)
        elif pa.types.is_binary(target):
            cols[name] = pa.array([v.encode("utf-8") if isinstance(v, str) else v for v in col.to_pylist()], target)
        else:
            cols[name] = col.cast(target)
    if "id" in cols:
        ids = cols["id"].to_pylist()
        texts = cols["text"].to_pylist() if "text" in cols else [None] * n
        urls = cols["url"].to_pylist() if "url" in cols else [None] * n
        fixed = []
        for rid, text, url in zip(ids, texts, urls):
            if rid is None:
                rid = "derived-" + xxhash.xxh3_64_hexdigest(f"{url}\0{text}".encode("utf-8", "surrogatepass"))
                log.warning("record without id: derived %s from its url and text", rid)
            fixed.append(rid)
        cols["id"] = pa.array(fixed, pa.string())
    return conform(pa.table(cols) if cols else pa.table({}), DOCUMENT_SCHEMA)


def read_documents(files: list[str], required: tuple[str, ...]):
    """A Ray Dataset of documents from jsonl/parquet files, checked for the required columns."""
    import ray.data

    parquet = [f for f in files if f.endswith(".parquet")]
    jsonl = [f for f in files if not f.endswith(".parquet")]
    parts = []
    if parquet:
        parts.append(ray.data.read_parquet(parquet))
    if jsonl:
        parts.append(ray.data.read_json(jsonl, lines=True))
    if not parts:
        raise FileNotFoundError("no jsonl or parquet input files")
    ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    columns = set(ds.schema().names)
    missing = [c for c in ("id", *required) if c not in columns]
    if missing:
        raise ValueError(f"input lacks column(s) {missing} that this stage needs (has {sorted(columns)})")
    return ds.map_batches(coerce_documents, batch_format="pyarrow")
