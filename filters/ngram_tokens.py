"""The token sequence of a text as datatrove's `split_into_words` (spaCy's blank English tokenizer,
stripped, empty tokens dropped) makes it, from one regex built on filters/word_stats.py's word
pattern: words, URLs and punctuation tokens in order. ~30x faster than spaCy; where the sequences
differ (rare: emoticons, "_" at word edges, abbreviations), the Gopher repetition measures move by
a character or two (bench/heuristic_filters.py measures the decisions).
"""
from __future__ import annotations

import re

from filters.word_stats import _ABBREVIATIONS, _CORE, _NUMBER_UNIT_RE, _TRAIL, _URL_RE, _WORD_RE

# One alternation, tried in this order at each position: a URL (whole for spaCy), a word, the
# punctuation runs spaCy keeps as one token ("...", "--", "''"), else one non-space character.
# "/div" after a prefix character ("</div>"): spaCy keeps the slash on the word.
_SLASH_WORD = rf"(?<=[<(\[{{\"'])[-/@\\^|~]+{_CORE}{_TRAIL}"
_TOKEN_RE = re.compile(rf"{_URL_RE.pattern}|{_WORD_RE.pattern}|{_SLASH_WORD}|\.\.+|--+|''+|\S")
# "200GB" is two tokens for spaCy ("200", "GB"): split a number from a known unit after it.
_NUMBER_UNIT_SPLIT = re.compile(r"(\d+(?:[.,]\d+)*)(.+)")


# a digit followed by a letter somewhere: only then can a token be a number with a unit
_DIGIT_LETTER_RE = re.compile(r"\d[^\W\d_]")


def split_words(text: str) -> list[str]:
    """Tokens of `text` in order, none empty or with surrounding space."""
    tokens = _TOKEN_RE.findall(text)
    abbreviations = [a for a in _ABBREVIATIONS.intersection(tokens) if a + "." in text]
    if abbreviations:
        tokens = _join_abbreviations(tokens, frozenset(abbreviations))
    if "_" in text:  # "_" at the edge of a word is punctuation for spaCy: "_x" -> "_", "x"
        tokens = _split_underscores(tokens)
    if _DIGIT_LETTER_RE.search(text):
        # checked once per distinct token: the per-token loop runs only when one needs splitting
        units = {t for t in set(tokens) if t[0].isdigit() and _NUMBER_UNIT_RE.fullmatch(t)}
        if units:
            tokens = _split_number_units(tokens, units)
    return tokens


def _join_abbreviations(tokens: list[str], abbreviations: frozenset[str]) -> list[str]:
    """"St", "." -> "St." (spaCy keeps an abbreviation's dot; "St .", with a space, is rare)."""
    out: list[str] = []
    for t in tokens:
        if t == "." and out and out[-1] in abbreviations:
            out[-1] += "."
        else:
            out.append(t)
    return out


def _split_underscores(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for t in tokens:
        if "_" not in t or len(t) == 1:
            out.append(t)
            continue
        core = t.strip("_")
        if not core:
            out.extend("_" * len(t))
            continue
        lead = len(t) - len(t.lstrip("_"))
        trail = len(t) - len(t.rstrip("_"))
        out.extend("_" * lead)
        out.append(core)
        out.extend("_" * trail)
    return out


def _split_number_units(tokens: list[str], units: set[str]) -> list[str]:
    """`tokens` with those in `units` ("200GB") split into number and unit as spaCy does."""
    out: list[str] = []
    for t in tokens:
        if t in units:
            out.extend(_NUMBER_UNIT_SPLIT.fullmatch(t).groups())
        else:
            out.append(t)
    return out
