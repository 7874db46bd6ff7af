"""Where the time goes: each per-document stage of the pipeline run in this process over the
documents of every shared WARC file, in pipeline order (each stage sees what the previous kept).
Prints docs/s per stage (CPU time of this process, so other load on the machine matters less) and
each stage's share of the per-document cost. Extraction runs in this process here (`timeout_s: 0`),
so its CPU is counted; each stage is set up and run once over its input untimed before the timed
run (lazy loads, e.g. lingua's model for each language it is first asked about, are set-up, not
per-document cost, on an input this small). Global stages, the model scorers (their artifacts come from a
run) and the sink are measured on Ray by the end-to-end run: see the stage markers' seconds.

    .venv/bin/python bench/pipeline_stages.py [--warc GLOB] [--config configs/commoncrawl.yaml]
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline.config import load_config  # noqa: E402
from pipeline.registry import stage_class  # noqa: E402
from pipeline.stage import MapStage, RunContext, run_map_stage_local  # noqa: E402
from pipeline.sources.warc import read_warc_local  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# scorers need trained artifacts (train-scorers makes them in a run); assign-bucket and the topic
# sampling read their columns
MODEL_STAGES = {"quality-fasttext", "quality-transformer", "code-score", "reasoning-score", "topic", "judge",
                "assign-bucket", "downsample-topics"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warc", default=os.path.join(ROOT, "..", "shared", "data", "warc", "*.warc.gz"))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "commoncrawl.yaml"))
    args = ap.parse_args()
    files = sorted(glob.glob(args.warc))
    if not files:
        sys.exit(f"no WARC files match {args.warc}")
    config = load_config(args.config)
    ctx = RunContext(output_dir="/tmp/bench-stages", stage_dir="/tmp/bench-stages/s", seed=config.run.seed)

    t0 = time.process_time()
    table, dropped = read_warc_local(files, config.stage_config("read-warc"))
    read_cpu = time.process_time() - t0
    records = table.num_rows + dropped.num_rows
    rows = [("read-warc", records, table.num_rows, read_cpu)]
    for name in config.pipeline[1:]:
        cls = stage_class(name)
        if not issubclass(cls, MapStage) or name in MODEL_STAGES:
            continue
        params = config.stage_config(name)
        if name == "extract":
            params = params.model_copy(update={"timeout_s": 0})
        stage = cls(params, ctx)
        stage.setup()
        run_map_stage_local(stage, table, config.run.batch_size)  # warm-up: lazy loads
        n_in = table.num_rows
        t0 = time.process_time()
        table, _ = run_map_stage_local(stage, table, config.run.batch_size)
        rows.append((name, n_in, table.num_rows, time.process_time() - t0))
    total = sum(r[3] for r in rows)
    print(f"{len(files)} WARC files, {records} records; per-document stages in one process (CPU seconds)")
    print(f"{'stage':<18}{'docs in':>9}{'kept':>7}{'cpu s':>9}{'docs/s':>10}{'share':>8}")
    for name, n_in, kept, cpu in rows:
        print(f"{name:<18}{n_in:>9}{kept:>7}{cpu:>9.3f}{(n_in / cpu if cpu else float('inf')):>10.0f}{cpu / total:>8.1%}")
    first_docs = rows[1][1] if len(rows) > 1 else records
    print(f"all per-document stages: {total:.2f} CPU s, {first_docs / total:.1f} HTML docs/s per core")


if __name__ == "__main__":
    main()
