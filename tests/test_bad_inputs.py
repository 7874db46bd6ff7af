"""The whole pipeline over the generated bad-input corpus (tests/make_bad_inputs.py): no crash, no
hang, every record in the ledger with a reason, nothing read from outside the page; overlapping
inputs (one WARC under two paths, a copy with a garbage tail) end with a balanced ledger."""
from __future__ import annotations

import glob
import os
import time

import pyarrow.parquet as pq
import pytest

from tests.e2e_checks import assert_balanced_and_decodable, decoded_shard_texts, ledger, run_pipeline
from tests.fault_tools import write_config
from tests.make_bad_inputs import SECRET, make_corpus, uid


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, ray_local):
    tmp = tmp_path_factory.mktemp("bad")
    corpus = make_corpus(str(tmp / "corpus"))
    out = str(tmp / "out")
    t0 = time.monotonic()
    summary = run_pipeline(write_config(tmp, corpus.files, run={"batch_size": 16}), out)
    return corpus, out, summary, time.monotonic() - t0


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_bad_record_is_accounted_for(bad_run):
    corpus, out, summary, _seconds = bad_run
    assert_balanced_and_decodable(out, summary)
    led = ledger(out)
    for rid, expect in corpus.expected.items():
        assert rid in led, f"record {rid} missing from the ledger"
        row = led[rid]
        if expect is not None:
            stage, reason = expect
            assert row["decision"] == "dropped" and row["stage"] == stage and row["reason"].startswith(reason), (rid, row, expect)
    # records read more than once (overlapping inputs): one copy keeps the id, every other copy is
    # one counted drop under an id of its own; a page's copies are dropped as duplicate-record
    extra = {rid: [r for k, r in led.items() if k.startswith(rid + "#dup-")] for rid in corpus.copies}
    for rid, n in corpus.copies.items():
        assert len(extra[rid]) == n - 1 and all(r["duplicate_of"] == rid and r["decision"] == "dropped" for r in extra[rid]), (rid, extra[rid])
        if rid in corpus.pages:
            assert not (led[rid]["stage"] == "read-warc" and led[rid]["decision"] == "dropped"), rid
            assert all(r["stage"] == "dedup-records" and r["reason"] == "duplicate-record" for r in extra[rid]), extra[rid]
        else:
            assert all((r["stage"], r["reason"]) == corpus.expected[rid] for r in extra[rid]), extra[rid]
    copies = {r["record_id"] for rows in extra.values() for r in rows}
    # records without a readable id: broken framing, each region counted once at read-warc
    unnamed = [r for rid, r in led.items() if rid not in corpus.expected and rid not in copies]
    assert summary["kept_total"] > 0, "the real pages next to the broken records must come through"
    assert unnamed and all(r["stage"] == "read-warc" and r["reason"] in ("malformed-record", "truncated") for r in unnamed), unnamed
    for key in ("gzip-bomb", "deflate-bomb", "chunked-gzip-bomb", "warc-member-bomb", "page-50mb"):
        assert led[uid(key)]["reason"] == "payload-too-large", key
    assert led[uid("brotli-bomb")]["reason"] in ("payload-too-large", "content-encoding:br")
    # the real pages around the broken records survive the reader
    for key in ("good-page", "hdr-ok-before", "hdr-ok-after", "garbage-before", "garbage-after", "trunc-first", "after-bomb",
                "overlap-a", "overlap-b"):
        assert not (led[uid(key)]["stage"] == "read-warc" and led[uid(key)]["decision"] == "dropped"), key


@pytest.mark.ray
@pytest.mark.slow
def test_no_external_entity_or_xinclude_is_resolved(bad_run):
    corpus, out, _summary, _seconds = bad_run
    # every text the run produced: shards, and every stage's kept and dropped records
    texts = decoded_shard_texts(out)
    for path in glob.glob(os.path.join(out, "stages", "*", "kept", "*.parquet")) + glob.glob(os.path.join(out, "stages", "*", "dropped", "*.parquet")):
        texts += [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t]
    led = ledger(out)
    xxe = [uid("xxe-xhtml"), uid("xxe-html")]
    assert all(led[i]["stage"] != "read-warc" and led[i]["reason"] != "no-text" for i in xxe), "the pages were parsed"
    assert not any(SECRET in t for t in texts)
    assert not any("lollol" in t for t in texts), "an entity expansion reached the text"


def test_pii_patterns_do_not_backtrack_on_hostile_strings():
    from filters.pii import Pii
    from pipeline.schema import documents_from_rows
    from pipeline.stage import run_map_stage_local

    evil = " ".join(["a@" * 20000, "1-" * 20000, "a." * 20000 + "@", "x" * 50000 + "@" + "y." * 10000,
                     "+1 (" * 5000, "0" * 50000, "192.168." * 5000, "Mr. " * 5000])
    table = documents_from_rows([{"id": "evil", "text": evil, "language": "en"}])
    t0 = time.monotonic()
    kept, dropped = run_map_stage_local(Pii(), table)
    # linear patterns take well under a second here; a backtracking one takes minutes
    assert time.monotonic() - t0 < 30
    assert kept.num_rows + dropped.num_rows == 1
