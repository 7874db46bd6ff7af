"""Line-level repetition inside one document (Llama 3, section 3.1.1: "we use duplicated n-gram
coverage ratio (Rae et al., 2021) to remove lines that consist of repeated content such as logging
or error messages"): removes the lines that repeat earlier lines of the same document, keeping the
first occurrence, and drops documents little is left of (reason line-repetition-emptied).

Lines are compared case folded with timestamps, dates, UUIDs and hex ids masked, as word tokens
(`\\w+` runs: "org.apache.Foo.bar(Foo.java:12)" splits at its dots and shares n-grams with its
neighbours, which the spaCy-like tokens of filters/ngram_tokens.py would not). A line goes when
- a template of it (its numbers masked, or for a short line one word masked) is found on more than
  `max_line_repeats` lines, and an earlier line had it: log lines differing in counters, per-post
  "Posted by X at 10:32" headers, catalogue records; or
- at least `min_line_dup_ngram_coverage` of it lies in word n-grams seen earlier in the document
  (this line's earlier part included), its start and end counting too: exact repeats, pasted stack
  traces, re-quoted error messages, a long line that repeats itself.
Lines with few words containing a letter are never removed (code statements, headings, numeric
rows), so scripts written without spaces (Chinese, Japanese, Thai) are mostly left alone.

datatrove has no line-level filter of this kind (its Gopher rules drop whole documents:
filters/ngram_repetition.py), so this is our own; thresholds are our measurements on the
CC-MAIN-2019-30 WET sample and WikiText-2 (see LineRepetitionConfig).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
from pydantic import Field

from filters.text_rules import DomainAwareConfig, domain_kinds
from filters.word_stats import WORD_MARKS
from pipeline.stage import Editor, Edits, Resources

# Mask tokens hold no letter, so they never count as words of a line.
_TS, _ID = " _0_ ", " _00_ "
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# Masks, applied to case-folded text in this order; [ \t], not \s: a mask never spans lines. Each
# pattern starts with a character class (not \b), which Python's re scans for quickly.
_UUID_HINT = re.compile(r"-[0-9a-f]{4}-[0-9a-f]{4}-")
_UUID_RE = re.compile(r"[0-9a-f](?<![\w-][0-9a-f])[0-9a-f]{7}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?!\w)")
# Starting with a digit: ISO date-times (2019-07-15T10:32:11.062+02:00), numeric dates
# (15/07/2019), clock times (10:32, 10:32:11,062, 3:05 pm), day-month dates (15th July 2019).
_DIGIT_DATE_RE = re.compile(
    r"\d(?<!\w\d)(?:"
    r"\d{3}[-/.]\d{1,2}[-/.]\d{1,2}(?:[t \t]+\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?(?:z\b|[+-]\d{2}:?\d{2}\b)?"
    r"|\d?[-/.]\d{1,2}[-/.]\d{2,4}\b"
    r"|\d?:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:[ \t]*[ap]\.?m\b\.?)?"
    rf"|\d?(?:st|nd|rd|th)?[ \t]+{_MONTH}(?:,?[ \t]+\d{{4}})?(?!\w)"
    r")"
)
# Month first, with a day or a year after it ("may" alone is a word): July 15th, 2019 / Jul 2019
_MONTH_DATE_RE = re.compile(rf"\b{_MONTH}(?:[ \t]+\d{{1,2}}(?:st|nd|rd|th)?(?:,?[ \t]+\d{{4}})?|,?[ \t]+\d{{4}})(?!\w)")
# 0x7f3a, and runs of 7+ hex digits (commit hashes, addresses, request ids) with a digit and a letter
_HEX_RE = re.compile(r"0(?<!\w0)x[0-9a-f]+\b|[0-9a-f](?<!\w[0-9a-f])[0-9a-f]{6,}(?!\w)")
_DIGITS_RE = re.compile(r"\d+")
# Words: \w runs with the combining marks \w leaves out (Indic and Thai vowel signs), as
# filters/word_stats.py reads them; else every vowel sign would split a word into n-gram noise.
_WORD_RE = re.compile(f"[\\w{WORD_MARKS}]+")
_LETTER_WORD_RE = re.compile(f"(?<![\\w{WORD_MARKS}])[\\d_{WORD_MARKS}]*[^\\W\\d_]")  # a word's start, to its first letter
_BOUNDARY = ("\x02", "\x03")  # line start and end: not \w, so no word equals them
_WILDCARD = "\x1a"  # the varying word of a template


class LineRepetitionConfig(DomainAwareConfig):
    # A template (a line with its numbers masked, or with one of its words masked when it has
    # `min_template_words` to `max_template_words` words) found on more than this many lines is
    # boilerplate: each line of it after the first goes. Our choice: list items that differ in a
    # number or a name come a few at a time in articles ("SM U-16", "SM U-17"); per-post headers,
    # log lines and catalogue records repeat on more lines. WikiText-2: one article loses its 5
    # headings "Day N of the trial" after the first. None: no template rule.
    max_line_repeats: int | None = Field(4, ge=1)
    # Three-word lines with a wildcard are lists more often than templates ("make a bet", "make a
    # joke", ... on a CC-MAIN-2019-30 vocabulary page); "Posted by X at 10:32" has four words.
    min_template_words: int = Field(4, ge=2)
    max_template_words: int = Field(12, ge=0)
    # Word n-gram size of the coverage rule: Gopher's shortest duplicated n-gram. Our measurement
    # (CC-MAIN-2019-30 WET, WikiText-2, tests/golden/line-repetition): 3- and 4-grams also remove
    # list items that share a phrase (bibliographies, award lists, "SM U-10 (became ... U-10)"):
    # 0.05% / 0.02% of WikiText-2 characters instead of 0.015%, and catch no target the template
    # rule does not.
    ngram_n: int = Field(5, ge=2)
    # Remove a line when at least this fraction of its characters lies in n-grams seen earlier in
    # the document. Our measurement: WikiText-2 prose lines reach it only when Wikipedia itself
    # repeats a sentence; pasted traces and repeated error lines are at 0.9-1.0. None: no
    # coverage rule.
    min_line_dup_ngram_coverage: float | None = Field(0.8, gt=0, le=1)
    # The line's start and end weigh this many characters each (about a short word): a line
    # repeats earlier lines, rather than quoting a phrase of an earlier sentence as a heading or a
    # caption does, only when its edges repeat too.
    edge_chars: int = Field(4, ge=0)
    # Lines with fewer words containing a letter are never removed: code statements, headings,
    # numeric rows (short boilerplate repeated across pages is for cross-document line dedup).
    min_line_words: int = Field(3, ge=1)
    # The coverage rule needs this many words (n + 2: two n-grams inside the line); a shorter line
    # is covered only when repeated whole, and a heading or list item said twice in an article is
    # structure (WikiText-2: "German Imperial Navy" heads two sections). Templates still apply.
    min_coverage_words: int = Field(7, ge=1)
    # Drop the document (line-repetition-emptied) when lines were removed and fewer characters
    # than this (a sentence or two), or less than this fraction of the original, are left. Our
    # choice: a page four fifths repetition is a dump, not a document. On the CC-MAIN-2019-30 WET
    # sample (697 pages) 0.2 drops 2 (a repository stub, a pronunciation page), 0.5 drops 8, among
    # them a pastebin server log; a forum question with a pasted log keeps ~25% and is worth keeping.
    min_remaining_chars: int = Field(100, ge=0)
    min_remaining_fraction: float = Field(0.2, ge=0, le=1)
    # Pages `domain-detect` called code or math (filters/text_rules.py): no line is removed. Code
    # examples repeat their setup and their statements (#include <Python.h>, "static PyTypeObject
    # CustomType = {", (%i1) load("descriptive")$), and reference pages their option
    # descriptions; removing the repeats breaks the examples (our measurement on
    # ../shared/data/domains: 144 lines of newtypes_tutorial's C listings, 112 of Maxima's
    # descriptive-statistics examples). Pages that repeat one block are dropped by
    # ngram-repetition's limits for these domains instead.
    domains: dict[str, dict] = {
        kind: {"max_line_repeats": None, "min_line_dup_ngram_coverage": None} for kind in ("code", "math")
    }


@dataclass(frozen=True)
class LineResult:
    text: str  # the text without the removed lines
    template_lines: int  # lines removed as repeats of a frequent template
    covered_lines: int  # lines removed by the n-gram coverage rule

    @property
    def lines_removed(self) -> int:
        return self.template_lines + self.covered_lines


def normalise(text: str) -> str:
    """`text` case folded with timestamps, dates and ids masked (line breaks unchanged). Digits
    stay: a number is often what tells two list items apart; templates mask them."""
    text = text.casefold()
    if _UUID_HINT.search(text):
        text = _UUID_RE.sub(_ID, text)
    text = _DIGIT_DATE_RE.sub(_TS, text)
    text = _MONTH_DATE_RE.sub(_TS, text)
    return _HEX_RE.sub(_hex_mask, text)


def _hex_mask(m: re.Match) -> str:
    s = m.group()
    is_id = s.startswith("0x") or (any(c.isdigit() for c in s) and not s.isdigit())
    return _ID if is_id else s  # "deadbeef" and "1234567" are a word and a number


def _templates(words: list[str], c: LineRepetitionConfig) -> list[str]:
    """The template keys of a line: its words with numbers masked and, for a short line, each of
    those with one word replaced by a wildcard."""
    key = _DIGITS_RE.sub("0", " ".join(words))
    if not c.min_template_words <= len(words) <= c.max_template_words:
        return [key]
    masked = key.split(" ")
    return [key] + [" ".join(masked[:i] + [_WILDCARD] + masked[i + 1 :]) for i in range(len(masked))]


def _coverage(tokens: list[str], n: int, seen: set, edge_chars: int) -> float:
    """Fraction of the characters of `tokens` (the edges weighing `edge_chars`) inside n-grams that
    occurred before (in `seen`, or earlier in `tokens`); adds the n-grams of `tokens` to `seen`."""
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
    sizes = [edge_chars, *map(len, tokens[1:-1]), edge_chars]
    return sum(k for k, c in zip(sizes, covered) if c) / sum(sizes)


def remove_repeated_lines(text: str, c: LineRepetitionConfig) -> LineResult:
    """`text` without the lines that repeat earlier ones (see the module docstring)."""
    if c.max_line_repeats is None and c.min_line_dup_ngram_coverage is None:
        return LineResult(text, 0, 0)
    lines = text.splitlines(keepends=True)
    forms = normalise(text).splitlines()
    if len(forms) != len(lines):  # masks never span lines; normalise line by line if they ever do
        forms = [normalise(line).rstrip("\r\n") for line in lines]
    words = [_WORD_RE.findall(f) for f in forms]
    eligible = [len(_LETTER_WORD_RE.findall(f)) >= c.min_line_words for f in forms]
    templates = [_templates(w, c) if ok else [] for w, ok in zip(words, eligible)]
    counts: dict[str, int] = {}
    for keys in templates:
        for k in set(keys):
            counts[k] = counts.get(k, 0) + 1
    frequent = {k for k, n in counts.items() if c.max_line_repeats is not None and n > c.max_line_repeats}
    coverage_rule = c.min_line_dup_ngram_coverage is not None
    met: set = set()  # frequent templates of earlier lines
    seen: set = set()  # n-grams of earlier lines, removed ones included
    keep = [True] * len(lines)
    template_lines = covered_lines = 0
    for i, (w, ok, keys) in enumerate(zip(words, eligible, templates)):
        if not w:
            continue
        coverage = _coverage([_BOUNDARY[0], *w, _BOUNDARY[1]], c.ngram_n, seen, c.edge_chars)
        if not ok:
            continue
        hot = frequent.intersection(keys) if frequent else ()
        if not met.isdisjoint(hot):
            keep[i] = False
            template_lines += 1
        elif coverage_rule and coverage >= c.min_line_dup_ngram_coverage and len(w) >= c.min_coverage_words:
            keep[i] = False
            covered_lines += 1
        met.update(hot)
    if template_lines + covered_lines == 0:
        return LineResult(text, 0, 0)
    return LineResult(_join_kept(text, lines, keep), template_lines, covered_lines)


def _join_kept(text: str, lines: list[str], keep: list[bool]) -> str:
    out: list[str] = []
    blanks: list[str] = []  # blank lines before a line: its separator, removed with it
    for line, k in zip(lines, keep):
        if not line.strip():
            blanks.append(line)
            continue
        if k:
            out.extend(blanks)
            out.append(line)
        blanks = []
    out.extend(blanks)
    new = "".join(out)
    if not text.endswith(("\n", "\r")):
        new = new.rstrip("\r\n")  # the last line went: no line break the text did not end with
    return new


class LineRepetition(Editor):
    name = "line-repetition"
    # `annotations` (the domain kind) is read when present: `reads` is what an input must have
    reads = ("text",)
    writes = ("text", "annotations")
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = LineRepetitionConfig
    annotation = "line_repetition"
    emptied_reason = "line-repetition-emptied"

    def setup(self) -> None:
        self._configs = self.config.domain_configs()

    def emptied(self, before: str, after: str, c: LineRepetitionConfig | None = None) -> bool:
        c = c or self.config
        left = len(after.strip())
        return left < c.min_remaining_chars or left < c.min_remaining_fraction * len(before.strip())

    def edit(self, batch: pa.Table) -> Edits:
        texts = batch.column("text").to_pylist()
        kinds = domain_kinds(batch) if len(self._configs) > 1 else [None] * len(texts)
        out_texts, reasons, notes = [], [], []
        for text, kind in zip(texts, kinds):
            config = self._configs.get(kind, self.config)
            r = remove_repeated_lines(text, config)
            if r.lines_removed == 0:
                out_texts.append(None)
                reasons.append(None)
                notes.append(None)
                continue
            notes.append({"chars_removed": len(text) - len(r.text), "covered_lines": r.covered_lines,
                          "lines_removed": r.lines_removed, "template_lines": r.template_lines})
            out_texts.append(r.text)
            reasons.append(self.emptied_reason if self.emptied(text, r.text, config) else None)
        return Edits(out_texts, reasons, notes)
