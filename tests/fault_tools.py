"""Helpers for the fault tests: a multi-file corpus cut from the demo WARC, a small pipeline config,
`curate run` as a subprocess in its own process group, and byte comparison of two runs' outputs."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO_WARC = ROOT / "demo" / "sample.warc.gz"
# the stages that matter for fault handling (source, map passes, a global stage, tokens, shards);
# MinHash and the rule filters add minutes and nothing to what these tests check
FAULT_PIPELINE = ["read-warc", "url-safety", "dedup-url", "extract", "langid", "pii", "tokenize", "shard"]


def gzip_members(data: bytes) -> list[bytes]:
    members, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        members.append(data[pos:end])
        pos = end
    return members


def split_demo(out_dir: Path, parts: int) -> list[str]:
    """The demo WARC (one gzip member per record) cut into `parts` files of consecutive records."""
    members = gzip_members(DEMO_WARC.read_bytes())
    out_dir.mkdir(parents=True, exist_ok=True)
    size = -(-len(members) // parts)
    files = []
    for i in range(parts):
        path = out_dir / f"demo-part-{i:02d}.warc.gz"
        path.write_bytes(b"".join(members[i * size : (i + 1) * size]))
        files.append(str(path))
    return files


# base.yaml's judge labels every sampled page for every task at 3,000 characters (~9 CPU s each
# on CPU): a whole-pipeline test run takes the demo's small judge instead; on a warm cache the
# labels are found either way, on a cold one (CI) this was 6 minutes of one test's set-up
SMALL_JUDGE = {"train-scorers": {"judge_budget": 8, "judge_tasks": ["quality"], "judge": {"max_chars": 500},
                                 "train": {"linear": {"encoder": False}}}}


def write_config(folder: Path, files: list[str], pipeline: list[str] | None = None, run: dict | None = None) -> str:
    data = {
        "extends": str(ROOT / "configs" / "base.yaml"),
        "input": {"paths": files},
        "run": {"batch_size": 8, **(run or {})},
        "stages": SMALL_JUDGE,
    }
    if pipeline:  # else base.yaml's whole pipeline
        data["pipeline"] = pipeline
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def curate_cmd(config: str, out: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", "--config", config, "--output", out]


def curate_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}
    env.pop("RAY_ADDRESS", None)  # a private local Ray per run, or the config's ray_address
    # the command picks its own console level (-v or not); an in-process CLI test sets this one
    env.pop("RAY_DATA_LOG_LEVEL", None)
    return env


# Ray gives a new node 30 s to register (hard-coded in ray/_private/node.py); on an overloaded
# machine it can take longer, and that start-up failure says nothing about the pipeline
RAY_START_TIMEOUT = "The current node timed out during startup"


def run_curate(config: str, out: str, log: Path, timeout: float = 900, attempts: int = 2, env: dict | None = None) -> subprocess.CompletedProcess:
    for _ in range(attempts):
        with open(log, "w") as f:
            r = subprocess.run(curate_cmd(config, out), stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                               env=curate_env(env), timeout=timeout, start_new_session=True)
        if r.returncode == 0 or RAY_START_TIMEOUT not in log.read_text():
            return r
    return r


def start_curate(config: str, out: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(curate_cmd(config, out), stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT,
                            env=curate_env(), start_new_session=True)


def group_pids(pgid: int) -> list[int]:
    """The processes of a run: its process group, and their descendants (Ray workers call setsid,
    so they leave the group but stay children of their raylet)."""
    parents: dict[int, int] = {}
    members = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(stat[1])
        if int(stat[2]) == pgid:
            members.add(pid)
    grew = True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in members} - members
        members |= more
        grew = bool(more)
    return sorted(members)


def worker_pids(pgid: int, prefix: str) -> list[int]:
    """Ray worker processes of one run whose title starts with `prefix` (e.g. ray::run_unit, a unit running)."""
    pids = []
    for pid in group_pids(pgid):
        try:
            title = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode("utf-8", "replace")
        except OSError:
            continue
        if title.startswith(prefix):
            pids.append(pid)
    return pids


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the run's process group (the driver and the local Ray it started), then wait until
    none of them is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    deadline = time.time() + 60
    while group_pids(proc.pid) and time.time() < deadline:
        for pid in group_pids(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def output_digests(out: str) -> dict[str, str]:
    """sha256 of every file a run hands on: shards, manifest, ledger."""
    files = sorted(glob.glob(os.path.join(out, "shards", "*")) + glob.glob(os.path.join(out, "ledger", "*")))
    files.append(os.path.join(out, "manifest.json"))
    return {os.path.relpath(f, out): hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files}


# the demo is cut into this many files for the fault tests' shared reference run: a map pass of
# the demo takes ~0.3 s a unit on 2 one-CPU nodes, and 32 units keep it running after a fault is
# set off (with 16, a pass once ended before a killed node's raylet died)
REFERENCE_PARTS = 32


def reference_run(tmp_path_factory) -> dict:
    """The demo cut into REFERENCE_PARTS files, a FAULT_PIPELINE config over them and the digests of one
    undisturbed run of it: {"files", "config", "digests"}. Made once per test session, under a
    lock in the session's folder, so the fault modules on different xdist workers share it (each
    made its own: ~30 s of the suite)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    folder = base / "faults-reference"
    made = folder / "reference.json"
    with FileLock(f"{folder}.lock"):
        if not made.exists():
            files = split_demo(folder / "in", REFERENCE_PARTS)
            config = write_config(folder, files, FAULT_PIPELINE)
            r = run_curate(config, str(folder / "ref"), folder / "ref.log")
            assert r.returncode == 0, (folder / "ref.log").read_text()[-3000:]
            made.write_text(json.dumps({"files": files, "config": config, "digests": output_digests(str(folder / "ref"))}))
    return json.loads(made.read_text())


def unit_files(stage_dir: str) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of each committed unit's marker and kept file."""
    out = {}
    for f in glob.glob(os.path.join(stage_dir, "units", "*.json")) + glob.glob(os.path.join(stage_dir, "kept", "part-*.parquet")):
        st = os.stat(f)
        out[os.path.relpath(f, stage_dir)] = (st.st_ino, st.st_mtime_ns)
    return out
