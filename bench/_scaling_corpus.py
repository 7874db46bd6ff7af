"""Parquet corpora of N documents made from the 9.4k real texts of ../shared/data (Common Crawl WET
+ WebOrganizer), for scaling benchmarks: document i is real text i mod 9.4k with each word
replaced, with probability `edit`, by a random word of the same texts (lines, spacing and
punctuation kept, so line-based filters see real page structure). At edit 0.1 two versions of a
text share ~0.9^10 = 35% of their word 5-grams (Jaccard ~0.2): no MinHash duplicates are planted,
so the global stages do their full work at every size. Every document is labelled `en` (the
English-only rules of the filters apply to all of them, like a run after langid).

Generated once per (n, edit, seed) under the cache folder (a `_DONE` file marks a complete one).
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SOURCES = ("text/cc-main-2019-30-wet.jsonl.gz", "topics/weborganizer-topics.jsonl.gz")
_SPLIT = re.compile(r"(\s+)")


def real_texts(data) -> list[str]:
    texts = []
    for rel in SOURCES:
        with gzip.open(os.path.join(str(data), rel), "rt") as f:
            texts.extend(t for t in (json.loads(line).get("text") for line in f) if t and t.strip())
    return texts


class EditedCorpus:
    def __init__(self, texts: list[str], edit: float, seed: int):
        # tokens alternate word / whitespace; words sit at even positions
        self.parts = [np.array(_SPLIT.split(t), dtype=object) for t in texts]
        vocab = sorted({w for p in self.parts for w in p[::2] if w})
        self.vocab = np.array(vocab, dtype=object)
        self.edit, self.seed = edit, seed

    def text(self, i: int) -> str:
        parts = self.parts[i % len(self.parts)]
        rng = np.random.default_rng((self.seed, i))
        words = np.arange(0, len(parts), 2)
        hit = words[rng.random(len(words)) < self.edit]
        if len(hit):
            parts = parts.copy()
            parts[hit] = self.vocab[rng.integers(0, len(self.vocab), len(hit))]
        return "".join(parts)


def corpus_files(data, n: int, cache: str, edit: float = 0.1, seed: int = 0, rows_per_file: int = 2500,
                 corpus: EditedCorpus | None = None) -> list[str]:
    """Parquet files (DOCUMENT_SCHEMA) of an n-document corpus, generated on first use."""
    from pipeline.schema import DOCUMENT_SCHEMA

    folder = os.path.join(cache, f"n{n}-edit{edit}-seed{seed}")
    if not os.path.exists(os.path.join(folder, "_DONE")):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        corpus = corpus or EditedCorpus(real_texts(data), edit, seed)
        for f0 in range(0, n, rows_per_file):
            rows = range(f0, min(n, f0 + rows_per_file))
            cols = {"id": [f"d{i:07d}" for i in rows], "text": [corpus.text(i) for i in rows], "language": ["en"] * len(rows)}
            table = pa.table([pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(len(rows), f.type)
                              for f in DOCUMENT_SCHEMA], schema=DOCUMENT_SCHEMA)
            pq.write_table(table, os.path.join(folder, f"part-{f0 // rows_per_file:05d}.parquet"))
        open(os.path.join(folder, "_DONE"), "w").close()
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))
