"""What the DRIVER of a run costs as the input grows (issue 16, item 3): driver CPU seconds and
driver peak RSS at 10k, 100k and 1M documents, one command:

    nice -n 5 .venv/bin/python bench/driver_scale.py [--sizes 10000 100000 1000000] [--quick]

Each size runs in a fresh subprocess (its own interpreter, its own private local Ray with
`--cpus` CPUs), which does what `curate run` does (pipeline/cli.py cmd_run): `Runner(config,
output).run()` step by step, `pipeline.output.ledger.build_summary` (ledger + summary.json) and
`pipeline.report.build.write_report` (unless --no-report). The pipeline (`--pipeline`, default below)
reads synthetic web documents (bench/_web_corpus.py: ~2-5 KB of text each, 2% older re-crawls of
a URL, 2% near copies; deterministic from --seed; parquet or jsonl files of --docs-per-file
documents, generated once under --cache) with `read-documents`, and runs a map filter
(url-safety, gopher-quality), two global stages (dedup-url, dedup-minhash), tokenize and the
shard sink, with configs/base.yaml's parameters (run.unit_bytes = 128 MiB).

Measured in the subprocess, for the driver process only (not Ray's workers or daemons):
- driver CPU s: user + system of the process (getrusage RUSAGE_SELF: every thread of the driver,
  Ray's core-worker threads included) from just before `init_ray` to after the report; the
  interpreter start and imports before it are printed apart ("start CPU s");
- driver peak RSS: the kernel's high-water mark (VmHWM) of the driver process over its whole life;
  also after `init_ray` ("base RSS") and after each step (where the peak was reached);
- per step (each pass, decision, sink; ledger + summary; report): driver CPU s and wall s, and the
  CPU of the driver's descendant processes (Ray workers, stage hosts, daemons) read at the step's
  boundaries (the per-stage costs in docs/scale.md).
Measured by this (parent) process: wall s of the run, and the CPU of every process under the
subprocess (Ray workers, raylet, gcs...) sampled every second (bench/_proc.py), for scale.
`--profile` adds a cProfile of the driver's Python (its top functions by own time).

Printed per size: documents, wall s, driver CPU s, driver CPU µs per document, driver peak RSS MB;
ratios between sizes (driver CPU per document should fall as the input grows, since the driver's
work is per unit and per step, not per document; peak RSS flat within 20%); and per stage folder
the files it holds (kept/ parquet = work units of the next pass, dropped/ parquet, units/ commits),
which follow bytes (run.unit_bytes), not documents. Nothing asserts a time: the machine is shared,
so only the ratios measured in one run mean anything.

Two side measurements for docs/scale.md: `--bytes OUTPUT [CONFIG]` prints, for a finished run, the
bytes stored per stage folder and the payload of each global stage's shuffles per document;
`--ray-wait` the driver CPU of one `ray.wait` over 2 to 4,096 references (one call per unit).

--max-seconds bounds each size (the subprocess and what it started are killed at the limit and
the size is reported as timed out).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)

PIPELINE = ["read-documents", "url-safety", "dedup-url", "gopher-quality", "dedup-minhash", "tokenize", "shard"]


# ------------------------------------------------------------------ the subprocess (one size)

def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Others:
    """CPU seconds of the driver's descendant processes (Ray workers, stage hosts, daemons), read
    at step boundaries only, outside the driver's timed windows (a process that ends inside a step
    loses its CPU since the last read: the parent's 1 s sampler gives the run's total)."""

    def __init__(self):
        self.seen: dict[int, float] = {}

    def sample(self) -> float:
        import psutil

        try:
            procs = psutil.Process().children(recursive=True)
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                t = p.cpu_times()
                self.seen[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return sum(self.seen.values())


def child(spec: dict) -> None:
    """Run one size as `curate run` does; write the measurements to spec["result"]."""
    start_cpu = _cpu()  # interpreter start + this module (before the pipeline's imports)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pipeline.config import load_config
    from pipeline.output.ledger import build_summary
    from pipeline.executor.ray_env import init_ray
    from pipeline.executor.runner import Runner

    overrides = {"input": {"paths": spec["files"]}, "pipeline": spec["pipeline"],
                 "run": {"seed": spec["seed"], "num_cpus": spec["cpus"], **spec.get("run", {})}}
    config = load_config(os.path.join(ROOT, "configs", "base.yaml"), overrides)
    out = spec["output"]
    shutil.rmtree(out, ignore_errors=True)
    import_cpu = _cpu()
    res: dict = {"start_cpu_s": round(import_cpu, 3), "steps": []}
    w0, c0 = time.perf_counter(), _cpu()

    others = _Others()

    def phase(name: str, fn):
        before = others.sample()
        w, c = time.perf_counter(), _cpu()
        value = fn()
        cpu, wall = _cpu() - c, time.perf_counter() - w
        res["steps"].append({"step": name, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                             "others_cpu_s": round(others.sample() - before, 3),
                             "hwm_mb": round(_status_mb("VmHWM"), 1), "rss_mb": round(_status_mb("VmRSS"), 1)})
        return value

    phase("init_ray", lambda: init_ray(config.run.ray_address, config.run.num_cpus, config.run.shuffle))
    profiler = None
    if spec.get("profile"):  # the driver's Python after init_ray (its C++ threads are not seen)
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    res["base_rss_mb"] = round(_status_mb("VmRSS"), 1)
    runner = Runner(config, out, resume=False)
    plan = phase("begin + plan", lambda: (runner.begin(), runner.plan())[1])
    for step in plan:
        phase(f"{step.kind} {step.names}", lambda step=step: runner.run_step(step))
    outcomes = runner.results()
    summary = phase("ledger + summary", lambda: build_summary(out, outcomes))
    if spec.get("report", True):
        from pipeline.report.build import write_report

        phase("report", lambda: write_report(out))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["result"] + ".prof")
    res.update(
        run_wall_s=round(time.perf_counter() - w0, 3), run_cpu_s=round(_cpu() - c0, 3),
        peak_rss_mb=round(_status_mb("VmHWM"), 1),
        input_total=summary["input_total"], kept_total=summary["kept_total"], balanced=summary["balanced"],
        stages={s["name"]: {"in": s["rows_in"], "kept": s["kept"], "dropped": s["dropped"]} for s in summary["stages"]},
    )
    import ray

    ray.shutdown()
    with open(spec["result"] + ".tmp", "w") as f:
        json.dump(res, f)
    os.replace(spec["result"] + ".tmp", spec["result"])


# ------------------------------------------------------------------ the parent

def folder_files(out: str) -> list[dict]:
    """Per stage folder: parquet files and bytes in kept/, dropped/, decision/, unit commits."""
    rows = []
    stages = os.path.join(out, "stages")
    for name in sorted(os.listdir(stages)) if os.path.isdir(stages) else []:
        row = {"stage": name}
        for sub in ("kept", "dropped", "decision", "units"):
            d = os.path.join(stages, name, sub)
            files = [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []
            files = [f for f in files if os.path.isfile(f) and not os.path.basename(f).startswith("_")]
            row[sub] = len(files)
            row[sub + "_bytes"] = sum(os.path.getsize(f) for f in files)
        rows.append(row)
    for name in ("ledger", "shards"):
        n = b = 0
        for dirpath, _, names in os.walk(os.path.join(out, name)):
            for f in names:
                n += 1
                b += os.path.getsize(os.path.join(dirpath, f))
        rows.append({"stage": name, "kept": n, "kept_bytes": b})
    return rows


def _kill_tree(proc: subprocess.Popen, pids: set[int]) -> None:
    """Stop the subprocess and the processes it started (by pid: its session, then any stragglers
    that left it, as seen by the sampler)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(10)
            if sig == signal.SIGTERM:
                time.sleep(2)
        except subprocess.TimeoutExpired:
            continue


def run_size(n: int, files: list[str], args, work: str) -> dict:
    from _proc import TreeSampler, process_kind

    out = os.path.join(work, f"out-{n}")
    result = os.path.join(work, f"result-{n}.json")
    log_path = os.path.join(work, f"run-{n}.log")
    if os.path.exists(result):
        os.remove(result)
    run = {"unit_bytes": args.unit_bytes} if args.unit_bytes else {}
    spec = {"files": files, "pipeline": args.pipeline, "seed": args.seed, "cpus": args.cpus, "output": out,
            "result": result, "report": not args.no_report, "run": run, "profile": args.profile}
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        timed_out = False
        with TreeSampler(root_pid=proc.pid, interval=1.0) as tree:
            try:
                proc.wait(args.max_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                tree.sample()
                _kill_tree(proc, set(tree.cpu) - {proc.pid})
    wall = time.perf_counter() - t0
    res = {"docs": n, "wall_s": round(wall, 1), "log": log_path, "timed_out": timed_out, "rc": proc.returncode}
    res["others_cpu_s"] = round(tree.cpu_s, 1)
    res["others_by_kind"] = {k: round(v[0], 1) for k, v in tree.cpu_by(process_kind).items()}
    if not timed_out and proc.returncode == 0 and os.path.exists(result):
        with open(result) as f:
            res.update(json.load(f))
        res["files"] = folder_files(out)
        if args.profile:
            import io
            import pstats

            buf = io.StringIO()
            pstats.Stats(result + ".prof", stream=buf).sort_stats("tottime").print_stats(25)
            res["profile"] = buf.getvalue()
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return res


def _fmt(x, nd=1):
    return f"{x:,.{nd}f}" if isinstance(x, (int, float)) else str(x)


def report(results: list[dict]) -> None:
    ok = [r for r in results if "run_cpu_s" in r]
    print("\n## Driver cost per size\n")
    print("| docs | input files | wall s | driver CPU s (run) | driver CPU µs/doc | start CPU s | driver base RSS MB | "
          "driver peak RSS MB | other processes CPU s | kept | balanced |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "run_cpu_s" not in r:
            print(f"| {r['docs']:,} | {r.get('input_files', '')} | {_fmt(r['wall_s'])} | "
                  f"{'timed out' if r['timed_out'] else 'failed rc=' + str(r['rc'])} (log {r['log']}) | | | | | | | |")
            continue
        print(f"| {r['docs']:,} | {r['input_files']} | {_fmt(r['wall_s'])} | {_fmt(r['run_cpu_s'], 2)} | "
              f"{_fmt(r['run_cpu_s'] / r['docs'] * 1e6, 0)} | {_fmt(r['start_cpu_s'], 2)} | {_fmt(r['base_rss_mb'], 0)} | "
              f"{_fmt(r['peak_rss_mb'], 0)} | {_fmt(r['others_cpu_s'])} | {r['kept_total']:,} | {r['balanced']} |")
    if len(ok) > 1:
        print("\n## Ratios (larger size / smaller size)\n")
        print("| sizes | docs x | driver CPU s x | driver CPU per doc x | falling? | peak RSS x | flat within 20%? |")
        print("|---|---|---|---|---|---|---|")
        pairs = [(a, b) for i, a in enumerate(ok) for b in ok[i + 1:]]
        for a, b in pairs:
            per = (b["run_cpu_s"] / b["docs"]) / (a["run_cpu_s"] / a["docs"])
            rss = b["peak_rss_mb"] / a["peak_rss_mb"]
            print(f"| {a['docs']:,} -> {b['docs']:,} | {b['docs'] / a['docs']:.1f} | {b['run_cpu_s'] / a['run_cpu_s']:.2f} | "
                  f"{per:.3f} | {'yes' if per < 1 else 'NO'} | {rss:.2f} | {'yes' if abs(rss - 1) <= 0.2 else 'NO'} |")
    for r in ok:
        print(f"\n## Per step, {r['docs']:,} documents (driver CPU s, wall s, driver VmHWM after the step; CPU of the "
              f"other processes (Ray workers, hosts, daemons) read at step boundaries, per input document)\n")
        print("| step | driver CPU s | wall s | driver peak RSS MB after | other processes CPU s | other CPU µs/doc |")
        print("|---|---|---|---|---|---|")
        for s in r["steps"]:
            o = s.get("others_cpu_s", 0.0)
            print(f"| {s['step'][:90]} | {s['cpu_s']:.2f} | {s['wall_s']:.1f} | {s['hwm_mb']:.0f} | {o:.1f} | "
                  f"{o / r['docs'] * 1e6:,.0f} |")
    if not ok:
        return
    print("\n## Files per stage folder (kept/ parquet = the next pass's work units; dropped/ parquet; decision/ "
          "files; units/ commits; kept MB; ledger and shards: all their files)\n")
    head = " | ".join(f"{r['docs']:,}: kept / dropped / decision / units / kept MB" for r in ok)
    print(f"| folder | {head} |")
    print("|---|" + "---|" * len(ok))
    names = list(dict.fromkeys(f["stage"] for r in ok for f in r["files"]))
    for name in names:
        cells = []
        for r in ok:
            f = next((x for x in r["files"] if x["stage"] == name), None)
            cells.append("" if f is None else f"{f['kept']} / {f.get('dropped', '')} / {f.get('decision', '')} / {f.get('units', '')} / "
                                                  f"{f['kept_bytes'] / 2**20:,.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for r in ok:
        if r.get("profile"):
            print(f"\n## Driver profile at {r['docs']:,} documents (cProfile, by own time; overhead inflates the CPU above)\n")
            print("```\n" + r["profile"].strip() + "\n```")
        print(f"\nstage counts at {r['docs']:,}: " + ", ".join(f"{k} {v['in']}->{v['kept']}" for k, v in r["stages"].items()))
        print(f"other processes' CPU s at {r['docs']:,}: {r['others_by_kind']}")


# ------------------------------------------------------------------ bytes of a finished run

def _kept_table(stage_dir: str, columns: list[str] | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(os.path.join(stage_dir, "kept", f) for f in os.listdir(os.path.join(stage_dir, "kept")) if f.endswith(".parquet"))
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files]) if files else None


def run_bytes(out: str, config_path: str) -> None:
    """Bytes stored per stage folder and the payload of each global stage's shuffles, per record,
    for a finished `curate run --output OUT` (e.g. configs/commoncrawl.yaml over the shared WARC
    files): the inputs of docs/scale.md. Shuffle payloads are the Arrow bytes (uncompressed, as Ray
    moves them) of the rows each decision's shuffles move, made by the stages' own functions from
    the documents the decision read."""
    import pyarrow as pa

    from pipeline.config import load_config

    config = load_config(config_path)
    summary = json.load(open(os.path.join(out, "summary.json")))
    stages = {st["name"]: st for st in summary["stages"]}
    records = summary["input_total"]
    html = stages.get("read-warc", {}).get("kept", records)
    final = summary["kept_total"]
    inputs = set()
    first = sorted(os.listdir(os.path.join(out, "stages")))[0]
    for u in os.listdir(os.path.join(out, "stages", first, "units")):
        inputs.add(json.load(open(os.path.join(out, "stages", first, "units", u)))["input"])
    in_bytes = sum(os.path.getsize(f) for f in inputs if os.path.exists(f))
    print(f"run {out}: {records} input records ({html} HTML pages kept by the source, {final} documents kept), "
          f"{len(inputs)} input files, {in_bytes:,} bytes ({in_bytes / max(html, 1):,.0f} per HTML page)\n")
    print("| folder | kept/ bytes | dropped/ bytes | decision/ bytes | files (kept / dropped / decision) | kept bytes per HTML page | "
          "dropped bytes per HTML page |")
    print("|---|---|---|---|---|---|---|")
    tot = {"kept": 0, "dropped": 0, "decision": 0}
    for row in folder_files(out):
        if row["stage"] in ("ledger", "shards"):
            print(f"| {row['stage']} | {row['kept_bytes']:,} | | | {row['kept']} | {row['kept_bytes'] / html:,.0f} | |")
            tot["kept"] += row["kept_bytes"]
            continue
        if not (row["kept"] or row["dropped"] or row["decision"]):
            continue
        for k in tot:
            tot[k] += row[k + "_bytes"]
        print(f"| {row['stage']} | {row['kept_bytes']:,} | {row['dropped_bytes']:,} | {row['decision_bytes']:,} | "
              f"{row['kept']} / {row['dropped']} / {row['decision']} | {row['kept_bytes'] / html:,.0f} | {row['dropped_bytes'] / html:,.0f} |")
    print(f"| **all written** | {tot['kept']:,} | {tot['dropped']:,} | {tot['decision']:,} | | "
          f"{(tot['kept'] + tot['dropped'] + tot['decision']) / html:,.0f} (all) | |")

    # the first kept set holds the raw HTML: what another codec would store
    import pyarrow.parquet as pq

    first_kept = next((os.path.join(out, "stages", f) for f in sorted(os.listdir(os.path.join(out, "stages")))
                       if os.path.isdir(os.path.join(out, "stages", f, "kept"))), None)
    if first_kept:
        t = _kept_table(first_kept)
        stored = sum(os.path.getsize(os.path.join(first_kept, "kept", f)) for f in os.listdir(os.path.join(first_kept, "kept")))
        tmp = os.path.join(tempfile.mkdtemp(prefix="driver-scale-bytes-"), "x.parquet")
        sizes = {}
        for codec in ("snappy", "zstd"):
            pq.write_table(t, tmp, compression=codec)
            sizes[codec] = os.path.getsize(tmp)
        shutil.rmtree(os.path.dirname(tmp))
        print(f"\nfirst kept set ({os.path.basename(first_kept)}, raw HTML): {stored:,} bytes stored, Arrow {t.nbytes:,} "
              f"({t.nbytes / max(in_bytes, 1):.2f}x the input files); rewritten as one file: snappy {sizes['snappy']:,}, "
              f"zstd {sizes['zstd']:,} ({sizes['zstd'] / sizes['snappy']:.2f}x snappy, {sizes['zstd'] / max(in_bytes, 1):.2f}x the input)")

    # the documents each decision read: the kept/ of the last folder before it that has one
    folders = sorted(os.listdir(os.path.join(out, "stages")))
    before: dict[str, str] = {}
    last = None
    for f in folders:
        name = f.split("-", 1)[1]
        before[name] = last
        if os.path.isdir(os.path.join(out, "stages", f, "kept")):
            last = os.path.join(out, "stages", f)
    rows = []

    def per(name: str, what: str, table_bytes: int, n: int):
        rows.append((name, what, table_bytes, n))

    if before.get("dedup-records"):
        t = _kept_table(before["dedup-records"], ["id"])
        per("dedup-records", "id hashes (int64)", 8 * t.num_rows, t.num_rows)
    if before.get("dedup-url"):
        from dedup.url import add_url_key
        from dedup.url_normalize import UrlNormalization

        t = _kept_table(before["dedup-url"], ["id", "url", "crawl_date"])
        per("dedup-url", "(URL key, normal form, id, date) rows", add_url_key(t, UrlNormalization()).nbytes, t.num_rows)
    if before.get("dedup-minhash"):
        from dedup.minhash import bucket_edges, bucket_rows, join_rows, lsh_shape, signature_rows
        from dedup.verify import attach_first, edge_rows

        cfg = config.stage_config("dedup-minhash")
        bands, r = lsh_shape(cfg)
        t = _kept_table(before["dedup-minhash"], ["id", "text", "language", "crawl_date"])
        seed = cfg.seed if cfg.seed is not None else config.run.seed
        sigs = signature_rows(t, cfg, seed, bands, r)
        buckets = bucket_rows(sigs, bands)
        cands = bucket_edges(buckets)
        join = join_rows(sigs)
        first_in = pa.concat_tables([edge_rows(cands), join])
        keyed = attach_first(first_in)
        per("dedup-minhash", f"shuffle 1: (band key, node) rows, {bands} per document", buckets.nbytes, t.num_rows)
        per("dedup-minhash", f"shuffle 2 (verify join 1): candidate edges + every bottom-{cfg.verify_k} sketch", first_in.nbytes, t.num_rows)
        per("dedup-minhash", "shuffle 3 (verify join 2): keyed edges + every sketch", keyed.nbytes + join.nbytes, t.num_rows)
        per("dedup-minhash", f"(for scale) {cfg.num_perm} x uint64 signatures, not shuffled", cfg.num_perm * 8 * t.num_rows, t.num_rows)
    if before.get("dedup-lines"):
        from dedup.lines import line_rows

        t = _kept_table(before["dedup-lines"], ["id", "text", "language"])
        lr = line_rows(t, config.stage_config("dedup-lines"), 1)
        per("dedup-lines", f"(line key, doc, n) rows: {lr.num_rows / t.num_rows:.1f} per document", lr.nbytes, t.num_rows)
    for name in ("kl-divergence", "train-scorers"):
        if before.get(name):
            t = _kept_table(before[name], ["id", "text", "language"])
            per(name, "columns read (id, text, language; sampled, not shuffled)", t.nbytes, t.num_rows)
    if before.get("mix"):
        t = _kept_table(before["mix"], ["id", "bucket", "token_count", "quality_fasttext", "code_score", "reasoning_score"])
        per("mix", "columns read (bucket token counts reduced on Ray)", t.nbytes, t.num_rows)
    if before.get("shard"):
        from pipeline.output.llama3_tokenizer import load_spec
        from pipeline.output.shards import _PrepareBatch

        spec = load_spec()
        t = _kept_table(before["shard"])
        keyed = _PrepareBatch(config.run.seed, spec.n_vocab, None)(t)
        per("shard", f"sort rows (folder, key, id, copy, tokens...): {keyed.num_rows} copies", keyed.nbytes, t.num_rows)
    from pipeline.schema import LEDGER_SCHEMA

    ledger = _ledger_rows_bytes(out, LEDGER_SCHEMA)
    if ledger:
        per("ledger", "sort rows (record_id, stage, decision, reason...)", ledger, records)
    print("\n| global step | what is moved | documents | Arrow bytes | bytes per document it read |")
    print("|---|---|---|---|---|")
    for name, what, b, n in rows:
        print(f"| {name} | {what} | {n} | {b:,} | {b / max(n, 1):,.0f} |")


def _ledger_rows_bytes(out: str, schema) -> int:
    import pyarrow.parquet as pq

    d = os.path.join(out, "ledger")
    return sum(pq.read_table(os.path.join(d, f)).nbytes for f in os.listdir(d) if f.endswith(".parquet")) if os.path.isdir(d) else 0


def ray_wait_cost(counts=(2, 64, 256, 1024, 4096), calls: int = 300) -> None:
    """Driver CPU of one `ray.wait(refs, num_returns=1)` over as many references as a pass has hosts
    (pipeline/executor/hosts.py calls it once per finished unit): one ready object among refs that never
    become ready (tasks asking for a resource no node has)."""
    import ray

    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)

    @ray.remote(resources={"never": 1})
    def never():
        return 1

    print("| references | driver CPU ms per ray.wait | wall ms |")
    print("|---|---|---|")
    for n in counts:
        pending = [never.remote() for _ in range(n - 1)]
        refs = pending + [ray.put(1)]
        ray.wait(refs, num_returns=1)
        c0, t0 = _cpu(), time.perf_counter()
        for _ in range(calls):
            ray.wait(list(refs), num_returns=1)
        print(f"| {n:,} | {1e3 * (_cpu() - c0) / calls:.3f} | {1e3 * (time.perf_counter() - t0) / calls:.3f} |", flush=True)
        for ref in pending:
            ray.cancel(ref, force=False)
    ray.shutdown()


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--ray-wait":
        ray_wait_cost()
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "--bytes":
        run_bytes(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "configs", "commoncrawl.yaml"))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--quick", action="store_true", help="smoke run: 10k and 30k documents")
    ap.add_argument("--max-seconds", type=float, default=3600.0, help="limit per size (the size is killed past it)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the private local Ray")
    ap.add_argument("--seed", type=int, default=20240722)
    ap.add_argument("--docs-per-file", type=int, default=50_000, help="documents per input file (~175 MB of parquet)")
    ap.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    ap.add_argument("--pipeline", nargs="+", default=PIPELINE)
    ap.add_argument("--unit-bytes", type=int, default=None, help="run.unit_bytes (default: base.yaml's 128 MiB)")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "llama3-curate", "bench-driver"))
    ap.add_argument("--work", default=None, help="folder for the runs' outputs (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep each size's output folder")
    ap.add_argument("--no-report", action="store_true", help="skip report.html (curate run writes it)")
    ap.add_argument("--profile", action="store_true", help="cProfile the driver (after init_ray); prints the top functions")
    ap.add_argument("--json", default=None, help="also write the measurements to this file")
    args = ap.parse_args()
    sizes = [10_000, 30_000] if args.quick else args.sizes
    from _web_corpus import corpus_files

    work = args.work or tempfile.mkdtemp(prefix="driver-scale-")
    os.makedirs(work, exist_ok=True)
    print(f"driver scale: sizes {sizes}, pipeline {' '.join(args.pipeline)}, {args.cpus} CPUs, work {work}", flush=True)
    results = []
    for n in sizes:
        t0 = time.perf_counter()
        files = corpus_files(n, args.cache, args.seed, args.docs_per_file, args.format, jobs=args.cpus,
                             log=lambda m: print(m, flush=True))
        gen = time.perf_counter() - t0
        in_bytes = sum(os.path.getsize(f) for f in files)
        print(f"{n:,} documents: {len(files)} {args.format} files, {in_bytes / 2**20:,.0f} MB (ready in {gen:.0f} s); running",
              flush=True)
        r = run_size(n, files, args, work)
        r.update(input_files=len(files), input_mb=round(in_bytes / 2**20, 1))
        results.append(r)
        state = "timed out" if r["timed_out"] else f"rc {r['rc']}"
        print(f"{n:,} documents: {state}, wall {r['wall_s']:.0f} s, driver CPU {r.get('run_cpu_s', '-')} s, "
              f"peak RSS {r.get('peak_rss_mb', '-')} MB", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    report(results)


if __name__ == "__main__":
    main()
