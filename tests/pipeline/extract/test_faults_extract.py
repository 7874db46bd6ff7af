"""The hard extraction limit: a document stuck in C code is cut off at the limit, the child that
ran it is replaced, and the rest of the batch is still extracted."""
from __future__ import annotations

import ctypes
import time

import pytest

from pipeline.extract.stage import ExtractConfig
from pipeline.extract.timeout import ExtractionTimeout, time_limit
from pipeline.extract.worker import DIED_REASON, TIMEOUT_REASON, IsolatedExtractor
from tests.fault_targets import stuck_in_c


def test_soft_limit_cannot_interrupt_c_code():
    # why the child process exists: the watchdog's exception lands only when the C call returns
    t0 = time.monotonic()
    with pytest.raises(ExtractionTimeout):
        with time_limit(0.2):
            ctypes.CDLL(None).sleep(2)
    assert time.monotonic() - t0 >= 1.9


def test_hard_limit_holds_in_c_and_survives_a_crash():
    ex = IsolatedExtractor(ExtractConfig(timeout_s=0.5), hard_timeout_s=1.5, target=stuck_in_c)
    try:
        payloads = [b"one", b"stuck", b"two", b"crash", b"three"]
        t0 = time.monotonic()
        out = ex.extract_many(payloads, [None] * 5, [f"u{i}" for i in range(5)])
        elapsed = time.monotonic() - t0
    finally:
        ex.close()
    assert [o.reason for o in out] == [None, TIMEOUT_REASON, None, DIED_REASON, None]
    assert [o.text for o in out if o.reason is None] == ["one", "two", "three"]
    assert ex.restarts == 2
    # one limit for the stuck page plus child start-ups, far from the 60 s the page would take
    assert elapsed < 30


def test_real_extraction_through_the_child_matches_in_process():
    from pipeline.extract.stage import extract_document

    config = ExtractConfig()
    page = (b"<html><body><article><h1>Title</h1>" + b"<p>A paragraph of real prose that goes on for a while.</p>" * 20
            + b"</article></body></html>")
    docs = [page, b"", b"\x00\x01\x02" * 100]
    ex = IsolatedExtractor(config)
    try:
        got = ex.extract_many(docs, ["text/html"] * 3, ["a", "b", "c"])
    finally:
        ex.close()
    want = [tuple(extract_document(p, "text/html", config, u)) for p, u in zip(docs, "abc")]
    assert [tuple(g) for g in got] == want
    assert got[0].text and got[1].reason == "empty-payload"


def test_setup_again_keeps_the_running_child():
    """A stage set up by hand and then run by run_map_stage_local (which sets up only what is not
    set up yet) keeps its one child: its spawn and imports are a per-host cost, not a per-batch one."""
    from pipeline.extract.stage import Extract
    from pipeline.schema import documents_from_rows
    from pipeline.stage import run_map_stage_local

    stage = Extract(ExtractConfig())
    stage.setup()
    try:
        page = b"<html><body><article>" + b"<p>A paragraph of real prose that goes on for a while.</p>" * 20 + b"</article></body></html>"
        rows = [{"id": "a", "url": "u", "content_type": "text/html", "html": page}]
        run_map_stage_local(stage, documents_from_rows(rows))
        pid = stage._isolated.pid
        assert pid is not None
        kept, _ = run_map_stage_local(stage, documents_from_rows(rows))
        assert stage._isolated.pid == pid and stage._isolated.restarts == 0
        assert kept.num_rows == 1
    finally:
        stage.teardown()
