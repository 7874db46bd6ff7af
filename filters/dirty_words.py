"""Dirty-word filter (C4, Raffel et al. 2020, with the LDNOOBW lists): counts list entries in a
document in its own language's list. C4 drops a page on a single hit; here a page is dropped only
when the count reaches `min_count` AND the matched share of its words reaches `min_ratio`, so one
anatomical word in a long medical page does not drop it.

Space-separated languages are matched on word boundaries, entries of several words as word
sequences; scripts written without spaces (zh, ja, th) by substring, with the share measured in
characters.

The lists (LDNOOBW, CC BY 4.0, 28 languages) install with the project as package data
(filters/assets/ldnoobw/); `lists_dir` points elsewhere, a local folder or an object-store URI.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
from pydantic import Field

from pipeline import storage
from pipeline.assets import datatrove_assets_dir, ldnoobw_lists_dir
from pipeline.stage import Filter, Resources, StageConfig

log = logging.getLogger(__name__)

# a word with inner joiners kept ("g-spot", "s&m", "op z'n"), else one symbol (emoji, comma): the
# same split on entries and on text, so multi-word entries match as token sequences
_TOKEN_RE = re.compile(r"\w+(?:[-'’`&]\w+)*|[^\w\s]")


def _local_lists(location: str) -> str:
    """The lists folder as a local path: itself, or a node-local copy of an object-store folder
    (a cluster whose nodes share no disk keeps the lists beside its data)."""
    if not storage.is_uri(location):
        return location
    try:
        return storage.local_dir(location)
    except FileNotFoundError:
        return location  # not there: setup says so (or falls back to English)


def _default_lists_dir() -> str:
    """The lists shipped in this package (filters/assets/ldnoobw), all 28 LDNOOBW languages."""
    return str(ldnoobw_lists_dir())


class DirtyWordsConfig(StageConfig):
    # folder of LDNOOBW lists, one file per language named by its code, one entry per line; a
    # local path or an object-store URI (s3://bucket/lists/ldnoobw). Unset: the lists that ship
    # with the project (filters/assets/ldnoobw, 28 languages), found on each worker at setup, in
    # its own install (a path taken on the driver may not exist on another node)
    lists_dir: str | None = None
    # drop when at least this many entries occur ... (C4: 1; 3 keeps pages that mention one or two
    # such words in passing: measured on weborganizer-topics, see tests/filters/test_dirty_words.py)
    min_count: int = Field(3, ge=1)
    # ... and they make at least this share of the words (characters for substring languages);
    # 1%: on weborganizer topics (8,712 pages) 0.5% dropped 3.5% of Crime & Law and 3.0% of Health
    # pages (BBC / news reports of assault cases on the shared WARCs), 1% drops 1.9% / 1.9% and still
    # 58% of Adult pages (67.6% at 0.5%); adult domains are the URL blocklist's job first
    min_ratio: float = Field(0.01, ge=0, le=1)
    # lid.176 codes whose list file has another name (LDNOOBW uses fil for Filipino, no for
    # Norwegian, and a second French list for Quebec); other codes use the file of the same name
    list_names: dict[str, list[str]] = {"tl": ["fil"], "nn": ["no"], "fr": ["fr", "fr-CA-u-sd-caqc"]}
    # written without spaces between words: matched by substring
    substring_languages: list[str] = ["zh", "ja", "th"]
    # when the lists folder is missing (a `lists_dir` that names no folder, or an install that lost
    # the package data): use the English banned-word list in the datatrove wheel for English only,
    # with a warning, instead of failing the run
    fallback_to_datatrove_english: bool = True


@dataclass(frozen=True)
class WordList:
    singles: frozenset[str]  # one-token entries
    multi: dict[str, tuple[tuple[str, ...], ...]]  # first token -> entries of several tokens
    substrings: tuple[str, ...]  # entries for substring matching


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def load_word_list(paths: list[Path], substring: bool) -> WordList:
    entries = sorted({line.strip().lower() for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()})
    if substring:
        return WordList(frozenset(), {}, tuple(entries))
    singles, multi = set(), {}
    for e in entries:
        toks = tuple(_tokens(e))
        if len(toks) == 1:
            singles.add(toks[0])
        elif toks:
            multi.setdefault(toks[0], []).append(toks)
    return WordList(frozenset(singles), {k: tuple(v) for k, v in multi.items()}, ())


@dataclass(frozen=True)
class Hits:
    count: int  # entries found
    matched: int  # words (characters for substring languages) inside them
    total: int  # words (characters) in the text

    @property
    def ratio(self) -> float:
        return self.matched / self.total if self.total else 0.0


def count_words(text: str, wl: WordList) -> Hits:
    """Entries of `wl` in `text` on word boundaries, longest entry first at each word."""
    tokens = _tokens(text)
    total = sum(1 for t in tokens if t[0].isalnum() or t[0] == "_" or len(t) > 1)
    if wl.singles.isdisjoint(tokens) and wl.multi.keys().isdisjoint(tokens):
        return Hits(0, 0, total)
    count = matched = i = 0
    while i < len(tokens):
        t = tokens[i]
        step = 0
        for entry in wl.multi.get(t, ()):
            if len(entry) > step and tuple(tokens[i : i + len(entry)]) == entry:
                step = len(entry)
        if step == 0 and t in wl.singles:
            step = 1
        if step:
            count += 1
            matched += step
            i += step
        else:
            i += 1
    return Hits(count, matched, total)


@lru_cache(maxsize=256)
def _alternation(entries: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(re.escape(e) for e in sorted(entries, key=lambda e: (-len(e), e))))


def count_substrings(text: str, wl: WordList) -> Hits:
    """Non-overlapping entries of `wl` in `text`, longest first; share in non-space characters."""
    low = text.lower()
    total = len(low) - sum(low.count(c) for c in " \n\t\r\u3000")
    present = tuple(e for e in wl.substrings if e in low)
    if not present:
        return Hits(0, 0, total)
    found = _alternation(present).findall(low)
    return Hits(len(found), sum(map(len, found)), total)


class DirtyWords(Filter):
    name = "dirty-words"
    reads = ("text", "language")
    writes = ()
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = DirtyWordsConfig

    def setup(self) -> None:
        d = Path(_local_lists(self.config.lists_dir or _default_lists_dir()))
        if not d.is_dir() and self.config.fallback_to_datatrove_english:
            fallback = datatrove_assets_dir() / "banned_words.txt"
            log.warning(
                "dirty-words: LDNOOBW lists not found at %s; checking ENGLISH ONLY, with %s: pages in "
                "other languages are not checked (leave stages.dirty-words.lists_dir unset to use the "
                "lists shipped with the project, %s, or set it to a folder holding them)",
                d, fallback, _default_lists_dir(),
            )
            self._lists = {"en": load_word_list([fallback], False)}
            return
        if not d.is_dir():
            raise FileNotFoundError(
                f"dirty-words: LDNOOBW word lists not found at {d}; leave stages.dirty-words.lists_dir "
                f"unset to use the lists shipped with the project ({_default_lists_dir()}), or set it to "
                "a folder of lists (one file per language code)"
            )
        files = {p.name: p for p in d.iterdir() if p.is_file() and not p.name.isupper() and "." not in p.name}
        if not files:
            raise FileNotFoundError(f"dirty-words: no word lists in {d} (expected files named by language code)")
        self._lists: dict[str, WordList] = {}
        codes = set(files) | set(self.config.list_names)
        for code in sorted(codes):
            names = self.config.list_names.get(code, [code])
            paths = [files[n] for n in names if n in files]
            if paths:
                self._lists[code] = load_word_list(paths, code in self.config.substring_languages)
        log.info("dirty-words: lists for %d languages from %s", len(self._lists), d)

    def hits(self, text: str, language: str | None) -> Hits | None:
        """Hits in the document's language list; None when there is no list for it."""
        wl = self._lists.get(language) if language else None
        if wl is None:
            return None
        return count_substrings(text, wl) if wl.substrings else count_words(text, wl)

    def decide(self, batch: pa.Table) -> list[str | None]:
        c = self.config
        reasons: list[str | None] = []
        for text, lang in zip(batch.column("text").to_pylist(), batch.column("language").to_pylist()):
            if text is None:
                reasons.append("no-text")
                continue
            h = self.hits(text, lang)
            dirty = h is not None and h.count >= c.min_count and h.ratio >= c.min_ratio
            reasons.append("dirty-words" if dirty else None)
        n_missing = reasons.count("no-text")
        if n_missing:
            log.warning("dirty-words: %d of %d records have no text (dropped as no-text)", n_missing, len(reasons))
        return reasons
