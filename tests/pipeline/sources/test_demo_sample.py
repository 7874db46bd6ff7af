"""The embedded demo crawl (demo/): rebuildable byte for byte, and it holds the cases it promises."""
from __future__ import annotations

import gzip
import importlib.util
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from pipeline.assets import datatrove_assets_dir
from pipeline.sources.warc import iter_warc

DEMO = Path(__file__).resolve().parents[3] / "demo"


@pytest.fixture(scope="module")
def make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", DEMO / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def entries(make_sample):
    return make_sample.load_manifest()


@pytest.fixture(scope="module")
def rows():
    return list(iter_warc(str(DEMO / "sample.warc.gz")))


def test_builder_is_deterministic_and_committed_sample_is_current(make_sample, entries):
    first, second = make_sample.build(entries), make_sample.build(entries)
    assert first == second
    # compare decompressed records: a different zlib build may deflate the same bytes differently
    assert gzip.decompress(first) == gzip.decompress((DEMO / "sample.warc.gz").read_bytes()), "run demo/make_sample.py"


def test_size_budget():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_every_record_read_with_the_reason_the_manifest_implies(make_sample, entries, rows):
    by_id = {row["id"]: (row, reason) for row, reason in rows}
    assert len(rows) == 1 + 3 * len(entries)  # warcinfo + request/response/metadata per fetch
    for e in entries:
        row, reason = by_id[make_sample.record_uuid(e["key"], "response")]
        mime = e["content_type"].split(";")[0].strip().lower()
        if e["status"] != 200:
            assert reason == f"http-status:{e['status']}"
        elif mime not in ("text/html", "application/xhtml+xml"):
            assert reason == f"not-html:{mime}"
        else:
            assert reason is None and row["html"] == make_sample.payload(e), e["key"]
        assert row["url"] == e["url"]
        assert row["crawl_date"].strftime("%Y-%m-%dT%H:%M:%SZ") == e["date"]
        assert by_id[make_sample.record_uuid(e["key"], "request")][1] == "warc-type:request"
        assert by_id[make_sample.record_uuid(e["key"], "metadata")][1] == "warc-type:metadata"


def test_duplicates_and_recrawls(entries, rows):
    kept = {row["id"]: row for row, reason in rows if reason is None}
    html_by_url = Counter(row["html"] for row in kept.values())
    assert max(html_by_url.values()) == 2  # one exact-duplicate pair
    urls = Counter(row["url"] for row in kept.values())
    (recrawled, n), = [(u, n) for u, n in urls.items() if n > 1]
    dates = sorted(row["crawl_date"] for row in kept.values() if row["url"] == recrawled)
    assert n == 2 and dates[0] < dates[1]
    by_key = {e["key"]: e for e in entries}
    original = (DEMO / "pages" / f"{by_key['travel-lisbon']['page']}.html").read_text()
    near = (DEMO / "pages" / f"{by_key['travel-lisbon-syndicated']['page']}.html").read_text()
    assert original != near
    # the article bodies mostly agree (word 5-gram Jaccard): near, not exact, duplicates
    similarity = _jaccard(_shingles(_article(original)), _shingles(_article(near)))
    assert 0.75 < similarity < 0.95


def _article(html: str) -> str:
    body = html.split("<article>", 1)[1].split("</article>", 1)[0]
    body = body.split('class="byline"', 1)[1]  # the byline differs by site, not by edit
    return re.sub(r"<[^>]+>", " ", body)


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_languages_present():
    langs = set()
    for page in (DEMO / "pages").glob("*.html"):
        head = page.read_text(encoding="utf-8")[:200]
        if 'lang="' in head:
            langs.add(head.split('lang="', 1)[1].split('"', 1)[0])
    assert {"fr", "de", "es", "ru", "zh", "ja", "ar", "pt", "en"} <= langs


def _hosts(entries) -> set[str]:
    return {e["url"].split("/")[2].lower() for e in entries}


def test_blocklisted_domain_is_really_listed(entries):
    """The UT1 list in the datatrove wheel must list exactly the page meant for url-safety."""
    archive = datatrove_assets_dir() / "url_filterblacklistsv0_3_0.tar.gz"
    if not archive.exists():
        pytest.skip(f"datatrove blocklist not found at {archive}")
    candidates = set()
    for host in _hosts(entries):
        labels = host.split(".")
        candidates.update(".".join(labels[i:]) for i in range(len(labels) - 1))
    listed = set()
    with tarfile.open(archive, "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.rsplit("/", 1)[-1] == "domains")
        for line in tar.extractfile(member):
            domain = line.strip().decode("utf-8", "replace")
            if domain in candidates:
                listed.add(domain)
    assert listed == {"goldengardens.net"}
