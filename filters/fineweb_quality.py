"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.5), with the
thresholds, measures and order of datatrove's FineWebQualityFilter: share of lines ending in
punctuation, share of short lines, characters in duplicated lines, newlines per word.

All but the last are line statistics (str methods). The last divides the newlines by datatrove's
spaCy word count; every str.split() chunk holds at least one spaCy token, so a page whose
newlines-per-chunk ratio is already within bounds passes without counting; only the others are
counted, with our fast token count (filters/word_stats.py). bench/heuristic_filters.py compares.
"""
from __future__ import annotations

import functools
import hashlib
import json

from datatrove.utils.text import TERMINAL_PUNCTUATION
from pydantic import Field

from filters.language_rules import pick
from filters.ngram_repetition import _duplicates
from filters.word_stats import language_stats
from filters.text_rules import LanguageRulesConfig, LanguageScopedTextFilter
from pipeline.stage import Resources



class FineWebQualityConfig(LanguageRulesConfig):
    # Defaults: FineWeb (Penedo et al. 2024, 3.5), the values of datatrove's FineWebQualityFilter;
    # a rule is off when its threshold is None.
    # "fraction of lines ending with punctuation <= 0.12" drops (datatrove: strictly below)
    line_punct_thr: float | None = Field(0.12, ge=0, le=1)
    line_punct_exclude_zero: bool = False  # datatrove option: pages with no such line pass
    # characters that count as end punctuation; None: datatrove's TERMINAL_PUNCTUATION (159)
    stop_chars: tuple[str, ...] | None = None
    # "fraction of lines shorter than 30 characters >= 0.67" drops (datatrove: <= 30 chars, > 0.67)
    short_line_thr: float | None = Field(0.67, ge=0, le=1)
    short_line_length: int = Field(30, ge=0)
    # the paper's "fraction of characters in duplicated lines" rule; 0.01 is datatrove's default
    char_duplicates_ratio: float | None = Field(0.01, ge=0, le=1)
    # newlines per word (datatrove's "list_ratio"; its default, not in the paper's list)
    new_line_ratio: float | None = Field(0.3, ge=0)
    # Set on English; documents whose `language` is set and not in this list pass untouched;
    # documents with no language get the rules. None: every language, each with its FineWeb-2
    # thresholds (`fineweb2_overrides` below; docs/languages.md): the default.
    languages: list[str] | None = None
    # Pages `domain-detect` called code or math (filters/text_rules.py). Our measurements on
    # ../shared/data/domains (bench/domain_recall.py), real pages only:
    # - line punctuation: off; code and formula lines end without it (Python docs down to 0.06,
    #   Maxima pages of examples 0.0);
    # - short lines: code has "}", "else:", "(%o1) 42"; real pages reach 0.82 (errno's table of
    #   codes); above 0.9 a page is a menu or a word list;
    # - duplicated-line characters: examples repeat their setup lines (load("stats")$, #include
    #   <Python.h>); real pages reach 0.34 (newtypes_tutorial's C listings), prose pages 0.01;
    # - newlines per word: unchanged (code pages reach 0.24 of the 0.3).
    domains: dict[str, dict] = {
        kind: {"line_punct_thr": None, "short_line_thr": 0.9, "char_duplicates_ratio": 0.4} for kind in ("code", "math")
    }


def fineweb_stats(text: str, c: FineWebQualityConfig, stop_chars: frozenset | tuple) -> dict:
    """The measures of FineWeb's rules, none of them a threshold (the token count is left for
    `with_tokens`: only pages with many newlines need it). `stop_chars`: a set of single
    characters (fast path) or a tuple of endings."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return {"lines": 0}
    if isinstance(stop_chars, frozenset):
        n_punct = sum(1 for line in lines if line[-1] in stop_chars)
    else:
        n_punct = sum(1 for line in lines if line.endswith(stop_chars))
    return {
        "lines": len(lines),
        "punct_lines": n_punct,
        "short_lines": sum(1 for line in lines if len(line) <= c.short_line_length),
        "dup_chars": _duplicates(lines)[1],
        "chars": len(text) - text.count("\n"),
        "newlines": text.count("\n"),
        "chunks": len(text.split()),
        "tokens": None,
    }


def _many_newlines(stats: dict, c: FineWebQualityConfig) -> bool:
    # chunks <= spaCy tokens: within bounds on chunks means within bounds on tokens
    return c.new_line_ratio is not None and stats["lines"] > 0 and stats["newlines"] > c.new_line_ratio * stats["chunks"]


def with_tokens(stats: dict, text: str, c: FineWebQualityConfig) -> dict:
    """`stats` with the token count where `c`'s newline rule needs it and it is not there yet."""
    if stats.get("tokens") is None and _many_newlines(stats, c):
        return {**stats, "tokens": language_stats(text, c.word_segmenter).n_tokens}
    return stats


def stats_reason(s: dict, c: FineWebQualityConfig) -> str | None:
    """The first FineWeb rule the measures break, in datatrove's order, or None."""
    n = s["lines"]
    if n == 0:
        return "fineweb-empty"
    if c.line_punct_thr is not None:
        ratio = s["punct_lines"] / n
        if ratio < c.line_punct_thr and not (ratio == 0 and c.line_punct_exclude_zero):
            return "fineweb-line-punct-ratio"
    if c.short_line_thr is not None and s["short_lines"] / n > c.short_line_thr:
        return "fineweb-short-line-ratio"
    if c.char_duplicates_ratio is not None and s["dup_chars"] and s["dup_chars"] / s["chars"] > c.char_duplicates_ratio:
        return "fineweb-char-dup-ratio"
    if _many_newlines(s, c) and (s["tokens"] == 0 or s["newlines"] / s["tokens"] > c.new_line_ratio):
        return "fineweb-list-ratio"
    return None


@functools.lru_cache(maxsize=8)
def _stop_chars(chars: tuple[str, ...] | None) -> frozenset | tuple:
    chars = chars if chars is not None else tuple(TERMINAL_PUNCTUATION)
    # one-character endings (the default): a set lookup of the last character, ~5x faster
    return frozenset(chars) if all(len(ch) == 1 for ch in chars) else tuple(chars)


class FineWebQuality(LanguageScopedTextFilter):
    name = "fineweb-quality"
    # the line measures, kept in annotations["fineweb-quality"]: a new threshold judges them again
    writes = ("annotations",)
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = FineWebQualityConfig

    def stats_key(self, config: FineWebQualityConfig) -> str:
        spec = [config.stop_chars, config.short_line_length, config.word_segmenter]
        return hashlib.sha256(json.dumps(spec, ensure_ascii=False).encode()).hexdigest()[:12]

    def text_stats(self, text: str, config: FineWebQualityConfig) -> dict:
        return fineweb_stats(text, config, _stop_chars(config.stop_chars))

    def complete_stats(self, stats: dict, text: str, config: FineWebQualityConfig) -> dict:
        return with_tokens(stats, text, config)

    def stats_reason(self, stats: dict, config: FineWebQualityConfig) -> str | None:
        return stats_reason(stats, config)

    def fineweb2_overrides(self, rules: dict) -> dict:
        # FineWeb-2's FineWebQualityFilter arguments (fineweb-2-pipeline.py, step 5); its
        # short_line_thr=999 switches the rule off, None here
        override = pick(rules, {k: k for k in ("line_punct_thr", "new_line_ratio", "char_duplicates_ratio")})
        if "short_line_thr" in rules:
            override["short_line_thr"] = None
        return override
