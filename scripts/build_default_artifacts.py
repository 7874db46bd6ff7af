"""Build the default scorer artifacts that ship in classifiers/default_artifacts/ (quality-fasttext,
code-score, reasoning-score), from data whose license allows it, labelled by the teachers
(classifiers/teachers/), quantised (.ftz) so the package stays small:

- quality-fasttext: positives = the extraction benchmark's human-extracted article bodies
  (../shared/data/extraction, MIT); negatives = the pages this pipeline's rule filters (configs/
  base.yaml) drop among the CC WET sample (text/cc-main-2019-30-wet, Apache-2.0) and the crawl
  WARC files (warc/: dolma and resiliparse tests, Apache-2.0; the article benchmark's own pages left
  out), code and math pages left out (the rule-drops teacher). The choice of this pair is measured
  in bench/teachers.py;
- code-score / reasoning-score: the documentation pages of domains/docs-code-math.warc.gz (Python
  3.11 docs, PSF License; Maxima manual, GPL-2) and the CC WET sample, labelled by the code-lf and
  math-lf teachers (positive on strong signal, negative on strong absence, abstaining pages left
  out). labels.json is NOT used for training: it is the measurement's ground truth.

HELD OUT: half of the documentation pages never train anything: those whose URL satisfies
`is_held_out(url, 0.5, seed 17)` (classifiers/label_sources.py: xxh3_64 of "17\\0<url>" mod
10,000 < 5,000; classifiers/teachers/corpora.py: docs_held_out). bench/scorers.py measures the
code and math scorers on that half mixed with the crawl pages of warc/, which no domain scorer
trains on either. The rule, the held-out URLs' count and the measurement are in each metrics.json.

    nice -n 10 .venv/bin/python scripts/build_default_artifacts.py [--scorers code-score ...]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers import artifacts, default_artifacts, fasttext_model  # noqa: E402
from classifiers.label_sources import Example, with_languages  # noqa: E402
from classifiers.metrics import binary_metrics  # noqa: E402
from classifiers.scorer_specs import spec  # noqa: E402
from classifiers.teachers import code_lf, corpora, math_lf, references, rule_drops  # noqa: E402
from classifiers.teachers.labelling_functions import signals  # noqa: E402
from classifiers.train_settings import TrainSettings  # noqa: E402
from classifiers.training import load_scorer, train_scorer  # noqa: E402

SEED = 0
# words kept by quantisation: the vocabulary of a few thousand documents fits, the file stays ~1 MB
CUTOFF = 50_000
HOLDOUT = {
    "rule": "documentation pages of domains/docs-code-math.warc.gz with is_held_out(url, 0.5, 17) are not trained on",
    "function": "classifiers.teachers.corpora.docs_held_out", "fraction": corpora.DOCS_HOLDOUT_FRACTION,
    "seed": corpora.DOCS_HOLDOUT_SEED,
}
SOURCES = {
    "extraction": "../shared/data/extraction/ground-truth.json: scrapinghub article-extraction-benchmark, MIT",
    "wet": "../shared/data/text/cc-main-2019-30-wet.jsonl.gz: allenai/dolma tests, Apache-2.0",
    "warc": "../shared/data/warc/*.warc.gz: allenai/dolma and chatnoir-resiliparse tests, commoncrawl/whirlwind-python, Apache-2.0",
    "docs": "../shared/data/domains/docs-code-math.warc.gz: Python 3.11 docs (PSF License), Maxima manual (GPL-2), via Debian",
}


def domain_examples(rows: list[dict], task: str) -> tuple[list[Example], dict, int]:
    """The teacher's labelled pages, {teacher: n}, and how many it abstained on."""
    teacher = {"code": code_lf.teacher(), "reasoning": math_lf.teacher()}[task]
    votes = teacher.votes(rows, [signals(r["text"], r.get("annotations")) for r in rows])
    out = [Example(r["id"], r["text"], v, r.get("language")) for r, v in zip(rows, votes) if v is not None]
    return out, {teacher.name: len(out)}, sum(v is None for v in votes)


def measure_domain(path: str, held: list[dict], crawl: list[dict], truth: str) -> dict:
    """Precision / recall at 0.5 on the held-out docs pages mixed with the crawl pages."""
    scorer = load_scorer(path)
    rows = held + crawl
    probs, _ = scorer.probability([r["text"] for r in rows], [r.get("language") for r in rows])
    labels = corpora.docs_labels()
    y = [int(labels.get(r["url"]) == truth) for r in rows]
    m = binary_metrics(y, [p or 0.0 for p in probs])
    tp = sum(1 for t, p in zip(y, probs) if t and (p or 0) >= 0.5)
    fp = sum(1 for t, p in zip(y, probs) if not t and (p or 0) >= 0.5)
    return {"n_docs_held_out": len(held), "n_crawl": len(crawl), "positives": sum(y), "roc_auc": round(m["roc_auc"], 4),
            "precision_at_0.5": round(tp / max(tp + fp, 1), 4), "recall_at_0.5": round(tp / max(sum(y), 1), 4)}


def ship(path: str, out_root: Path, scorer: str, extra: dict) -> str:
    """Quantise the artifact at `path` into out_root/<scorer>/<version>/ (older versions removed)."""
    meta = artifacts.read_metrics(path)
    version = meta["version"]
    dest = out_root / scorer / version
    if (out_root / scorer).exists():
        shutil.rmtree(out_root / scorer)
    dest.mkdir(parents=True)
    models = {}
    for name, f in meta["models"].items():
        models[name] = Path(f).with_suffix(".ftz").name
        fasttext_model.quantize(os.path.join(path, f), str(dest / models[name]), CUTOFF)
    meta.update(models=models, quantized={"cutoff": CUTOFF, "qnorm": True}, **extra)
    (dest / artifacts.METRICS).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return str(dest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scorers", nargs="+", default=["quality-fasttext", "code-score", "reasoning-score"])
    ap.add_argument("--out", default=str(default_artifacts.ROOT))
    args = ap.parse_args()
    out_root = Path(args.out)
    work = tempfile.mkdtemp(prefix="default-artifacts-")
    docs = corpora.warc_documents([corpora.shared("domains", "docs-code-math.warc.gz")])
    crawl = corpora.warc_documents(corpora.crawl_warcs())
    wet = corpora.text_documents(corpora.wet_texts())
    docs_rows = docs.to_pylist()
    train_docs = [r for r in docs_rows if not corpora.docs_held_out(r["url"])]
    held_docs = [r for r in docs_rows if corpora.docs_held_out(r["url"])]
    crawl_rows = crawl.to_pylist()
    settings = TrainSettings()
    index = default_artifacts.versions()
    for scorer in args.scorers:
        sp = spec(scorer)
        if sp.task == "quality":
            refs, negs = corpora.article_bodies(), corpora.rule_drop_negatives(wet, crawl)
            examples = with_languages(refs + negs)
            teachers = {references.NAME: len(refs), rule_drops.NAME: len(negs)}
            used = ["extraction", "wet", "warc"]
            measured = {}
        else:
            examples, teachers, abstained = domain_examples(train_docs + wet.to_pylist(), sp.task)
            used = ["docs", "wet"]
            measured = None
        path = train_scorer(sp, examples, settings, work, SEED, "cpu", {"teachers": teachers})
        extra = {"sources": {k: SOURCES[k] for k in used}, "teachers": teachers, "built_by": "scripts/build_default_artifacts.py"}
        if measured is None:
            extra["holdout"] = {**HOLDOUT, "n_held_out_docs_pages": len(held_docs), "n_training_docs_pages": len(train_docs)}
            extra["teacher_abstained"] = abstained
        dest = ship(path, out_root, scorer, extra)
        if measured is None:
            truth = "code" if sp.task == "code" else "math"
            m = measure_domain(dest, held_docs, crawl_rows, truth)
            meta = json.loads((Path(dest) / artifacts.METRICS).read_text())
            meta["holdout"]["measured"] = m
            (Path(dest) / artifacts.METRICS).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        index[scorer] = Path(dest).name
        print(scorer, dest, json.dumps({"teachers": teachers, **(artifacts.read_metrics(dest).get("holdout") or {}).get("measured", {})}), flush=True)
    (out_root / default_artifacts.INDEX).write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
