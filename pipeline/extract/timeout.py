"""Soft per-document time limit.

A watchdog thread raises `ExtractionTimeout` inside the extracting thread once its deadline has
passed (CPython's PyThreadState_SetAsyncExc). That interrupts Python code: trafilatura's and
readability's scoring loops, our regexes between calls. It cannot interrupt C code: the exception
lands when a long lxml call returns. The hard limit needs the per-document function run in a child
process that is killed at the deadline (datatrove's ExtractorSandbox does exactly that);
`pipeline.extract.page.extract_document` is a pure, picklable function of its inputs so it can be moved
there unchanged. Works in any thread (Ray runs actor methods off the main thread, where signals
cannot be used) and leaves SIGALRM to others (pytest-timeout).
"""
from __future__ import annotations

import ctypes
import threading
import time
from contextlib import contextmanager
from typing import Iterator


class ExtractionTimeout(BaseException):
    """A document ran past its time limit. A BaseException so that the `except Exception`
    fallbacks inside trafilatura cannot swallow it."""


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    # exc None clears an exception that was set but not yet raised
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        # thread id -> [deadline, fired]
        self._active: dict[int, list] = {}
        self._thread: threading.Thread | None = None
        # the deadline the watchdog sleeps towards (None: idle); a new limit wakes it only when it
        # ends earlier, so a steady stream of fast documents costs no thread switches
        self._wake_at: float | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="extract-deadline", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        with self._cond:
            while True:
                pending = [(entry[0], tid) for tid, entry in self._active.items() if not entry[1]]
                if not pending:
                    self._wake_at = None
                    self._cond.wait()
                    continue
                deadline, tid = min(pending)
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._wake_at = deadline
                    self._cond.wait(wait)
                    continue
                self._active[tid][1] = True
                _set_async_exc(tid, ExtractionTimeout)

    @contextmanager
    def limit(self, seconds: float | None) -> Iterator[None]:
        if not seconds or seconds <= 0:
            yield
            return
        tid = threading.get_ident()
        with self._cond:
            self._ensure_thread()
            deadline = time.monotonic() + seconds
            self._active[tid] = [deadline, False]
            if self._wake_at is None or deadline < self._wake_at:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                entry = self._active.pop(tid, None)
                fired = bool(entry and entry[1])
                if fired:
                    # set but perhaps not yet raised: raise it here, not at some later line
                    _set_async_exc(tid, None)
            if fired:
                raise ExtractionTimeout(f"over {seconds}s")


_WATCHDOG = _Watchdog()


def time_limit(seconds: float | None):
    """Context manager: raise ExtractionTimeout in this thread once `seconds` have passed
    (soft: see the module docstring). None or <= 0: no limit."""
    return _WATCHDOG.limit(seconds)
