"""Hard per-document extraction limit: extraction runs in a persistent child process that the
parent kills when one document runs past its limit, which holds even while lxml or libxml2 is
stuck in C code, where the soft watchdog (pipeline/extract/timeout.py) cannot reach.

The parent sends a whole batch and gets the whole batch's results in one message, so a batch costs
one round trip. Meanwhile the child publishes, in shared memory, which document it is on and
since when; the parent looks at that a few times a second (it is not woken per document: on a busy
2-core machine a wake-up per document cost ~15 ms each, measured) and, when one document has run
past `hard_timeout_s`, kills the child: that document becomes an `extraction-timeout` drop, and a
new child redoes the rest of the batch (the documents before it too: their results died with the
child; rare, and cheaper than a message per document). A child that dies (segfault, out of
memory) costs its current document an `extraction-failed:worker-died` drop the same way. The
child is spawned, not forked: Ray workers run threads, and a fork of a threaded process can
deadlock.
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from typing import Callable, NamedTuple, Sequence

log = logging.getLogger(__name__)

TIMEOUT_REASON = "extraction-timeout"
DIED_REASON = "extraction-failed:worker-died"
# the soft limit inside the child answers first for Python code; the kill is for C code
HARD_LIMIT_FACTOR = 1.5
HARD_LIMIT_GRACE_S = 2.0
# a child that cannot start within this long is a broken setup, not a slow page
START_TIMEOUT_S = 120.0
# how often the parent looks at the child's progress while a batch runs
WATCH_INTERVAL_S = 0.25


class Result(NamedTuple):
    text: str | None
    reason: str | None


class PageResult(NamedTuple):
    """The result of a target that also returns the page's code and math counts
    (pipeline.extract.page.extract_page)."""

    text: str | None
    reason: str | None
    html: dict | None = None


def _result(r: tuple) -> Result | PageResult:
    return Result(*r) if len(r) == 2 else PageResult(*r)


def _default_target():
    from pipeline.extract.page import extract_document

    return extract_document


def _child_main(conn, progress, config, target: Callable | None, memory_limit_bytes: int | None) -> None:
    """Child loop: a batch of (payload, content_type, url) in, its (text, reason[, html]) list out;
    `progress` holds [index of the current document, its start on the monotonic clock]."""
    if memory_limit_bytes:
        import resource

        # a page that makes the parser allocate without bound kills this child, not the worker
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    fn = target or _default_target()
    conn.send("ready")
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        results = []
        for i, (payload, content_type, url) in enumerate(batch):
            progress[1] = time.monotonic()  # start first: the parent never sees a new index with an old start
            progress[0] = i
            try:
                out = fn(payload, content_type, config, url)
                results.append(tuple(out))
            except MemoryError:
                results.append((None, "extraction-failed:MemoryError"))
            except Exception as err:  # noqa: BLE001 - one page's failure is that page's drop
                results.append((None, f"extraction-failed:{type(err).__name__}"))
        progress[0] = -1
        conn.send(results)


class IsolatedExtractor:
    """Runs `target(payload, content_type, config, url) -> (text, reason[, html])` (default:
    pipeline.extract.page.extract_document) in a child process with a hard per-document time limit."""

    def __init__(
        self,
        config,
        hard_timeout_s: float | None = None,
        target: Callable | None = None,
        memory_limit_bytes: int | None = None,
    ):
        self.config = config
        soft = getattr(config, "timeout_s", None) or 0
        self.hard_timeout_s = hard_timeout_s if hard_timeout_s is not None else soft * HARD_LIMIT_FACTOR + HARD_LIMIT_GRACE_S
        self.target = target
        self.memory_limit_bytes = memory_limit_bytes
        self._mp = multiprocessing.get_context("spawn")
        self._proc = None
        self._conn = None
        self.restarts = 0

    # child lifecycle ---------------------------------------------------------

    def _start(self) -> None:
        parent, child = self._mp.Pipe()
        # [index, started]: plain doubles without a lock; each is written by the child alone
        self._progress = self._mp.Array("d", [-1.0, 0.0], lock=False)
        proc = self._mp.Process(
            target=_child_main, args=(child, self._progress, self.config, self.target, self.memory_limit_bytes),
            name="extract-child", daemon=True,
        )
        proc.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S) or parent.recv() != "ready":
            proc.kill()
            raise RuntimeError(f"extraction child process did not start within {START_TIMEOUT_S}s")
        self._proc, self._conn = proc, parent

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=10)
            self._conn.close()
        self._proc = self._conn = None

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(timeout=5)
            except (BrokenPipeError, OSError):
                pass
        self._kill()

    def __del__(self):  # a Ray actor that goes away takes its child with it
        try:
            self._kill()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # extraction ----------------------------------------------------------------

    def extract_many(self, payloads: Sequence, content_types: Sequence, urls: Sequence) -> list[Result | PageResult]:
        docs = list(zip(payloads, content_types, urls))
        results: dict[int, Result] = {}
        todo = list(range(len(docs)))
        while todo:
            if self._proc is None or not self._proc.is_alive():
                self._start()
            self._progress[0] = -1.0
            self._conn.send([docs[i] for i in todo])
            got, culprit, reason = self._wait()
            if got is not None:
                results.update((i, _result(r)) for i, r in zip(todo, got))
                break
            bad = todo[culprit]
            log.warning("extract: %s on %s (child pid %s killed; a new one redoes the rest of the batch)",
                        reason, docs[bad][2], self.pid)
            results[bad] = Result(None, reason)
            self._kill()
            self.restarts += 1
            todo = [i for i in todo if i != bad]
        return [results[i] for i in range(len(docs))]

    def _wait(self) -> tuple[list | None, int | None, str | None]:
        """Wait for the batch: (results, None, None), or (None, position in the batch of the
        document at fault, drop reason)."""
        while True:
            try:
                if self._conn.poll(WATCH_INTERVAL_S):
                    return self._conn.recv(), None, None
            except (EOFError, OSError):  # the child died: its pipe reads as closed
                self._proc.join(timeout=10)
            index, started = int(self._progress[0]), self._progress[1]
            if not self._proc.is_alive():
                return None, max(index, 0), DIED_REASON
            if index >= 0 and time.monotonic() - started > self.hard_timeout_s:
                return None, index, TIMEOUT_REASON
