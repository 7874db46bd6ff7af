"""Generate the bad-input WARC corpus (issue 7): every kind of broken, hostile or odd input we
expect from the web, as a few small WARC files. Generated, not checked in, so the bytes never
drift from this description. Usage: python tests/make_bad_inputs.py OUT_DIR

`make_corpus(out_dir)` returns one entry per record that has a WARC-Record-ID, with the
(stage, reason prefix) it must end with, or None where any stage may decide (the page is real
text and its fate is the filters' business); records without a readable id (garbage, cut headers)
are counted in `unnamed`.
"""
from __future__ import annotations

import functools
import gzip
import os
import sys
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

NS = uuid.UUID("5b1c6f0e-6a43-4b8e-9d55-1f2f8f0c7a11")
PROSE = (
    "The harbour town kept its old market square, where fishermen sold the morning catch and "
    "children ran between the stalls. Visitors often stayed for the evening concerts held in the "
    "church, and the local bakery was known for its rye bread, baked in a wood-fired oven that had "
    "not gone cold in forty years. "
)
SECRET = "TOP-SECRET-7f3a9c"
DEMO_WARC = Path(__file__).resolve().parent.parent / "demo" / "sample.warc.gz"


@functools.lru_cache(maxsize=1)
def _demo_pages() -> list[bytes]:
    from pipeline.sources.warc import read_warc_local

    kept, _ = read_warc_local([str(DEMO_WARC)])
    return kept.column("html").to_pylist()


def real_page(i: int) -> bytes:
    """The i-th HTML page of the demo sample: real prose that the filters keep, so a broken record
    next to it shows that reading resumed and the page went through the whole pipeline."""
    return _demo_pages()[i]


def uid(key: str) -> str:
    return str(uuid.uuid5(NS, key))


def html_page(title: str, body: str) -> bytes:
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>".encode()


def prose_page(title: str, extra: str = "") -> bytes:
    return html_page(title, "".join(f"<p>{PROSE}</p>" for _ in range(4)) + extra)


def warc_record(headers: list[tuple[str, str]], block: bytes, version: bytes = b"WARC/1.0") -> bytes:
    head = version + b"\r\n" + b"".join(f"{k}: {v}\r\n".encode("utf-8", "surrogateescape") for k, v in headers)
    return head + b"\r\n" + block + b"\r\n\r\n"


def http_response(body: bytes, content_type: str | None = "text/html; charset=utf-8", extra: list[str] = (), status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}"] + ([f"Content-Type: {content_type}"] if content_type else []) + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def response_record(key: str, http: bytes, url: str | None = None) -> bytes:
    headers = [
        ("WARC-Type", "response"),
        ("WARC-Record-ID", f"<urn:uuid:{uid(key)}>"),
        ("WARC-Target-URI", url or f"https://bad-inputs.example/{key}"),
        ("WARC-Date", "2024-05-01T12:00:00Z"),
        ("Content-Type", "application/http; msgtype=response"),
        ("Content-Length", str(len(http))),
    ]
    return warc_record(headers, http)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def zeros_compressed(n: int, wbits: int) -> bytes:
    """n zero bytes compressed (gzip: wbits 31, raw deflate: -15, zlib: 15) without holding them."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = b"\0" * (1 << 20)
    parts = [c.compress(chunk) for _ in range(n // len(chunk))]
    return b"".join(parts) + c.flush()


def brotli_bomb(n: int) -> bytes:
    """A real brotli bomb where the brotli package is installed; otherwise bytes that only claim
    to be brotli (warcio 1.8 cannot decode br with brotli 1.1/1.2, so read-warc never decodes them)."""
    try:
        import brotli
    except ImportError:
        return b"\x8b\xff\x7f" + b"\0" * 4096
    return brotli.compress(b"\0" * n, quality=5)


@dataclass
class Corpus:
    files: list[str] = field(default_factory=list)
    expected: dict[str, tuple[str, str] | None] = field(default_factory=dict)  # record id -> (stage, reason prefix)
    unnamed: int = 0  # records that have no readable id (counted by the test, not named)
    out_dir: str = "."
    # record id -> files it is in, for records read more than once (overlapping inputs): one copy
    # keeps the id, each other copy is a counted drop with a ledger id of its own (`<id>#dup-...`)
    copies: dict[str, int] = field(default_factory=dict)
    pages: set[str] = field(default_factory=set)  # the duplicated records that are HTML pages


def _payload_records(c: Corpus) -> list[bytes]:
    """Response records whose HTTP payload is hostile; each record is well formed."""
    out = []

    def add(key: str, http: bytes, expect, url: str | None = None):
        c.expected[uid(key)] = expect
        out.append(response_record(key, http, url))

    add("good-page", http_response(real_page(0)), None)
    add("empty-record", b"", ("read-warc", "not-http"))
    add("empty-body", http_response(b""), ("extract", "empty-payload"))
    add("pdf-as-html", http_response(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n" + bytes(range(256)) * 40), ("extract", ""))
    add("png-as-html", http_response(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 40), ("extract", ""))
    add("binary-as-html", http_response(bytes((i * 7919) % 256 for i in range(20000))), ("extract", ""))
    # 50 MB of markup: over read-warc's 10 MiB decompression cap
    add("page-50mb", http_response(b"<html><body>" + b"<p>filler text</p>" * (50 * 2**20 // 18) + b"</body></html>"), ("read-warc", "payload-too-large"))
    # 5 MB: under the read cap, over extract's max_html_bytes
    add("page-5mb", http_response(b"<html><body>" + b"<p>filler text</p>" * (5 * 2**20 // 18) + b"</body></html>"), ("extract", "html-too-large"))
    add("nested-100k", http_response(b"<html><body>" + b"<div>" * 100_000 + PROSE.encode() + b"</div>" * 100_000 + b"</body></html>"), None)
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode() for i in range(1, 10))
        + b']><html><body><p>&lol9;</p><p>' + PROSE.encode() + b"</p></body></html>"
    )
    add("billion-laughs", http_response(billion_laughs, "application/xhtml+xml"), None)
    add("billion-laughs-html", http_response(billion_laughs), None)
    # external entities and XInclude pointing at a local secret file and a closed local port
    secret = os.path.join(c.out_dir, "secret.txt")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file://{secret}">'
        '<!ENTITY net SYSTEM "http://127.0.0.1:9/x">]>'
        f'<html xmlns:xi="http://www.w3.org/2001/XInclude"><body><article><p>&xxe;</p><p>&net;</p>'
        f'<xi:include href="file://{secret}" parse="text"/><xi:include href="http://127.0.0.1:9/y"/>'
        f"<p>{PROSE}</p><p>{PROSE}</p></article></body></html>"
    ).encode()
    add("xxe-xhtml", http_response(xxe, "application/xhtml+xml"), None)
    add("xxe-html", http_response(xxe), None)
    # encodings: declared wrong, undeclared legacy, broken UTF-8, UTF-16 without BOM
    text = "Ça coûte déjà très cher à Zürich — voilà. " * 30
    add("cp1252-declared-utf8", http_response(html_page("Prix", f"<p>{text}</p>").decode().encode("cp1252"), "text/html; charset=utf-8"), None)
    add("sjis-declared-latin1", http_response(html_page("東京", "<p>" + "東京の天気は晴れです。" * 40 + "</p>").decode().encode("shift_jis"), "text/html; charset=iso-8859-1"), None)
    add("broken-utf8", http_response(prose_page("Broken").replace(b"harbour", b"harb\xff\xfeour")), None)
    add("utf16-no-bom", http_response(prose_page("Sixteen").decode().encode("utf-16-le"), "text/html; charset=utf-16"), None)
    add("bogus-charset", http_response(prose_page("Bogus"), "text/html; charset=x-no-such-charset"), None)
    # decompression bombs in Content-Encoding: 200 MB of zeros each, far over the 10 MiB cap
    bomb = 200 * 2**20
    add("gzip-bomb", http_response(zeros_compressed(bomb, 31), extra=["Content-Encoding: gzip"]), ("read-warc", "payload-too-large"))
    add("deflate-bomb", http_response(zeros_compressed(bomb, 15), extra=["Content-Encoding: deflate"]), ("read-warc", "payload-too-large"))
    # payload-too-large where warcio can decode br, else content-encoding:br (never decoded)
    add("brotli-bomb", http_response(brotli_bomb(bomb), extra=["Content-Encoding: br"]), ("read-warc", ""))
    add("chunked-gzip-bomb", http_response(_chunked(zeros_compressed(bomb, 31)), extra=["Content-Encoding: gzip", "Transfer-Encoding: chunked"]), ("read-warc", "payload-too-large"))
    add("long-url", http_response(prose_page("Long URL")), None, url="https://bad-inputs.example/" + "a" * 100_000)
    # strings shaped to make naive PII regexes backtrack, inside prose that reaches the PII stage
    evil = " ".join(["a@" * 20000, "1-" * 20000, "a." * 20000 + "@", "x" * 50000 + "@" + "y." * 10000, "+1 (" * 5000,
                     "0" * 50000, "192.168." * 5000, "Mr. " * 5000])
    add("pii-backtracking", http_response(prose_page("Contact", f"<p>{evil}</p>")), None)
    return out


def _chunked(body: bytes, size: int = 65536) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _broken_records(c: Corpus) -> bytes:
    """Uncompressed WARC with malformed headers between valid records."""
    ok1 = response_record("hdr-ok-before", http_response(real_page(1)))
    ok2 = response_record("hdr-ok-after", http_response(real_page(2)))
    c.expected[uid("hdr-ok-before")] = None
    c.expected[uid("hdr-ok-after")] = None
    no_length = warc_record([("WARC-Type", "response"), ("WARC-Record-ID", f"<urn:uuid:{uid('hdr-no-length')}>")], b"HTTP/1.1 200 OK\r\n\r\nhi")
    c.expected[uid("hdr-no-length")] = ("read-warc", "")
    bad_length = warc_record([("WARC-Type", "response"), ("WARC-Record-ID", f"<urn:uuid:{uid('hdr-bad-length')}>"), ("Content-Length", "lots")], b"x")
    c.expected[uid("hdr-bad-length")] = ("read-warc", "")
    # a header line without a colon and a bogus version line: no id can be trusted
    garbage_header = b"WARC/1.0\r\nthis is not a header\r\n\xff\xfe\r\n\r\n"
    bad_version = b"WARC/banana\r\nWARC-Type: response\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n"
    c.unnamed += 2
    return ok1 + no_length + bad_length + garbage_header + bad_version + ok2


def warc_info_record(key: str, kind: str, block: bytes, url: str) -> bytes:
    """A non-response record (request, metadata) as Common Crawl writes one beside each page."""
    headers = [
        ("WARC-Type", kind),
        ("WARC-Record-ID", f"<urn:uuid:{uid(key)}>"),
        ("WARC-Target-URI", url),
        ("WARC-Date", "2024-05-01T12:00:00Z"),
        ("Content-Type", "application/http; msgtype=request" if kind == "request" else "application/warc-fields"),
        ("Content-Length", str(len(block))),
    ]
    return warc_record(headers, block)


def _overlapping(c: Corpus, write) -> None:
    """Overlapping inputs (issue 16): one WARC of request, page and metadata records listed twice
    under two paths with one base name, and a copy of it with a garbage tail."""
    members = []
    for i, key in enumerate(("overlap-a", "overlap-b")):
        url = f"https://bad-inputs.example/{key}"
        members.append(gz(warc_info_record(f"{key}-request", "request", f"GET /{key} HTTP/1.1\r\nHost: bad-inputs.example\r\n\r\n".encode(), url)))
        members.append(gz(response_record(key, http_response(real_page(7 + i)), url)))
        members.append(gz(warc_info_record(f"{key}-metadata", "metadata", b"fetchTimeMs: 120\r\n", url)))
        c.expected[uid(f"{key}-request")] = ("read-warc", "warc-type:request")
        c.expected[uid(key)] = None
        c.expected[uid(f"{key}-metadata")] = ("read-warc", "warc-type:metadata")
        c.pages.add(uid(key))
    data = b"".join(members)
    os.makedirs(os.path.join(c.out_dir, "copy"), exist_ok=True)
    write("overlap.warc.gz", data)
    write(os.path.join("copy", "overlap.warc.gz"), data)
    write("overlap-tail.warc.gz", data + b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8)
    c.unnamed += 1  # the garbage tail
    for key in ("overlap-a", "overlap-b"):
        for rid in (uid(f"{key}-request"), uid(key), uid(f"{key}-metadata")):
            c.copies[rid] = 3


def make_corpus(out_dir: str) -> Corpus:
    os.makedirs(out_dir, exist_ok=True)
    c = Corpus(out_dir=os.path.abspath(out_dir))
    with open(os.path.join(out_dir, "secret.txt"), "w") as f:
        f.write(SECRET + "\n")
    records = _payload_records(c)

    def write(name: str, data: bytes) -> str:
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(data)
        c.files.append(path)
        return path

    write("payloads.warc.gz", b"".join(gz(r) for r in records))
    # a record that is itself a gzip bomb: 300 MB of zeros as its block (Content-Length true)
    bomb_len = 300 * 2**20
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{uid('warc-member-bomb')}>\r\n"
        f"WARC-Target-URI: https://bad-inputs.example/member-bomb\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {bomb_len + 44}\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    ).encode()
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = co.compress(head) + b"".join(co.compress(b"\0" * 2**20) for _ in range(bomb_len // 2**20)) + co.compress(b"\r\n\r\n") + co.flush()
    c.expected[uid("warc-member-bomb")] = ("read-warc", "payload-too-large")
    good = gz(response_record("after-bomb", http_response(real_page(3))))
    c.expected[uid("after-bomb")] = None
    write("member-bomb.warc.gz", member + good)
    # truncated gzip member: the second record's member cut in half
    first = gz(response_record("trunc-first", http_response(real_page(4))))
    second = gz(response_record("trunc-cut", http_response(prose_page("Cut short"))))
    c.expected[uid("trunc-first")] = None
    c.expected[uid("trunc-cut")] = ("read-warc", "truncated")
    write("truncated.warc.gz", first + second[: len(second) // 2])
    # garbage between two good records; a file of garbage only; an empty file
    rng_bytes = bytes((i * 1103515245 + 12345) % 251 for i in range(5000))
    a = gz(response_record("garbage-before", http_response(real_page(5))))
    b = gz(response_record("garbage-after", http_response(real_page(6))))
    c.expected[uid("garbage-before")] = None
    c.expected[uid("garbage-after")] = None
    c.unnamed += 1
    write("garbage-between.warc.gz", a + rng_bytes + b)
    write("garbage-only.warc.gz", b"\x1f\x8b\x08" + rng_bytes)
    c.unnamed += 1
    write("empty.warc.gz", b"")
    write("headers.warc", _broken_records(c))
    _overlapping(c, write)
    return c


if __name__ == "__main__":
    corpus = make_corpus(sys.argv[1] if len(sys.argv) > 1 else "bad-inputs")
    print(f"{len(corpus.files)} files, {len(corpus.expected)} named records, {corpus.unnamed} unnamed, "
          f"{len(corpus.copies)} read more than once")
