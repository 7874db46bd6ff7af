"""Do code and math pages survive the rule filters? The per-document stages in pipeline order, run
in this process (as bench/pipeline_stages.py), over real documentation pages
(../shared/data/domains/docs-code-math.warc.gz: Python 3.11 docs = code, Maxima manual = math,
labels by URL in labels.json) mixed with the crawl pages of ../shared/data/warc/*.warc.gz.

Two runs over the same records:
- `prose`: the pipeline as it was before domain-aware extraction and rules (extract with
  `html_signals` and `docs_layout` off, no `domain-detect`: every page judged by the prose rules);
- `domain`: as configured, with `domain-detect` right after `extract` (added when the config's
  pipeline lacks it) and the filters' `domains` rules for pages it calls code or math.
For each: pages per label (code, math, crawl) left after each stage, the rules that dropped them,
and, for the domain run, the precision and recall of `annotations["domain"]["kind"]` against the
labels (crawl pages count as neither), the labelled pages still dropped (with their first line,
to judge whether they are boilerplate) and the crawl pages whose decision changed.

    .venv/bin/python bench/domain_recall.py [--config configs/commoncrawl.yaml] [--runs prose,domain] [--votes]

Global stages (dedup), the model scorers and the sink are left out (bench/pipeline_stages.py
explains why); extraction runs in this process (`timeout_s: 0`).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from collections import Counter, defaultdict

import pyarrow as pa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from classifiers.domain_detect import DomainDetect  # noqa: E402
from filters.text_rules import domain_kind_of  # noqa: E402
from pipeline.config import _load_yaml  # noqa: E402
from pipeline.registry import STAGES, stage_class  # noqa: E402
from pipeline.stage import MapStage, RunContext, run_map_stage_local  # noqa: E402
from pipeline.sources.warc import read_warc_local  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
LABELS = ("code", "math", "crawl")
# stages that need trained artifacts or read scorer columns (bench/pipeline_stages.py)
MODEL_STAGES = {"quality-fasttext", "quality-transformer", "code-score", "reasoning-score", "topic", "judge",
                "assign-bucket", "downsample-topics", "tokenize"}
DETECT = "domain-detect"


def stage_for(name: str):
    return DomainDetect if name == DETECT and name not in STAGES else stage_class(name)


class BenchConfig:
    """The parts of a pipeline config this bench uses, read without validating the stages it does
    not run (another stage's config being edited must not stop it)."""

    def __init__(self, path: str):
        from pathlib import Path

        data = _load_yaml(Path(path).resolve())
        self.pipeline: list[str] = data["pipeline"]
        self.stages: dict = data.get("stages", {})
        self.batch_size: int = data.get("run", {}).get("batch_size", 256)
        self.seed: int = data.get("run", {}).get("seed", 0)

    def stage_config(self, name: str):
        return stage_for(name).Config(**self.stages.get(name, {}))


def pipeline_for(config: BenchConfig, run: str) -> list[str]:
    names = [n for n in config.pipeline[1:] if n not in MODEL_STAGES]
    if run == "prose":
        return [n for n in names if n != DETECT]
    if DETECT not in names:
        names.insert(names.index("extract") + 1, DETECT)
    return names


def run_stages(table, config, run: str, ctx: RunContext) -> dict:
    """Run the per-document stages; returns the survivors per stage and label, the drops, the
    CPU seconds per stage, and the kind and text of every page domain-detect saw."""
    survivors: list[tuple[str, Counter]] = [("read-warc", Counter(table.column("label").to_pylist()))]
    drops: dict[str, tuple[str, str]] = {}  # id -> (stage, reason)
    cpu: dict[str, float] = {}
    kinds: dict[str, str | None] = {}
    texts: dict[str, str] = {}
    annotations: dict[str, str | None] = {}
    for name in pipeline_for(config, run):
        cls = stage_for(name)
        if not issubclass(cls, MapStage):
            continue
        params = config.stage_config(name)
        if name == "extract":
            update = {"timeout_s": 0}
            if run == "prose":
                update.update(html_signals=False, docs_layout=False)
            params = params.model_copy(update=update)
        stage = cls(params, ctx)
        stage.setup()
        labels = table.column("label")
        table = table.drop_columns(["label"])
        t0 = time.process_time()
        kept, dropped = run_map_stage_local(stage, table, config.batch_size)
        cpu[name] = time.process_time() - t0
        label_of = dict(zip(table.column("id").to_pylist(), labels.to_pylist()))
        for rid, reason in zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()):
            drops[rid] = (name, reason)
        if name == DETECT:  # never drops: every page that reached it, with its kind and text
            ids = kept.column("id").to_pylist()
            annotations = dict(zip(ids, kept.column("annotations").to_pylist()))
            kinds = {i: domain_kind_of(a) for i, a in annotations.items()}
            texts = dict(zip(ids, kept.column("text").to_pylist()))
        table = kept.append_column("label", _labels(kept, label_of))
        survivors.append((name, Counter(table.column("label").to_pylist())))
    return {"survivors": survivors, "drops": drops, "cpu": cpu, "kinds": kinds, "texts": texts, "annotations": annotations}


def _labels(table, label_of: dict):
    """The label column of `table` from {id: label}."""
    return pa.array([label_of[i] for i in table.column("id").to_pylist()], pa.string())


def print_funnel(run: str, result: dict, label_of: dict) -> None:
    print(f"\n== {run}: pages left after each stage")
    print(f"{'stage':<18}" + "".join(f"{lab:>8}" for lab in LABELS))
    for name, counts in result["survivors"]:
        print(f"{name:<18}" + "".join(f"{counts.get(lab, 0):>8}" for lab in LABELS))
    by = defaultdict(Counter)
    for rid, (stage, reason) in result["drops"].items():
        by[label_of[rid]][f"{stage}: {reason}"] += 1
    for lab in LABELS:
        total = sum(by[lab].values())
        reasons = ", ".join(f"{r} {n}" for r, n in by[lab].most_common())
        print(f"  {lab} dropped {total}: {reasons}")


def kind_metrics(all_kinds: dict, label_of: dict, url_of: dict) -> None:
    """Precision / recall of the kind against the labels over every page domain-detect saw."""
    print("\n== domain-detect kind against labels.json (every page that reached domain-detect; crawl = neither)")
    for domain in ("code", "math"):
        tp = sum(1 for u, k in all_kinds.items() if k == domain and label_of[u] == domain)
        fp = sorted(u for u, k in all_kinds.items() if k == domain and label_of[u] != domain)
        fn = sum(1 for u, k in all_kinds.items() if k != domain and label_of[u] == domain)
        p = tp / (tp + len(fp)) if tp + len(fp) else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        print(f"  {domain}: precision {p:.3f} recall {r:.3f} (tp {tp}, fp {len(fp)}, fn {fn})")
        for u in fp:
            print(f"    false positive ({label_of[u]}): {url_of[u]}")


def print_votes(res: dict, label_of: dict) -> None:
    """Each labelling function's vote per label (10th, 50th, 90th percentile, max): what the
    weights in DomainSignalsConfig were set from."""
    from classifiers.domain_signals import code_signal, math_signal

    votes = defaultdict(lambda: defaultdict(list))  # label -> function -> votes
    for rid, text in res["texts"].items():
        ann = json.loads(res["annotations"].get(rid) or "{}")
        for prefix, signal in (("code", code_signal), ("math", math_signal)):
            for name, v in signal(text, ann.get("html")).votes.items():
                votes[label_of[rid]][f"{prefix}.{name}"].append(v)
    print("\n== votes per label: p10 / p50 / p90 / max")
    names = sorted(votes["code"])
    print(f"{'function':<18}" + "".join(f"{lab:>24}" for lab in LABELS))
    for name in names:
        cells = []
        for lab in LABELS:
            v = sorted(votes[lab][name])
            q = [v[min(int(p * len(v)), len(v) - 1)] for p in (0.1, 0.5, 0.9)] + [v[-1]] if v else [0.0] * 4
            cells.append(" ".join(f"{x:.2f}" for x in q))
        print(f"{name:<18}" + "".join(f"{c:>24}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "commoncrawl.yaml"))
    ap.add_argument("--warc", default=os.path.join(SHARED, "warc", "*.warc.gz"))
    ap.add_argument("--domains", default=os.path.join(SHARED, "domains"))
    ap.add_argument("--runs", default="prose,domain", help="comma-separated: prose, domain")
    ap.add_argument("--votes", action="store_true", help="also print each labelling function's votes per label")
    args = ap.parse_args()
    labels_path = os.path.join(args.domains, "labels.json")
    if not os.path.exists(labels_path):
        sys.exit(f"no {labels_path}: the shared data is needed")
    labels = json.load(open(labels_path))
    files = sorted(glob.glob(args.warc)) + [os.path.join(args.domains, "docs-code-math.warc.gz")]
    config = BenchConfig(args.config)
    ctx = RunContext(output_dir="/tmp/bench-domain-recall", stage_dir="/tmp/bench-domain-recall/s", seed=config.seed)
    table, _ = read_warc_local(files, config.stage_config("read-warc"))
    url_of = dict(zip(table.column("id").to_pylist(), table.column("url").to_pylist()))
    label_of = {rid: labels.get(u, "crawl") for rid, u in url_of.items()}
    table = table.append_column("label", _labels(table, label_of))
    print(f"{len(files)} WARC files, HTML pages: " + ", ".join(f"{lab} {n}" for lab, n in Counter(label_of.values()).items()))

    results = {}
    for run in args.runs.split(","):
        results[run] = run_stages(table, config, run, ctx)
        print_funnel(run, results[run], label_of)
    if "domain" in results:
        res = results["domain"]
        kinds = res["kinds"]
        kind_metrics(kinds, label_of, url_of)
        if args.votes:
            print_votes(res, label_of)
        print("\n== labelled pages dropped in the domain run (stage: reason, kind, characters, first line)")
        for rid, (stage, reason) in sorted(res["drops"].items(), key=lambda x: (label_of[x[0]], x[1])):
            if label_of[rid] == "crawl":
                continue
            text = res["texts"].get(rid) or ""
            first = text.strip().split("\n", 1)[0][:60]
            name = "/".join(url_of[rid].rsplit("/", 2)[-2:])
            print(f"  {label_of[rid]:<5} {stage + ': ' + reason:<44} {str(kinds.get(rid)):<5} {len(text):>6}  {name:<32} {first!r}")
        print(f"\ndomain-detect: {res['cpu'].get(DETECT, 0):.2f} CPU s for {sum(res['survivors'][2][1].values())} pages")
    if "prose" in results and "domain" in results:
        before, after = results["prose"]["drops"], results["domain"]["drops"]
        for lab in LABELS:
            b = sum(1 for u in before if label_of[u] == lab)
            a = sum(1 for u in after if label_of[u] == lab)
            n = sum(1 for v in label_of.values() if v == lab)
            print(f"{lab}: dropped {b} -> {a} of {n} (survive {n - b} -> {n - a}, {100 * (n - a) / n:.1f}%)")
        changed = sorted(r for r in set(before) | set(after) if label_of[r] == "crawl" and before.get(r) != after.get(r))
        for r in changed:
            print(f"  crawl page changed: {before.get(r)} -> {after.get(r)}: {url_of[r]}")



if __name__ == "__main__":
    main()
