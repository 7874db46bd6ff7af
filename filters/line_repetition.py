"""Line-level repetition inside one document (Llama 3, section 3.1.1: "we use duplicated n-gram
coverage ratio (Rae et al., 2021) to remove lines that consist of repeated content such as logging
or error messages"): removes the lines that repeat earlier lines of the same document, keeps the
first occurrence, and drops documents that little is left of (reason line-repetition-emptied).

Lines are compared in a normalised form (case folded; timestamps, dates, UUIDs, hex ids and digits
masked; only word tokens kept), so log lines that differ only in their time or counters are one
form. A line is removed when
- its form occurs more than `max_line_repeats` times in the document (every occurrence after the
  first goes), or
- its word n-grams (line start and end included, so a template with one varying slot counts) are
  mostly occurrences of n-grams already seen earlier in the document, this line included: near
  repeats such as stack frames, "Posted by X at 10:32" lines, or a long line that repeats itself.
Lines with fewer than `min_line_words` words that contain a letter are never removed: code
statements, list markers, headings and numeric table rows are structure, and short boilerplate
repeated across documents is the job of cross-document line dedup.

datatrove has no line-level filter of this kind (its Gopher rules drop whole documents;
filters/ngram_repetition.py), so this is our own. Word tokens here are `\\w+` runs, not the
spaCy-like tokens of filters/ngram_tokens.py: identifiers such as "org.apache.Foo.bar(Foo.java:12)"
must split at dots to share n-grams with their neighbours.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pyarrow as pa
from pydantic import Field

from pipeline.schema import merge_annotations, split_by_reason, with_column
from pipeline.stage import MapStage, Resources, StageConfig

log = logging.getLogger(__name__)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# Masks, applied to case-folded text in this order. [ \t] instead of \s: a mask never spans lines.
_MASKS = (
    # UUIDs before hex ids and digits: one token for the whole id
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), " _id_ "),
    # ISO-like date-times (2019-07-15T10:32:11.123+02:00, 2019/07/15 10:32)
    (
        re.compile(
            r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[t \t]+\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?(?:z\b|[+-]\d{2}:?\d{2}\b)?"
        ),
        " _ts_ ",
    ),
    # numeric dates (15/07/2019, 7.15.19)
    (re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b"), " _ts_ "),
    # dates with month names (July 15th, 2019 / 15 Jul 2019 / Jul 2019)
    (
        re.compile(rf"\b(?:{_DAY}[ \t]+{_MONTH}|{_MONTH}(?:[ \t]+{_DAY})?)(?:,?[ \t]+\d{{4}})?(?!\w)"),
        " _ts_ ",
    ),
    # clock times (10:32, 10:32:11,062, 3:05 pm)
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:[ \t]*[ap]\.?m\b\.?)?"), " _ts_ "),
    # hex ids: 0x7f3a, commit hashes and addresses of 7+ hex digits with a digit and a letter
    (re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b"), " _id_ "),
)
_DIGITS_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"\w+")
_LETTER_RE = re.compile(r"[^\W\d_]")
_MASKED = frozenset(("_ts_", "_id_"))  # mask tokens: no words of the line
_BOUNDARY = ("\x02", "\x03")  # line start and end: not \w, so no word equals them
# The line's start and end count as this many characters each: a line is a near repeat of earlier
# lines, not a heading that quotes an earlier sentence, only when its edges repeat too.
_EDGE_CHARS = int(__import__("os").environ.get("EDGE", "4"))


class LineRepetitionConfig(StageConfig):
    # A form occurring more than this many times is repeated: all but its first occurrence go.
    # Our choice: 1 would remove a poem's or song's refrain (4 or so repeats), which is authored
    # structure; logs and templated blocks repeat far more often (see tests/golden/line-repetition).
    max_line_repeats: int = Field(4, ge=1)
    # Word n-gram size of the coverage rule. 3: a template with one varying word still shares the
    # n-grams around it; 5+ (Gopher's duplicated n-grams) would miss short log lines.
    ngram_n: int = Field(3, ge=2)
    # Remove a line when at least this fraction of its word characters lies in n-grams seen
    # earlier in the document. Our measurement: CC-MAIN-2019-30 WET and WikiText-2 prose lines
    # almost never reach it; templated and log lines mostly do.
    min_line_dup_ngram_coverage: float = Field(0.8, gt=0, le=1)
    # Lines with fewer words containing a letter are never removed (code, headings, table rows).
    min_line_words: int = Field(3, ge=1)
    # Drop the document (line-repetition-emptied) when, after removing lines, fewer characters than
    # this or less than this fraction of the original is left. Our choice: a page that is mostly
    # repetition is a dump, not a document; 100 characters is a sentence or two.
    min_remaining_chars: int = Field(100, ge=0)
    min_remaining_fraction: float = Field(0.5, ge=0, le=1)


@dataclass(frozen=True)
class LineResult:
    text: str  # the text without the removed lines
    lines_removed: int
    repeat_lines: int  # removed by the form-count rule
    covered_lines: int  # removed by the n-gram coverage rule


def normalise(text: str) -> str:
    """`text` case folded with timestamps, dates and ids masked (line breaks unchanged); digits
    stay: a number often is what tells two list items apart ("U-16", "U-17")."""
    text = text.casefold()
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def _coverage(tokens: list[str], n: int, seen: set) -> float:
    """Fraction of the characters of `tokens` inside n-grams that occurred before (in `seen`, or
    earlier in `tokens`); adds the n-grams of `tokens` to `seen`."""
    grams = list(zip(*(tokens[i:] for i in range(n))))
    if seen.isdisjoint(grams) and len(set(grams)) == len(grams):  # most prose lines
        seen.update(grams)
        return 0.0
    covered = [False] * len(tokens)
    for i, g in enumerate(grams):
        if g in seen:
            covered[i : i + n] = [True] * n
        else:
            seen.add(g)
    sizes = [_EDGE_CHARS, *map(len, tokens[1:-1]), _EDGE_CHARS]
    total = sum(sizes)
    hit = sum(k for k, c in zip(sizes, covered) if c)
    return hit / total if total else 0.0


def remove_repeated_lines(text: str, c: LineRepetitionConfig) -> LineResult:
    lines = text.splitlines(keepends=True)
    forms = normalise(text).splitlines()
    if len(forms) != len(lines):  # casefold never adds a line break; normalise line by line if so
        forms = [normalise(line).rstrip("\r\n") for line in lines]
    words = [_WORD_RE.findall(f) for f in forms]
    # template keys: the words with numbers masked too (log lines that differ in counters)
    keys = [_DIGITS_RE.sub("0", " ".join(w)) for w in words]
    counts: dict[str, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    seen: set = set()
    first_removed: dict[str, bool] = {}  # template -> whether its first occurrence was removed
    keep = [True] * len(lines)
    repeat_lines = covered_lines = 0
    for i, (w, k) in enumerate(zip(words, keys)):
        if not w:
            continue
        tokens = [_BOUNDARY[0], *w, _BOUNDARY[1]]
        if sum(1 for t in w if t not in _MASKED and _LETTER_RE.search(t)) < c.min_line_words:
            _coverage(tokens, c.ngram_n, seen)  # its n-grams still count for later lines
            continue
        if k in first_removed and (counts[k] > c.max_line_repeats or first_removed[k]):
            keep[i] = False
            repeat_lines += 1
            _coverage(tokens, c.ngram_n, seen)
            continue
        removed = _coverage(tokens, c.ngram_n, seen) >= c.min_line_dup_ngram_coverage
        first_removed.setdefault(k, removed)
        if removed:
            keep[i] = False
            covered_lines += 1
    if repeat_lines + covered_lines == 0:
        return LineResult(text, 0, 0, 0)
    out = []
    pending_blank: list[str] = []  # blank lines before a line: removed with it (its separator)
    for line, f, k in zip(lines, words, keep):
        if not f and not line.strip():
            pending_blank.append(line)
            continue
        if k:
            out.extend(pending_blank)
            out.append(line)
        pending_blank = []
    out.extend(pending_blank)
    new = "".join(out)
    if new != text and not text.endswith(("\n", "\r")):
        new = new.rstrip("\r\n")  # the last line went: no line break the text did not end with
    return LineResult(new, repeat_lines + covered_lines, repeat_lines, covered_lines)
