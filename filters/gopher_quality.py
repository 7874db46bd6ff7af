"""The Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1), with the
thresholds, measurements and order of datatrove's GopherQualityFilter, on our fast word statistics
(filters/word_stats.py; bench/heuristic_filters.py compares the two on real documents)."""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from typing import Literal


from pydantic import Field

from filters.language_rules import pick
from filters.word_segment import GRAPHEMES
from filters.word_stats import GOPHER_STOP_WORDS, TextStats, language_stats
from filters.text_rules import LanguageRulesConfig, LanguageScopedTextFilter
from pipeline.stage import Resources



class GopherQualityConfig(LanguageRulesConfig):
    # All thresholds: Gopher (Rae et al. 2021, A.1.1), the values datatrove's GopherQualityFilter
    # uses; None switches a rule off.
    # "fewer than 50 or more than 100,000 words"
    min_doc_words: int | None = Field(50, ge=0)
    max_doc_words: int | None = Field(100_000, ge=1)
    # "mean word length is outside the range of 3 to 10 characters"
    min_avg_word_length: float | None = Field(3.0, ge=0)
    max_avg_word_length: float | None = Field(10.0, ge=0)
    # "symbol-to-word ratio greater than 0.1 for either the hash symbol or the ellipsis"
    max_symbol_word_ratio: float | None = Field(0.1, ge=0)
    # "more than 90% of lines starting with a bullet point"
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    # "more than 30% ending with an ellipsis"
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    # "80% of words in a document contain at least one alphabetic character"
    min_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1)
    # what "words" means in that ratio: "tokens" is datatrove's (punctuation tokens count, so
    # ordinary news prose with many commas falls under 0.8: 21 of 253 HTML pages of the shared WARC
    # files, Rolling Stone and Billboard articles among them); "words" leaves punctuation out,
    # as Gopher's wording reads (our choice); "tokens" gives decisions identical to datatrove's.
    alpha_ratio_over: Literal["tokens", "words"] = "words"
    # "at least two of the following English words"
    min_stop_words: int | None = Field(2, ge=0)
    stop_words: tuple[str, ...] = GOPHER_STOP_WORDS
    # The rules (stop words above all) are English: documents whose `language` is set and not in
    # this list pass untouched; documents with no language get the rules. None: every language,
    # each with its FineWeb-2 thresholds (`fineweb2_overrides` below; docs/languages.md).
    languages: list[str] | None = None
    # Pages `domain-detect` called code or math (filters/text_rules.py): the rules above, less
    # what punishes code listings and formulas. Our measurements on ../shared/data/domains
    # (bench/domain_recall.py):
    # - min_doc_words 25: a function's reference entry (signature, a sentence, an example) is
    #   complete in 30-50 words (Maxima's solve_rec introduction: 49); below 25 a page is a
    #   heading and a line;
    # - min_alpha_words_ratio, over words (punctuation tokens are most of a code line or a
    #   formula, so datatrove's "tokens" would judge the syntax): numbers and formula tokens are
    #   words without a letter; real Maxima pages go down to 0.63 (descriptive statistics, with
    #   data tables), Python docs to 0.93; the rule still drops pages of bare numbers or symbols.
    domains: dict[str, dict] = {
        "code": {"min_doc_words": 25, "min_alpha_words_ratio": 0.6, "alpha_ratio_over": "words"},
        "math": {"min_doc_words": 25, "min_alpha_words_ratio": 0.5, "alpha_ratio_over": "words"},
    }


def gopher_reason(s: TextStats, c: GopherQualityConfig) -> str | None:
    """The first Gopher rule the text breaks, in datatrove's order, or None."""
    if c.min_doc_words is not None and s.n_words < c.min_doc_words:
        return "gopher-short-doc"
    if s.n_words == 0:  # min_doc_words switched off and nothing to measure
        return "gopher-short-doc"
    if c.max_doc_words is not None and s.n_words > c.max_doc_words:
        return "gopher-long-doc"
    word_lengths = s.word_unit != GRAPHEMES  # no segmenter: one character a "word", no length rule
    if word_lengths and c.min_avg_word_length is not None and s.mean_word_length < c.min_avg_word_length:
        return "gopher-below-avg-word-length"
    if word_lengths and c.max_avg_word_length is not None and s.mean_word_length > c.max_avg_word_length:
        return "gopher-above-avg-word-length"
    if c.max_symbol_word_ratio is not None:
        if s.n_hashes / s.n_tokens > c.max_symbol_word_ratio:
            return "gopher-too-many-hashes"
        if s.n_ellipses / s.n_tokens > c.max_symbol_word_ratio:
            return "gopher-too-many-ellipsis"
    if c.max_bullet_lines_ratio is not None and s.n_bullet_lines / s.n_lines > c.max_bullet_lines_ratio:
        return "gopher-too-many-bullets"
    if c.max_ellipsis_lines_ratio is not None and s.n_ellipsis_lines / s.n_lines > c.max_ellipsis_lines_ratio:
        return "gopher-too-many-end-ellipsis"
    alpha_denominator = s.n_tokens if c.alpha_ratio_over == "tokens" else s.n_words
    if c.min_alpha_words_ratio is not None and s.n_alpha_words / alpha_denominator < c.min_alpha_words_ratio:
        return "gopher-below-alpha-threshold"
    if c.min_stop_words is not None and len(s.stop_words) < c.min_stop_words:
        return "gopher-too-few-stop-words"
    return None


_STAT_FIELDS = tuple(f.name for f in dataclasses.fields(TextStats))


@functools.lru_cache(maxsize=8)
def _stop_words(words: tuple[str, ...]) -> frozenset:
    return frozenset(words)


class GopherQuality(LanguageScopedTextFilter):
    name = "gopher-quality"
    # the word statistics, kept in annotations["gopher-quality"]: a new threshold judges them again
    writes = ("annotations",)
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = GopherQualityConfig

    def stats_key(self, config: GopherQualityConfig) -> str:
        spec = json.dumps([config.word_segmenter, sorted(config.stop_words)], ensure_ascii=False)
        return hashlib.sha256(spec.encode()).hexdigest()[:12]

    def text_stats(self, text: str, config: GopherQualityConfig) -> dict:
        s = language_stats(text, config.word_segmenter, _stop_words(config.stop_words))
        return {**{f: getattr(s, f) for f in _STAT_FIELDS}, "stop_words": sorted(s.stop_words)}

    def stats_reason(self, stats: dict, config: GopherQualityConfig) -> str | None:
        fields = {k: v for k, v in stats.items() if k != "key"}
        return gopher_reason(TextStats(**{**fields, "stop_words": frozenset(fields["stop_words"])}), config)

    def fineweb2_overrides(self, rules: dict) -> dict:
        # FineWeb-2's GopherQualityFilter arguments (fineweb-2-pipeline.py, step 5); its
        # "max_non_alpha_words_ratio" is datatrove's name for the minimum alpha-word share,
        # measured over datatrove's tokens, so the ratio is taken over tokens as it was fitted
        override = pick(rules, {
            "min_avg_word_length": "min_avg_word_length",
            "max_avg_word_length": "max_avg_word_length",
            "max_non_alpha_words_ratio": "min_alpha_words_ratio",
            "min_stop_words": "min_stop_words",
        })
        if "max_non_alpha_words_ratio" in rules:
            override["alpha_ratio_over"] = "tokens"
        if "stopwords" in rules:
            override["stop_words"] = tuple(rules["stopwords"])
        else:  # a language without a list: counting English stop words would drop every page
            override["min_stop_words"] = None
        return override
