"""Words and word n-gram hashes for decontamination, normalised as datatrove's `simplify_text`
(and lm-eval's / GPT-3's 13-gram overlap) normalise: lower case, digits -> "0", diacritics
removed, punctuation a separator, then whitespace words. Each word keeps its character span in
the original text, so that matched n-grams can be cut out of it.

One departure: a decimal such as "3.14" is two words "0 0" here (datatrove's number pattern
makes it one "0"); both sides of the comparison are normalised alike, so matches are unaffected.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np
import xxhash

from dedup.signatures import MAX_NGRAM, POS_MULT, fmix64

# a word: a run of letters and digits; punctuation, symbols, "_" and whitespace separate words
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")


def normalise_word(word: str) -> str:
    """Lower case, digit runs -> "0", combining marks (diacritics) removed."""
    w = _DIGITS.sub("0", word.lower())
    return "".join(c for c in unicodedata.normalize("NFD", w) if unicodedata.category(c) != "Mn")


@functools.lru_cache(maxsize=1 << 16)
def _word_hash(word: str) -> int:
    """xxh3-64 of the normalised word (cached: web text repeats a small vocabulary)."""
    return xxhash.xxh3_64_intdigest(normalise_word(word).encode("utf-8", "surrogatepass"))


def normalised_words(text: str) -> list[str]:
    """The normalised words of `text` (for messages: the first matching n-gram of a drop)."""
    return [normalise_word(m.group()) for m in _WORD.finditer(text or "")]


def word_hashes(text: str, with_spans: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """uint64 hash per word of `text`, and with `with_spans` an (words x 2) array of their
    (start, end) character offsets in `text`."""
    matches = list(_WORD.finditer(text or ""))
    hashes = np.fromiter((_word_hash(m.group()) for m in matches), dtype=np.uint64, count=len(matches))
    spans = np.array([m.span() for m in matches], dtype=np.int64).reshape(-1, 2) if with_spans else None
    return hashes, spans


def ngram_hashes(words: np.ndarray, n: int) -> np.ndarray:
    """uint64 hash of every run of `n` consecutive words (len(words) - n + 1 of them; none for a
    shorter text): a position-weighted sum of the word hashes, finalised by fmix64 (as the MinHash
    stage's xxh3 shingles)."""
    if not 1 <= n <= MAX_NGRAM:
        raise ValueError(f"n-gram size {n} outside 1..{MAX_NGRAM}")
    count = len(words) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(count, dtype=np.uint64)
    for j in range(n):
        h += words[j : j + count] * POS_MULT[j]
    return fmix64(h)


def mostly_numbers(words: np.ndarray, n: int) -> np.ndarray:
    """Per n-gram of `words`: whether more than half its words are numbers ("0" once
    normalised). Runs of test values and table cells match any page with a table of numbers
    (bench/decontamination.py: all the false positives on real pages were such n-grams)."""
    count = len(words) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=bool)
    is_number = (words == np.uint64(_word_hash("0"))).astype(np.int64)
    per_gram = np.convolve(is_number, np.ones(n, dtype=np.int64), mode="valid")
    return per_gram > n // 2
