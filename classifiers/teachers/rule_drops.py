"""The rule-drop teacher (`rule-drops`): pages the rule filters dropped, as quality negatives. Their
dropped/ rows keep the text and the reason, so in a run they cost nothing to collect
(`run_dropped`); scripts and benchmarks drop pages the same way in this process
(corpora.run_locally, with the filters' settings from a pipeline config).

Pages the domain labelling functions call code or math are left out: the rules are written for
prose and drop real code and math pages for their few sentences or repeated symbols, which would
teach the quality scorer that code and mathematics are low quality."""
from __future__ import annotations

import logging

from classifiers.label_sources import Example, seeded_order
from classifiers.teachers.labelling_functions import signals
from pipeline import storage

log = logging.getLogger(__name__)

NAME = "rule-drops"
# the quality rules (not the safety, language or dedup stages: a duplicate or a page in another
# language says nothing about quality)
RULE_FILTERS = ("dirty-words", "line-repetition", "ngram-repetition", "gopher-quality", "c4-quality", "fineweb-quality")
_COLUMNS = ["id", "text", "language", "annotations", "reason"]


def negatives(rows: list[dict], max_docs: int | None, seed: int) -> list[Example]:
    """Rows (id, text[, language, annotations]) as negative examples, code and math pages left out."""
    out, domain_pages = [], 0
    for r in rows:
        if not r.get("text") or not r["text"].strip():
            continue
        if signals(r["text"], r.get("annotations")).kind is not None:
            domain_pages += 1
            continue
        out.append(Example(f"{NAME}:{r['id']}", r["text"], "0", r.get("language")))
    if max_docs is not None and len(out) > max_docs:
        out = seeded_order(out, seed)[:max_docs]
    log.info("teacher %s: %d negatives (%d code or math pages left out)", NAME, len(out), domain_pages)
    return out


def run_dropped(output_dir: str, max_docs: int | None = None, seed: int = 0, stages=RULE_FILTERS) -> list[Example]:
    """Negatives from the dropped/ rows of this run's rule filters (`stages/NN-<name>/dropped/`)."""
    from pipeline.stage_io import read_parquet
    from pipeline.schema import DROPPED_SCHEMA

    rows = []
    for name in stages:
        for f in storage.glob(storage.join(output_dir, "stages", f"*-{name}", "dropped", "*.parquet")):
            rows.extend(read_parquet(f, columns=_COLUMNS, schema=DROPPED_SCHEMA).to_pylist())
    return negatives(rows, max_docs, seed)
