"""WARC reading: our reader (pipeline/sources/warc.py, on warcio) against fastwarc (Rust), and what reading
costs beside extraction, on the same files in one run.

    .venv/bin/python bench/warc_reader.py             # best of 5 rounds
    .venv/bin/python bench/warc_reader.py --rounds 9

Files: every WARC of ../shared/data (warc/*.warc.gz and domains/*.warc.gz; not the WET/WAT files).
- ours: `pipeline.sources.warc.iter_warc`, every row with its drop reason, HTML bodies de-chunked and
  content-decoded (bounded), malformed records resynchronised and counted.
- fastwarc: `ArchiveIterator(parse_http=True)`, every record's headers parsed and the HTTP body
  of each response read as it is stored (fastwarc leaves Content-Encoding/chunking to the caller).
- extraction: our extract stage's page function, in process without the time limit, on the HTML
  bodies ours kept (once, for scale: reading is compared with it).
Identity: the records fastwarc yields are compared with ours (record ids of kept pages, and body
bytes where the page has no Content-Encoding / Transfer-Encoding).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.sources.warc import iter_warc  # noqa: E402


def warc_files(data_dir: Path) -> list[Path]:
    paths = sorted((data_dir / "warc").glob("*.warc.gz")) + sorted((data_dir / "domains").glob("*.warc.gz"))
    return [p for p in paths if not p.name.endswith((".wet.gz", ".wat.gz"))]


def read_ours(paths) -> list[tuple[dict, str | None]]:
    return [(row, reason) for p in paths for row, reason in iter_warc(str(p))]


def read_fastwarc(paths) -> list[tuple[str | None, str | None, bytes | None, bool]]:
    """(record id, target URI, response body, body is plain) per record."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    out = []
    for p in paths:
        with open(p, "rb") as f:
            for rec in ArchiveIterator(f, parse_http=True):
                body, plain = None, False
                if rec.record_type == WarcRecordType.response:
                    body = rec.reader.read()
                    h = rec.http_headers
                    plain = h is not None and not h.get("Content-Encoding") and not h.get("Transfer-Encoding")
                out.append((rec.headers.get("WARC-Record-ID"), rec.headers.get("WARC-Target-URI"), body, plain))
    return out


def best_cpu(fn, rounds: int):
    best, out = None, None
    for _ in range(rounds):
        c0 = time.process_time()
        out = fn()
        cpu = time.process_time() - c0
        best = cpu if best is None else min(best, cpu)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    logging.getLogger("pipeline").setLevel(logging.ERROR)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    paths = warc_files(args.data)

    ours, ours_cpu = best_cpu(lambda: read_ours(paths), args.rounds)
    fast, fast_cpu = best_cpu(lambda: read_fastwarc(paths), args.rounds)
    kept = [row for row, reason in ours if reason is None]
    drops: dict[str, int] = {}
    for _, reason in ours:
        if reason:
            drops[reason.split(":")[0]] = drops.get(reason.split(":")[0], 0) + 1
    n_bytes = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} files, {n_bytes / 1e6:.1f} MB compressed; ours: {len(ours)} rows, {len(kept)} HTML pages kept, drops {drops}")
    print(f"fastwarc: {len(fast)} records, {sum(1 for r in fast if r[2] is not None)} responses")

    # identity where both can be compared: same record ids for the kept pages, same bytes when the
    # body needed no decoding
    by_url = {}
    for rid, url, body, plain in fast:
        if body is not None:
            by_url.setdefault((url or "").strip().strip("<>"), []).append((body, plain))
    same_ids = sum(1 for row in kept if (row["url"] or "") in by_url)
    comparable = [(row, by_url[row["url"]][0]) for row in kept if row["url"] in by_url and by_url[row["url"]][0][1]]
    same_bytes = sum(1 for row, (body, _) in comparable if body == row["html"])
    print(f"kept pages found among fastwarc's responses: {same_ids}/{len(kept)}; identical body bytes: {same_bytes}/{len(comparable)} comparable (no content/transfer encoding)")

    from pipeline.extract.page import ExtractConfig, extract_page

    config = ExtractConfig(timeout_s=0)
    extract_page(kept[0]["html"], kept[0]["content_type"], config, kept[0]["url"])  # warm-up
    _, extract_cpu = best_cpu(lambda: [extract_page(r["html"], r["content_type"], config, r["url"]) for r in kept], 1)

    print(f"ours (warcio)  {ours_cpu:7.3f} CPU s  {len(kept) / ours_cpu:8.0f} pages/CPU-s")
    print(f"fastwarc       {fast_cpu:7.3f} CPU s  {len(kept) / fast_cpu:8.0f} pages/CPU-s (raw bodies, no drop accounting)")
    print(f"extraction     {extract_cpu:7.3f} CPU s  {len(kept) / extract_cpu:8.1f} pages/CPU-s")
    print(f"ratio fastwarc / ours: {ours_cpu / fast_cpu:.2f}x faster; reading is {ours_cpu / (ours_cpu + extract_cpu):.1%} of read+extract"
          f" with ours, {fast_cpu / (fast_cpu + extract_cpu):.1%} with fastwarc"
          f" (read+extract {(ours_cpu + extract_cpu) / (fast_cpu + extract_cpu):.3f}x)")


if __name__ == "__main__":
    main()
