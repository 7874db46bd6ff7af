"""Stand-in extraction functions for the hard-limit tests (imported by the spawned child)."""
from __future__ import annotations

import ctypes
import os
import signal


def stuck_in_c(payload, content_type, config, url):
    """b"stuck" sleeps inside libc (no Python bytecode runs, so no async exception can land);
    b"crash" kills the process; anything else is its own text."""
    if payload == b"stuck":
        ctypes.CDLL(None).sleep(60)
    if payload == b"crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    return payload.decode(), None
