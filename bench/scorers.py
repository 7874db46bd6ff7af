"""Scorer benchmarks on the shared data (../shared/data); run with `nice -n 10`:

1. topic: fastText topic classifier trained on 80% of the WebOrganizer file, accuracy and
   macro-F1 on the held-out 20%, training time;
2. quality: fastText quality scorer, WikiText-2 sections (Wikipedia) against Common Crawl WET
   text (cc-main-2019-30), ROC-AUC on the held-out split;
3. judge agreement (--judge N): the offline judge labels N held-out documents (quality + topic);
   agreement of the scorers with the judge (ROC-AUC of quality_fasttext against the judge's
   binary label, topic accuracy against the judge's topic);
4. throughput, docs per CPU second (= docs/s per core; torch on 1 thread): fastText scorers, the transformer on every
   document, and the cascade (transformer only in fastText's uncertain band), after fine-tuning
   the transformer on --transformer-train documents (skipped without torch or with 0).

    nice -n 10 .venv/bin/python bench/scorers.py [--judge 100] [--transformer-train 300] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.fasttext_scorer import FastTextScorer  # noqa: E402
from classifiers.label_sources import binary_label, seeded_order, read_positives_negatives, read_weborganizer, split  # noqa: E402
from classifiers.metrics import accuracy, roc_auc  # noqa: E402
from classifiers.scorer_specs import spec  # noqa: E402
from classifiers.train_settings import TrainSettings  # noqa: E402
from classifiers.training import train_scorer  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402

SEED = 0


def timed(fn, *args, **kwargs):
    """(result, CPU seconds of this process): docs per CPU second is docs/s per core, and it
    holds on a machine shared with other work, where wall time does not."""
    t0 = time.process_time()
    out = fn(*args, **kwargs)
    return out, time.process_time() - t0


def bench_train(name, examples, settings, root):
    path, seconds = timed(train_scorer, spec(name), examples, settings, root, SEED, "cpu")
    meta = json.loads((Path(path) / "metrics.json").read_text())
    return path, {"n_train": meta["n_train"], "n_held_out": meta["n_held_out"], "train_cpu_s": round(seconds, 1), **meta["metrics"]["held_out"]}


def throughput(fn, texts, repeat=2):
    best = min(timed(fn, texts)[1] for _ in range(repeat))
    return round(len(texts) / best, 1)


def judge_agreement(n, held_quality, held_topic, quality, topic, settings, cache_dir):
    from classifiers.judge import JudgeConfig, build_judge

    judge = build_judge(JudgeConfig(device="cpu", cache_dir=cache_dir))  # a fresh cache: no label is free
    # seeded order: the held-out lists come grouped by source (all Wikipedia first)
    q_docs, t_docs = seeded_order(held_quality, SEED)[:n], seeded_order(held_topic, SEED)[:n]
    (q_scores, q_s) = timed(judge.score, [e.text for e in q_docs], "quality")
    (t_scores, t_s) = timed(judge.score, [e.text for e in t_docs], "topic")
    judge.close()
    ok_q = [(e, s) for e, s in zip(q_docs, q_scores) if not s.failed]
    judge_pos = [int(binary_label(s.label, settings.positive_min)) for _, s in ok_q]
    probs, _ = quality.probability([e.text for e, _ in ok_q])
    ok_t = [(e, s) for e, s in zip(t_docs, t_scores) if not s.failed]
    predicted, _ = topic.label([e.text for e, _ in ok_t])
    return {
        "judge_docs_per_cpu_s": round((len(q_docs) + len(t_docs)) / max(q_s + t_s, 1e-9), 2),
        "quality_n": len(ok_q),
        "judge_positive_fraction": round(sum(judge_pos) / max(len(judge_pos), 1), 3),
        "quality_fasttext_auc_vs_judge": roc_auc(judge_pos, [p or 0.0 for p in probs]),
        # agreement with the dataset's own label: is the judge's quality call Wikipedia vs web?
        "judge_auc_vs_source_label": roc_auc([int(e.label) for e, _ in ok_q], [s.expected for _, s in ok_q]),
        "topic_n": len(ok_t),
        "topic_agreement_with_judge": accuracy([s.label for _, s in ok_t], [p[0] if p else "" for p in predicted]),
        "judge_topic_accuracy_vs_weborganizer": accuracy([e.label for e, _ in ok_t], [s.label for _, s in ok_t]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judge", type=int, default=0, help="documents the judge labels for the agreement figures")
    ap.add_argument("--transformer-train", type=int, default=300, help="transformer fine-tuning documents (0: skip)")
    ap.add_argument("--throughput-docs", type=int, default=300)
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    data = shared_data_dir()
    settings = TrainSettings()
    results: dict = {}
    root = tempfile.mkdtemp(prefix="bench-scorers-")

    topic_ex = read_weborganizer(str(data / "topics" / "weborganizer-topics.jsonl.gz"))
    topic_path, results["topic"] = bench_train("topic", topic_ex, settings, root)
    print("topic", json.dumps(results["topic"]), flush=True)

    qual_ex = read_positives_negatives(
        [str(data / "text" / f"wikitext2-{s}.txt") for s in ("valid", "test")], [str(data / "text" / "cc-main-2019-30-wet.jsonl.gz")]
    )
    quality_path, results["quality_fasttext"] = bench_train("quality-fasttext", qual_ex, settings, root)
    print("quality-fasttext", json.dumps(results["quality_fasttext"]), flush=True)
    quality, topic = FastTextScorer(quality_path), FastTextScorer(topic_path)
    _, held_q = split(qual_ex, settings.held_out_fraction, SEED)
    _, held_t = split(topic_ex, settings.held_out_fraction, SEED)

    if args.judge:
        results["judge_agreement"] = judge_agreement(args.judge, held_q, held_t, quality, topic, settings, root)
        print("judge", json.dumps(results["judge_agreement"]), flush=True)

    texts = [e.text for e in held_t[: args.throughput_docs]]
    tp = {"docs": len(texts), "quality_fasttext": throughput(lambda t: quality.probability(t), texts),
          "topic_fasttext": throughput(lambda t: topic.label(t), texts)}
    if args.transformer_train:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None:
            torch.set_num_threads(1)
            tsettings = settings.model_copy(update={"transformer": settings.transformer.model_copy(update={"max_train_examples": args.transformer_train})})
            tpath, results["quality_transformer"] = bench_train("quality-transformer", qual_ex, tsettings, root)
            print("quality-transformer", json.dumps(results["quality_transformer"]), flush=True)
            from classifiers.quality_transformer import QualityTransformerConfig
            from classifiers.training import load_scorer

            tr = load_scorer(tpath, "cpu")
            band = QualityTransformerConfig()
            fast, _ = quality.probability(texts)
            in_band = [t for t, f in zip(texts, fast) if f is None or band.band_low <= f <= band.band_high]

            def cascade(batch):
                scores, _ = quality.probability(batch)
                tr.probability([t for t, f in zip(batch, scores) if f is None or band.band_low <= f <= band.band_high])

            tp["transformer_all"] = throughput(lambda t: tr.probability(t), texts, repeat=1)
            tp["cascade"] = throughput(cascade, texts, repeat=1)
            tp["cascade_band_fraction"] = round(len(in_band) / len(texts), 3)
            # agreement of the cascade with the transformer alone, outside the band
            t_all, _ = tr.probability(texts)
            outside = [(f, t) for f, t in zip(fast, t_all) if f is not None and not (band.band_low <= f <= band.band_high)]
            tp["fasttext_transformer_agreement_outside_band"] = accuracy([f >= 0.5 for f, _ in outside], [t >= 0.5 for _, t in outside])
        else:
            results["quality_transformer"] = "skipped: torch is not installed"
    results["throughput_docs_per_s_one_core"] = tp
    print("throughput", json.dumps(tp), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
