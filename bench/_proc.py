"""Process-tree sampling for benchmarks: CPU seconds and peak memory of every descendant process
of a root (a subprocess or this driver), read with psutil every `interval` seconds.

Why sample: Ray workers and datatrove's forkserver pool are grandchildren whose CPU time never
reaches getrusage(RUSAGE_CHILDREN), and wall time alone is at the mercy of other load on a
shared machine. A process's cpu_times() are cumulative, so the last sample of each process is its
total (a process that lives less than one interval is missed: bounded by interval x processes).
Peak memory is the kernel's own high-water mark (VmHWM), so no peak is missed between samples,
and RssAnon (private heap) is also kept: RSS counts mapped shared pages (Ray's object store)."""
from __future__ import annotations

import threading


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmHWM", "RssAnon"):
                    out[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


class TreeSampler:
    """Context manager: samples the descendants of `root_pid` (default: this process) whose
    command line satisfies `match` (default: all)."""

    def __init__(self, root_pid: int | None = None, interval: float = 0.2, match=None, include_root: bool = False):
        import os

        self.root_pid = root_pid or os.getpid()
        self.interval, self.match, self.include_root = interval, match, include_root
        self.cpu: dict[int, float] = {}  # pid -> last seen user+system seconds
        self.base: dict[int, float] = {}  # pid -> its CPU seconds when sampling began (pre-existing processes)
        self.hwm: dict[int, int] = {}  # pid -> peak RSS bytes
        self.anon: dict[int, int] = {}  # pid -> peak private bytes
        self.cmd: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.root_pid)
            procs = root.children(recursive=True) + ([root] if self.include_root else [])
        except psutil.Error:
            return
        for p in procs:
            try:
                if p.pid not in self.cmd:
                    self.cmd[p.pid] = " ".join(p.cmdline())[:400]  # long enough to hold the script path
                if self.match and not self.match(self.cmd[p.pid]):
                    continue
                t = p.cpu_times()
                self.cpu[p.pid] = t.user + t.system
            except psutil.Error:
                continue  # exited between listing and reading
            st = _status_kb(p.pid)
            self.hwm[p.pid] = max(self.hwm.get(p.pid, 0), st.get("VmHWM", 0))
            self.anon[p.pid] = max(self.anon.get(p.pid, 0), st.get("RssAnon", 0))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self.sample()
        self.base = dict(self.cpu)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()  # the last word: the CPU totals of processes still alive

    @property
    def cpu_s(self) -> float:
        """CPU seconds spent while sampling (pre-existing processes count from their baseline)."""
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.cpu.items())

    def cpu_by(self, classify) -> dict[str, tuple[float, int]]:
        """CPU seconds and process count per kind, kind = classify(command line)."""
        out: dict[str, tuple[float, int]] = {}
        for pid, v in self.cpu.items():
            kind = classify(self.cmd.get(pid, ""))
            s, n = out.get(kind, (0.0, 0))
            out[kind] = (s + v - self.base.get(pid, 0.0), n + 1)
        return out

    def mark(self) -> dict[int, float]:
        """Start a window: the CPU totals now (for `cpu_since`); peaks are measured afresh from here
        (private memory as sampled; RSS by resetting the kernel's high-water mark, where allowed)."""
        self.sample()
        for pid in list(self.hwm):
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        self.hwm, self.anon = {}, {}
        return dict(self.cpu)

    def cpu_since(self, mark: dict[int, float]) -> float:
        self.sample()
        return sum(v - mark.get(pid, self.base.get(pid, 0.0)) for pid, v in self.cpu.items())

    def peak_mb(self) -> tuple[float, float]:
        """(largest peak RSS, largest peak private memory) of one sampled process, MiB."""
        return (round(max(self.hwm.values(), default=0) / 2**20, 1), round(max(self.anon.values(), default=0) / 2**20, 1))


def is_ray_worker(cmd: str) -> bool:
    return cmd.startswith("ray::") or "default_worker.py" in cmd


def is_worker_process(cmd: str) -> bool:
    """A Ray worker, or a process one started (the extraction child of a stage host)."""
    return is_ray_worker(cmd) or "multiprocessing.spawn" in cmd


def process_kind(cmd: str) -> str:
    """Coarse kind of a process in a Ray or datatrove run, for CPU breakdowns."""
    if is_ray_worker(cmd):
        return "ray workers"
    for key, kind in (("gcs_server", "ray gcs"), ("raylet", "ray raylet"), ("dashboard", "ray daemons"),
                      ("agent", "ray daemons"), ("monitor", "ray daemons"), ("forkserver", "worker pool")):
        if key in cmd:
            return kind
    return "python" if "python" in cmd or "curate" in cmd else "other"
