"""Does the transformer quality scorer (fine-tuned all-MiniLM-L6-v2, `quality-transformer`) in a
cascade behind fastText improve held-out agreement over fastText alone? Run with `nice -n 10`.

Examples: exactly those of the shipped default quality-fasttext (scripts/build_default_artifacts.py,
imported, not copied): positives = the extraction benchmark's human-extracted article bodies,
negatives = the pages the rule filters of configs/base.yaml drop among the CC WET sample and the
crawl WARC files (classifiers/teachers/corpora.py). Split: the one every artifact uses
(classifiers.label_sources.split: xxh3 of "<seed>\\0<id>" mod 10,000 < held_out_fraction), with the
build's seed (0) and TrainSettings' held_out_fraction (0.2): the same held-out part as the shipped
default's metrics.json. fastText and the transformer (TrainSettings().transformer: at most
--max-train-examples documents, 3 epochs, torch 2 threads, CPU) train on the training part only.

Measured on the held-out part (label = source) and, as a second, independent STAND-IN label set,
WebOrganizer's formats (corpora.format_quality_examples: good formats vs poor formats; the formats
are a classifier's predictions and format is not quality, see bench/teachers.py; test use only):
ROC-AUC and accuracy at 0.5 of fastText alone, the transformer alone and the cascade (fastText's
score outside [band_low, band_high] of QualityTransformerConfig's defaults, the transformer's
inside, as classifiers/quality_transformer.py does; and, as a variant the stage does NOT implement,
the transformer's score mapped into the band, so it only reorders the band), the fraction of documents in the band, and a
paired bootstrap (same resampled documents) of cascade minus fastText ROC-AUC. Scores a model
cannot give (no tokens) count as 0, as classifiers.fasttext_scorer.evaluate does.

Throughput: docs per CPU second (process CPU time, torch on 1 thread: docs/s per core) of fastText
alone vs the cascade on the same held-out documents.

Time: extraction of the crawl pages is cached under --cache (CURATE_CORPORA_CACHE); fine-tuning is
several CPU minutes; the stand-in set is a seeded --stand-in-docs sample (0: all ~3,700). A hard
budget (--budget-s) skips what would not fit, and says so in the output.

    nice -n 10 .venv/bin/python bench/quality_cascade.py [--max-train-examples 400] [--stand-in-docs 2000] [--json FILE]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scorers import timed  # noqa: E402
from classifiers import default_artifacts  # noqa: E402
from classifiers.label_sources import Example, split, with_languages  # noqa: E402
from classifiers.metrics import accuracy, roc_auc  # noqa: E402
from classifiers.quality_transformer import QualityTransformerConfig  # noqa: E402
from classifiers.scorer_specs import spec  # noqa: E402
from classifiers.teachers import corpora  # noqa: E402
from classifiers.train_settings import TrainSettings  # noqa: E402
from classifiers.training import load_scorer, train_scorer  # noqa: E402


def _build_module():
    """scripts/build_default_artifacts.py as a module (scripts/ is no package)."""
    path = ROOT / "scripts" / "build_default_artifacts.py"
    mod_spec = importlib.util.spec_from_file_location("build_default_artifacts", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


BUILD = _build_module()
SEED = BUILD.SEED  # the default artifacts' seed: the same split as the shipped quality-fasttext
TRAIN_THREADS = 2


def quality_examples() -> tuple[list[Example], dict]:
    """The default quality-fasttext's examples, built by the same calls as BUILD.main()."""
    crawl = corpora.warc_documents(corpora.crawl_warcs())
    wet = corpora.text_documents(corpora.wet_texts())
    refs, negs = corpora.article_bodies(), corpora.rule_drop_negatives(wet, crawl)
    return with_languages(refs + negs), {"references": len(refs), "rule-drops": len(negs)}


def cascade_scores(fast: list, transformer: list, band: QualityTransformerConfig) -> tuple[list, list[bool]]:
    """The stage's rule (QualityTransformer.in_band): the transformer where fastText is unsure or
    gave no score, fastText elsewhere."""
    in_band = [f is None or band.band_low <= f <= band.band_high for f in fast]
    return [t if b else f for f, t, b in zip(fast, transformer, in_band)], in_band


def banded_cascade(fast: list, transformer: list, band: QualityTransformerConfig) -> list:
    """NOT what the stage does (a variant, for the comparison): the transformer's score mapped
    into the band (band_low + width * p), so that it only reorders the documents inside the band
    and never jumps over fastText's confident ones."""
    width = band.band_high - band.band_low
    c, in_band = cascade_scores(fast, transformer, band)
    return [band.band_low + width * (t or 0.0) if b else x for x, t, b in zip(c, transformer, in_band)]


def metrics(y: list[int], scores: list) -> dict:
    s = [p or 0.0 for p in scores]
    return {"roc_auc": round(roc_auc(y, s), 4), "accuracy_at_0.5": round(accuracy(y, [int(p >= 0.5) for p in s]), 4),
            "unscored": sum(p is None for p in scores)}


def paired_bootstrap(y: list[int], a: list, b: list, reps: int, seed: int) -> dict:
    """ROC-AUC(b) - ROC-AUC(a) on `reps` resamples of the same documents: mean and 95% interval."""
    rng = np.random.default_rng(seed)
    y_, a_, b_ = np.asarray(y), np.asarray([p or 0.0 for p in a]), np.asarray([p or 0.0 for p in b])
    diffs = []
    for _ in range(reps):
        i = rng.integers(0, len(y_), len(y_))
        if y_[i].min() == y_[i].max():
            continue
        diffs.append(roc_auc(y_[i], b_[i]) - roc_auc(y_[i], a_[i]))
    d = np.asarray(diffs)
    return {"auc_diff": round(float(roc_auc(y, [p or 0.0 for p in b]) - roc_auc(y, [p or 0.0 for p in a])), 4),
            "ci95": [round(float(np.quantile(d, 0.025)), 4), round(float(np.quantile(d, 0.975)), 4)],
            "p_diff_le_0": round(float((d <= 0).mean()), 4), "reps": len(d)}


def measure(name: str, held: list[Example], fast, tr, band, reps: int) -> dict:
    texts, langs = [e.text for e in held], [e.language for e in held]
    y = [int(e.label) for e in held]
    set_threads(TRAIN_THREADS)
    f, _ = fast.probability(texts, langs)
    t, _ = tr.probability(texts)
    c, in_band = cascade_scores(f, t, band)
    banded = banded_cascade(f, t, band)
    out = {"n": len(held), "positives": sum(y), "band_fraction": round(sum(in_band) / max(len(held), 1), 4),
           "fasttext": metrics(y, f), "transformer": metrics(y, t), "cascade": metrics(y, c),
           "cascade_minus_fasttext": paired_bootstrap(y, f, c, reps, SEED),
           "banded_cascade_variant": metrics(y, banded),
           "banded_cascade_variant_minus_fasttext": paired_bootstrap(y, f, banded, reps, SEED),
           "transformer_minus_fasttext": paired_bootstrap(y, f, t, reps, SEED)}
    # inside the band only: where the cascade's choice is made
    idx = [i for i, b in enumerate(in_band) if b]
    yb = [y[i] for i in idx]
    if 0 < sum(yb) < len(yb):
        out["in_band_only"] = {"n": len(idx), "positives": sum(yb), "fasttext": metrics(yb, [f[i] for i in idx]),
                               "transformer": metrics(yb, [t[i] for i in idx])}
    print(name, json.dumps(out), flush=True)
    return out


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def throughput(held: list[Example], fast, tr, band, repeat: int) -> dict:
    """Docs per CPU second on one core (torch 1 thread), best of `repeat`."""
    set_threads(1)
    texts, langs = [e.text for e in held], [e.language for e in held]

    def fast_only():
        fast.probability(texts, langs)

    def cascade():
        f, _ = fast.probability(texts, langs)
        todo = [x for x, s in zip(texts, f) if s is None or band.band_low <= s <= band.band_high]
        tr.probability(todo)

    def transformer_all():
        tr.probability(texts)

    out = {"docs": len(texts)}
    for name, fn in (("fasttext", fast_only), ("cascade", cascade), ("transformer_all", transformer_all)):
        best = min(timed(fn)[1] for _ in range(repeat if name == "fasttext" else max(1, repeat // 2)))
        out[f"{name}_docs_per_cpu_s"] = round(len(texts) / max(best, 1e-9), 1)
    out["cascade_slowdown_vs_fasttext"] = round(out["fasttext_docs_per_cpu_s"] / max(out["cascade_docs_per_cpu_s"], 1e-9), 1)
    return out


def table(res: dict) -> str:
    rows = ["| label set | n (pos) | in band | fastText AUC / acc | transformer AUC / acc | cascade AUC / acc | cascade - fastText AUC [95% CI] |",
            "|---|---|---|---|---|---|---|"]
    for key, title in (("held_out", "held-out split (article bodies vs rule drops)"), ("stand_in", "WebOrganizer format stand-in")):
        r = res.get(key)
        if not isinstance(r, dict):
            continue
        d = r["cascade_minus_fasttext"]
        cell = lambda m: f"{m['roc_auc']:.3f} / {m['accuracy_at_0.5']:.3f}"  # noqa: E731
        rows.append(f"| {title} | {r['n']} ({r['positives']}) | {r['band_fraction']:.1%} | {cell(r['fasttext'])} | "
                    f"{cell(r['transformer'])} | {cell(r['cascade'])} | {d['auc_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] |")
    rows.append("")
    rows.append("| variant (not the stage): transformer score mapped into the band | AUC / acc | minus fastText AUC [95% CI] |")
    rows.append("|---|---|---|")
    for key in ("held_out", "stand_in"):
        r = res.get(key)
        if isinstance(r, dict):
            m, d = r["banded_cascade_variant"], r["banded_cascade_variant_minus_fasttext"]
            rows.append(f"| {key} | {m['roc_auc']:.3f} / {m['accuracy_at_0.5']:.3f} | {d['auc_diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] |")
    tp = res.get("throughput")
    if isinstance(tp, dict):
        rows.append("")
        rows.append("| docs per CPU s (1 core) | fastText | cascade | transformer on all | docs |")
        rows.append("|---|---|---|---|---|")
        for key, t in tp.items():
            rows.append(f"| {key} | {t['fasttext_docs_per_cpu_s']} | {t['cascade_docs_per_cpu_s']} | {t['transformer_all_docs_per_cpu_s']} | {t['docs']} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-train-examples", type=int, default=TrainSettings().transformer.max_train_examples,
                    help="transformer fine-tuning documents (a seeded choice of the training part; default: TrainSettings')")
    ap.add_argument("--stand-in-docs", type=int, default=2000, help="seeded sample of the WebOrganizer stand-in (0: all; -1: skip)")
    ap.add_argument("--bootstrap", type=int, default=2000, help="paired bootstrap resamples")
    ap.add_argument("--repeat", type=int, default=3, help="throughput: best of this many passes")
    ap.add_argument("--budget-s", type=float, default=840, help="wall seconds; later phases are skipped (and said so) past it")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "curate-corpora-cache"),
                    help="CURATE_CORPORA_CACHE for the extracted corpora (reruns skip the extraction)")
    ap.add_argument("--json", help="write the figures as JSON here")
    args = ap.parse_args()
    t_start = time.time()
    left = lambda: args.budget_s - (time.time() - t_start)  # noqa: E731
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)
        os.environ.setdefault("CURATE_CORPORA_CACHE", args.cache)
    settings = TrainSettings()
    settings = settings.model_copy(update={"transformer": settings.transformer.model_copy(
        update={"max_train_examples": args.max_train_examples, "threads": TRAIN_THREADS})})
    band = QualityTransformerConfig()
    root = tempfile.mkdtemp(prefix="bench-quality-cascade-")
    res: dict = {"date": time.strftime("%Y-%m-%d"), "seed": SEED, "held_out_fraction": settings.held_out_fraction,
                 "band": [band.band_low, band.band_high], "transformer": settings.transformer.model_dump(mode="json"),
                 "skipped": []}
    try:
        examples, teachers = quality_examples()
        train, held = split(examples, settings.held_out_fraction, SEED)  # the split train_scorer makes inside
        res["examples"] = {"teachers": teachers, "n_train": len(train), "n_held_out": len(held),
                           "train_positives": sum(e.label == "1" for e in train)}
        print(f"examples {json.dumps(res['examples'])} ({time.time() - t_start:.0f} s)", flush=True)

        # train_scorer holds out the same part (split(examples, held_out_fraction, seed)) and trains on the rest
        fpath, fs = timed(train_scorer, spec("quality-fasttext"), examples, settings, root, SEED, "cpu")
        tpath, ts = timed(train_scorer, spec("quality-transformer"), examples, settings, root, SEED, "cpu")
        fmeta = json.loads((Path(fpath) / "metrics.json").read_text())
        tmeta = json.loads((Path(tpath) / "metrics.json").read_text())
        assert fmeta["n_held_out"] == tmeta["n_held_out"] == len(held), "train_scorer's split is not the bench's"
        res["training"] = {"fasttext_cpu_s": round(fs, 1), "transformer_cpu_s": round(ts, 1),
                           "transformer_examples_used": tmeta["examples_per_model"]}
        print(f"trained {json.dumps(res['training'])} ({time.time() - t_start:.0f} s)", flush=True)
        fast = load_scorer(fpath, "cpu")
        tr = load_scorer(tpath, "cpu")
        tr.batch_size = band.batch_size

        res["held_out"] = measure("held_out", held, fast, tr, band, args.bootstrap)
        # the shipped (quantised) default was trained on the same training part: a cross-check
        shipped = load_scorer(default_artifacts.default_artifact("quality-fasttext"))
        sp, _ = shipped.probability([e.text for e in held], [e.language for e in held])
        res["held_out"]["shipped_default_fasttext"] = metrics([int(e.label) for e in held], sp)

        stand_in: list[Example] = []
        if args.stand_in_docs >= 0:
            stand_in = corpora.format_quality_examples()
            if args.stand_in_docs:
                stand_in = corpora.seeded_take(stand_in, args.stand_in_docs, SEED)
            # fastText trains per language; the stand-in pages carry none
            stand_in = with_languages(stand_in)
            # ~0.03 CPU s per document for the transformer on 2 threads, with margin
            if left() < 60 + 0.06 * len(stand_in):
                res["skipped"].append(f"stand-in ({len(stand_in)} docs): {left():.0f} s of the budget left")
                stand_in = []
        else:
            res["skipped"].append("stand-in: --stand-in-docs -1")
        if stand_in:
            res["stand_in"] = measure("stand_in", stand_in, fast, tr, band, args.bootstrap)
            res["stand_in"]["what"] = ("WebOrganizer formats (classifier predictions, test use only): good = "
                                       + ", ".join(corpora.GOOD_FORMATS) + "; poor = " + ", ".join(corpora.POOR_FORMATS))

        res["throughput"] = {}
        for key, docs in (("held_out", held), ("stand_in", stand_in[:500])):
            if not docs:
                continue
            if left() < 30 + 0.05 * len(docs) * args.repeat:
                res["skipped"].append(f"throughput on {key}: {left():.0f} s of the budget left")
                continue
            res["throughput"][key] = throughput(docs, fast, tr, band, args.repeat)
            print("throughput", key, json.dumps(res["throughput"][key]), flush=True)
        res["wall_s"] = round(time.time() - t_start, 1)
        print()
        print(table(res))
        if res["skipped"]:
            print("skipped:", "; ".join(res["skipped"]))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
