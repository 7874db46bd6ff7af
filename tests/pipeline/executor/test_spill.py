"""Memory: a corpus bigger than Ray's object store (80 MB here) runs to the shards. The documents
themselves never enter the object store (passes go file to file on the stage hosts; dedup-url
shuffles URL keys only), but the shard stage's sort moves every token through it: Ray spills to
disk and the run finishes with every record accounted for."""
from __future__ import annotations

import gzip
import json
import os
import random
import re

import pytest

from tests.e2e_checks import ledger
from tests.fault_tools import run_curate, write_config
from tests.make_bad_inputs import PROSE, html_page, http_response, response_record
from tests.ray_cluster import LocalCluster

pytestmark = [pytest.mark.ray, pytest.mark.slow]

OBJECT_STORE_BYTES = 80 * 10**6
PAGES = 2400
PAGE_BYTES = 64 * 1024  # 2400 x 64 KiB = 157 MB of HTML; ~140 MB of tokens, about twice the object store
DUPLICATE_EVERY = 10  # every 10th page repeats the URL of the page before it


def distinct_paragraphs(seed: int, orders: list[str]) -> str:
    """PAGE_BYTES of paragraphs, each PROSE's words in a seeded order behind its own number:
    extraction keeps them all (a repeated paragraph would be boilerplate), so the tokens are as
    many as the HTML suggests. The orders are drawn from a shared set: shuffling per paragraph
    took 12 s of the test."""
    rng = random.Random(seed)
    parts, size = [], 0
    while size < PAGE_BYTES:
        parts.append(f"<p>Paragraph {seed}.{len(parts)}: {rng.choice(orders)}.</p>")
        size += len(parts[-1])
    return "".join(parts)


def word_orders(n: int = 512) -> list[str]:
    rng, words, orders = random.Random(0), PROSE.split(), []
    for _ in range(n):
        rng.shuffle(words)
        orders.append(" ".join(words))
    return orders


def make_corpus(folder, files: int = 4) -> tuple[list[str], int]:
    folder.mkdir(parents=True, exist_ok=True)
    per_file = PAGES // files
    paths, urls, orders = [], set(), word_orders()
    for f in range(files):
        records = []
        for i in range(f * per_file, (f + 1) * per_file):
            n = i - 1 if i % DUPLICATE_EVERY == 0 and i % per_file else i
            url = f"https://spill.example/page-{n}"
            urls.add(url)
            page = http_response(html_page(f"Page {i}", distinct_paragraphs(i, orders)))
            records.append(gzip.compress(response_record(f"spill-{i}", page, url), compresslevel=1, mtime=0))
        path = folder / f"spill-{f}.warc.gz"
        path.write_bytes(b"".join(records))
        paths.append(str(path))
    return paths, len(urls)


@pytest.mark.timeout(1500)
def test_corpus_larger_than_the_object_store_spills_and_completes(tmp_path):
    files, unique_urls = make_corpus(tmp_path / "in")
    cluster = LocalCluster(tmp_path)
    try:
        cluster.add_node(num_cpus=2, head=True, extra=["--object-store-memory", str(OBJECT_STORE_BYTES)])
        cluster.wait_for_nodes(1)
        config = write_config(tmp_path, files, ["read-warc", "url-safety", "dedup-url", "extract", "tokenize", "shard"],
                              run={"ray_address": cluster.address, "batch_size": 64})
        out = str(tmp_path / "out")
        r = run_curate(config, out, tmp_path / "run.log", env={"RAY_AUTH_MODE": "token"})
        log = (tmp_path / "run.log").read_text()
        assert r.returncode == 0, log[-4000:] + cluster.logs()
        stats = cluster.python(
            "import ray; from ray._private.internal_api import memory_summary; "
            "ray.init(address=A, log_to_driver=False); print(memory_summary(address=A, stats_only=True))"
        )
    finally:
        cluster.stop()
    m = re.search(r"Spilled (\d+) MiB", stats.stdout)
    assert m and int(m.group(1)) > 0, stats.stdout[-2000:] + stats.stderr[-2000:]
    print(m.group(0), "with an object store of", OBJECT_STORE_BYTES, "bytes")
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["balanced"] and summary["input_total"] == PAGES
    assert summary["kept_total"] == unique_urls
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["totals"]["documents"] == unique_urls and manifest["totals"]["tokens"] * 4 > OBJECT_STORE_BYTES
    led = ledger(out)
    assert len(led) == PAGES
    assert sum(r["stage"] == "dedup-url" and r["decision"] == "dropped" for r in led.values()) == PAGES - unique_urls
