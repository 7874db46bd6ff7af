import io
import logging
import random
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest

import filters.domain_blocklist as blocklist
from filters.domain_blocklist import HashedSet, hash_key, load_ut1
from filters.url_safety import UrlSafety, UrlSafetyConfig, domain_candidates, parse_url, url_candidates
from pipeline.registry import stage_class
from pipeline.schema import documents_from_rows
from pipeline.stage import MapStageUDF, RunContext
from tests.golden import check_golden

# The golden file's stage: the shipped lists plus one blocked, one IDN-blocked and one allowed domain.
GOLDEN_CONFIG = UrlSafetyConfig(blocked_domains=["pastebin.com", "bücher.example"], allowed_domains=["nizkor.org"])


def decide(urls, **config):
    stage = UrlSafety(UrlSafetyConfig(**config))
    stage.setup()
    return stage.decide(documents_from_rows({"id": str(i), "url": u} for i, u in enumerate(urls)))


def test_golden(regen_golden):
    check_golden(UrlSafety(GOLDEN_CONFIG), "url-safety", regen_golden)


def test_registered_under_its_name():
    assert stage_class("url-safety") is UrlSafety


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://WWW.Example.COM./a?b#c", "example.com"),
        ("example.com/path", "example.com"),  # scheme-less, as some corpora store URLs
        ("http://user:pw@sub.example.com:8080/", "sub.example.com"),
        ("http://bücher.example/", "xn--bcher-kva.example"),
        ("http://[2001:db8::1]/x", "2001:db8::1"),
    ],
)
def test_parse_url_host(url, host):
    assert parse_url(url)[0] == host


@pytest.mark.parametrize(
    "url", ["http://[::1", "mailto:a@b.c", "http:///path", "http://a b.com/", "http://x.com:99999/", "javascript:void(0)"]
)
def test_parse_url_rejects(url):
    assert parse_url(url) is None


def test_candidates():
    assert domain_candidates("a.b.example.co.uk") == [
        "a.b.example.co.uk", "b.example.co.uk", "example.co.uk", "co.uk", "uk"
    ]
    assert domain_candidates("10.0.0.1") == ["10.0.0.1"]  # "0.0.1" is no parent of an address
    assert url_candidates("x.com", "/a//b/") == ["x.com/a", "x.com/a/b"]
    assert url_candidates("x.com", "") == []


def test_hashed_set_matches_a_python_set():
    rng = random.Random(7)
    keys = [f"site{rng.randrange(10**9)}.example" for _ in range(5000)]
    members, others = keys[:2500], keys[2500:]
    hs = HashedSet.build(members + members[:100])  # duplicates collapse
    assert len(hs) == len(set(members))
    probe = np.array([hash_key(k) for k in members + others], dtype=np.uint64)
    got = hs.contains(probe)
    assert got.tolist() == [k in set(members) for k in members + others]
    assert HashedSet.build([]).contains(probe).sum() == 0


def _tiny_ut1_tar(path):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in [("domains", "bad.example\nwww.worse.example\n"), ("urls", "ok.example/bad/path\n")]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_ut1_cache_is_written_once_and_memory_mapped(tmp_path, monkeypatch, caplog):
    tar_path = tmp_path / "ut1.tar.gz"
    _tiny_ut1_tar(tar_path)
    monkeypatch.setattr(blocklist, "_memo", {})
    with caplog.at_level(logging.INFO, logger="filters.domain_blocklist"):
        first = load_ut1(str(tmp_path / "cache"), tar_path)
        assert str(tar_path) in caplog.text
        cached = sorted((tmp_path / "cache" / "url-safety").iterdir())
        assert [p.suffix for p in cached] == [".npy", ".txt"]
        monkeypatch.setattr(blocklist, "_memo", {})
        caplog.clear()
        second = load_ut1(str(tmp_path / "cache"), tar_path)
        assert "from cache" in caplog.text
    assert isinstance(second.domains.hashes, np.memmap)
    assert np.array_equal(first.domains.hashes, second.domains.hashes)
    assert second.urls == first.urls == {"ok.example/bad/path"}
    # "www." is dropped from listed domains: worse.example and www.worse.example are one site
    assert second.domains.contains(np.array([hash_key("worse.example")], dtype=np.uint64)).all()
    assert load_ut1(str(tmp_path / "cache"), tar_path) is second  # memoised per process


def test_real_ut1_list_is_loaded():
    ut1 = load_ut1()
    assert len(ut1.domains) > 4_500_000 and len(ut1.urls) > 19_000


def test_word_lists_can_be_amended():
    zoo = "https://zoo.example/live/webcam-naked-mole-rats"  # two soft-banned words: webcam, naked
    assert decide([zoo]) == ["soft-banned-url-words"]
    assert decide([zoo], allowed_words=["WebCam"]) == [None]
    assert decide([zoo], soft_banned_min_words=3) == [None]
    assert decide(["https://x.com/lesbian-history"], soft_banned_min_words=1) == ["soft-banned-url-words"]
    assert decide(["https://x.com/a/bad-word/b"]) == [None]
    assert decide(["https://x.com/a/bad-word/b"], extra_banned_subwords=["Bad Word"]) == ["banned-url-subword:badword"]
    assert decide(["https://x.com/a/Bad_Word"], extra_banned_words=["badword"]) == [None]  # a word, not a sub-word
    assert decide(["https://x.com/a/Bad/word"], extra_banned_words=["bad"]) == ["banned-url-word:bad"]
    assert decide(["https://example.com/PORN"], use_datatrove_word_lists=False) == [None]


def test_allowed_domain_keeps_word_rules():
    assert decide(["http://nizkor.org/porn"], allowed_domains=["nizkor.org"]) == ["banned-url-word:porn"]
    assert decide(["http://nizkor.org/camps"], use_ut1=False) == [None]


def test_invalid_urls_are_counted_drops(caplog):
    with caplog.at_level(logging.WARNING):
        assert decide(["http://[::1", None, "", "https://example.com/"]) == ["invalid-url", None, None, None]
    assert "1 of 4 records have an invalid URL" in caplog.text


def test_udf_writes_drops_with_reasons(tmp_path):
    ctx = RunContext(str(tmp_path), str(tmp_path / "url-safety"), cache_dir=str(tmp_path / "cache"))
    udf = MapStageUDF(UrlSafety, UrlSafetyConfig(), ctx)
    batch = documents_from_rows(
        [
            {"id": "a", "url": "https://www.redtube.com/1"},
            {"id": "b", "url": "https://example.com/"},
            {"id": "c", "url": "http://[::1"},
        ]
    )
    kept = udf(batch)
    assert kept.column("id").to_pylist() == ["b"]
    dropped = pq.read_table(next((tmp_path / "url-safety" / "dropped").glob("*.parquet")))
    assert sorted(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist())) == [
        ("a", "adult-domain"),
        ("c", "invalid-url"),
    ]


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_on_ray_workers_share_the_cached_list(ray_local, tmp_path):
    import ray

    ctx = RunContext(str(tmp_path), str(tmp_path / "url-safety"), cache_dir=str(tmp_path / "cache"))
    urls = ["https://www.redtube.com/1", "https://example.com/", "bad url://", "http://a.xxx/"] * 3
    rows = [{"id": f"r{i}", "url": u} for i, u in enumerate(urls)]
    ds = ray.data.from_arrow(documents_from_rows(rows)).repartition(3)
    kept = ds.map_batches(
        MapStageUDF,
        fn_constructor_args=(UrlSafety, UrlSafetyConfig(), ctx),
        batch_format="pyarrow",
        batch_size=2,
        concurrency=2,
        num_cpus=0.5,  # two actors on the fixture's 2 CPUs leave room for the read tasks
    ).take_all()
    assert sorted(r["id"] for r in kept) == ["r1", "r5", "r9"]
    dropped = pq.read_table(str(tmp_path / "url-safety" / "dropped"))
    assert dropped.num_rows == 9
    assert sorted(set(dropped.column("reason").to_pylist())) == ["adult-domain", "invalid-url"]
    assert list((tmp_path / "cache" / "url-safety").glob("*.npy"))  # written by the first worker
