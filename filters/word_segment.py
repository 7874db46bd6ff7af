"""Word segmentation for languages written without spaces between words, where the rule filters
count words or n-grams (gopher-quality, ngram-repetition, fineweb-quality's newline ratio).

The segmenters are the ones FineWeb-2 used through datatrove's word tokenizers
(datatrove/assets/tokenizer_assignment.csv): jieba for Chinese (datatrove's spaCy "zh" config
picks the jieba segmenter), SudachiPy for Japanese (what spaCy's Japanese tokenizer wraps; split
mode C, spaCy's default), and for Thai, Lao, Khmer, Burmese and Tibetan datatrove's own word
tokenizers (pythainlp for Thai; the others need packages the project does not install). jieba and
SudachiPy are called directly: datatrove reaches them through spaCy, which is no dependency of the
project.

A segmenter that cannot load is logged once and the text is cut into grapheme clusters instead
(`GRAPHEMES`): word counts become character counts, and the word-length rules, meaningless on
single characters, are switched off by the caller. Nothing crashes for want of a segmenter.
"""
from __future__ import annotations

import functools
import logging
from typing import Callable

import regex

log = logging.getLogger(__name__)

GRAPHEMES = "graphemes"  # the fallback unit
# lid.176 code -> segmenter; languages not listed are split by filters/word_stats.py's regex
SEGMENTERS = {
    "zh": "jieba", "wuu": "jieba", "yue": "jieba",
    "ja": "sudachi",
    "th": "datatrove:th", "lo": "datatrove:lo", "km": "datatrove:km", "my": "datatrove:my", "bo": "datatrove:bo",
}
_GRAPHEME_RE = regex.compile(r"\X")
# SudachiPy refuses inputs over 49,149 bytes; datatrove chunks Japanese at 40,000
_SUDACHI_CHUNK_BYTES = 40_000


def _strip(tokens) -> list[str]:
    return [s for t in tokens if (s := t.strip())]


def graphemes(text: str) -> list[str]:
    """The fallback: one token per grapheme cluster that is not space."""
    return [g for g in _GRAPHEME_RE.findall(text) if not g.isspace()]


def _load_jieba() -> Callable[[str], list[str]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter goes to stderr otherwise
    return lambda text: _strip(jieba.lcut(text))


def _load_sudachi() -> Callable[[str], list[str]]:
    from datatrove.utils.word_tokenizers import chunk_text_on_bytes
    from sudachipy import Dictionary, SplitMode

    tokenizer = Dictionary().tokenizer(mode=SplitMode.C)

    def segment(text: str) -> list[str]:
        return _strip(m.surface() for chunk in chunk_text_on_bytes(text, _SUDACHI_CHUNK_BYTES) for m in tokenizer.tokenize(chunk))

    return segment


def _load_datatrove(language: str) -> Callable[[str], list[str]]:
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    tokenizer = load_word_tokenizer(language)
    tokenizer.word_tokenize("")  # imports its package now, so a missing one falls back here
    return tokenizer.word_tokenize


@functools.lru_cache(maxsize=None)
def load_segmenter(name: str) -> Callable[[str], list[str]] | None:
    """The segmenter `name` (a SEGMENTERS value), or None, logged once, when it cannot load."""
    try:
        if name == "jieba":
            return _load_jieba()
        if name == "sudachi":
            return _load_sudachi()
        if name.startswith("datatrove:"):
            return _load_datatrove(name.split(":", 1)[1])
        raise ValueError(f"unknown segmenter {name!r}")
    except Exception as err:  # ImportError, or a dependency check of datatrove's
        log.warning("word segmenter %s unavailable (%s): words and n-grams are counted in grapheme clusters", name, err)
        return None


def segment(text: str, name: str) -> tuple[list[str], str]:
    """(tokens, unit) of `text` by segmenter `name`: unit is `name`, or GRAPHEMES when the
    segmenter cannot load."""
    segmenter = load_segmenter(name)
    if segmenter is None:
        return graphemes(text), GRAPHEMES
    return segmenter(text), name
