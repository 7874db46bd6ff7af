"""dedup-url: URL normalisation, and the latest-crawl decision on Ray (Ray's default hash shuffle,
the path production runs)."""
import datetime as dt

import pytest

from pipeline.executor.runner import run_global
from dedup.url import UrlDedup
from dedup.url_normalize import UrlNormalization, normalize_url
from pipeline import stage_io
from pipeline.schema import DOCUMENT_SCHEMA, documents_from_rows
from pipeline.stage import RunContext

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    "a, b",
    [
        ("HTTP://Example.COM/path", "http://example.com/path"),
        ("http://example.com:80/p", "http://example.com/p"),
        ("https://example.com:443/p", "https://example.com/p"),
        ("http://example.com/p#section-2", "http://example.com/p"),
        ("http://example.com/p?utm_source=x&id=3&UTM_Medium=y&fbclid=abc&gclid=1", "http://example.com/p?id=3"),
        ("http://example.com/p?b=2&a=1", "http://example.com/p?a=1&b=2"),
        ("http://example.com/p/", "http://example.com/p"),
        ("http://example.com/", "http://example.com"),
        ("  http://example.com/p  ", "http://example.com/p"),
        ("http://example.com/p?a=1&&b=2&", "http://example.com/p?a=1&b=2"),
        ("http://User@Example.com/p", "http://User@example.com/p"),
    ],
)
def test_variants_normalise_equal(a, b):
    assert normalize_url(a) == normalize_url(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("http://example.com/Path", "http://example.com/path"),  # paths are case-sensitive
        ("http://example.com/p", "https://example.com/p"),  # another scheme may serve another page
        ("http://example.com:8080/p", "http://example.com/p"),  # non-default port
        ("http://example.com/p?id=3", "http://example.com/p?id=4"),
        ("http://example.com/p?a=1", "http://example.com/p?a=1&a=2"),  # repeated names are kept
        ("http://example.com/p?a%20b=1", "http://example.com/p?a+b=1"),  # encodings are not rewritten
        ("http://www.example.com/p", "http://example.com/p"),  # www. may be another site
        ("http://User@example.com/p", "http://user@example.com/p"),  # userinfo is case-sensitive
    ],
)
def test_different_urls_stay_different(a, b):
    assert normalize_url(a) != normalize_url(b)


def test_each_step_can_be_switched_off():
    url = "HTTP://Example.com:80/p/?utm_source=x&b=2&a=1#frag"
    assert normalize_url(url) == "http://example.com/p?a=1&b=2"
    off = {
        "lowercase_scheme_host": "http://Example.com/p?a=1&b=2",
        "drop_default_ports": "http://example.com:80/p?a=1&b=2",
        "drop_fragment": "http://example.com/p?a=1&b=2#frag",
        "drop_tracking_params": "http://example.com/p?a=1&b=2&utm_source=x",
        "sort_query": "http://example.com/p?b=2&a=1",
        "strip_trailing_slash": "http://example.com/p/?a=1&b=2",
    }
    for step, expected in off.items():
        assert normalize_url(url, UrlNormalization(**{step: False})) == expected, step
    assert normalize_url("http://x.org/?ref=1&sid=2", UrlNormalization(tracking_params=("sid",), tracking_prefixes=())) == "http://x.org?ref=1"


def test_missing_and_malformed_urls():
    assert normalize_url(None) is None and normalize_url("   ") is None
    assert normalize_url("http://[::1") == "http://[::1"  # urlsplit rejects it: kept as written
    assert normalize_url("http://example.com:99999/p") == "http://example.com:99999/p"  # bad port
    assert normalize_url("not a url") == "not a url"


def d(year: int | None):
    return None if year is None else dt.datetime(year, 6, 1, tzinfo=UTC)


ROWS = [
    # one page crawled three times under URL variants: the 2023 crawl is kept
    {"id": "p-2021", "url": "http://Example.com/page/?utm_source=news", "crawl_date": d(2021)},
    {"id": "p-2023", "url": "http://example.com:80/page#top", "crawl_date": d(2023)},
    {"id": "p-2019", "url": "http://example.com/page", "crawl_date": d(2019)},
    # same date twice, and an undated copy (the oldest): the smallest id wins the tie
    {"id": "q-b", "url": "https://example.org/q?y=2&x=1", "crawl_date": d(2022)},
    {"id": "q-a", "url": "https://example.org/q?x=1&y=2", "crawl_date": d(2022)},
    {"id": "q-0", "url": "https://example.org/q?x=1&y=2", "crawl_date": None},
    # undated copies only: smallest id
    {"id": "r-2", "url": "http://example.net/r", "crawl_date": None},
    {"id": "r-1", "url": "http://example.net/r/", "crawl_date": None},
    # different pages stay
    {"id": "s-1", "url": "http://example.com/Page", "crawl_date": d(2020)},
    {"id": "s-2", "url": "https://example.com/page", "crawl_date": d(2020)},
    # no URL: nothing says two records are the same page
    {"id": "n-1", "url": None, "crawl_date": d(2020)},
    {"id": "n-2", "url": "", "crawl_date": d(2020)},
    {"id": "n-3", "url": None, "crawl_date": d(2020)},
    # a URL urlsplit rejects still dedups against its exact copy
    {"id": "m-1", "url": "http://[::1", "crawl_date": d(2020)},
    {"id": "m-2", "url": "http://[::1", "crawl_date": d(2021)},
]

EXPECTED_DROPS = {"p-2021": "p-2023", "p-2019": "p-2023", "q-b": "q-a", "q-0": "q-a", "r-2": "r-1", "m-1": "m-2"}


@pytest.mark.ray
def test_latest_crawl_kept_on_ray(tmp_path, ray_local):
    ray = ray_local
    ctx = RunContext(output_dir=str(tmp_path), stage_dir=str(tmp_path / "stage"))
    stage = UrlDedup(UrlDedup.Config(num_partitions=3), ctx)
    rows = [dict(r, text=f"body of {r['id']}") for r in ROWS]
    table = documents_from_rows(rows)
    # three input blocks so that variants of one URL start in different blocks
    out = run_global(stage, ray.data.from_arrow([table.slice(0, 5), table.slice(5, 5), table.slice(10)]))
    kept_rows = out.take_all()
    assert out.schema().base_schema == DOCUMENT_SCHEMA
    dropped = {r["id"]: r for r in stage_io.read_dropped_table(ctx.dropped_dir).to_pylist()}
    assert {i: r["duplicate_of"] for i, r in dropped.items()} == EXPECTED_DROPS
    assert {(r["stage"], r["reason"]) for r in dropped.values()} == {("dedup-url", "older-crawl")}
    assert sorted(r["id"] for r in kept_rows) == sorted(set(r["id"] for r in ROWS) - set(EXPECTED_DROPS))
    kept_text = {r["id"]: r["text"] for r in kept_rows}
    assert kept_text["p-2023"] == "body of p-2023"  # records travel whole
    assert dropped["p-2019"]["text"] == "body of p-2019"
