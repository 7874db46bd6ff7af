"""Fixed cost of a small run (issue 18, item 3): `curate run` on the embedded demo sample (148 WARC
records, ~40 pages past the URL and record stages), every stage of configs/demo.yaml, in a fresh
process with its own local Ray, as a user types it. With ~40 documents the per-document work is
a second or two, so the wall time is the run's fixed cost: Ray's start, the passes and decisions,
the report, Ray's shutdown.

The judge's labels are cached (a shared cache that one untimed run per tree fills first), as a
rerun or a team's shared cache has them: the judge's model and its ~2 s per document are not a
fixed cost. With `--baseline REF`, the same runs for a git worktree of REF (the code before a
change), alternated with ours so both meet the same load; ratios baseline/ours.

    .venv/bin/python bench/fixed_cost.py [--baseline 5a7f4e0] [--repeat 3]

Per run: wall s, CPU s of the whole process tree (driver, Ray, workers, extraction children),
and where the wall time went, from the run's log: start (process start to the first stage), steps
(first stage to the shard stage's end), end (report, summary, Ray's shutdown)."""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._proc import TreeSampler  # noqa: E402

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO pipeline\.executor\.runner: stage (\d\d) ")


def _log_phases(log: str, started: float, ended: float) -> dict:
    stamps = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
              for m in map(STAMP.match, log.splitlines()) if m]
    if not stamps:
        return {}
    return {"start": stamps[0] - started, "steps": stamps[-1] - stamps[0], "end": ended - stamps[-1]}


def run_once(tree: Path, out: Path, shared: Path, log: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "CURATE_SHARED_CACHE": str(shared)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "pipeline.cli", "run", "--config", str(tree / "configs" / "demo.yaml"), "--output", str(out)]
    t0 = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        with TreeSampler(proc.pid, include_root=True) as sampler:
            rc = proc.wait()
    t1 = time.time()
    text = log.read_text()
    if rc != 0:
        raise SystemExit(f"{tree}: curate run failed ({rc}):\n{text[-3000:]}")
    return {"wall": t1 - t0, "cpu": sampler.cpu_s, **_log_phases(text, t0, t1)}


def worktree(ref: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), ref], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return into


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="a git ref to compare with (run from a worktree of it)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fixed-cost-"))
    trees = {"ours": ROOT}
    try:
        if args.baseline:
            trees["baseline"] = worktree(args.baseline, work / "baseline-tree")
        for name, tree in trees.items():  # untimed: fills each tree's judge label cache
            run_once(tree, work / f"{name}-out", work / f"{name}-shared", work / f"{name}-warmup.log")
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for i in range(args.repeat):
            for name, tree in trees.items():
                r = run_once(tree, work / f"{name}-out", work / f"{name}-shared", work / f"{name}-{i}.log")
                results[name].append(r)
                print(f"{name} run {i}: " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()), flush=True)
        print("\nmedians (s):")
        keys = ("wall", "cpu", "start", "steps", "end")
        print("| tree | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
        med = {name: {k: statistics.median(r.get(k, float("nan")) for r in rs) for k in keys} for name, rs in results.items()}
        for name, m in med.items():
            print(f"| {name} | " + " | ".join(f"{m[k]:.1f}" for k in keys) + " |")
        if "baseline" in med:
            print("ratio baseline/ours: wall {:.2f}x, CPU {:.2f}x, steps {:.2f}x".format(
                med["baseline"]["wall"] / med["ours"]["wall"], med["baseline"]["cpu"] / med["ours"]["cpu"],
                med["baseline"]["steps"] / med["ours"]["steps"]))
    finally:
        if args.baseline:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "baseline-tree")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
