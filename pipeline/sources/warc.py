"""Stage `read-warc`: WARC files in, one document row per WARC record out (kept or dropped).

Kept: `response` records with an accepted HTTP status and an HTML content type; every other record
becomes a dropped row with a reason, so the ledger accounts for every record in the input.

Parser: warcio (datatrove's reader too), chosen by measurement on the 9 shared WARCs (34.8 MB of
payload, best of 5): FastWARC 2.0.1 read them in 47 ms, warcio in 102 ms (this stage: 112 ms), a
gap that vanishes next to extraction (tens of ms per page). FastWARC failed on robustness: with
`auto_decode="all"` it silently stopped after a chunked+gzip record (the records after it were
lost, no error) and raised on ClueWeb09's gzip-labelled plain bodies; without `quirks_mode` those
bodies came out short (21 of 31 KB). Neither library reports a file cut mid-record (both just
stop), so truncation and resynchronisation after a malformed record are handled here.
"""
from __future__ import annotations

import functools
import gzip
import logging
import re
import zlib
from collections import Counter
from datetime import datetime, timezone
from typing import IO, Iterator

import pyarrow as pa
import xxhash

from pipeline import storage
from pipeline.sources.inputs import input_size, open_input, read_range
from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, documents_from_rows, to_dropped
from pipeline.stage import DropWriter, Resources, SourceStage, StageConfig

log = logging.getLogger(__name__)

STAGE = "read-warc"
_READ_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = re.compile(rb"WARC/\d+\.\d+\r?\n")
_UUID_ID = re.compile(r"^<?urn:uuid:([^>]+)>?$", re.IGNORECASE)
_DETAIL_BAD = re.compile(r"[^a-z0-9.+/_-]+")
# what a malformed record makes warcio raise: decoder errors, and attribute/type errors on headers
# it expects but does not check (a response record without WARC-Target-URI)
_RECORD_ERRORS = (zlib.error, EOFError, ValueError, OSError, AttributeError, TypeError, KeyError, IndexError)


class ReadWarcConfig(StageConfig):
    # decompressed-payload cap: Common Crawl truncates payloads at 1 MiB, so 10 MiB only stops
    # decompression bombs and odd non-CC crawls without dropping real pages
    max_payload_bytes: int = 10 << 20
    # MIME types (Content-Type without parameters) that the HTML extractor can read
    accepted_content_types: tuple[str, ...] = ("text/html", "application/xhtml+xml")
    # only complete, successful fetches: redirects and errors carry no page of their own
    accepted_status_codes: tuple[int, ...] = (200,)
    # bound on the raw HTML held in one output batch (keeps Ray blocks well under its 128 MiB target)
    max_batch_bytes: int = 64 << 20


# --------------------------------------------------------------------------- small helpers


def record_id(warc_record_id: str | None, source_file: str, offset: int) -> str:
    """The uuid of `<urn:uuid:...>`; another non-empty id without its brackets; else a stable hash
    of the file's basename and the record's offset (basename: the same file under another mount
    point or bucket gets the same ids)."""
    if warc_record_id:
        value = warc_record_id.strip()
        m = _UUID_ID.match(value)
        if m:
            return m.group(1).strip()
        value = value.strip("<>").strip()
        if value:
            return value
    return fallback_id(source_file, offset)


def fallback_id(source_file: str, offset: int) -> str:
    base = storage.basename(source_file.rstrip("/"))
    return "offset-" + xxhash.xxh3_128_hexdigest(f"{base}:{offset}".encode("utf-8", "surrogatepass"))


def parse_warc_date(value: str | None) -> datetime | None:
    """WARC-Date as an aware UTC datetime, or None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"  # Python 3.10's fromisoformat does not take "Z"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    # the WARC spec says UTC; a date without a zone is read as UTC rather than as local time
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _detail(value: str, limit: int = 64) -> str:
    """A reason detail: lower case, no spaces or odd characters, bounded."""
    return _DETAIL_BAD.sub("-", value.strip().lower())[:limit].strip("-") or "unknown"


def _mime(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


# --------------------------------------------------------------------------- opening files


class _Source:
    """One input file, opened at any offset: a local file directly, an object in a store streamed
    in large blocks through pipeline.storage (never downloaded whole), reads retried where they
    stopped; an object store that stays unreachable raises SourceUnavailable (never a drop)."""

    def __init__(self, path: str):
        self.path = path

    def size(self) -> int:
        return input_size(self.path)

    def open_at(self, offset: int) -> IO[bytes]:
        return open_input(self.path, offset)

    def read_range(self, offset: int, length: int) -> bytes:
        return read_range(self.path, offset, length)


# --------------------------------------------------------------------------- record -> row


class _BoundedDecoder:
    """gzip / deflate Content-Encoding decoded at most `size` output bytes per read (zlib's
    max_length). warcio decompresses whole input blocks: 64 KB of a bomb became ~64 MB in one read
    before the cap could look at it (150 MB peak measured on a 200 MB bomb; now ~1 cap)."""

    def __init__(self, raw, encoding: str):
        self.raw = raw
        self.gzip = encoding in ("gzip", "x-gzip")
        self.zlib = None
        self.plain = False  # labelled gzip, sent as is: read it as is (warcio does the same)
        self.started = False

    def _start(self, first: bytes) -> None:
        self.started = True
        if self.gzip:
            if not first.startswith(b"\x1f\x8b"):
                self.plain = True
                return
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return
        # deflate: zlib-wrapped as RFC 9110 says, or raw deflate as many servers send it
        wrapped = len(first) >= 2 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0
        self.zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def read(self, size: int = _READ_CHUNK) -> bytes:
        while True:
            if self.zlib is not None and self.zlib.unconsumed_tail:
                out = self.zlib.decompress(self.zlib.unconsumed_tail, size)
                if out:
                    return out
                continue
            if self.zlib is not None and self.zlib.eof:
                return b""  # one member, as warcio; the rest of the record is skipped by read_to_end
            data = self.raw.read(_READ_CHUNK)
            if not self.started:
                self._start(data)
            if self.plain or not data:
                return data
            out = self.zlib.decompress(data, size)
            if out:
                return out


def _content_stream(record):
    """The HTTP body de-chunked and content-decoded (warcio's own readers, but gzip/deflate with a
    bounded output per read; header values matched case-insensitively, which warcio's
    `content_stream()` does not do for Transfer-Encoding)."""
    from warcio.bufferedreaders import BufferedReader, ChunkedDataReader

    encoding = (record.http_headers.get_header("Content-Encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        encoding = None
    transfer = (record.http_headers.get_header("Transfer-Encoding") or "").strip().lower()
    bounded = encoding in ("gzip", "x-gzip", "deflate")
    stream = record.raw_stream
    if "chunked" in transfer:
        stream = ChunkedDataReader(stream, decomp_type=None if bounded else encoding)
    elif encoding and not bounded:
        stream = BufferedReader(stream, decomp_type=encoding)
    return _BoundedDecoder(stream, encoding) if bounded else stream


def _read_capped(stream, cap: int) -> bytes | None:
    """Up to `cap` bytes of `stream`; None when it holds more."""
    parts, total = [], 0
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            return b"".join(parts)
        total += len(chunk)
        if total > cap:
            return None
        parts.append(chunk)


@functools.lru_cache(maxsize=None)
def _decoder_available(encoding: str) -> bool:
    """Whether warcio can decode this Content-Encoding here. Its `br` support is registered
    whenever `brotli` imports, yet fails to build with brotli 1.2 (read-only Decompressor)."""
    from warcio.bufferedreaders import BufferedReader

    factory = BufferedReader.DECOMPRESSORS.get(encoding)
    if factory is None:
        return False
    try:
        factory()
    except Exception:  # noqa: BLE001 - any failure means: cannot decode
        return False
    return True


def _decide_response(record, config: ReadWarcConfig) -> tuple[str | None, str | None, bytes | None]:
    """(reason-or-None, HTTP content type, body) for a `response` record."""
    http = record.http_headers
    if http is None:
        return "not-http", None, None
    content_type = http.get_header("Content-Type")
    status = (http.get_statuscode() or "").strip()
    if not status.isdigit() or len(status) != 3:
        return "http-status:invalid", content_type, None
    if int(status) not in config.accepted_status_codes:
        return f"http-status:{status}", content_type, None
    mime = _mime(content_type)
    if mime not in config.accepted_content_types:
        return f"not-html:{_detail(mime) if mime else 'missing'}", content_type, None
    encoding = (http.get_header("Content-Encoding") or "").strip().lower()
    if encoding not in ("", "identity") and not _decoder_available(encoding):
        return f"content-encoding:{_detail(encoding)}", content_type, None
    try:
        body = _read_capped(_content_stream(record), config.max_payload_bytes)
    except (zlib.error, ValueError, EOFError) as e:
        # a body that breaks its decoder; the WARC framing is intact, so reading goes on
        log.warning("undecodable %s body (%s: %s)", encoding or "chunked", type(e).__name__, e)
        return f"undecodable-body:{_detail(encoding or 'chunked')}", content_type, None
    if body is None:
        return "payload-too-large", content_type, None
    return None, content_type, body


def _is_truncated(record) -> bool:
    """True when the record's block ended before its Content-Length (call after read_to_end)."""
    remaining = getattr(record.raw_stream, "limit", 0)
    return remaining > 0


def _has_valid_length(record) -> bool:
    value = record.rec_headers.get_header("Content-Length")
    return value is not None and value.strip().isdigit()


# --------------------------------------------------------------------------- the reader


class _FileReader:
    """Reads one file record by record, resynchronising after malformed records."""

    def __init__(self, path: str, config: ReadWarcConfig):
        self.path = path
        self.config = config
        self.source = _Source(path)
        self.size = self.source.size()
        head = self.source.read_range(0, 3)
        self.gzipped = head == _GZIP_MAGIC
        # set when the file turns out to be one gzip member around many records (not per-record);
        # offsets are then positions in the decompressed stream, as nothing else can address them
        self.whole_gzip = False
        self.bad_dates = 0

    # rows ------------------------------------------------------------------

    def _row(self, offset: int, headers, http=None, body: bytes | None = None, content_type=None) -> dict:
        get = headers.get_header if headers is not None else (lambda _k: None)
        raw_date = get("WARC-Date")
        crawl_date = parse_warc_date(raw_date)
        if raw_date and crawl_date is None:
            if self.bad_dates == 0:
                log.warning("%s: malformed WARC-Date %r at offset %d; crawl_date set to null", self.path, raw_date, offset)
            self.bad_dates += 1
        url = get("WARC-Target-URI")
        return {
            "id": record_id(get("WARC-Record-ID"), self.path, offset),
            "url": url.strip().strip("<>") if url else None,
            "crawl_date": crawl_date,
            "source_file": self.path,
            "source_offset": offset,
            "content_type": content_type,
            "html": body,
        }

    def _broken_row(self, offset: int, reason: str) -> tuple[dict, str]:
        """A row for a record that could not be parsed: its header fields where readable."""
        headers = _salvage_headers(self._peek(offset, 64 << 10), self.gzipped and not self.whole_gzip)
        return self._row(offset, headers), reason

    def _peek(self, offset: int, length: int) -> bytes:
        if self.whole_gzip:
            return b""
        return self.source.read_range(offset, length)

    # iteration -------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[dict, str | None]]:
        start: int | None = 0
        emitted = 0
        while start is not None:
            start, emitted = yield from self._read_from(start, emitted)
        if self.bad_dates > 1:
            log.warning("%s: %d records with a malformed WARC-Date", self.path, self.bad_dates)

    def _open(self, start: int) -> IO[bytes]:
        fh = self.source.open_at(0 if self.whole_gzip else start)
        if self.whole_gzip:
            fh = gzip.GzipFile(fileobj=fh)
            fh.seek(start)
        return fh

    def _read_from(self, start: int, emitted: int):
        """Yield rows from `start`; return (where to resume or None, rows emitted in the file)."""
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        with self._open(start) as fh:
            it = ArchiveIterator(fh)
            records = iter(it)
            while True:
                offset = it.offset
                try:
                    record = next(records)
                except StopIteration:
                    break
                except ArchiveLoadFailed as e:
                    if "non-chunked gzip" in str(e) and not self.whole_gzip:
                        # one gzip stream around all records: valid data, read it decompressed
                        log.warning("%s: not gzipped per record; reading it as one stream", self.path)
                        self.whole_gzip = True
                        return self._skip_to(emitted), emitted
                    return (yield from self._malformed(offset, str(e), emitted))
                except _RECORD_ERRORS as e:
                    return (yield from self._malformed(offset, f"{type(e).__name__}: {e}", emitted))
                offset = it.offset
                if not _has_valid_length(record):
                    return (yield from self._malformed(offset, "missing or invalid Content-Length", emitted))
                try:
                    row, reason = self._decide(record, offset)
                    it.read_to_end()
                except _RECORD_ERRORS as e:
                    if self.whole_gzip and isinstance(e, EOFError):
                        yield self._row(offset, record.rec_headers), "truncated"
                        return None, emitted + 1
                    return (yield from self._malformed(offset, f"{type(e).__name__}: {e}", emitted, record))
                if _is_truncated(record):
                    log.warning("%s: record at offset %d ends before its Content-Length (file cut)", self.path, offset)
                    row["html"], reason = None, "truncated"
                yield row, reason
                emitted += 1
            end = it.offset
        if not self.whole_gzip and end < self.size:
            tail = self._peek(end, 64 << 10)
            if not _is_blank_tail(tail, self.gzipped):
                # the iterator stopped before the end: a record whose start is there but whose
                # header never decoded (a cut gzip member) or that is not a record at all
                return (yield from self._malformed(end, "unreadable bytes after the last record", emitted))
        return None, emitted

    def _skip_to(self, emitted: int) -> int:
        """Offset (in whole-gzip mode) of the record after the first `emitted` ones."""
        from warcio.archiveiterator import ArchiveIterator

        with self._open(0) as fh:
            it = ArchiveIterator(fh)
            for i, _record in enumerate(it):
                if i == emitted:
                    return it.offset
                it.read_to_end()
        return 0

    def _decide(self, record, offset: int) -> tuple[dict, str | None]:
        if record.rec_type != "response":
            return self._row(offset, record.rec_headers), f"warc-type:{_detail(record.rec_type or 'missing')}"
        reason, content_type, body = _decide_response(record, self.config)
        return self._row(offset, record.rec_headers, body=body if reason is None else None, content_type=content_type), reason

    def _malformed(self, offset: int, why: str, emitted: int, record=None):
        """One dropped row for the bad record at `offset`, then resume at the next record start."""
        resume = self._next_record_start(offset + 1)
        tail_cut = resume is None and self._looks_like_record_start(offset)
        reason = "truncated" if tail_cut else "malformed-record"
        # the parser's message may quote the bad bytes: escaped and bounded, one log line each
        log.warning("%s: %s record at offset %d (%s)", self.path, reason, offset, ascii(why[:200])[1:-1])
        if record is not None:
            yield self._row(offset, record.rec_headers), reason
        else:
            yield self._broken_row(offset, reason)
        return resume, emitted + 1

    def _looks_like_record_start(self, offset: int) -> bool:
        head = self._peek(offset, 16)
        if self.gzipped:
            return head.startswith(_GZIP_MAGIC) or _GZIP_MAGIC.startswith(head)
        return head.startswith(b"WARC/") or (len(head) < 5 and b"WARC/".startswith(head))

    def _next_record_start(self, offset: int) -> int | None:
        """The first offset >= `offset` where a record verifiably starts: a gzip member that
        decompresses to a WARC header line, or (uncompressed) a WARC version line at a line start."""
        if self.whole_gzip:
            return None
        step = 1 << 20
        pos = offset
        while pos < self.size:
            block = self.source.read_range(pos, step + 64)
            needle = _GZIP_MAGIC if self.gzipped else b"WARC/"
            i = block.find(needle)
            while 0 <= i < step:
                cand = pos + i
                if self._verify_start(cand, block[i:]):
                    return cand
                i = block.find(needle, i + 1)
            pos += step
        return None

    def _verify_start(self, offset: int, head: bytes) -> bool:
        if self.gzipped:
            if len(head) < 256:
                head = self.source.read_range(offset, 4096)
            try:
                out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head[:4096], 64)
            except zlib.error:
                return False
            return _WARC_LINE.match(out.lstrip(b"\r\n")) is not None
        prev = self.source.read_range(offset - 1, 1) if offset > 0 else b"\n"
        return prev == b"\n" and _WARC_LINE.match(head[:32]) is not None


def _is_blank_tail(tail: bytes, gzipped: bool) -> bool:
    """True for bytes after the last record that hold no record: whitespace or empty gzip members."""
    if not gzipped:
        return not tail.strip()
    try:
        data = gzip.decompress(tail)
    except (OSError, EOFError, zlib.error):
        return False
    return not data.strip()


def _salvage_headers(raw: bytes, gzipped: bool):
    """WARC headers readable at the start of a broken record (a cut gzip member included)."""
    from warcio.statusandheaders import StatusAndHeaders

    if gzipped:
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw)
        except zlib.error:
            return None
    raw = raw.lstrip(b"\r\n")
    if not _WARC_LINE.match(raw[:32]):
        return None
    lines = raw.split(b"\n")
    headers = []
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            break
        key, sep, value = line.decode("utf-8", "replace").partition(":")
        if sep:
            headers.append((key.strip(), value.strip()))
    return StatusAndHeaders(lines[0].decode("ascii", "replace").strip(), headers)


def iter_records(path: str, config, reader_cls: type | None = None) -> Iterator[tuple[dict, str | None]]:
    """(row, reason-or-None) for every record of one file read by `reader_cls` (a _FileReader;
    the WET reader is another), in file order."""
    try:
        reader = (reader_cls or _FileReader)(path, config)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        # a permanent condition: count it instead of failing the run (transient errors, and an
        # object store that stays unreachable, still raise so that the unit is retried)
        log.error("%s: cannot open (%s); recorded as a dropped row", path, e)
        yield {"id": fallback_id(path, -1), "source_file": path, "source_offset": None}, "unreadable-file"
        return
    yield from reader


def iter_warc(path: str, config: ReadWarcConfig | None = None) -> Iterator[tuple[dict, str | None]]:
    """(row, reason-or-None) for every record of one WARC file, in file order. Rows hold the
    columns ReadWarc writes; `html` is set on kept rows only."""
    return iter_records(path, config if config is not None else ReadWarcConfig(), _FileReader)


# --------------------------------------------------------------------------- Ray stage


def _row_bytes(row: dict) -> int:
    return len(row.get("html") or b"") + len(row.get("text") or "")


def read_file(path: str, config, drops: DropWriter, batch_rows: int, stage: str = STAGE,
              reader_cls: type | None = None) -> Iterator[pa.Table]:
    """Kept documents of one file in bounded batches; dropped rows go to `drops`."""
    kept: list[dict] = []
    kept_bytes = 0
    dropped: list[dict] = []
    dropped_reasons: list[str] = []
    counts: Counter = Counter()
    for row, reason in iter_records(path, config, reader_cls):
        counts[reason or "kept"] += 1
        if reason is None:
            kept.append(row)
            kept_bytes += _row_bytes(row)
            if len(kept) >= batch_rows or kept_bytes >= config.max_batch_bytes:
                yield documents_from_rows(kept)
                kept, kept_bytes = [], 0
        else:
            row["html"] = None
            row.pop("text", None)
            dropped.append(row)
            dropped_reasons.append(reason)
            # dropped rows are small (no payload), but a WARC holds ~100k of them: flush in
            # fixed-size chunks so a retried task rewrites the same files
            if len(dropped) >= 50_000:
                drops.write(to_dropped(documents_from_rows(dropped), stage, dropped_reasons))
                dropped, dropped_reasons = [], []
    if dropped:
        drops.write(to_dropped(documents_from_rows(dropped), stage, dropped_reasons))
    if kept:
        yield documents_from_rows(kept)
    log.info("%s %s: %d records, %s", stage, path, sum(counts.values()), dict(sorted(counts.items())))


def read_files(batch: pa.Table, config, dropped_dir: str, batch_rows: int, stage: str = STAGE,
               reader_cls: type | None = None) -> Iterator[pa.Table]:
    """Ray UDF: read every file named in `batch`, yield kept documents in bounded batches and write
    dropped rows with a DropWriter."""
    drops = DropWriter(dropped_dir)
    yielded = False
    for path in batch.column("path").to_pylist():
        for table in read_file(path, config, drops, batch_rows, stage, reader_cls):
            yielded = True
            yield table
    if not yielded:
        yield DOCUMENT_SCHEMA.empty_table()


class ReadWarc(SourceStage):
    name = STAGE
    reads = ()
    writes = ("id", "url", "crawl_date", "source_file", "source_offset", "content_type", "html")
    resources = Resources(num_cpus=1.0)
    Config = ReadWarcConfig
    reader_cls: type = _FileReader  # reads one file record by record (the WET reader overrides it)

    def read(self, paths: list[str]) -> "ray.data.Dataset":  # noqa: F821
        import ray.data

        if self.ctx is None:
            raise ValueError(f"{self.name}: a RunContext is needed (dropped records go to its dropped_dir)")
        paths = list(paths)
        if not paths:
            return ray.data.from_arrow(DOCUMENT_SCHEMA.empty_table())
        # one block, hence one read task, per input file
        ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=len(paths))
        return ds.map_batches(
            read_files,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"config": self.config, "dropped_dir": self.ctx.dropped_dir, "batch_rows": self.ctx.batch_size,
                       "stage": self.name, "reader_cls": self.reader_cls},
            num_cpus=self.resources.num_cpus,
        )

    def read_file(self, path: str) -> Iterator[pa.Table]:
        """One input file, read in this process: the runner's resumable unit (pipeline/executor/units.py)."""
        return read_file(path, self.config, DropWriter(self.ctx.dropped_dir), self.ctx.batch_size, self.name, self.reader_cls)


def read_local(paths: list[str], config, stage: str = STAGE, reader_cls: type | None = None) -> tuple[pa.Table, pa.Table]:
    """(kept documents, dropped records) of `paths` read in this process (CLI, tests)."""
    kept, dropped, reasons = [], [], []
    for path in paths:
        for row, reason in iter_records(path, config, reader_cls):
            if reason is None:
                kept.append(row)
            else:
                row["html"] = None
                row.pop("text", None)
                dropped.append(row)
                reasons.append(reason)
    dropped_table = to_dropped(documents_from_rows(dropped), stage, reasons) if dropped else DROPPED_SCHEMA.empty_table()
    return documents_from_rows(kept), dropped_table


def read_warc_local(paths: list[str], config: ReadWarcConfig | None = None) -> tuple[pa.Table, pa.Table]:
    """(kept documents, dropped records) of WARC `paths` read in this process (CLI, tests)."""
    return read_local(paths, config if config is not None else ReadWarcConfig())
