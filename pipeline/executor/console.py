"""What a person sees while `curate run` works: one live line per pass (stage, units and documents
done, docs/s, ETA), and at the end the funnel (per stage: in, kept, dropped, top reasons) and where
the outputs are. Ray's own INFO lines stay quiet unless `-v`."""
from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger("curate")


# Ray warnings that say nothing to a person running the pipeline: token auth is on (as it
# should be), progress bars are off (ours replace them), and "no available CPUs" when a fit starts
# the moment the pass before it returns its tasks' CPUs (the fit then runs; it never hangs)
BENIGN_RAY_WARNINGS = {
    "ray._private.authentication.authentication_token_setup": "Token authentication is enabled",
    "ray.data._internal.progress": "Progress bars disabled",
    "ray.data.dataset": "does not have any available CPUs",
}


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def quiet_ray_logs(verbose: bool) -> None:
    """Ray Data logs every execution ("Dataset ... execution finished"); keep warnings only, less
    the benign ones above."""
    if verbose:
        return
    # Ray Data configures its "ray.data" logger itself (on import, and again later), resetting a
    # level set here; this variable is the level it then uses
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
    for name in ("ray", "ray.data", "ray._private", "ray.util"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, text in BENIGN_RAY_WARNINGS.items():  # a filter on the logger that makes the record
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) for f in logger.filters):  # once per process, not per call
            logger.addFilter(_DropMessage(text))


class PassProgress:
    """The live line of one pass: rewritten in place on a terminal, a log line every 10 s else."""

    def __init__(self, names: str, units: int, stream=None):
        self.names, self.units = names, units
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = self.last = time.monotonic()
        self.done = self.docs = 0

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        rate = self.docs / elapsed
        eta = (self.units - self.done) * elapsed / self.done if self.done else float("nan")
        eta_s = f"{eta:.0f} s" if eta == eta else "?"
        return f"{self.names[:60]}: units {self.done}/{self.units}, {self.docs:,} docs, {rate:,.0f} docs/s, ETA {eta_s}"

    def unit_done(self, stats: dict) -> None:
        self.done += 1
        self.docs += int(stats.get("rows_in", 0))
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
        elif now - self.last >= 10 or self.done == self.units:
            log.info("%s", self.line())
            self.last = now

    def close(self) -> None:
        if self.tty and self.done:
            self.stream.write("\r\x1b[K" + self.line() + "\n")
            self.stream.flush()


def funnel(summary: dict, top: int = 3) -> str:
    """The per-stage table of a run's summary.json."""
    rows = [("stage", "in", "kept", "dropped", "top reasons")]
    for s in summary.get("stages", []):
        reasons = sorted((s.get("reasons") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        rows.append((s["name"], f"{s['rows_in']:,}", f"{s['kept']:,}", f"{s['dropped']:,}",
                     ", ".join(f"{r} {n:,}" for r, n in reasons)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for r in rows:
        out.append("  ".join([r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in (1, 2, 3)] + [r[4]]).rstrip())
    out.append(f"input {summary.get('input_total', 0):,} = kept {summary.get('kept_total', 0):,} + dropped "
               f"{summary.get('dropped_total', 0):,}: {'balanced' if summary.get('balanced') else 'NOT BALANCED'}")
    return "\n".join(out)
