"""Build demo/sample.warc.gz from demo/pages.yaml and demo/pages/*.html.

The output is byte-identical on every run with the same zlib: record ids are uuid5 of the entry key,
dates come from the manifest, gzip headers carry no timestamp, and nothing reads the clock.

    python demo/make_sample.py            # rewrite demo/sample.warc.gz
    python demo/make_sample.py --check    # exit 1 when the committed file is stale
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import struct
import sys
import uuid
import zlib
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

import yaml
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "pages.yaml"
PAGES = HERE / "pages"
OUTPUT = HERE / "sample.warc.gz"
# fixed namespace: ids must not change between builds (uuid5 of this and "<key>/<record kind>")
NAMESPACE = uuid.UUID("5f0c6f2e-3d7b-4b0e-9a53-0b1d2c3e4f50")
WARCINFO_DATE = "2024-07-01T00:00:00Z"
REASONS = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}


def record_uuid(key: str, kind: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{key}/{kind}"))


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    entries = [{**defaults, **e} for e in data["entries"]]
    keys = [e["key"] for e in entries]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"{path}: duplicate keys {sorted(dupes)}")
    return entries


def png_bytes(width: int = 16, height: int = 16) -> bytes:
    """A small valid greyscale PNG (a diagonal gradient)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x + y) * 8 % 256 for x in range(width)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def pdf_bytes(text: str = "Monthly budget worksheet") -> bytes:
    """A one-page valid PDF showing `text` (xref offsets computed, so readers accept it)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (i, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def payload(entry: dict) -> bytes:
    page = entry["page"]
    if page == "generated:pdf":
        return pdf_bytes()
    if page == "generated:png":
        return png_bytes()
    return (PAGES / f"{page}.html").read_bytes()


def _chunked(body: bytes, size: int = 4096) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _http_date(warc_date: str) -> str:
    return format_datetime(datetime.fromisoformat(warc_date.replace("Z", "+00:00")), usegmt=True)


def build(entries: list[dict]) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    info = (
        "software: llama3-curate demo/make_sample.py\r\n"
        "format: WARC File Format 1.0\r\n"
        "description: hand-written demo crawl that exercises every pipeline stage\r\n"
    ).encode()
    writer.write_record(
        writer.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(info),
            warc_content_type="application/warc-fields",
            warc_headers_dict={
                "WARC-Record-ID": f"<urn:uuid:{record_uuid('warcinfo', 'warcinfo')}>",
                "WARC-Date": WARCINFO_DATE,
                "WARC-Filename": "sample.warc.gz",
            },
        )
    )
    for e in entries:
        key, url, date, status = e["key"], e["url"], e["date"], int(e["status"])
        response_id = f"<urn:uuid:{record_uuid(key, 'response')}>"
        host = url.split("/")[2]
        request = StatusAndHeaders(
            f"GET /{url.split('/', 3)[3] if url.count('/') >= 3 else ''} HTTP/1.1",
            [("Host", host), ("User-Agent", "demo-crawler/1.0"), ("Accept", "text/html,*/*;q=0.8"), ("Accept-Encoding", "gzip")],
            is_http_request=True,
        )
        writer.write_record(
            writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                http_headers=request,
                warc_headers_dict={
                    "WARC-Record-ID": f"<urn:uuid:{record_uuid(key, 'request')}>",
                    "WARC-Date": date,
                    "WARC-Concurrent-To": response_id,
                },
            )
        )
        body = payload(e)
        headers = [("Date", _http_date(date)), ("Server", "nginx"), ("Content-Type", e["content_type"])]
        headers += list((e.get("headers") or {}).items())
        if e.get("encoding") == "chunked-gzip":
            body = _chunked(gzip.compress(body, compresslevel=9, mtime=0))
            headers += [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]
        elif e.get("encoding"):
            raise ValueError(f"{key}: unknown encoding {e['encoding']!r}")
        else:
            headers.append(("Content-Length", str(len(body))))
        http = StatusAndHeaders(f"{status} {REASONS.get(status, 'Status')}", headers, protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Record-ID": response_id, "WARC-Date": date},
            )
        )
        # fetch time: a stable made-up number, as Common Crawl's metadata records carry one
        fetch_ms = 40 + int(hashlib.sha1(key.encode()).hexdigest(), 16) % 900
        writer.write_record(
            writer.create_warc_record(
                url,
                "metadata",
                payload=io.BytesIO(f"fetchTimeMs: {fetch_ms}\r\n".encode()),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Record-ID": f"<urn:uuid:{record_uuid(key, 'metadata')}>",
                    "WARC-Date": date,
                    "WARC-Concurrent-To": response_id,
                },
            )
        )
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    data = build(load_manifest())
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print(f"{args.out}: {'up to date' if same else 'STALE: run demo/make_sample.py'}")
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
