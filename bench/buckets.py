"""Code and math buckets on real labelled pages, the mix and the annealing set (issue 17, item 7).

    python bench/buckets.py [--output DIR] [--rerun] [--calibrate [--write-config]]

Runs (or, when DIR holds a finished run, reuses)

    curate run --config configs/commoncrawl.yaml \\
        --input ../shared/data/warc/*.warc.gz ../shared/data/domains/docs-code-math.warc.gz --output DIR

and prints, against ../shared/data/domains/labels.json (URL -> code | math; the crawl pages of
../shared/data/warc count as neither):
- code and math bucket precision and recall. Recall is over ALL labelled pages: a page a filter
  drops before assign-bucket counts as missed. "bucket" is assign-bucket's decision (kept or
  dropped later by topic downsampling or the mix: the ledger keeps the bucket of both);
  "in shards" counts only the pages the mix kept;
- where the labelled pages were lost (stage: reason), and which buckets they went to;
- the mix's token shares against 50/25/17/8 (within 1 point?) and the annealing set.

--calibrate chooses assign-bucket's thresholds on the pages that reached the scorers
(pipeline/mix/calibrate.py: the highest recall at precision >= 0.9 on a tune half of the pages,
precision and recall measured on the other half); --write-config writes them, with that
provenance, into configs/base.yaml. Targets of the issue: code recall >= 0.8 and precision >= 0.9,
math recall >= 0.7 and precision >= 0.9, the mix within 1 point wherever the input allows."""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pyarrow.parquet as pq  # noqa: E402

from pipeline.mix.calibrate import Page, calibrate  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
LABELS = os.path.join(SHARED, "domains", "labels.json")
DOCS_WARC = os.path.join(SHARED, "domains", "docs-code-math.warc.gz")
CONFIG = os.path.join(ROOT, "configs", "commoncrawl.yaml")
BASE = os.path.join(ROOT, "configs", "base.yaml")
TARGETS = {"code": (0.9, 0.8), "math": (0.9, 0.7)}  # (precision, recall)
BUCKET = {"code": "code", "math": "math_reasoning"}


def run_pipeline(out: str, extra: list[str]) -> float:
    inputs = sorted(glob.glob(os.path.join(SHARED, "warc", "*.warc.gz"))) + [DOCS_WARC]
    cmd = [os.path.join(ROOT, ".venv", "bin", "curate"), "run", "--config", CONFIG, "--input", *inputs, "--output", out, *extra]
    print("$", " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - t0


def _read(folder: str, columns: list[str]) -> list[dict]:
    files = sorted(glob.glob(os.path.join(folder, "*.parquet")))
    rows = []
    for f in files:
        t = pq.read_table(f)
        rows += t.select([c for c in columns if c in t.column_names]).to_pylist()
    return rows


def stage_dirs(out: str) -> list[str]:
    """The run's stage folders in pipeline order (from summary.json: a reused folder may hold
    folders of an earlier pipeline too)."""
    summary = json.load(open(os.path.join(out, "summary.json")))
    return [os.path.join(out, "stages", f"{s['index']:02d}-{s['name']}") for s in summary["stages"]]


def urls_by_id(out: str) -> dict[str, str]:
    """Each record's URL, from the first pass's kept files and every dropped file (a bench may
    read the records; a run's driver does not)."""
    found: dict[str, str] = {}
    for d in stage_dirs(out):
        for sub in ("kept", "dropped"):
            for r in _read(os.path.join(d, sub), ["id", "url"]):
                if r.get("url"):
                    found.setdefault(r["id"], r["url"])
    return found


def page_outcomes(out: str, labels: dict[str, str]) -> list[dict]:
    """One row per page (WARC response record) with its label, final stage/reason, bucket and
    whether it reached the shards."""
    ledger = _read(os.path.join(out, "ledger"), ["record_id", "stage", "decision", "reason", "bucket", "repeats"])
    urls = urls_by_id(out)
    rows = []
    for r in ledger:
        if r["stage"] == "read-warc" and (r["reason"] or "").startswith("warc-type:"):
            continue  # request, metadata, warcinfo records: not pages
        url = urls.get(r["record_id"])
        rows.append({"id": r["record_id"], "url": url, "label": labels.get(url), "stage": r["stage"],
                     "decision": r["decision"], "reason": r["reason"], "bucket": r["bucket"],
                     "in_shards": r["decision"] == "kept" and (r["repeats"] or 0) > 0})
    return rows


def bucket_scores(rows: list[dict], key: str) -> dict:
    out = {}
    for label, bucket in BUCKET.items():
        chosen = [r for r in rows if r[key] == bucket]
        tp = sum(1 for r in chosen if r["label"] == label)
        labelled = sum(1 for r in rows if r["label"] == label)
        out[label] = {"precision": round(tp / len(chosen), 3) if chosen else None,
                      "recall": round(tp / labelled, 3) if labelled else None, "tp": tp, "chosen": len(chosen),
                      "labelled": labelled}
    return out


def scorer_unseen(out: str):
    """A predicate on URLs: True where no scorer the run used was trained on the page. The shipped
    default code and math scorers record their hold-out rule in metrics.json (`holdout.function`:
    half the documentation pages by URL hash); a scorer trained in the run on its own sample saw
    some of these pages, which the predicate cannot know, so it then says True everywhere (and the
    figures say so)."""
    import importlib

    pointer = json.load(open(os.path.join(out, "trained-scorers.json"))) if os.path.exists(os.path.join(out, "trained-scorers.json")) else {}
    rules = []
    for scorer in ("code-score", "reasoning-score"):
        location = pointer.get(scorer) or ""
        if location.startswith("default:"):
            from classifiers.default_artifacts import resolve_ref

            location = resolve_ref(location)
        metrics = json.load(open(os.path.join(location, "metrics.json"))) if os.path.exists(os.path.join(location, "metrics.json")) else {}
        function = (metrics.get("holdout") or {}).get("function")
        if function:
            module, _, name = function.rpartition(".")
            rules.append(getattr(importlib.import_module(module), name))
    if not rules:
        return None
    return lambda url, label: label is None or all(rule(url) for rule in rules)


def report_buckets(rows: list[dict], unseen=None) -> dict:
    for r in rows:
        r["shard_bucket"] = r["bucket"] if r["in_shards"] else None
    assigned, shards = bucket_scores(rows, "bucket"), bucket_scores(rows, "shard_bucket")
    held = None
    if unseen is not None:
        held = bucket_scores([r for r in rows if r["url"] and unseen(r["url"], r["label"])], "bucket")
    print("\n== code and math buckets against labels.json (recall over every labelled page)")
    print(f"{'':6} {'precision':>9} {'recall':>7} {'target P/R':>11}   {'in shards: P':>12} {'R':>6}   pages")
    for label in BUCKET:
        a, s = assigned[label], shards[label]
        p, rc = TARGETS[label]
        ok = a["precision"] is not None and a["precision"] >= p and a["recall"] >= rc
        print(f"{label:6} {a['precision'] if a['precision'] is not None else '—':>9} {a['recall']:>7} {p:>5}/{rc:<5}"
              f"{'ok' if ok else 'MISS':>4}  {s['precision'] if s['precision'] is not None else '—':>9} {s['recall']:>6}   "
              f"{a['tp']} of {a['labelled']} labelled found, {a['chosen']} in the bucket")
    if held is not None:
        print("on the documentation pages the code and math scorers never trained on (their held-out half) and every "
              "crawl page: " + "; ".join(f"{label} P {held[label]['precision']} R {held[label]['recall']} "
                                          f"({held[label]['tp']} of {held[label]['labelled']})" for label in BUCKET))
    print("\n== where the labelled pages went")
    for label in BUCKET:
        lost = Counter(f"{r['stage']}: {r['reason']}" for r in rows if r["label"] == label and r["bucket"] is None)
        went = Counter(r["bucket"] for r in rows if r["label"] == label and r["bucket"] is not None)
        print(f"{label}: bucket {dict(went)}; dropped before a bucket: {sum(lost.values())}")
        for why, n in lost.most_common():
            print(f"    {n:4d}  {why}")
    wrong = Counter((r["bucket"], r["url"].split("/")[2] if r["url"] else None) for r in rows
                    if r["bucket"] in ("code", "math_reasoning") and r["label"] != {"code": "code", "math_reasoning": "math"}[r["bucket"]])
    if wrong:
        print("false positives (bucket, site):", dict(wrong.most_common(10)))
    return {"assigned": assigned, "in_shards": shards, "unseen_by_scorers": held}


def report_mix(out: str) -> dict:
    summary = json.load(open(os.path.join(out, "summary.json")))
    mix = summary.get("mix") or {}
    print("\n== mix: token shares of the shards against the targets")
    unmet = {u.get("bucket"): u for u in mix.get("unmet", [])}
    for b, v in sorted((mix.get("buckets") or {}).items()):
        off = 100 * (v["achieved"] - v["target"])
        print(f"{b:15} target {v['target']:.2f} achieved {v['achieved']:.4f} ({off:+.2f} pp) tokens {v['tokens']:>8} "
              f"repetition {v.get('repetition', 0):.2f}  {'within 1 pp' if abs(off) <= 1 else 'OFF: ' + str(unmet.get(b, {}).get('why'))}")
    anneal = mix.get("anneal") or {}
    sizes = {b: v.get("documents") for b, v in anneal.items() if b != "shards"}
    print(f"annealing set: {sizes} documents; shards {anneal.get('shards')}")
    stages = {s["name"]: s for s in summary["stages"]}
    for name in ("quality-threshold", "downsample-topics", "mix"):
        if name in stages:
            print(f"{name}: in {stages[name]['rows_in']} dropped {stages[name]['dropped']} {stages[name]['reasons']}")
    return {"buckets": mix.get("buckets"), "anneal": sizes, "unmet": mix.get("unmet")}


# ---------------------------------------------------------------------------------- calibration

def scored_pages(out: str, labels: dict[str, str], source: str = "scorers") -> list[Page]:
    """The pages that reached the scorers, with their scores: the kept files of the scorers' pass
    (the first kept/ at or after stage reasoning-score). `source`: the scorers' columns, or
    "domain-detect": the labelling functions' scores in annotations["domain"] (for comparison)."""
    dirs = stage_dirs(out)
    start = next(i for i, d in enumerate(dirs) if d.endswith("-reasoning-score"))
    kept = next(os.path.join(d, "kept") for d in dirs[start:] if os.path.isdir(os.path.join(d, "kept")))
    rows = _read(kept, ["id", "url", "language", "code_score", "reasoning_score", "annotations"])
    pages = []
    for r in rows:
        code, reasoning = r["code_score"], r["reasoning_score"]
        if source == "domain-detect":
            domain = json.loads(r["annotations"] or "{}").get("domain") or {}
            code, reasoning = domain.get("code"), domain.get("math")
        pages.append(Page(r["url"] or r["id"], labels.get(r["url"]), code, reasoning, r["language"]))
    return pages


SOURCES = {"scorers": ("code_score", "reasoning_score"), "domain-detect": ("domain.code", "domain.math")}


def write_config(result: dict, out: str) -> None:
    """assign-bucket's scores, thresholds and order in configs/base.yaml, with their provenance."""
    text = open(BASE).read()
    start = text.index("\n  assign-bucket:") + 1
    nxt = re.search(r"^  \S", text[start + 1:], re.M)  # the next stage's section
    stop = start + 1 + nxt.start() if nxt else len(text)
    section = text[start:stop]
    used = json.load(open(os.path.join(out, "trained-scorers.json"))) if os.path.exists(os.path.join(out, "trained-scorers.json")) else {}

    def put(key: str, value, comment: str) -> None:
        nonlocal section
        def line(m: re.Match) -> str:
            text = f"{m.group(1)} {value}"
            return text.ljust(max(37, len(text) + 1)) + "# " + comment  # comments at column 37, as the file's

        section = re.sub(rf"^(\s+{key}:)[^\n]*$", line, section, count=1, flags=re.M)

    put("first", result["first"], "the domain tested first when a page reaches both thresholds (bench/buckets.py --calibrate)")
    columns = SOURCES[result["source"]]
    for key, column, label, scorer in (("code", columns[0], "code", "code-score"), ("reasoning", columns[1], "math", "reasoning-score")):
        held, chosen = result["held_out"][label], result["chosen_on_tune"][label]
        origin = ("domain-detect's labelling functions" if result["source"] == "domain-detect" else
                  "/".join(str(used.get(scorer) or "?").replace("default:", "default ").split("/")[-2:]))
        put(f"{key}_column", column, f"{origin} (bench/buckets.py --calibrate measures both sources)")
        put(f"{key}_threshold", f"{result[key + '_threshold']:g}",
            f"bench/buckets.py --calibrate: tune half P {chosen['precision']} R {chosen['recall']}; "
            f"held-out half P {held['precision']} R {held['recall']} of {held['labelled']} {label} pages")
    open(BASE, "w").write(text[:start] + section + text[stop:])
    print(f"wrote {columns} thresholds {result['code_threshold']}, {result['reasoning_threshold']} ({result['first']} first) into {BASE}")


def _tune_pages(result: dict) -> tuple:
    """How good a calibration is, on the tune half only (the held-out half only measures): the
    precision target met, then code and math pages found under the whole rule."""
    met = sum(result["chosen_on_tune"][label]["met"] for label in ("code", "math"))
    return met, sum(result["tune"][label]["tp"] for label in ("code", "math"))


def calibrate_source(out: str, labels: dict[str, str], source: str, primary: tuple[str, ...]) -> dict:
    """Thresholds for one source of scores, in the better order on the tune half (code first
    unless math first finds at least two more tune pages: one page is noise on this data)."""
    pages = scored_pages(out, labels, source)
    note = "the pages that reached the scorers"
    if source == "scorers":
        unseen = scorer_unseen(out)
        if unseen is not None:
            pages = [p for p in pages if unseen(p.key, p.label)]
            note += " and that the scorers never trained on"
        else:
            note += " (scorers trained in this run: some pages are theirs)"
    else:
        note += " (domain-detect's functions were tuned on these documentation pages: optimistic)"
    code_first, math_first = (calibrate(pages, primary, 0.9, seed=20240722, first=f) for f in ("code", "math_reasoning"))
    a, b = _tune_pages(code_first), _tune_pages(math_first)
    result = math_first if (b[0], b[1] - 1) > a else code_first
    return {**result, "source": source, "note": note}


def report_calibration(out: str, labels: dict[str, str], write: bool, force: bool = False, source: str | None = None) -> dict:
    import yaml

    bucket_cfg = yaml.safe_load(open(BASE))["stages"]["assign-bucket"]
    primary = tuple(bucket_cfg.get("primary_languages", ["en"]))
    configured = "domain-detect" if str(bucket_cfg.get("code_column")).startswith("domain.") else "scorers"
    print("\n== calibration of assign-bucket: the highest recall at precision >= 0.9 on a tune half, measured on the other")
    results = {}
    for src in dict.fromkeys([source or configured, *SOURCES]):
        r = results[src] = calibrate_source(out, labels, src, primary)
        print(f"-- {src} {SOURCES[src]}, {r['first']} first, on {r['note']}: pages {r['pages']}")
        for label, key in (("code", "code_threshold"), ("math", "reasoning_threshold")):
            c = r["chosen_on_tune"][label]
            print(f"   {key} {r[key]} -- tune P {c['precision']} R {c['recall']}{'' if c['met'] else ' (precision 0.9 not reachable: best F1)'}; "
                  f"held-out P {r['held_out'][label]['precision']} R {r['held_out'][label]['recall']}; "
                  f"all P {r['all'][label]['precision']} R {r['all'][label]['recall']}")
        for column, bins in r["reliability"].items():
            print(f"   reliability {column}: " + ", ".join(f"[{b['lo']:.1f},{b['hi']:.1f}) n={b['n']} pos={b['positive_rate']}" for b in bins))
    result = results[source or configured]
    print(f"configured: {configured} {bucket_cfg.get('code_column')} >= {bucket_cfg.get('code_threshold')}, "
          f"{bucket_cfg.get('reasoning_column')} >= {bucket_cfg.get('reasoning_threshold')}, {bucket_cfg.get('first')} first")
    if write:
        unmet = [label for label in ("code", "math") if not result["chosen_on_tune"][label]["met"]]
        if unmet and not force:
            print(f"not written: precision 0.9 is not reachable for {unmet} on these scores (--force writes the best-F1 "
                  "thresholds anyway)")
        else:
            write_config(result, out)
    return result


def sweep_percentiles(out: str, percentiles: list[float], labels: dict[str, str]) -> list[dict]:
    """Score once, decide many: copies of the run with quality-threshold at other percentiles
    (each rerun resumes at quality-threshold: the scorers are not rerun), and what each keeps."""
    import shutil

    rows = []
    for p in percentiles:
        copy = f"{out}-p{p:g}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(out, copy)
        run_pipeline(copy, ["--set", f"stages.quality-threshold.percentile={p:g}"])
        summary = json.load(open(os.path.join(copy, "summary.json")))
        mix = summary.get("mix") or {}
        pages = page_outcomes(copy, labels)
        dropped = Counter(r["label"] or "crawl" for r in pages if r["stage"] == "quality-threshold")
        rows.append({"percentile": p, "quality_dropped": dict(dropped),
                     "total_tokens": (mix.get("total_tokens") or {}).get("achieved"), "limited_by": mix.get("limited_by"),
                     "shares": {b: round(v["achieved"], 4) for b, v in (mix.get("buckets") or {}).items()},
                     "unmet": [u.get("bucket") for u in mix.get("unmet", [])]})
    print("\n== quality-threshold percentile: what the mix keeps (score once, decide many)")
    for r in rows:
        print(f"p{r['percentile']:<4g} dropped {r['quality_dropped']}  mix tokens {r['total_tokens']}  limited by "
              f"{r['limited_by']}  shares {r['shares']}  unmet {r['unmet']}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default="/tmp/bench-buckets", help="run folder (reused when it holds a finished run)")
    ap.add_argument("--rerun", action="store_true", help="run the pipeline even when DIR holds a finished run (resumes unchanged stages)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to curate run")
    ap.add_argument("--calibrate", action="store_true", help="choose assign-bucket's thresholds on the scored pages")
    ap.add_argument("--write-config", action="store_true", help="with --calibrate: write them into configs/base.yaml")
    ap.add_argument("--force", action="store_true", help="with --write-config: write even where precision 0.9 is not reachable")
    ap.add_argument("--source", choices=sorted(SOURCES), help="with --calibrate: the scores to calibrate (and write): "
                    "the scorers' columns or domain-detect's; default: the configured ones")
    ap.add_argument("--sweep", help="comma-separated quality-threshold percentiles to rerun from that stage in copies of DIR")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    if not os.path.exists(LABELS):
        print(f"{LABELS} not found: this benchmark needs ../shared/data", file=sys.stderr)
        return 2
    labels = json.load(open(LABELS))
    out = os.path.abspath(args.output)
    if args.rerun or not os.path.exists(os.path.join(out, "summary.json")):
        seconds = run_pipeline(out, [x for kv in args.set for x in ("--set", kv)])
        print(f"run: {seconds:.0f} s")
    else:
        print(f"reusing the finished run in {out}")
    figures = {"buckets": report_buckets(page_outcomes(out, labels), scorer_unseen(out)), "mix": report_mix(out)}
    if args.calibrate:
        figures["calibration"] = report_calibration(out, labels, args.write_config, args.force, args.source)
    if args.sweep:
        figures["sweep"] = sweep_percentiles(out, [float(x) for x in args.sweep.split(",")], labels)
    if args.json:
        json.dump(figures, open(args.json, "w"), indent=2, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
