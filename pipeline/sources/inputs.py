"""Input files: expanding `--input` patterns (local paths and globs, folders, object-store URIs and
their globs), opening them for reading (a local file directly; an object in a store streamed
through pipeline.storage, with reads retried where they stopped), coercing user-supplied rows to
the record contract, and reading documents for a single stage (`curate <stage> --input`): jsonl,
jsonl.gz or parquet rows, WET text, or WARC pages."""
from __future__ import annotations

import glob
import json
import logging
import os
from datetime import datetime, timezone
from typing import IO

import pyarrow as pa
import xxhash

from pipeline import storage
from pipeline.schema import DOCUMENT_SCHEMA, conform

log = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
WET_SUFFIXES = (".wet", ".wet.gz")
DOCUMENT_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json", ".json.gz")
# object stores answer one request per read: sequential readers take them in large blocks
REMOTE_BUFFER = 8 << 20


# --------------------------------------------------------------------------- finding inputs


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files named by `patterns`: a file, a glob (`s3://bucket/warc/*.warc.gz` too) or a folder
    (its input files, not recursive); in pattern order, each file once."""
    files: list[str] = []
    for p in patterns:
        if storage.is_uri(p):
            matches = storage.glob(p)
            if not matches and not any(c in p for c in "*?[") and storage.isdir(p):
                matches = _input_files(storage.listdir(p))
        elif os.path.isdir(p):
            matches = _input_files(storage.listdir(p))
        else:
            matches = sorted(glob.glob(p))
        if not matches:
            raise FileNotFoundError(f"--input {p!r} matches no file")
        files.extend(matches)
    return list(dict.fromkeys(storage.abspath(f) for f in files))


def _input_files(names: list[str]) -> list[str]:
    return [f for f in names if f.lower().endswith(DOCUMENT_SUFFIXES + WARC_SUFFIXES + WET_SUFFIXES)]


def is_warc(path: str) -> bool:
    return path.lower().endswith(WARC_SUFFIXES)


def is_wet(path: str) -> bool:
    return path.lower().endswith(WET_SUFFIXES)


# --------------------------------------------------------------------------- opening inputs


class SourceUnavailable(RuntimeError):
    """An input that could not be read for a reason outside the file (the object store failing
    after its retries, access denied). Not an OSError on purpose: readers treat OSError from a
    parser as a damaged record or file, and an outage must fail the work unit (retried, or the
    run stops naming the file), never become a drop."""


class RemoteInput:
    """A binary file-like over an object in a store: reads retried by reopening the object where
    they stopped (storage.retrying), so a transient error mid-file costs a retry, not the rest of
    the file. `sequential` reads through an 8 MiB buffer (WARC, jsonl); random access (parquet)
    reads exactly what is asked. Never downloads the whole object."""

    def __init__(self, location: str, offset: int = 0, sequential: bool = True):
        self.location = location
        self.pos = offset
        self.sequential = sequential
        self._fh = None
        self._size: int | None = None
        self.closed = False

    def _read_once(self, size: int | None) -> bytes:
        if self._fh is None:
            raw = storage.open_input(self.location)
            raw.seek(self.pos)
            self._fh = pa.BufferedInputStream(raw, REMOTE_BUFFER) if self.sequential else raw
        try:
            return self._fh.read(size)
        except BaseException:
            self._release()
            raise

    def read(self, size: int | None = -1) -> bytes:
        size = size if size is not None and size >= 0 else None
        data = _available("read", self.location, self._read_once, size)
        self.pos += len(data)
        return data

    def size(self) -> int:
        if self._size is None:
            self._size = input_size(self.location)
        return self._size

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: None}[whence]
        target = (self.size() if base is None else base) + offset
        if target != self.pos:
            if self.sequential or self._fh is None:
                self._release()
            else:
                self._fh.seek(target)
            self.pos = target
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def _release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except (OSError, pa.ArrowException):
                pass
            self._fh = None

    def close(self) -> None:
        self._release()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _available(what: str, location: str, fn, *args):
    try:
        return storage.retrying(what, location, fn, *args)
    except storage.StorageError as e:
        if isinstance(e.__cause__, FileNotFoundError):
            raise FileNotFoundError(location) from e
        raise SourceUnavailable(str(e)) from e


def input_size(path: str) -> int:
    """Bytes of an input; FileNotFoundError when there is none, SourceUnavailable when the store
    cannot tell."""
    if not storage.is_uri(path):
        return os.path.getsize(storage.abspath(path))
    return _available("stat", path, storage.size, path)


def open_input(path: str, offset: int = 0, sequential: bool = True) -> IO[bytes]:
    """An input opened for reading at `offset`: a local file directly, an object through
    RemoteInput (`sequential`: read front to back through a large buffer; else random access)."""
    if not storage.is_uri(path):
        if not sequential:  # a native file: parquet reads it without a Python call per read
            fh = pa.OSFile(storage.abspath(path), "rb")
            fh.seek(offset)
            return fh
        fh = open(storage.abspath(path), "rb")
        fh.seek(offset)
        return fh
    return RemoteInput(path, offset, sequential)


def read_range(path: str, offset: int, length: int) -> bytes:
    """`length` bytes from `offset` (an object store sends exactly those: one ranged request)."""
    with open_input(path, offset, sequential=False) as fh:
        return fh.read(length)


# --------------------------------------------------------------------------- the record contract


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
