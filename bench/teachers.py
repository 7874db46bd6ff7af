"""Teacher benchmarks on the shared data (../shared/data); run with `nice -n 10`:

1. domain teachers (code-lf, math-lf): their votes on the TRAINING half of the documentation pages
   (domains/docs-code-math.warc.gz, labels.json by URL; the held-out half is for bench/scorers.py)
   and on crawl pages that are neither (the CC WET sample, and the crawl WARC files of warc/):
   precision and recall of the positive votes, how often each abstains, and the negatives' purity;
2. quality teachers: a fastText quality scorer trained on each candidate pair of reference
   positives and negatives, and the combinations, measured by ROC-AUC against a STAND-IN for
   human quality labels: WebOrganizer's format labels (good: Knowledge Article, Academic Writing,
   Nonfiction Writing, News Article, Tutorial; poor: Spam / Ads, Content Listing, Truncated,
   Product Page, Structured Data; 3,700 DCLM pages). Weakness: formats are a classifier's
   predictions, and format is not quality (a badly written news article is "good", a fine product
   page "poor"); the data is for test use only, so nothing trained here ships. Document length
   alone is the baseline (on 780 human-labelled pages it reached 0.80, issue 17);
3. (--judge N) the offline judge as a quality teacher on N of those pages (its expected score's
   ROC-AUC), and the combination rule: the judge's labels on N crawl pages added to the best
   teacher pair.

    nice -n 10 .venv/bin/python bench/teachers.py [--judge 48] [--out FILE]
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
from classifiers.label_sources import Example, read_texts, seeded_order  # noqa: E402
from classifiers.metrics import roc_auc  # noqa: E402
from classifiers.scorer_specs import spec  # noqa: E402
from classifiers.teachers import code_lf, corpora, math_lf  # noqa: E402
from classifiers.teachers.labelling_functions import signals  # noqa: E402
from classifiers.train_settings import TrainSettings  # noqa: E402
from classifiers.training import train_scorer  # noqa: E402

SEED = 0


def domain_teachers(docs, wet, crawl) -> dict:
    """Votes of the code and math teachers against labels.json (docs) and 'neither' (crawl)."""
    labels = corpora.docs_labels()
    rows = [(r, labels.get(r["url"])) for r in docs.to_pylist() if not corpora.docs_held_out(r["url"])]
    rows += [(r, None) for r in wet.to_pylist() + crawl.to_pylist()]
    sigs = [signals(r["text"], r.get("annotations")) for r, _ in rows]
    out = {"documents": {"docs_training_half": sum(1 for _, t in rows if t), "crawl_and_wet": sum(1 for _, t in rows if not t)}}
    for teacher, truth in ((code_lf.teacher(), "code"), (math_lf.teacher(), "math")):
        votes = teacher.votes([r for r, _ in rows], sigs)
        pos = [(v, t) for v, (_, t) in zip(votes, rows)]
        tp = sum(1 for v, t in pos if v == "1" and t == truth)
        fp = sum(1 for v, t in pos if v == "1" and t != truth)
        n_true = sum(1 for _, t in pos if t == truth)
        neg = [t for v, t in pos if v == "0"]
        out[teacher.name] = {
            "positive_votes": tp + fp, "precision": round(tp / max(tp + fp, 1), 3), "recall": round(tp / max(n_true, 1), 3),
            "false_positives_on_crawl": sum(1 for v, t in pos if v == "1" and t is None),
            "negative_votes": len(neg), "negatives_that_are_this_domain": sum(1 for t in neg if t == truth),
            "abstain": sum(1 for v in votes if v is None),
            "abstain_on_this_domain": sum(1 for v, t in pos if v is None and t == truth),
        }
    return out


def quality_scorer_auc(name, train: list[Example], held: list[Example], root: str) -> dict:
    # trains on the artifact's 80% split; measured on the stand-in labels
    settings = TrainSettings()
    t0 = time.process_time()
    path = train_scorer(spec("quality-fasttext"), train, settings, root, SEED, "cpu")
    scorer = FastTextScorer(path)
    probs, _ = scorer.probability([e.text for e in held])
    return {"n_pos": sum(e.label == "1" for e in train), "n_neg": sum(e.label == "0" for e in train),
            "roc_auc": round(roc_auc([int(e.label) for e in held], [p or 0.0 for p in probs]), 4),
            "train_cpu_s": round(time.process_time() - t0, 1)}


def quality_teachers(drops: list[Example], wet_all, judge_n: int, root: str) -> dict:
    held = corpora.format_quality_examples()
    out = {"heldout_stand_in": {"n": len(held), "positives": sum(e.label == "1" for e in held)},
           "length_baseline_roc_auc": round(roc_auc([int(e.label) for e in held], [len(e.text) for e in held]), 4)}
    gt = corpora.article_bodies()
    wiki = [Example(f"wikitext:{i}", t, "1") for i, t in
            read_texts(str(corpora.shared("text", "wikitext2-valid.txt"))) + read_texts(str(corpora.shared("text", "wikitext2-test.txt")))]
    ccnet = [Example(f"ccnet:{i}", t, "1") for p in sorted(corpora.shared("text").glob("ccnet-en-head-*.jsonl.gz")) for i, t in read_texts(str(p))]
    wet_neg = [Example(f"wet:{i}", t, "0") for i, t in wet_all]
    candidates = {
        "article_bodies_vs_rule_drops": gt + drops,
        "wikitext_vs_rule_drops": wiki + drops,
        "wikitext_vs_all_wet": wiki + wet_neg,
        "article_bodies_vs_all_wet": gt + wet_neg,
        "article_bodies+wikitext_vs_rule_drops": gt + wiki + drops,
        "article_bodies+ccnet_head_vs_rule_drops": gt + ccnet + drops,
    }
    out["sizes"] = {"article_bodies": len(gt), "wikitext_sections": len(wiki), "ccnet_head": len(ccnet), "rule_drops": len(drops), "wet_all": len(wet_neg)}
    for name, train in candidates.items():
        out[name] = quality_scorer_auc(name, train, held, root)
        print("quality", name, json.dumps(out[name]), flush=True)
    if judge_n:
        out["judge"] = judge_quality(held, gt + drops, wet_all, judge_n, root)
    return out


def judge_quality(held, best_pair, wet_all, n, root) -> dict:
    """The offline judge on n stand-in pages, and its labels on n crawl pages added to the best pair
    by the combination rule (the judge's label is the only one those pages get)."""
    from classifiers.judge import JudgeConfig, build_judge
    from classifiers.teachers import judge_votes

    judge = build_judge(JudgeConfig(device="cpu", max_chars=500, cache_dir=root))
    docs = seeded_order(held, SEED)[:n]
    t0 = time.process_time()
    scores = judge.score([e.text for e in docs], "quality")
    ok = [(e, s) for e, s in zip(docs, scores) if not s.failed]
    res = {"n": len(ok), "judge_roc_auc": round(roc_auc([int(e.label) for e, _ in ok], [s.expected for _, s in ok]) or 0, 4),
           "judge_cpu_s_per_doc": round((time.process_time() - t0) / max(len(docs), 1), 2)}
    crawl = corpora.seeded_take([Example(f"wet:{i}", t, "") for i, t in wet_all], n, SEED)
    crawl_scores = judge.score([e.text for e in crawl], "quality")
    judge.close()
    settings = TrainSettings(positive_quantile={"quality": 0.5})
    votes = judge_votes(crawl_scores, "quality", settings, 0.8)
    judged = [Example(e.id, e.text, v.label) for e, v in zip(crawl, votes) if v is not None]
    res["article_bodies_vs_rule_drops+judge_labels"] = quality_scorer_auc("combined", best_pair + judged, held, root)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judge", type=int, default=0, help="pages the offline judge labels (0: skip)")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-teachers-")
    t0 = time.time()
    docs = corpora.warc_documents([corpora.shared("domains", "docs-code-math.warc.gz")])
    crawl = corpora.warc_documents(corpora.crawl_warcs())
    wet_rows = corpora.wet_texts()
    wet = corpora.text_documents(wet_rows)
    print(f"extracted {docs.num_rows} docs pages, {crawl.num_rows} crawl pages, {wet.num_rows} WET documents in {time.time() - t0:.0f} s", flush=True)
    results = {"domain_teachers": domain_teachers(docs, wet, crawl)}
    print("domain", json.dumps(results["domain_teachers"]), flush=True)
    drops = corpora.rule_drop_negatives(wet, crawl)
    results["quality_teachers"] = quality_teachers(drops, wet_rows, args.judge, root)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
