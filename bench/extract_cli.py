"""`curate extract` on a WARC of about 1,000 HTML pages against trafilatura 2.3.1 in one process on
the same pages (issue 18), in CPU seconds of each side's whole process tree.

Input: the shared WARC files' HTML pages (`../shared/data/warc`) written --copies times with edits
(bench/_synth_warc.py) into one WARC file; a small WARC of the first --small pages measures each
side's fixed cost.
- ours: `python -m pipeline.cli extract --input W --output OUT` in a fresh process (its own local
  Ray, read-warc then extract, every process it starts sampled: bench/_proc.py);
- trafilatura: a fresh process that imports trafilatura, reads the same WARC's HTML bodies and
  calls `trafilatura.extract(body, favor_precision=True)` on each.
Per side: pages per CPU second with the fixed costs (the whole tree on the big WARC) and without
them (the big run's CPU less the small run's, per page more); ratios ours/trafilatura.

    .venv/bin/python bench/extract_cli.py [--copies 4] [--small 10] [--repeat 1]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._proc import TreeSampler  # noqa: E402
from bench._synth_warc import html_responses, write_synthetic  # noqa: E402

TRAFILATURA = """
import sys, time, trafilatura
sys.path.insert(0, {root!r})
from bench._synth_warc import html_responses
pages = html_responses([{warc!r}])
t0 = time.process_time()
for _, _, _, body in pages:
    trafilatura.extract(body, favor_precision=True)
print(len(pages), time.process_time() - t0)
"""


def sampled(cmd: list[str], env: dict, log: Path) -> float:
    """CPU seconds of `cmd`'s whole process tree."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        with TreeSampler(proc.pid, include_root=True, interval=0.1) as tree:
            rc = proc.wait()
    if rc != 0:
        raise SystemExit(f"{cmd[:4]} failed ({rc}): {log.read_text()[-3000:]}")
    return tree.cpu_s


def ours(warc: str, out: Path, log: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    cpu = sampled([sys.executable, "-m", "pipeline.cli", "extract", "--input", warc, "--output", str(out)], env, log)
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return cpu, result["kept"] + result["dropped"]


def theirs(warc: str, log: Path) -> tuple[float, int, float]:
    cpu = sampled([sys.executable, "-c", TRAFILATURA.format(root=str(ROOT), warc=warc)], dict(os.environ), log)
    pages, loop_cpu = log.read_text().strip().splitlines()[-1].split()
    return cpu, int(pages), float(loop_cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warc", default=str(ROOT.parent / "shared" / "data" / "warc" / "*.warc.gz"))
    ap.add_argument("--copies", type=int, default=4, help="copies of each HTML page (4: ~1,070 pages)")
    ap.add_argument("--small", type=int, default=10, help="pages of the small WARC (the fixed cost)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per side and size; the least CPU counts")
    args = ap.parse_args()
    import trafilatura

    paths = sorted(p for p in glob.glob(args.warc) if not p.endswith("truncated.warc.gz"))
    work = Path(tempfile.mkdtemp(prefix="extract-cli-"))
    pages = write_synthetic(paths, str(work / "big"), copies=args.copies, files=1)
    big = glob.glob(str(work / "big" / "*.warc.gz"))[0]
    small_src = work / "small-src"
    write_synthetic(paths, str(small_src), copies=1, files=max(1, len(html_responses(paths)) // args.small))
    small = sorted(glob.glob(str(small_src / "*.warc.gz")))[0]
    print(f"trafilatura {trafilatura.__version__}; big WARC {pages} HTML pages, small WARC "
          f"{len(html_responses([small]))} pages", flush=True)
    runs = {}
    for name, warc in (("big", big), ("small", small)):
        best_ours = min((ours(warc, work / f"out-{name}-{i}", work / f"ours-{name}-{i}.log") for i in range(args.repeat)))
        best_theirs = min((theirs(warc, work / f"traf-{name}-{i}.log") for i in range(args.repeat)))
        runs[name] = (best_ours, best_theirs)
        print(f"{name}: ours {best_ours[0]:.1f} CPU s for {best_ours[1]} pages; trafilatura {best_theirs[0]:.1f} CPU s "
              f"(extract loop {best_theirs[2]:.1f}) for {best_theirs[1]} pages", flush=True)
    (o_big, n_big), (t_big, tn_big, loop_big) = runs["big"]
    (o_small, n_small), (t_small, tn_small, _) = runs["small"]
    with_fixed = (n_big / o_big, tn_big / t_big)
    without = ((n_big - n_small) / (o_big - o_small), (tn_big - tn_small) / (t_big - t_small))
    print("\n| pages per CPU s | ours | trafilatura | ratio |\n|---|---|---|---|")
    print(f"| with fixed costs | {with_fixed[0]:.1f} | {with_fixed[1]:.1f} | {with_fixed[0] / with_fixed[1]:.2f}x |")
    print(f"| fixed costs taken out | {without[0]:.1f} | {without[1]:.1f} | {without[0] / without[1]:.2f}x |")
    print(f"(trafilatura's extract loop alone: {tn_big / loop_big:.1f} pages per CPU s; ours' fixed cost "
          f"{o_small - (n_small / without[0]):.1f} CPU s, trafilatura's {t_small - (tn_small / without[1]):.1f})")


if __name__ == "__main__":
    main()
