"""`curate`: the whole pipeline (`curate run`) and one subcommand per stage (`curate extract`,
`curate langid`, `curate dedup-url`, ...)."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import threading

from pipeline.config import parse_overrides
from pipeline.registry import STAGES

log = logging.getLogger("curate")

# subcommands beside the stages, as "module:function adding their parsers"
COMMANDS = (
    "pipeline.output.ledger_query:add_parser",  # `curate ledger`
    "classifiers.train_cli:add_parsers",  # `curate train` / `curate eval`
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _import_plotting() -> None:
    import matplotlib.figure  # noqa: F401


def cmd_run(args) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.output.ledger import LedgerImbalance, build_summary
    from pipeline.executor.ray_env import init_ray
    from pipeline.executor.runner import Runner

    from pipeline import storage

    overrides = parse_overrides(args.set)
    if args.input:  # paths on the command line replace the config's (relative to the working dir)
        paths = [p if storage.is_uri(p) else os.path.abspath(p) for p in args.input]
        overrides.setdefault("input", {})["paths"] = paths
    try:
        config = load_config(args.config, overrides)
        config.input_files()
    except ConfigError as e:
        print(f"config error:\n{e}", file=sys.stderr)
        return 2
    except storage.StorageError as e:
        print(f"input error: {e}", file=sys.stderr)
        return 2
    output = storage.abspath(args.output)
    try:  # a missing bucket or denied access: say so now, naming it, not from a worker mid-run
        storage.makedirs(output)
        storage.write_json(storage.join(output, "_RUN.json"), {"config": str(args.config), "inputs": len(config.input_files())})
    except (OSError, storage.StorageError) as e:
        print(f"output error: cannot write to {output}: {e}", file=sys.stderr)
        return 2
    # the report's plotting library loads while the workers run (the driver mostly waits on them)
    threading.Thread(target=_import_plotting, daemon=True).start()
    connected = init_ray(config.run.ray_address, config.run.num_cpus, config.run.shuffle)
    outcomes = Runner(config, output, resume=not args.no_resume).run()
    try:
        summary = build_summary(output, outcomes)
    except LedgerImbalance as e:
        log.error("%s", e)
        return 3
    from pipeline.report.build import write_report

    try:
        write_report(output)
    except Exception:  # the data outputs are complete; say loudly that the report is not
        log.exception("writing report.html failed (shards, ledger and summary.json are written)")
        return 4
    from pipeline.executor.console import funnel

    if connected:  # the workers' last forwarded log lines come now, before the table, not after it
        import ray

        ray.shutdown()
    print(funnel(summary), file=sys.stderr)
    print(f"outputs: {output} (report.html, summary.json, ledger/, shards/, manifest.json); "
          f"why a record was dropped: curate ledger {output} --id RECORD_ID", file=sys.stderr)
    print(json.dumps({k: summary[k] for k in ("input_total", "kept_total", "dropped_total", "balanced")}))
    return 0


def cmd_stage(args) -> int:
    from pipeline.config import ConfigError, load_config
    from pipeline.sources.inputs import expand_inputs, is_warc
    from pipeline.sources.stage_inputs import read_documents
    from pipeline.executor.ray_env import init_ray
    from pipeline.registry import stage_class
    from pipeline.executor.runner import default_cache_dir, run_one_stage
    from pipeline.stage import RunContext, SourceStage
    from pydantic import ValidationError

    cls = stage_class(args.stage)
    params = {}
    seed, batch_size = 0, 256
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as e:
            print(f"config error:\n{e}", file=sys.stderr)
            return 2
        params = dict(config.stages.get(args.stage, {}))
        seed, batch_size = config.run.seed, config.run.batch_size
    params.update(parse_overrides(args.set))
    try:
        stage_config = cls.Config(**params)
    except ValidationError as e:
        print(f"config error for stage {args.stage}:\n{e}", file=sys.stderr)
        return 2
    from pipeline import storage

    out = storage.abspath(args.output)
    files = expand_inputs(args.input)
    init_ray(None, None)
    ctx = RunContext(output_dir=out, stage_dir=out, seed=seed, batch_size=batch_size, cache_dir=default_cache_dir())
    stage = cls(stage_config, ctx)
    if isinstance(stage, SourceStage):
        ds = None
    elif all(is_warc(f) for f in files):
        # WARC given to a later stage: read it first; read-warc's own drops land in DIR/dropped too
        reader_cls = stage_class("read-warc")
        ds = reader_cls(reader_cls.Config(), ctx).read(files)
    else:
        ds = read_documents(files, cls.reads)
    _, marker = run_one_stage(stage, ds, files, None)
    print(json.dumps({"stage": args.stage, "kept": marker["kept"], "dropped": marker["dropped"], "output": out}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline from a config")
    run.add_argument("--config", required=True, help="YAML config (see configs/)")
    run.add_argument("--input", nargs="+", metavar="PATH",
                     help="input files, globs or URIs (s3://bucket/warc/*.warc.gz): replace the config's input.paths")
    run.add_argument("--output", required=True, help="output folder or URI (s3://bucket/out); a rerun resumes in it")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    run.add_argument("--no-resume", action="store_true", help="recompute every stage")
    run.set_defaults(func=cmd_run)

    for name in STAGES:
        p = sub.add_parser(name, help=f"run the {name} stage alone")
        p.add_argument("--input", required=True, nargs="+", help="jsonl, parquet or WARC files (globs allowed)")
        p.add_argument("--output", required=True, help="writes DIR/kept/ and DIR/dropped/ (parquet)")
        p.add_argument("--config", help="take this stage's parameters from a pipeline config")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a stage parameter")
        p.set_defaults(func=cmd_stage, stage=name)
    for target in COMMANDS:  # commands that live with what they run, found by name (as the stage registry)
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from pipeline.executor.console import quiet_ray_logs

    quiet_ray_logs(args.verbose)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
