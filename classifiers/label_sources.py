"""Labelled examples for the scorers, from the three sources `curate train` accepts: the judge's
labels file, a positives/negatives pair of text sets, and the WebOrganizer topic file. Rows without
text are skipped and counted in the log, never silently lost."""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import xxhash

from pipeline import storage
from pipeline.stage_io import read_parquet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str  # "1"/"0" for binary scorers, a topic key for the topic classifier
    language: str | None = None


def binary_label(judge_label: str, positive_min: int) -> str:
    """The judge's 0..5 label as the binary target: positive from `positive_min` up."""
    return "1" if int(judge_label) >= positive_min else "0"


def read_judge_labels(path: str, task: str, positive_min: int | None) -> list[Example]:
    """Examples of one task from a labels parquet file or folder (`curate judge`, the judge
    stage's labels/); `positive_min` None keeps the judge's label as it is (the topic task)."""
    from classifiers.judge import read_labels

    table = read_labels(path)
    out, skipped = [], 0
    for row in table.to_pylist():
        if row["task"] != task:
            continue
        if not row["text"] or not row["label"]:  # "": the judge gave no label
            skipped += 1
            continue
        label = row["label"] if positive_min is None else binary_label(row["label"], positive_min)
        out.append(Example(row["id"], row["text"], label))
    if skipped:
        log.warning("%s: %d %s labels without text or label skipped", path, skipped, task)
    return out


# WikiText's tokenisation marks ("1 @,@ 000", "well @-@ known") and its <unk> for rare words
# would teach a classifier the file's format instead of Wikipedia-like writing.
_WIKITEXT_MARKS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), ("<unk>", ""))
_ARTICLE = re.compile(r"^ = [^=].* = $")
_SECTION = re.compile(r"^ = = .* = = $")


def wikitext_sections(lines: list[str], min_chars: int = 300) -> list[str]:
    """One document per article section: 124 articles alone are too few to train on, and a
    section is about the length of a web page's main text."""
    docs, current = [], []

    def flush():
        text = "\n".join(p for p in current if p.strip())
        for old, new in _WIKITEXT_MARKS:
            text = text.replace(old, new)
        if len(text) >= min_chars:
            docs.append(text.strip())
        current.clear()

    for line in lines:
        if _ARTICLE.match(line) or _SECTION.match(line) or _SECTION.match(line.replace("= = =", "= =")):
            flush()
        elif line.strip():
            current.append(line.strip())
    flush()
    return docs


def _open(path: str):
    """A text file, local or a URI (read from a node-local copy), gunzipped when it ends in .gz."""
    local = storage.local_path(path)
    return gzip.open(local, "rt", encoding="utf-8") if path.endswith(".gz") else open(local, encoding="utf-8")


def read_texts(path: str) -> list[tuple[str, str]]:
    """(id, text) pairs from .jsonl[.gz] (`text`, optional `id`), .parquet (`text`, optional
    `id`) or .txt (WikiText sections, else blank-line separated paragraphs); local paths or URIs."""
    name = Path(path).name
    if path.endswith(".parquet"):
        table = read_parquet(path)
        texts = table.column("text").to_pylist()
        ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * len(texts)
        rows = [(i or f"{name}:{n}", t) for n, (i, t) in enumerate(zip(ids, texts))]
    elif ".jsonl" in name:
        rows = []
        with _open(path) as f:
            for n, line in enumerate(f):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s:%d: not JSON, skipped", path, n + 1)
                    continue
                rows.append((str(rec.get("id") or f"{name}:{n}"), rec.get("text")))
    else:
        with _open(path) as f:
            lines = f.read().split("\n")
        if any(_ARTICLE.match(x) for x in lines[:50]):
            docs = wikitext_sections(lines)
        else:
            docs = [p.strip() for p in "\n".join(lines).split("\n\n") if p.strip()]
        rows = [(f"{name}:{n}", d) for n, d in enumerate(docs)]
    kept = [(i, t) for i, t in rows if isinstance(t, str) and t.strip()]
    if len(kept) < len(rows):
        log.warning("%s: %d rows without text skipped", path, len(rows) - len(kept))
    return kept


def read_positives_negatives(positives: list[str], negatives: list[str]) -> list[Example]:
    out = []
    for paths, label in ((positives, "1"), (negatives, "0")):
        for p in paths:
            out.extend(Example(i, t, label) for i, t in read_texts(p))
    return out


def read_weborganizer(path: str, taxonomy=None) -> list[Example]:
    """WebOrganizer topic labels as the judge's taxonomy keys: the file's `topic_id` indexes
    WebOrganizer's 24 topics in taxonomy order (its short names, "History", differ from the
    taxonomy's, "History & Geography"); rows without text or topic are skipped."""
    from classifiers.judge.taxonomy import load_taxonomy, topic_key

    keys = [t.key for t in load_taxonomy(taxonomy)]
    out, skipped = [], 0
    with _open(path) as f:
        for n, line in enumerate(f):
            rec = json.loads(line)
            tid = rec.get("topic_id")
            if not rec.get("text") or (tid is None and not rec.get("topic")):
                skipped += 1
                continue
            label = keys[tid] if isinstance(tid, int) and 0 <= tid < len(keys) else topic_key(rec["topic"])
            out.append(Example(rec.get("url") or f"weborganizer:{n}", rec["text"], label))
    if skipped:
        log.warning("%s: %d rows without text or topic skipped", path, skipped)
    return out


def with_languages(examples: list[Example]) -> list[Example]:
    """Languages by lid.176 for examples without one (labels files and text sets carry none): the
    quality scorer trains per language."""
    from dataclasses import replace

    todo = [i for i, e in enumerate(examples) if e.language is None]
    if not todo:
        return examples
    from classifiers.langid import LanguageId

    lid = LanguageId()
    lid.setup()
    languages = lid.predict([examples[i].text for i in todo])[0]
    out = list(examples)
    for i, lang in zip(todo, languages):
        out[i] = replace(out[i], language=lang)
    return out


def seeded_hash(example_id: str, seed: int) -> int:
    """64-bit hash of (seed, id): the order, split and sample of documents derive from it, so
    they never depend on the order the documents were read in."""
    return xxhash.xxh3_64_intdigest(f"{seed}\0{example_id}".encode("utf-8", "surrogatepass"))


def seeded_order(examples: list[Example], seed: int) -> list[Example]:
    return sorted(examples, key=lambda e: (seeded_hash(e.id, seed), e.id, e.label))


def is_held_out(example_id: str, fraction: float, seed: int) -> bool:
    """Stable split by a hash of the id: the same document is held out in every run."""
    return (seeded_hash(example_id, seed) % 10_000) < fraction * 10_000


def split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if not is_held_out(e.id, fraction, seed)]
    held = [e for e in examples if is_held_out(e.id, fraction, seed)]
    return train, held


def examples_sha256(examples: list[Example]) -> str:
    """Content hash of a training set, independent of the order it was read in."""
    h = hashlib.sha256()
    for e in sorted(examples, key=lambda e: (e.id, e.label, e.text)):
        h.update(f"{e.label}\t{e.language or ''}\t{e.id}\t{e.text}\0".encode("utf-8", "surrogatepass"))
    return h.hexdigest()
