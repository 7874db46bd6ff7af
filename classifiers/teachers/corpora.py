"""Offline corpora for the teachers' measurements (bench/teachers.py, bench/scorers.py) and the
default artifacts (scripts/build_default_artifacts.py): the shared data of ../shared/data read as
documents, run through this pipeline's own stages in this process (extraction with the HTML
counts the domain teachers read, language ID, the rule filters), with the settings of a pipeline
config. Nothing here runs in a pipeline run."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa

from classifiers.label_sources import Example, is_held_out, read_texts, seeded_hash
from classifiers.teachers.rule_drops import RULE_FILTERS

ROOT = Path(__file__).resolve().parent.parent.parent
BASE_CONFIG = str(ROOT / "configs" / "base.yaml")
# the held-out half of the documentation pages: by a seeded hash of the URL, the same rule in the
# default artifacts' build and in every measurement
DOCS_HOLDOUT_SEED, DOCS_HOLDOUT_FRACTION = 17, 0.5


def run_locally(table: pa.Table, stages, config_path: str = BASE_CONFIG) -> tuple[pa.Table, pa.Table]:
    """Run `stages` (those the config's pipeline lists, in its order, with its settings) over
    documents in this process: (kept, dropped with `stage` and `reason`). Only these stages'
    settings are validated (each by its own Config), not the whole pipeline."""
    from pipeline.config import _load_yaml
    from pipeline.registry import stage_class
    from pipeline.schema import DROPPED_SCHEMA
    from pipeline.stage import RunContext, run_map_stage_local

    cfg = _load_yaml(Path(config_path).resolve())
    dropped = [DROPPED_SCHEMA.empty_table()]
    for name in [s for s in cfg.get("pipeline", []) if s in stages]:
        cls = stage_class(name)
        stage = cls(cls.Config(**dict((cfg.get("stages") or {}).get(name) or {})), RunContext(output_dir=".", stage_dir="."))
        table, gone = run_map_stage_local(stage, table)
        teardown = getattr(stage, "teardown", None)
        if teardown:
            teardown()
        dropped.append(gone)
    return table, pa.concat_tables(dropped)


def _cached(key: str, make):
    """`make()`'s table, kept under $CURATE_CORPORA_CACHE (when set) by `key` and the code and
    config it depends on: reruns of a benchmark skip the extraction."""
    import hashlib
    import os

    from pipeline.schema import DOCUMENT_SCHEMA
    from pipeline.stage_io import read_parquet, write_parquet

    folder = os.environ.get("CURATE_CORPORA_CACHE")
    if not folder:
        return make()
    h = hashlib.sha256(key.encode())
    for f in ("configs/base.yaml", "pipeline/extract/stage.py", "pipeline/extract/page.py", "pipeline/extract/features.py", "classifiers/langid.py"):
        p = ROOT / f
        h.update(p.read_bytes() if p.is_file() else b"")
    path = os.path.join(folder, f"{h.hexdigest()[:24]}.parquet")
    if os.path.exists(path):
        return read_parquet(path, schema=DOCUMENT_SCHEMA)
    table = make()
    write_parquet(table, path)
    return table


def warc_documents(paths: list[str], config_path: str = BASE_CONFIG) -> pa.Table:
    """HTML pages of WARC files, extracted (text + `annotations["html"]`) and language-identified
    (the pages extraction or langid drop are left out)."""
    from pipeline.sources.warc import read_warc_local

    def make():
        table, _ = read_warc_local([str(p) for p in paths])
        return run_locally(table, ("extract", "langid"), config_path)[0]

    return _cached(f"warc:{sorted(map(str, paths))}:{config_path}", make)


def text_documents(rows: list[tuple[str, str]], config_path: str = BASE_CONFIG) -> pa.Table:
    """(id, text) pairs as language-identified documents (kept by langid only)."""
    from pipeline.schema import documents_from_rows

    def make():
        return run_locally(documents_from_rows([{"id": i, "text": t} for i, t in rows]), ("langid",), config_path)[0]

    return _cached(f"text:{len(rows)}:{rows[0][0] if rows else ''}:{config_path}", make)


def rule_filtered(table: pa.Table, config_path: str = BASE_CONFIG) -> tuple[pa.Table, pa.Table]:
    return run_locally(table, RULE_FILTERS, config_path)


def benchmark_urls() -> set[str]:
    """URLs of the extraction benchmark's pages (article-benchmark-181.warc.gz holds them too)."""
    data = json.loads(shared("extraction", "ground-truth.json").read_text())
    return {rec["url"] for rec in data.values() if rec.get("url")}


def rule_drop_negatives(wet: pa.Table, crawl: pa.Table, config_path: str = BASE_CONFIG) -> list[Example]:
    """The rule-drops teacher offline: pages the config's rule filters drop among the WET documents
    and the crawl pages (the article benchmark's pages left out: they are the references' pages)."""
    from classifiers.teachers.rule_drops import negatives

    urls = benchmark_urls()
    crawl = crawl.filter(pa.array([u not in urls for u in crawl.column("url").to_pylist()]))
    _, dropped = rule_filtered(pa.concat_tables([wet, crawl]), config_path)
    return negatives(dropped.to_pylist(), None, 0)


def article_bodies() -> list[Example]:
    from classifiers.teachers.references import read_references

    return read_references([str(shared("extraction", "ground-truth.json"))])


def shared(*parts: str) -> Path:
    from pipeline.assets import shared_data_dir

    return shared_data_dir().joinpath(*parts)


def crawl_warcs() -> list[Path]:
    """The crawl WARC files of ../shared/data/warc (the article benchmark's pages included)."""
    return sorted(p for p in shared("warc").glob("*.warc.gz") if "truncated" not in p.name)


def wet_texts() -> list[tuple[str, str]]:
    return read_texts(str(shared("text", "cc-main-2019-30-wet.jsonl.gz")))


def docs_labels() -> dict[str, str]:
    """URL -> "code" / "math" for ../shared/data/domains/docs-code-math.warc.gz."""
    return json.loads(shared("domains", "labels.json").read_text())


def docs_held_out(url: str) -> bool:
    """The documentation pages held out of every training set, for measurement (half, by URL)."""
    return is_held_out(url, DOCS_HOLDOUT_FRACTION, DOCS_HOLDOUT_SEED)


def weborganizer_rows() -> list[dict]:
    with gzip.open(shared("topics", "weborganizer-topics.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# WebOrganizer's formats as a stand-in for quality labels (test use only; see bench/teachers.py):
# formats a page referenced from Wikipedia has, and formats it hardly ever has
GOOD_FORMATS = ("Knowledge Article", "Academic Writing", "Nonfiction Writing", "News Article", "Tutorial")
POOR_FORMATS = ("Spam / Ads", "Content Listing", "Truncated", "Product Page", "Structured Data")


def format_quality_examples() -> list[Example]:
    """WebOrganizer documents of the good (label "1") and poor ("0") formats."""
    out = []
    for n, r in enumerate(weborganizer_rows()):
        if r["format"] in GOOD_FORMATS or r["format"] in POOR_FORMATS:
            out.append(Example(r.get("url") or f"weborganizer:{n}", r["text"], "1" if r["format"] in GOOD_FORMATS else "0"))
    return out


def seeded_take(items: list, n: int, seed: int, key=lambda x: x.id) -> list:
    return sorted(items, key=lambda x: (seeded_hash(key(x), seed), key(x)))[:n]
