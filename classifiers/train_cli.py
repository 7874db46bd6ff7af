"""`curate train <scorer>` and `curate eval <scorer>`: train a scorer from labels into a versioned
artifact (`<out>/<scorer>/<version>/`, default out: `<cache>/artifacts`) and measure an artifact
against labels. Every path (labels, texts, `--out`, `--artifact`) may be a local path or an
object-store URI such as s3://bucket/key (credentials from the AWS_* environment variables). Labels come from the judge's labels file (`--labels`, parquet file or folder),
from a positives/negatives pair of text sets (`--positives F.. --negatives F..`: .txt (WikiText
sections or paragraphs), .jsonl[.gz] or .parquet with `text`), or for the topic classifier from
the WebOrganizer file (`--weborganizer F`).

The topic classifier is linear (TF-IDF + logistic regression, mixed with MiniLM embeddings:
classifiers/training.py). WebOrganizer's file has no license (test use only): an artifact trained
from it stays in your cache and must not be redistributed; no topic default ships. The binary
scorers have shipped defaults (classifiers/default_artifacts/, scripts/build_default_artifacts.py)."""
from __future__ import annotations

import argparse
import json
import logging
import sys

log = logging.getLogger("curate")


def _add_label_args(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("labels (one source)")
    src.add_argument("--labels", help="judge labels parquet (file or folder), as `curate judge` writes")
    src.add_argument("--positives", nargs="+", default=[], help="texts of the positive class (binary scorers)")
    src.add_argument("--negatives", nargs="+", default=[], help="texts of the negative class (binary scorers)")
    src.add_argument("--weborganizer", help="WebOrganizer topics jsonl[.gz] (the topic scorer)")


def add_parsers(sub) -> None:
    from classifiers.scorer_specs import SCORERS

    scorer_names = list(SCORERS)
    train = sub.add_parser("train", help="train a scorer from labels into a versioned artifact")
    train.add_argument("scorer", choices=scorer_names)
    _add_label_args(train)
    train.add_argument("--out", help="artifacts root, a folder or URI (default: <cache>/artifacts)")
    train.add_argument("--seed", type=int, default=0, help="training seed (also the held-out split)")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="transformer fine-tuning device")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="training setting, e.g. fasttext.epoch=20 or positive_min=4")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="measure a trained artifact against labels")
    ev.add_argument("scorer", choices=scorer_names)
    ev.add_argument("--artifact", required=True, help="artifact folder or URI (with metrics.json)")
    _add_label_args(ev)
    ev.add_argument("--held-out", action="store_true", help="only the documents the artifact's split held out")
    ev.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ev.set_defaults(func=cmd_eval)


def _examples(args, sp, positive_min: int):
    from classifiers.label_sources import read_judge_labels, read_positives_negatives, read_weborganizer, with_languages

    given = [bool(args.labels), bool(args.positives or args.negatives), bool(args.weborganizer)]
    if sum(given) != 1:
        raise SystemExit("give exactly one label source: --labels, --positives/--negatives, or --weborganizer")
    if args.labels:
        examples = read_judge_labels(args.labels, sp.task, None if sp.kind == "multiclass" else positive_min)
    elif args.weborganizer:
        if sp.kind != "multiclass":
            raise SystemExit(f"--weborganizer labels topics; {sp.name} needs --labels or --positives/--negatives")
        examples = read_weborganizer(args.weborganizer)
    else:
        if sp.kind != "binary" or not (args.positives and args.negatives):
            raise SystemExit("--positives and --negatives (both) train binary scorers only")
        examples = read_positives_negatives(args.positives, args.negatives)
    if sp.per_language:
        examples = with_languages(examples)
    return examples


def _settings(pairs: list[str]):
    from pipeline.config import parse_overrides
    from classifiers.train_settings import TrainSettings

    return TrainSettings(**parse_overrides(pairs))


def cmd_train(args) -> int:
    from classifiers import artifacts
    from classifiers.scorer_specs import spec
    from classifiers.paths import default_cache_dir
    from classifiers.training import TrainingDataError, train_scorer

    sp = spec(args.scorer)
    settings = _settings(args.set)
    examples = _examples(args, sp, settings.positive_min)
    log.info("%s: %d labelled documents", sp.name, len(examples))
    root = args.out or artifacts.artifacts_root(default_cache_dir())
    try:
        path = train_scorer(sp, examples, settings, root, args.seed, args.device)
    except TrainingDataError as e:
        print(f"cannot train {sp.name}: {e}", file=sys.stderr)
        return 2
    meta = artifacts.read_metrics(path)
    print(json.dumps({"scorer": sp.name, "artifact": path, "held_out": meta["metrics"]["held_out"]}, sort_keys=True))
    return 0


def cmd_eval(args) -> int:
    from classifiers import artifacts
    from classifiers.label_sources import is_held_out
    from classifiers.scorer_specs import spec
    from classifiers.training import evaluate, load_scorer

    sp = spec(args.scorer)
    meta = artifacts.read_metrics(args.artifact)
    if meta.get("scorer") != sp.name:
        raise SystemExit(f"{args.artifact} is a {meta.get('scorer')} artifact, not {sp.name}")
    cfg = meta["config"]
    examples = _examples(args, sp, cfg.get("positive_min", 3))
    if args.held_out:
        examples = [e for e in examples if is_held_out(e.id, cfg["held_out_fraction"], cfg["seed"])]
    if not examples:
        raise SystemExit("no labelled documents to evaluate on")
    metrics = evaluate(load_scorer(args.artifact, args.device), examples, sp)
    print(json.dumps({"scorer": sp.name, "artifact": args.artifact, "metrics": metrics}, sort_keys=True))
    return 0
