"""Stage `read-documents`: a source of already-extracted documents (parquet, jsonl or jsonl.gz files
with the record contract's columns, e.g. the kept/ files of an earlier run, or a WET-derived
corpus), one work unit per file, so that any later part of the pipeline runs on them as it runs
after `extract`. Files are local or in an object store (read through pipeline.storage, streamed).

Nothing is lost silently; every record is kept or one counted drop:
- a jsonl line that is not a JSON object is one drop `unreadable-line:<line>` (1-based, as an
  editor shows it), one whose values do not fit the contract `invalid-line:<line>`; every other
  line is read;
- a parquet row group that cannot be decoded is one drop `unreadable-row-group:<index>` (its rows
  are lost; the log says how many), a row that does not fit the contract `invalid-row:<row>`;
- a gzip stream cut short keeps every complete line before the cut and counts the rest as one
  drop `truncated-gzip` (`corrupt-gzip` where the compressed data is damaged);
- a file that cannot be opened is one drop `unreadable-file:<error>`.
A drop's id is derived from the file's base name, the position and the bad bytes, so it is stable
across reruns and storage locations and unique in the ledger.

Rows are coerced to the contract (pipeline/sources/inputs.py). `source_file` and `source_offset` are set
to where this run read the row (the file, and its line number or row index), which is what
`dedup-records` tells copies apart by; rows without an id get one derived from the file's base
name, the position and the row's url and text."""
from __future__ import annotations

import json
import logging
import zlib
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import Field

from pipeline import storage
from pipeline.sources.inputs import SourceUnavailable, coerce_documents, is_warc, is_wet, open_input
from pipeline.schema import DOCUMENT_COLUMNS, DOCUMENT_SCHEMA, documents_from_rows, to_dropped
from pipeline.stage import DropWriter, Resources, SourceStage, StageConfig

log = logging.getLogger(__name__)

STAGE = "read-documents"
_CHUNK = 1 << 20
_OUT_CHUNK = 4 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_KNOWN = set(DOCUMENT_SCHEMA.names)
_POSITION = {"source_file", "source_offset"}
_ROW_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)
_DROP_CHUNK = 50_000

Drop = Callable[[dict, str], None]


class ReadDocumentsConfig(StageConfig):
    batch_rows: int = Field(256, ge=1)  # documents per batch handed to the next stage


def _drop_id(kind: str, path: str, position: int, content: bytes = b"") -> str:
    """A dropped input's id: stable (no run order, no folder) and unique in the ledger."""
    h = xxhash.xxh3_128()
    h.update(f"{storage.basename(path)}\0{position}\0".encode("utf-8", "surrogatepass"))
    h.update(content)
    return f"{kind}-{h.hexdigest()}"


def _derived_id(path: str, position: int, row: dict) -> str:
    key = f"{storage.basename(path)}\0{position}\0{row.get('url')}\0{row.get('text')}"
    return "derived-" + xxhash.xxh3_128_hexdigest(key.encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- jsonl


class _Lines:
    """Numbered lines of a jsonl file, gzip (any number of members) or plain, found by its first
    bytes. After iteration, `fault` is None, `truncated-gzip` or `corrupt-gzip`, with `fault_line`
    the number of the first line not read whole."""

    def __init__(self, path: str):
        self.path = path
        self.fault: str | None = None
        self.fault_line = 0
        self.tail = b""

    def _chunks(self, fh) -> Iterator[bytes]:
        data = fh.read(_CHUNK)
        if not data.startswith(_GZIP_MAGIC):
            while data:
                yield data
                data = fh.read(_CHUNK)
            return
        d, member_open = None, False
        while True:
            if not data:
                data = fh.read(_CHUNK)
                if not data:
                    break
            if not member_open:  # the next member: concatenated gzip files are one valid stream
                d, member_open = zlib.decompressobj(16 + zlib.MAX_WBITS), True
            try:
                out = d.decompress(data, _OUT_CHUNK)  # bounded output: a gzip bomb never sits in memory whole
            except zlib.error as e:
                log.warning("%s: corrupt gzip data (%s)", self.path, e)
                self.fault = "corrupt-gzip"
                return
            if out:
                yield out
            if d.eof:
                member_open = False
                data = d.unused_data if d.unused_data.strip(b"\0") else b""  # zero padding ends the file
            else:
                data = d.unconsumed_tail
        if member_open:
            log.warning("%s: gzip stream cut short", self.path)
            self.fault = "truncated-gzip"

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        number = 0
        pending = b""
        with open_input(self.path) as fh:
            for chunk in self._chunks(fh):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    number += 1
                    yield number, line
        if self.fault is None:
            if pending:
                yield number + 1, pending
            return
        # a cut stream: the bytes after the last newline are the start of a line never read whole
        self.fault_line = number + 1
        self.tail = pending


def _parse_line(line: bytes):
    """The JSON object on a line, or raise ValueError."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON {type(obj).__name__}, not an object")
    return obj


def _jsonl_tables(path: str, batch_rows: int, drop: Drop) -> Iterator[pa.Table]:
    lines = _Lines(path)
    rows: list[tuple[int, dict]] = []
    batcher = _Batcher(path, drop, "line")
    for number, line in lines:
        if not line.strip():
            continue  # a blank line holds no record
        try:
            row = _parse_line(line)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.warning("%s: line %d unreadable (%s); counted as one dropped record", path, number, e)
            drop(_drop_row(path, number, _drop_id("line", path, number, line[:4096])), f"unreadable-line:{number}")
            continue
        rows.append((number, row))
        if len(rows) >= batch_rows:
            yield from batcher.tables(rows)
            rows = []
    if rows:
        yield from batcher.tables(rows)
    if lines.fault is not None:
        n = lines.fault_line
        log.warning("%s: %s from line %d on; what came before is kept, the rest counted as one dropped record",
                    path, lines.fault, n)
        drop(_drop_row(path, n, _drop_id(lines.fault, path, n, lines.tail[:4096])), lines.fault)
    batcher.warn_unknown()


def first_record_columns(path: str) -> set[str]:
    """The contract columns of an input file: a parquet footer's, or a jsonl file's first record's
    (ids are derived where there are none)."""
    if path.endswith(".parquet"):
        with open_input(path, sequential=False) as fh:
            return set(pq.ParquetFile(fh).schema_arrow.names) & _KNOWN
    for _, line in _Lines(path):
        if line.strip():
            try:
                return set(_parse_line(line)) & _KNOWN
            except ValueError:
                continue
    return set()


# --------------------------------------------------------------------------- rows -> tables


def _drop_row(path: str, position: int, rid: str) -> dict:
    return {"id": rid, "source_file": path, "source_offset": position}


class _Batcher:
    """Rows (position, dict) of one file -> contract tables; rows that do not fit are drops."""

    def __init__(self, path: str, drop: Drop, unit: str):
        self.path = path
        self.drop = drop
        self.unit = unit  # "line" (jsonl, 1-based) or "row" (parquet, 0-based)
        self.unknown: set[str] = set()

    def _prepare(self, position: int, row: dict) -> dict:
        out = {}
        for k, v in row.items():
            if k in _KNOWN:
                # nested annotations as canonical JSON here: an Arrow struct would add missing keys
                out[k] = json.dumps(v, sort_keys=True) if k == "annotations" and not isinstance(v, (str, type(None))) else v
            else:
                self.unknown.add(k)
        if out.get("id") is None:
            out["id"] = _derived_id(self.path, position, out)
        out["source_file"], out["source_offset"] = self.path, position
        return out

    def _table(self, rows: list[dict]) -> pa.Table:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        return coerce_documents(pa.table({k: [r.get(k) for r in rows] for k in keys}))

    def tables(self, numbered: list[tuple[int, dict]]) -> Iterator[pa.Table]:
        rows = [self._prepare(n, r) for n, r in numbered]
        try:
            yield self._table(rows)
            return
        except _ROW_ERRORS:
            pass
        # some row does not fit the contract: find it (them) row by row, keep the others
        good = []
        for (n, _), row in zip(numbered, rows):
            try:
                good.append(self._table([row]))
            except _ROW_ERRORS as e:
                log.warning("%s: %s %d does not fit the record contract (%s: %s); counted as one dropped record",
                            self.path, self.unit, n, type(e).__name__, e)
                self.drop(_drop_row(self.path, n, _drop_id(f"invalid-{self.unit}", self.path, n, repr(row).encode()[:4096])),
                          f"invalid-{self.unit}:{n}")
        if good:
            yield pa.concat_tables(good)

    def warn_unknown(self) -> None:
        if self.unknown - _POSITION:
            log.warning("%s: columns not in the record contract are ignored: %s", self.path, sorted(self.unknown))


# --------------------------------------------------------------------------- parquet


def _parquet_tables(path: str, batch_rows: int, drop: Drop) -> Iterator[pa.Table]:
    with open_input(path, sequential=False) as fh:
        pf = pq.ParquetFile(fh)
        names = pf.schema_arrow.names
        # the contract's columns only (others can be large); all where it has none, so that every
        # row is still counted (with a derived id)
        columns = [c for c in names if c in _KNOWN and c not in _POSITION] or None
        batcher = _Batcher(path, drop, "row")
        batcher.unknown = {c for c in names if c not in _KNOWN}
        start = 0
        for g in range(pf.metadata.num_row_groups):
            n_rows = pf.metadata.row_group(g).num_rows
            done = 0
            try:
                for rb in pf.iter_batches(batch_size=batch_rows, row_groups=[g], columns=columns):
                    first = start + done
                    done += rb.num_rows
                    yield from _parquet_batch(pa.Table.from_batches([rb]), first, batcher)
            except (OSError, pa.ArrowException, ValueError) as e:
                log.warning("%s: row group %d unreadable after %d of its %d rows (%s: %s); counted as one dropped record",
                            path, g, done, n_rows, type(e).__name__, e)
                drop(_drop_row(path, start + done, _drop_id("rowgroup", path, g)), f"unreadable-row-group:{g}")
            start += n_rows
        batcher.warn_unknown()


def _parquet_batch(table: pa.Table, first: int, batcher: _Batcher) -> Iterator[pa.Table]:
    """One decoded parquet batch as contract rows: vectorised when ids are all there and the
    columns cast; else row by row (derived ids, rows that do not fit dropped)."""
    n = table.num_rows
    if "id" in table.column_names and table.column("id").null_count == 0:
        try:
            table = table.append_column("source_file", pa.array([batcher.path] * n, pa.string()))
            table = table.append_column("source_offset", pa.array(range(first, first + n), pa.int64()))
            yield coerce_documents(table)
            return
        except _ROW_ERRORS:
            table = table.drop_columns(["source_file", "source_offset"])
    yield from batcher.tables(list(zip(range(first, first + n), table.to_pylist())))


# --------------------------------------------------------------------------- any input file


def read_document_file(path: str, batch_rows: int, drop: Drop) -> Iterator[pa.Table]:
    """Contract tables of one jsonl(.gz) or parquet file; every record that cannot be read is
    handed to `drop(row, reason)` (a file that cannot be opened: one drop)."""
    try:
        if path.endswith(".parquet"):
            yield from _parquet_tables(path, batch_rows, drop)
        else:
            yield from _jsonl_tables(path, batch_rows, drop)
    except SourceUnavailable:
        raise  # the store, not the file: the unit fails and is retried
    except (OSError, ValueError, pa.ArrowException) as err:
        # a permanent condition (missing, not parquet, unreadable): count it, never crash the run
        log.warning("%s: %s unreadable (%s: %s); counted as one dropped record", STAGE, path, type(err).__name__, err)
        drop(_drop_row(path, None, _drop_id("file", path, -1)), f"unreadable-file:{type(err).__name__}")


class _Drops:
    """Dropped rows of one file, written in fixed-size chunks (a retried unit rewrites the same files)."""

    def __init__(self, writer: DropWriter | None, stage: str):
        self.writer = writer
        self.stage = stage
        self.rows: list[dict] = []
        self.reasons: list[str] = []

    def add(self, row: dict, reason: str) -> None:
        self.rows.append(row)
        self.reasons.append(reason)
        if len(self.rows) >= _DROP_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows and self.writer is not None:
            self.writer.write(to_dropped(documents_from_rows(self.rows), self.stage, self.reasons))
        self.rows, self.reasons = [], []


def read_any_file(path: str, batch_rows: int) -> Iterator[pa.Table]:
    """Documents of any input a single stage may be given (`curate <stage> --input`): WARC pages,
    WET text, jsonl or parquet rows. Drops are only logged: a single stage's output has no ledger."""
    if is_wet(path) or is_warc(path):
        from pipeline.sources.warc import ReadWarcConfig, read_file
        from pipeline.sources.wet import STAGE as WET, ReadWetConfig, WetReader

        wet = is_wet(path)
        config = ReadWetConfig() if wet else ReadWarcConfig()
        yield from read_file(path, config, _LogDrops(), batch_rows,
                             WET if wet else "read-warc", WetReader if wet else None)
        return
    drops: list[str] = []
    yield from read_document_file(path, batch_rows, lambda _row, reason: drops.append(reason))
    if drops:
        log.warning("%s: %d records dropped while reading (%s)", path, len(drops), ", ".join(drops[:10]))


class _LogDrops:
    """A DropWriter stand-in that only counts (a single stage's input reader)."""

    def write(self, dropped: pa.Table) -> None:
        log.warning("%d records dropped while reading", dropped.num_rows)


class ReadDocuments(SourceStage):
    name = STAGE
    reads = ()
    writes = ("id", "text", "source_file", "source_offset")
    carries = DOCUMENT_COLUMNS  # the files may hold any contract column (kept/ files of an earlier run)
    resources = Resources(num_cpus=1)
    Config = ReadDocumentsConfig

    def read(self, paths: list[str]):
        raise NotImplementedError(f"{self.name} runs as work units (read_file), on the runner's stage hosts")

    def read_file(self, path: str) -> Iterator[pa.Table]:
        drops = _Drops(DropWriter(self.ctx.dropped_dir), self.name)
        yield from read_document_file(path, self.config.batch_rows, drops.add)
        drops.flush()
