"""Gopher repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1, table A1)
with the measures, thresholds and order of datatrove's GopherRepetitionFilter: duplicated
paragraphs and lines (by count and by characters), the most frequent 2/3/4-gram's character share,
and the characters covered by duplicated 5..10-grams.

datatrove spends its time in spaCy's tokenizer and in string n-grams. Here tokens come from one
regex (filters/ngram_tokens.py) and n-grams are 64-bit hashes of token ids built with numpy, so
every measure is a few array operations; the greedy duplicated-n-gram scan only visits positions
whose n-gram occurred before. bench/heuristic_filters.py compares decisions and speed.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from filters.language_rules import pick
from filters.ngram_tokens import split_words
from filters.text_rules import LanguageRulesConfig, LanguageScopedTextFilter
from filters.word_segment import segment
from pipeline.stage import Resources


_PARAGRAPH_RE = re.compile(r"\n{2,}")
# odd 64-bit multipliers for the n-gram hashes (splitmix64 constants)
_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xBF58476D1CE4E5B9)
_P3 = np.uint64(0x94D049BB133111EB)


class NgramRepetitionConfig(LanguageRulesConfig):
    # All thresholds: Gopher table A1, the defaults of datatrove's GopherRepetitionFilter; a rule is
    # off when its value is None. Ratios are "more than".
    dup_para_frac: float | None = Field(0.3, ge=0, le=1)  # duplicate paragraph fraction
    dup_para_char_frac: float | None = Field(0.2, ge=0, le=1)  # duplicate paragraph character fraction
    dup_line_frac: float | None = Field(0.3, ge=0, le=1)  # duplicate line fraction
    dup_line_char_frac: float | None = Field(0.2, ge=0, le=1)  # duplicate line character fraction
    # top n-gram character fraction, n -> threshold
    top_n_grams: dict[int, float] = {2: 0.20, 3: 0.18, 4: 0.16}
    # duplicate n-gram character fraction, n -> threshold
    dup_n_grams: dict[int, float] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    # Gopher's rules were set on English (datatrove tokenizes with the English tokenizer by
    # default); documents whose `language` is set and not listed pass untouched. None: all, each
    # with its FineWeb-2 thresholds (`fineweb2_overrides` below; docs/languages.md): the default.
    languages: list[str] | None = None
    # Pages `domain-detect` called code or math (filters/text_rules.py): API references repeat
    # their signatures and return conventions ("PyObject* ... Return value: New reference."),
    # examples repeat their setup lines. Our measurements on ../shared/data/domains
    # (bench/domain_recall.py), real pages: duplicated lines up to 0.52 of the lines and 0.33 of
    # the characters, paragraphs 0.31 / 0.15, duplicated n-gram characters up to 0.48 (5-grams,
    # C API number protocol) and 0.43 (10-grams, Maxima's quadpack); their top 2-4-grams stay
    # under Gopher's limits (0.13 / 0.12 / 0.15 of 0.20 / 0.18 / 0.16), which stay. Above these a
    # page repeats one block: a dump or spam.
    domains: dict[str, dict] = {
        kind: {
            "dup_para_frac": 0.5,
            "dup_line_frac": 0.6,
            "dup_line_char_frac": 0.4,
            "dup_n_grams": dict.fromkeys(range(5, 11), 0.55),
        }
        for kind in ("code", "math")
    }


def _duplicates(parts: list[str]) -> tuple[int, int]:
    """(number, characters) of the elements equal to an earlier one (datatrove's find_duplicates),
    as totals less those of the distinct elements."""
    distinct = set(parts)
    return len(parts) - len(distinct), sum(map(len, parts)) - sum(map(len, distinct))


def _lines(text: str) -> list[str]:
    """re.split(r"\n+", text) (datatrove's line split) without the regex: empty pieces between
    newlines go, the first and last pieces stay even when empty."""
    parts = text.split("\n")
    if len(parts) <= 2:
        return parts
    return [parts[0], *filter(None, parts[1:-1]), parts[-1]]


def _mix(h: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser: keeps h_n = mix(h_{n-1} * P + id) from collapsing structured inputs
    h = (h ^ (h >> np.uint64(30))) * _P2
    h = (h ^ (h >> np.uint64(27))) * _P3
    return h ^ (h >> np.uint64(31))


@dataclass
class _Level:
    """The n-grams of one n that occur more than once: their positions `pos` (ascending) and, per
    position, the count of its n-gram and the position of its first occurrence."""

    pos: np.ndarray
    count: np.ndarray
    first: np.ndarray


class _Ngrams:
    """Repeated n-grams of one token sequence for n = 1, 2, ...: an (n+1)-gram at i can repeat only
    if the n-grams at i and i+1 both do, so each level hashes and sorts just those positions, a set
    that shrinks fast in natural text."""

    def __init__(self, tokens: list[str]):
        vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
        ids = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        self.ids = ids.astype(np.uint64) + np.uint64(1)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        self.cum = np.concatenate(([0], np.cumsum(lengths)))  # characters of tokens[:i]
        self._n = 1
        # hash of the n-gram at each position; only positions of repeated n-grams are kept current
        self._hashes = _mix(self.ids)
        self._pos = np.flatnonzero(np.bincount(ids, minlength=1)[ids] >= 2)
        self._levels: dict[int, _Level] = {}

    def level(self, n: int) -> _Level:
        """Repeated n-grams (n >= 2, asked for in increasing n)."""
        if n in self._levels:
            return self._levels[n]
        if self._n > 1 and len(self._pos) == 0:
            return self._levels[self._n]
        if n < self._n:
            raise ValueError("n-gram levels must be asked for in increasing n")
        with np.errstate(over="ignore"):
            while self._n < n:
                k, p = self._n, self._pos
                candidates = p[:-1][p[1:] == p[:-1] + 1]
                if len(candidates) == 0:  # nothing repeats at this n, nor at any larger n
                    empty = _Level(candidates, candidates, candidates)
                    for m in range(k + 1, max(n, k + 1) + 1):
                        self._levels[m] = empty
                    self._pos, self._n = candidates, n
                    break
                h = _mix(self._hashes[candidates] * _P1 + self.ids[candidates + k])
                self._hashes[candidates] = h
                _, first, inverse, counts = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
                keep = counts[inverse] >= 2
                self._pos = candidates[keep]
                self._n = k + 1
                self._levels[self._n] = _Level(self._pos, counts[inverse][keep], candidates[first[inverse]][keep])
        return self._levels[n]

    def chars(self, n: int, pos) -> np.ndarray:
        """Characters of tokens[i:i+n] (no separators) for each i in `pos`."""
        return self.cum[pos + n] - self.cum[pos]


def top_ngram_chars(grams: _Ngrams, n: int) -> int:
    """Characters of the most frequent n-gram joined with spaces, times its count; ties go to the
    n-gram seen first (Counter.most_common's order, as datatrove's find_top_duplicate)."""
    lv = grams.level(n)
    if len(lv.pos) == 0:  # every n-gram occurs once: the first one is "the most common"
        return int(grams.chars(n, 0)) + n - 1
    top = lv.count.max()
    pos = int(lv.first[lv.count == top].min())
    return (int(grams.chars(n, pos)) + n - 1) * int(top)


def dup_ngram_chars(grams: _Ngrams, n: int) -> int:
    """datatrove's find_all_duplicate: scan left to right; an n-gram seen before adds its characters
    and jumps n tokens ahead, else it is remembered. Only positions whose n-gram occurred earlier
    can be repeats; the loop visits just those. An n-gram counts as seen when its first occurrence
    was visited (not jumped over) or an earlier repeat of it was remembered in its place."""
    lv = grams.level(n)
    later = lv.first < lv.pos
    if not later.any():
        return 0
    chars = grams.chars(n, lv.pos[later]).tolist()
    jumped_to = 0  # positions below were jumped over
    jumped: list[tuple[int, int]] = []  # [start, end) windows jumped over, ascending
    remembered: set[int] = set()  # first occurrences whose n-gram was remembered later instead
    total = 0
    for c, f, k in zip(lv.pos[later].tolist(), lv.first[later].tolist(), chars):
        if c < jumped_to:
            continue
        if f in remembered or not _inside(jumped, f):
            total += k
            jumped.append((c + 1, c + n))
            jumped_to = c + n
        else:
            remembered.add(f)
    return total


def _inside(windows: list[tuple[int, int]], i: int) -> bool:
    j = bisect.bisect_right(windows, (i, float("inf"))) - 1
    return j >= 0 and windows[j][0] <= i < windows[j][1]


def _rules(c: NgramRepetitionConfig) -> list[tuple[str, str, str, float | None]]:
    """The rules in datatrove's order: (reason, measure, denominator, threshold; None: off, as a
    paragraph or line rule's 0 is; an n-gram rule's 0 is a threshold, as in datatrove)."""
    return [
        ("dup-para-frac", "para_dups", "paras", c.dup_para_frac or None),
        ("dup-para-char-frac", "para_dup_chars", "chars", c.dup_para_char_frac or None),
        ("dup-line-frac", "line_dups", "lines", c.dup_line_frac or None),
        ("dup-line-char-frac", "line_dup_chars", "chars", c.dup_line_char_frac or None),
        *((f"top-{n}-gram", f"top_{n}", "chars", f) for n, f in sorted(c.top_n_grams.items())),
        *((f"dup-{n}-gram", f"dup_{n}", "chars", f) for n, f in sorted(c.dup_n_grams.items())),
    ]


def repetition_stats(text: str, c: NgramRepetitionConfig, stats: dict | None = None) -> dict:
    """The measures `c`'s rules need, up to the first rule broken (the n-gram measures are most of
    the cost), added to `stats` measured earlier (under other thresholds) without measuring again."""
    s = dict(stats or {})
    s.setdefault("chars", len(text))
    if not text:
        return s
    if "paras" not in s:
        paragraphs = _PARAGRAPH_RE.split(text.strip())
        s["paras"] = len(paragraphs)
        s["para_dups"], s["para_dup_chars"] = _duplicates(paragraphs)
    if "lines" not in s:
        lines = _lines(text)
        s["lines"] = len(lines)
        s["line_dups"], s["line_dup_chars"] = _duplicates(lines)
    grams = None
    for _, measure, denominator, frac in _rules(c):
        if measure not in s and measure[:4] in ("top_", "dup_"):
            if grams is None:
                tokens = segment(text, c.word_segmenter)[0] if c.word_segmenter else split_words(text)
                s["tokens"], grams = len(tokens), _Ngrams(tokens)
            n = int(measure[4:])
            if s["tokens"] < n:
                s[measure] = 0  # too few tokens: the rule does not apply
            else:
                s[measure] = top_ngram_chars(grams, n) if measure.startswith("top_") else dup_ngram_chars(grams, n)
        if frac is not None and s[measure] / s[denominator] > frac:
            break
    return s


def stats_reason(s: dict, c: NgramRepetitionConfig) -> str | None:
    """The first Gopher repetition rule the measures break, in datatrove's order, or None."""
    if not s["chars"]:
        return "empty-text"
    for reason, measure, denominator, frac in _rules(c):
        if frac is not None and s[measure] / s[denominator] > frac:
            return reason
    return None


def repetition_reason(text: str, c: NgramRepetitionConfig) -> str | None:
    """The first Gopher repetition rule `text` breaks, in datatrove's order, or None."""
    return stats_reason(repetition_stats(text, c), c)


class NgramRepetition(LanguageScopedTextFilter):
    name = "ngram-repetition"
    # the measures, kept in annotations["ngram-repetition"]: a new threshold judges them again,
    # measuring only what the earlier thresholds did not need
    writes = ("annotations",)
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = NgramRepetitionConfig

    def stats_key(self, config: NgramRepetitionConfig) -> str:
        return hashlib.sha256(json.dumps([config.word_segmenter]).encode()).hexdigest()[:12]

    def text_stats(self, text: str, config: NgramRepetitionConfig) -> dict:
        return repetition_stats(text, config)

    def complete_stats(self, stats: dict, text: str, config: NgramRepetitionConfig) -> dict:
        return repetition_stats(text, config, stats)

    def stats_reason(self, stats: dict, config: NgramRepetitionConfig) -> str | None:
        return stats_reason(stats, config)

    def fineweb2_overrides(self, rules: dict) -> dict:
        # FineWeb-2's GopherRepetitionFilter arguments (fineweb-2-pipeline.py, step 5): its 0
        # switches a rule off, as a 0 does here
        override = pick(rules, {k: k for k in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")})
        for key in ("top_n_grams", "dup_n_grams"):
            if key in rules:
                override[key] = {int(n): float(f) for n, f in rules[key].items()}
        return override
