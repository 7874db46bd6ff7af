"""Stage read-warc: every WARC record becomes exactly one row, kept or dropped with a reason.

Expectations on the shared WARCs come from `scan`, a small reader written here on zlib and the
WARC header grammar alone (no warcio), so they do not restate the stage's own output."""
from __future__ import annotations

import gzip
import io
import re
import uuid
import zlib
from collections import Counter
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA
from pipeline.stage import RunContext
from pipeline.sources.warc import ReadWarc, ReadWarcConfig, fallback_id, iter_warc, parse_warc_date, read_warc_local

ACCEPTED = ("text/html", "application/xhtml+xml")


# --------------------------------------------------------------------------- independent reader


def _gunzip_members(raw: bytes) -> bytes:
    """Concatenated gzip members decompressed as far as they go (a cut member yields its prefix)."""
    out = []
    while raw:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(raw))
        if not d.eof:
            break
        raw = d.unused_data
    return b"".join(out)


def _dechunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2


def scan(path) -> list[dict]:
    """Records of a WARC by its header grammar: headers up to a blank line, then Content-Length bytes."""
    raw = open(path, "rb").read()
    data = _gunzip_members(raw) if raw[:2] == b"\x1f\x8b" else raw
    records, pos = [], 0
    while True:
        while data[pos : pos + 1] in (b"\r", b"\n"):
            pos += 1
        if pos >= len(data):
            return records
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            records.append({"truncated": True, "type": None, "id": None})
            return records
        fields = {}
        for line in data[pos:head_end].split(b"\r\n")[1:]:
            k, _, v = line.decode("utf-8", "replace").partition(":")
            fields[k.strip().lower()] = v.strip()
        length = int(fields["content-length"])
        block = data[head_end + 4 : head_end + 4 + length]
        rec = {
            "type": fields.get("warc-type"),
            "id": re.sub(r"^<urn:uuid:|>$", "", fields.get("warc-record-id", "")),
            "url": fields["warc-target-uri"].strip("<>") if "warc-target-uri" in fields else None,
            "truncated": len(block) < length,
            "status": None,
            "mime": None,
            "body": None,
        }
        if rec["type"] == "response":
            m = re.search(rb"\r?\n\r?\n", block)
            http_head, body = block[: m.start()], block[m.end() :]
            rec["status"] = int(http_head.split(None, 2)[1])
            ct = re.search(rb"(?im)^content-type:\s*([^;\r\n]+)", http_head)
            rec["mime"] = ct.group(1).strip().lower().decode() if ct else None
            if re.search(rb"(?im)^transfer-encoding:\s*chunked", http_head):
                body = _dechunk(body)
            rec["body"] = body
        records.append(rec)
        pos = head_end + 4 + length


def expected_reason(rec: dict) -> str | None:
    if rec["truncated"]:
        return "truncated"
    if rec["type"] != "response":
        return f"warc-type:{rec['type']}"
    if rec["status"] != 200:
        return f"http-status:{rec['status']}"
    if rec["mime"] not in ACCEPTED:
        return f"not-html:{rec['mime']}"
    return None


# --------------------------------------------------------------------------- shared WARCs


SHARED = [
    "cc-main-2020-34-excerpt.warc.gz",
    "cc-main-2024-22-whirlwind.warc.gz",
    "crawl-2024-sample-0000.warc.gz",
    "crawl-2024-sample-0001.warc.gz",
    "crawl-2024-science-0.warc.gz",
    "crawl-2024-science-1.warc.gz",
    "clueweb09-quirk.warc.gz",
    "truncated.warc.gz",
    "article-benchmark-181.warc.gz",
]


@pytest.mark.parametrize("name", SHARED)
def test_shared_warc_every_record_accounted(shared_data, name):
    path = str(shared_data / "warc" / name)
    expected = scan(path)
    rows = list(iter_warc(path))
    assert Counter(r or "kept" for _, r in rows) == Counter(expected_reason(e) or "kept" for e in expected)
    assert [row["id"] for row, _ in rows] == [e["id"] for e in expected]
    assert [row["url"] for row, _ in rows] == [e["url"] for e in expected]
    offsets = [row["source_offset"] for row, _ in rows]
    assert offsets == sorted(set(offsets))
    for (row, reason), rec in zip(rows, expected):
        assert row["source_file"] == path
        if reason is None:
            # ClueWeb09 declares Content-Encoding: gzip over plain bytes; the body must come out as is
            assert row["html"] == rec["body"]
            assert row["content_type"].split(";")[0].strip().lower() in ACCEPTED
        else:
            assert row["html"] is None


def test_clueweb_malformed_dates_become_null(shared_data, caplog):
    rows = list(iter_warc(str(shared_data / "warc" / "clueweb09-quirk.warc.gz")))
    assert len(rows) == 30
    assert all(row["crawl_date"] is None for row, _ in rows)
    assert "malformed WARC-Date" in caplog.text


def test_shared_truncated_file(shared_data):
    path = str(shared_data / "warc" / "truncated.warc.gz")
    (row, reason), = list(iter_warc(path))
    (rec,) = scan(path)
    assert rec["truncated"] and reason == "truncated"
    assert row["id"] == rec["id"] and row["url"] == rec["url"]
    assert row["crawl_date"] == datetime(2016, 10, 17, 14, 57, 38, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- hand-made WARC


def _rid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _chunked(body: bytes, size: int = 7) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)) + b"0\r\n\r\n"


PAGE = b"<html><body><p>" + b"A plain page about rivers. " * 50 + b"</p></body></html>"
CHUNKY = b"<html><body><p>Chunked and gzipped body.</p></body></html>"

# (name, warc type, status line, content type, extra http headers, raw body, WARC-Date, expected reason)
CASES = [
    ("warcinfo", "warcinfo", None, None, [], b"software: test\r\n", "2024-05-01T10:00:00Z", "warc-type:warcinfo"),
    ("request", "request", None, None, [], b"", "2024-05-01T10:00:00Z", "warc-type:request"),
    ("ok", "response", "200 OK", "text/html; charset=utf-8", [], PAGE, "2024-05-01T10:00:01Z", None),
    ("xhtml", "response", "200 OK", "application/xhtml+xml", [], PAGE, "2024-05-01T10:00:02.250Z", None),
    ("missing", "response", "404 Not Found", "text/html", [], b"<html>gone</html>", "2024-05-01T10:00:03Z", "http-status:404"),
    ("moved", "response", "301 Moved Permanently", "text/html", [("Location", "http://x.example/ok")], b"", "2024-05-01T10:00:04Z", "http-status:301"),
    ("pdf", "response", "200 OK", "application/pdf", [], b"%PDF-1.4\n%%EOF\n", "2024-05-01T10:00:05Z", "not-html:application/pdf"),
    ("image", "response", "200 OK", "image/png", [], b"\x89PNG\r\n\x1a\n", "2024-05-01T10:00:06Z", "not-html:image/png"),
    ("notype", "response", "200 OK", None, [], PAGE, "2024-05-01T10:00:07Z", "not-html:missing"),
    ("baddate", "response", "200 OK", "text/html", [], PAGE, "2008-10-294T05:21:46-0700", None),
    ("chunkgz", "response", "200 OK", "text/html", [("Transfer-Encoding", "Chunked"), ("Content-Encoding", "gzip")],
     _chunked(gzip.compress(CHUNKY, mtime=0)), "2024-05-01T12:00:00+02:00", None),
    ("compress", "response", "200 OK", "text/html", [("Content-Encoding", "x-compress")], b"\x1f\x9d", "2024-05-01T10:00:09Z", "content-encoding:x-compress"),
    ("metadata", "metadata", None, None, [], b"fetchTimeMs: 12\r\n", "2024-05-01T10:00:10Z", "warc-type:metadata"),
    ("last", "response", "200 OK", "text/html", [], PAGE + b"<!-- last -->", "2024-05-01T10:00:11Z", None),
]


def build_warc(gz: bool = True, cases=CASES) -> tuple[bytes, list[int]]:
    """A WARC of `cases` written with warcio's writer; returns (bytes, record offsets)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gz)
    offsets = []
    for name, wtype, status, ctype, extra, body, date, _ in cases:
        headers = {"WARC-Record-ID": f"<urn:uuid:{_rid(name)}>", "WARC-Date": date}
        url = f"http://x.example/{name}"
        if wtype == "response":
            hh = [("Content-Type", ctype)] if ctype else []
            http = StatusAndHeaders(status, hh + list(extra), protocol="HTTP/1.1")
            rec = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=headers)
        elif wtype == "request":
            http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "x.example")], is_http_request=True)
            rec = writer.create_warc_record(url, "request", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=headers)
        else:
            ctype = "application/warc-fields"
            rec = writer.create_warc_record(url, wtype, payload=io.BytesIO(body), warc_content_type=ctype, warc_headers_dict=headers)
        offsets.append(buf.tell())
        writer.write_record(rec)
    return buf.getvalue(), offsets


def _write(tmp_path, data: bytes, name: str) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize("gz", [True, False])
def test_handmade_reasons_and_columns(tmp_path, gz):
    data, offsets = build_warc(gz)
    path = _write(tmp_path, data, "hand.warc.gz" if gz else "hand.warc")
    rows = list(iter_warc(path))
    assert [(row["url"].rsplit("/", 1)[1], reason) for row, reason in rows] == [(c[0], c[7]) for c in CASES]
    assert [row["id"] for row, _ in rows] == [_rid(c[0]) for c in CASES]
    assert [row["source_offset"] for row, _ in rows] == offsets
    by_name = {row["url"].rsplit("/", 1)[1]: row for row, _ in rows}
    assert by_name["ok"]["html"] == PAGE
    assert by_name["ok"]["content_type"] == "text/html; charset=utf-8"
    assert by_name["chunkgz"]["html"] == CHUNKY  # de-chunked and gunzipped
    assert by_name["chunkgz"]["crawl_date"] == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert by_name["xhtml"]["crawl_date"] == datetime(2024, 5, 1, 10, 0, 2, 250000, tzinfo=timezone.utc)
    assert by_name["baddate"]["crawl_date"] is None
    assert by_name["pdf"]["content_type"] == "application/pdf"


def test_payload_cap(tmp_path):
    data, _ = build_warc()
    path = _write(tmp_path, data, "hand.warc.gz")
    cap = len(PAGE) - 1  # `ok` and `last` exceed it, the small chunked page does not
    reasons = {row["url"].rsplit("/", 1)[1]: r for row, r in iter_warc(path, ReadWarcConfig(max_payload_bytes=cap))}
    assert reasons["ok"] == reasons["last"] == "payload-too-large"
    assert reasons["chunkgz"] is None


def test_config_changes_acceptance(tmp_path):
    data, _ = build_warc()
    path = _write(tmp_path, data, "hand.warc.gz")
    config = ReadWarcConfig(accepted_status_codes=(200, 404), accepted_content_types=("text/html",))
    reasons = {row["url"].rsplit("/", 1)[1]: r for row, r in iter_warc(path, config)}
    assert reasons["missing"] is None
    assert reasons["xhtml"] == "not-html:application/xhtml+xml"
    with pytest.raises(Exception):
        ReadWarcConfig(max_payload_byte=1)  # unknown keys are errors


# --------------------------------------------------------------------------- broken files


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("where", ["header", "body"])
def test_cut_file_reads_up_to_the_break(tmp_path, gz, where):
    data, offsets = build_warc(gz)
    k = 4  # the 404 record
    cut = offsets[k] + (6 if where == "header" else (offsets[k + 1] - offsets[k]) // 2 + 10)
    assert offsets[k] < cut < offsets[k + 1]
    path = _write(tmp_path, data[:cut], "cut.warc.gz" if gz else "cut.warc")
    rows = list(iter_warc(path))
    whole = list(iter_warc(_write(tmp_path, data, "whole.warc.gz" if gz else "whole.warc")))
    # everything before the break is read as in the whole file; then one row for the broken record
    assert len(rows) == k + 1
    assert [(r["id"], reason) for r, reason in rows[:k]] == [(r["id"], reason) for r, reason in whole[:k]]
    broken, reason = rows[k]
    assert reason == "truncated" and broken["source_offset"] == offsets[k]
    if where == "header":  # nothing of its header readable: the id derives from file + offset
        assert broken["id"] == fallback_id(path, offsets[k])
    else:
        assert broken["id"] == _rid("missing")


@pytest.mark.parametrize("gz", [True, False])
def test_cut_at_record_boundary_is_not_truncation(tmp_path, gz):
    data, offsets = build_warc(gz)
    path = _write(tmp_path, data[: offsets[5]], "cut.warc.gz" if gz else "cut.warc")
    assert [r for _, r in iter_warc(path)] == [c[7] for c in CASES[:5]]


@pytest.mark.parametrize("gz", [True, False])
def test_garbage_between_records_is_one_malformed_row(tmp_path, gz):
    data, offsets = build_warc(gz)
    k = 6
    bad = data[: offsets[k]] + b"this is not a WARC record\r\n" * 3 + data[offsets[k] :]
    path = _write(tmp_path, bad, "bad.warc.gz" if gz else "bad.warc")
    reasons = [r for _, r in iter_warc(path)]
    # the reader resynchronises at the next record: nothing after the garbage is lost
    assert reasons == [c[7] for c in CASES[:k]] + ["malformed-record"] + [c[7] for c in CASES[k:]]


def test_invalid_content_length_is_malformed(tmp_path):
    data, offsets = build_warc(gz=False)
    k = 6
    rec = data[offsets[k] : offsets[k + 1]].replace(b"Content-Length: ", b"Content-Length: x", 1)
    path = _write(tmp_path, data[: offsets[k]] + rec + data[offsets[k + 1] :], "badlen.warc")
    rows = list(iter_warc(path))
    assert [r for _, r in rows] == [c[7] for c in CASES[:k]] + ["malformed-record"] + [c[7] for c in CASES[k + 1 :]]
    assert rows[k][0]["id"] == _rid(CASES[k][0])  # its header was readable


def test_single_gzip_member_file(tmp_path):
    data, _ = build_warc(gz=False)
    path = _write(tmp_path, gzip.compress(data, mtime=0), "one-member.warc.gz")
    assert [r for _, r in iter_warc(path)] == [c[7] for c in CASES]


def test_not_a_warc_and_empty_and_missing(tmp_path):
    junk = _write(tmp_path, b"<html>not a warc</html>\n", "junk.warc")
    assert [r for _, r in iter_warc(junk)] == ["malformed-record"]
    assert list(iter_warc(_write(tmp_path, b"", "empty.warc.gz"))) == []
    rows = list(iter_warc(str(tmp_path / "nope.warc.gz")))
    assert [r for _, r in rows] == ["unreadable-file"]


def test_uri_paths_go_through_pyarrow_fs(tmp_path):
    data, _ = build_warc()
    path = _write(tmp_path, data, "hand.warc.gz")
    local = [(row["id"], row["html"], r) for row, r in iter_warc(path)]
    uri_rows = list(iter_warc(f"file://{path}"))
    assert [(row["id"], row["html"], r) for row, r in uri_rows] == local
    assert uri_rows[0][0]["source_file"] == f"file://{path}"


def test_parse_warc_date():
    utc = timezone.utc
    assert parse_warc_date("2024-05-17T23:31:22Z") == datetime(2024, 5, 17, 23, 31, 22, tzinfo=utc)
    assert parse_warc_date("2024-05-17T23:31:22.5Z") == datetime(2024, 5, 17, 23, 31, 22, 500000, tzinfo=utc)
    assert parse_warc_date("2024-05-18T01:31:22+02:00") == datetime(2024, 5, 17, 23, 31, 22, tzinfo=utc)
    assert parse_warc_date("2024-05-17T23:31:22") == datetime(2024, 5, 17, 23, 31, 22, tzinfo=utc)
    for bad in ("2008-10-294T05:21:46-0700", "yesterday", "", None):
        assert parse_warc_date(bad) is None


def test_reading_is_deterministic_and_conforms(tmp_path):
    data, _ = build_warc()
    path = _write(tmp_path, data, "hand.warc.gz")
    kept1, dropped1 = read_warc_local([path])
    kept2, dropped2 = read_warc_local([path])
    assert kept1.equals(kept2) and dropped1.equals(dropped2)
    assert kept1.schema == DOCUMENT_SCHEMA and dropped1.schema == DROPPED_SCHEMA
    assert kept1.num_rows + dropped1.num_rows == len(CASES)
    assert set(dropped1.column("stage").to_pylist()) == {"read-warc"}
    assert dropped1.column("html").null_count == dropped1.num_rows


# --------------------------------------------------------------------------- on Ray


@pytest.mark.ray
def test_read_on_ray(ray_local, tmp_path):
    ray = ray_local
    a, _ = build_warc()
    b, offsets = build_warc(gz=False)
    pa_ = _write(tmp_path, a, "a.warc.gz")
    pb = _write(tmp_path, b[: offsets[-1] + 20], "b.warc")  # cut inside its last record
    ctx = RunContext(output_dir=str(tmp_path / "out"), stage_dir=str(tmp_path / "out" / "read-warc"), batch_size=2)
    kept = pa.concat_tables(ray.get(ReadWarc(ReadWarcConfig(), ctx).read([pa_, pb]).to_arrow_refs()))
    dropped = pq.read_table(ctx.dropped_dir)
    local_kept, local_dropped = read_warc_local([pa_, pb])
    assert kept.schema == DOCUMENT_SCHEMA
    assert sorted(kept.column("id").to_pylist()) == sorted(local_kept.column("id").to_pylist())
    n_kept = sum(c[7] is None for c in CASES)
    assert kept.num_rows == 2 * n_kept - 1  # `last` of b.warc is the cut record
    assert Counter(dropped.column("reason").to_pylist()) == Counter(local_dropped.column("reason").to_pylist())
    assert "truncated" in dropped.column("reason").to_pylist()
    assert kept.num_rows + dropped.num_rows == 2 * len(CASES)



def test_encoding_warcio_cannot_decode_is_a_drop(tmp_path):
    # `br`: decodable only with a brotli build warcio works with; otherwise a counted drop
    case = ("br", "response", "200 OK", "text/html", [("Content-Encoding", "br")], b"\x1b\x03\x00junk", "2024-05-01T10:00:00Z", None)
    data, _ = build_warc(cases=[case])
    ((row, reason),) = list(iter_warc(_write(tmp_path, data, "br.warc.gz")))
    assert reason in ("content-encoding:br", "undecodable-body:br")
    assert row["html"] is None
