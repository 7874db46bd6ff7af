"""Scorer benchmarks on the shared data (../shared/data); run with `nice -n 10`:

1. topic: the topic classifier trained on 80% of the WebOrganizer file (a seeded split by id),
   accuracy and macro-F1 on the held-out 20%, training CPU time and scoring docs/s: fastText (the
   old model), linear (TF-IDF + logistic regression) and linear mixed with MiniLM embeddings (the
   default; --no-encoder skips it);
2. defaults: the shipped default artifacts (classifiers/default_artifacts): code-score and
   reasoning-score precision / recall at 0.5 on the held-out half of the documentation pages
   (domains/docs-code-math.warc.gz, labels.json) mixed with the crawl pages of warc/ (which count as
   neither); quality-fasttext ROC-AUC on WebOrganizer's format stand-in (bench/teachers.py says
   what it is and its weakness); the transformer section below still trains on WikiText-2
   sections against CC WET text (its figures are about the cascade, not about the labels);
3. judge agreement (--judge N): the offline judge labels N held-out documents (quality + topic);
   agreement of the scorers with the judge (ROC-AUC of quality_fasttext against the judge's
   binary label, topic accuracy against the judge's topic);
4. throughput, docs per CPU second (= docs/s per core; torch on 1 thread): fastText scorers, the transformer on every
   document, and the cascade (transformer only in fastText's uncertain band), after fine-tuning
   the transformer on --transformer-train documents (skipped without torch or with 0).

    nice -n 10 .venv/bin/python bench/scorers.py [--no-encoder] [--judge 100] [--transformer-train 300] [--out FILE]
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


def bench_train(name, examples, settings, root, train=train_scorer):
    path, seconds = timed(train, spec(name), examples, settings, root, SEED)
    meta = json.loads((Path(path) / "metrics.json").read_text())
    return path, {"n_train": meta["n_train"], "n_held_out": meta["n_held_out"], "train_cpu_s": round(seconds, 1), **meta["metrics"]["held_out"]}


def topic_models(topic_ex, settings, root, encoder: bool, texts) -> tuple[dict, object]:
    """fastText vs linear (vs linear + encoder) on the same split; the best model's scorer."""
    from classifiers.fasttext_scorer import train_fasttext_scorer
    from classifiers.training import load_scorer

    out, best = {}, None

    def linear(**update):
        return settings.model_copy(update={"linear": settings.linear.model_copy(update=update)})

    variants = [("fasttext", settings, train_fasttext_scorer), ("linear", linear(encoder=False), train_scorer)]
    if encoder:  # the default: MiniLM from a seeded 3,500 of the training documents
        variants.append(("linear+minilm (default)", linear(encoder=True), train_scorer))
    for name, s, train in variants:
        path, out[name] = bench_train("topic", topic_ex, s, root, train)
        scorer = load_scorer(path, "cpu")
        out[name]["docs_per_cpu_s"] = throughput(lambda t: scorer.label(t), texts, repeat=1)
        print("topic", name, json.dumps(out[name]), flush=True)
        if best is None or out[name]["accuracy"] > best[0]:
            best = (out[name]["accuracy"], scorer)
    return out, best[1]


def defaults() -> dict:
    """The shipped default artifacts on held-out data (see the module docstring)."""
    from classifiers import default_artifacts
    from classifiers.metrics import binary_metrics
    from classifiers.teachers import corpora
    from classifiers.training import load_scorer

    docs = corpora.warc_documents([corpora.shared("domains", "docs-code-math.warc.gz")]).to_pylist()
    crawl = corpora.warc_documents(corpora.crawl_warcs()).to_pylist()
    labels = corpora.docs_labels()
    rows = [r for r in docs if corpora.docs_held_out(r["url"])] + crawl
    out = {}
    for name, truth in (("code-score", "code"), ("reasoning-score", "math")):
        path = default_artifacts.default_artifact(name)
        probs, _ = load_scorer(path).probability([r["text"] for r in rows], [r.get("language") for r in rows])
        y = [int(labels.get(r["url"]) == truth) for r in rows]
        tp = sum(1 for t, p in zip(y, probs) if t and (p or 0) >= 0.5)
        called = sum(1 for p in probs if (p or 0) >= 0.5)
        out[name] = {"artifact": path.split("default_artifacts/")[-1], "n": len(rows), "positives": sum(y),
                     "precision_at_0.5": round(tp / max(called, 1), 4), "recall_at_0.5": round(tp / max(sum(y), 1), 4),
                     "roc_auc": round(binary_metrics(y, [p or 0.0 for p in probs])["roc_auc"], 4)}
        print("default", name, json.dumps(out[name]), flush=True)
    held = corpora.format_quality_examples()
    path = default_artifacts.default_artifact("quality-fasttext")
    probs, _ = load_scorer(path).probability([e.text for e in held])
    out["quality-fasttext"] = {"artifact": path.split("default_artifacts/")[-1], "n": len(held),
                               "roc_auc_vs_format_stand_in": round(roc_auc([int(e.label) for e in held], [p or 0.0 for p in probs]), 4)}
    print("default quality-fasttext", json.dumps(out["quality-fasttext"]), flush=True)
    return out


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
    ap.add_argument("--no-encoder", dest="encoder", action="store_false",
                    help="skip the default topic model (linear mixed with MiniLM embeddings: minutes of CPU)")
    ap.add_argument("--transformer-train", type=int, default=300, help="transformer fine-tuning documents (0: skip)")
    ap.add_argument("--throughput-docs", type=int, default=300)
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    data = shared_data_dir()
    settings = TrainSettings()
    results: dict = {}
    root = tempfile.mkdtemp(prefix="bench-scorers-")

    topic_ex = read_weborganizer(str(data / "topics" / "weborganizer-topics.jsonl.gz"))
    _, held_t = split(topic_ex, settings.held_out_fraction, SEED)
    texts = [e.text for e in held_t[: args.throughput_docs]]
    results["topic"], topic = topic_models(topic_ex, settings, root, args.encoder, texts)
    results["defaults"] = defaults()

    qual_ex = read_positives_negatives(
        [str(data / "text" / f"wikitext2-{s}.txt") for s in ("valid", "test")], [str(data / "text" / "cc-main-2019-30-wet.jsonl.gz")]
    )
    quality_path, results["quality_fasttext"] = bench_train("quality-fasttext", qual_ex, settings, root)
    print("quality-fasttext", json.dumps(results["quality_fasttext"]), flush=True)
    quality = FastTextScorer(quality_path)
    _, held_q = split(qual_ex, settings.held_out_fraction, SEED)

    if args.judge:
        results["judge_agreement"] = judge_agreement(args.judge, held_q, held_t, quality, topic, settings, root)
        print("judge", json.dumps(results["judge_agreement"]), flush=True)

    tp = {"docs": len(texts), "quality_fasttext": throughput(lambda t: quality.probability(t), texts)}
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
