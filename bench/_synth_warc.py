"""A bigger WARC input for end-to-end benchmarks, made from real pages: every HTML response of the
given WARC files is written `copies` times, copy k (k >= 1) with
- a distinct URL: `/bench-copy-k` inserted after the host (so URL dedup keeps every copy);
- a distinct WARC-Record-ID and WARC-Date;
- edited text: in each text node of >= 20 bytes (`>...<` spans of the body), each ASCII word of
  >= 3 letters is replaced, with probability `edit`, by a random word of the same pages' text.
  At edit 0.3 a copy keeps ~0.7^5 = 17% of its word 5-grams: far below MinHash's 0.8 Jaccard,
  so copies of English pages survive dedup, while pages with few ASCII words (zh/ja/ru) stay
  near-duplicates of their original and are deduplicated, as in a real crawl.
Copy 0 is the page as it came. Pages are dealt round-robin into `files` WARC files so that both
pipelines can split the input between workers. Everything is seeded: same arguments, same bytes.
"""
from __future__ import annotations

import io
import os
import random
import re
from datetime import datetime, timedelta, timezone

_TEXT_NODE = re.compile(rb">([^<]{20,})<")
_WORD = re.compile(rb"\b[A-Za-z]{3,}\b")
_DROP_HEADERS = {"content-length", "transfer-encoding", "content-encoding"}


def html_responses(paths: list[str]) -> list[tuple[str, list[tuple[str, str]], str, bytes]]:
    """(url, http headers, status line, decoded body) of every HTML response record; records
    warcio cannot read are skipped (the truncated file's tail)."""
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    for path in paths:
        with open(path, "rb") as f:
            try:
                for rec in ArchiveIterator(f):
                    if rec.rec_type != "response" or rec.http_headers is None:
                        continue
                    ctype = rec.http_headers.get_header("Content-Type") or ""
                    if "html" not in ctype.lower():
                        continue
                    url = rec.rec_headers.get_header("WARC-Target-URI")
                    body = rec.content_stream().read()
                    headers = [(k, v) for k, v in rec.http_headers.headers if k.lower() not in _DROP_HEADERS]
                    pages.append((url, headers, rec.http_headers.statusline, body))
            except Exception:  # a cut file: keep what was read before the cut
                continue
    return pages


def _vocabulary(pages) -> list[bytes]:
    words = set()
    for *_, body in pages:
        for m in _TEXT_NODE.finditer(body):
            words.update(_WORD.findall(m.group(1)))
    return sorted(words)


def edit_body(body: bytes, vocab: list[bytes], rng: random.Random, edit: float) -> bytes:
    def words(m):
        return _WORD.sub(lambda w: rng.choice(vocab) if rng.random() < edit else w.group(0), m.group(0))

    return _TEXT_NODE.sub(words, body)


def copy_url(url: str, k: int) -> str:
    if k == 0:
        return url
    m = re.match(r"^([a-z]+://[^/]+)(.*)$", url or "")
    return f"{m.group(1)}/bench-copy-{k}{m.group(2) or '/'}" if m else f"{url}#bench-copy-{k}"


def write_synthetic(paths: list[str], out_dir: str, copies: int, files: int = 8, edit: float = 0.3, seed: int = 0) -> int:
    """Write the copies into out_dir/synth-NNN.warc.gz; returns the number of pages written."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = html_responses(paths)
    vocab = _vocabulary(pages)
    rng = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    streams = [open(os.path.join(out_dir, f"synth-{i:03d}.warc.gz"), "wb") for i in range(files)]
    writers = [WARCWriter(s, gzip=True) for s in streams]  # one gzip member per record, as Common Crawl
    t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    n = 0
    try:
        for k in range(copies):
            for p, (url, headers, status, body) in enumerate(pages):
                if k:
                    body = edit_body(body, vocab, rng, edit)
                http = StatusAndHeaders(status, headers + [("Content-Length", str(len(body)))], protocol="HTTP/1.1")
                date = (t0 + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
                rec = writers[n % files].create_warc_record(
                    copy_url(url, k), "response", payload=io.BytesIO(body), http_headers=http,
                    warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"},
                )
                writers[n % files].write_record(rec)
                n += 1
    finally:
        for s in streams:
            s.close()
    return n
