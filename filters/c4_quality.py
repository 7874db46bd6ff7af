"""The C4 quality rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", section
2.2), with the options, defaults, order and measures of datatrove's C4QualityFilter (itself the
order of TFDS's c4_utils.clean_page).

C4 works on lines: a line is kept only if it ends in terminal punctuation, has at least 3 words, no
word over 1,000 characters, no "javascript" and no cookie/terms-of-use phrase. A page is dropped if
a kept line contains "lorem ipsum" or "{", or if its kept lines hold fewer than 5 sentences.

datatrove both drops pages and rewrites the text of the pages it keeps (only the kept lines, with
Wikipedia citations taken out). Our contract keeps those apart: `C4Quality` (this file) only decides,
exactly as datatrove decides; `C4LineFilter` (filters/c4_lines.py, "c4-lines") rewrites `text` to the
kept lines.
A pipeline that wants datatrove's whole behaviour runs c4-quality then c4-lines.

Speed: datatrove counts sentences with spaCy on every kept line. Each kept line holds at least one
sentence, so a page with 5 kept lines passes without counting; only pages with fewer kept lines are
counted, with our regex tokens (filters/c4_sentences.py). bench/heuristic_filters.py compares.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field

from filters.c4_sentences import count_sentences
from filters.text_rules import LanguageRulesConfig, LanguageScopedTextFilter
from pipeline.stage import Resources


# Wikipedia-style citation marks: "[12]", "[]", "[edit]", "[citation needed]" (datatrove, TFDS)
CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")  # C4: 'terminal punctuation mark (i.e. a period,
ELLIPSIS = "..."  # exclamation mark, question mark, or end quotation mark)', less "..."
# C4's code (TFDS c4_utils._POLICY_SUBSTRINGS, as datatrove copies them)
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


class C4QualityConfig(LanguageRulesConfig):
    # Defaults: C4 (Raffel et al. 2020, 2.2) as datatrove's C4QualityFilter implements it. A count
    # rule is off when None; a phrase rule when False. FineWeb runs this filter with
    # filter_no_terminal_punct=False.
    remove_citations: bool = True  # "[1]", "[edit]" taken out before the end-of-line check
    filter_no_terminal_punct: bool = True  # "only retained lines that ended in a terminal punctuation mark"
    min_words_per_line: int | None = Field(3, ge=0)  # "lines that contained at least 3 words"
    min_num_sentences: int | None = Field(5, ge=0)  # "discarded any page with fewer than 5 sentences"
    max_word_length: int | None = Field(1000, ge=1)  # TFDS c4_utils: lines with a word over 1000 chars go
    filter_lorem_ipsum: bool = True  # "removed any page where the phrase 'lorem ipsum' appeared"
    filter_javascript: bool = True  # "removed any line with the word Javascript"
    # C4 "removed any pages that contained a curly bracket": all code and LaTeX; Llama 3 keeps
    # math and code, so off (True for C4's rule)
    filter_curly_bracket: bool = False
    filter_policy: bool = True  # TFDS c4_utils: cookie / terms-of-use lines go
    # The rules are English (C4 is English-only); documents whose `language` is set and not in this
    # list pass untouched; documents with no language get the rules. None: every language, with
    # these same rules: FineWeb-2 runs no C4 rules on other languages ("we do not apply the C4
    # filters", fineweb-2-pipeline.py), so there are no per-language values to take.
    languages: list[str] | None = ["en"]
    # c4-lines only: rewrite the text of kept pages to C4's kept lines (False: judge the page,
    # keep its text whole)
    rewrite_lines: bool = True
    # Pages `domain-detect` called code or math (filters/text_rules.py): code statements and
    # formulas end without terminal punctuation, so every line of 3+ words counts, and 3 such
    # lines (or sentences) make a page: a heading, a definition and its description are a
    # complete reference entry ("Function: getenv (env)" and an example), a heading and one line
    # are a stub (gopher-quality's domain minimum of 25 words catches the rest). "{" never drops
    # (code and LaTeX), as in base.yaml; c4-lines keeps their text whole (its line rules would
    # take out "print(row)" and every indentation). Our measurement on ../shared/data/domains
    # (bench/domain_recall.py): 10 real Python and Maxima pages had under 5 sentences in lines
    # ending in punctuation.
    domains: dict[str, dict] = {
        kind: {"filter_no_terminal_punct": False, "min_num_sentences": 3, "filter_curly_bracket": False, "rewrite_lines": False}
        for kind in ("code", "math")
    }


@dataclass(frozen=True)
class C4LineResult:
    """The lines C4 keeps (stripped, citations out), or the reason the whole page goes."""

    kept: list[str]
    page_reason: str | None = None


def c4_lines(text: str, c: C4QualityConfig) -> C4LineResult:
    """datatrove's line loop: each line is kept or removed; a kept-candidate line with "lorem ipsum"
    or "{" drops the whole page at once (C4's own order: those checks see only lines that already
    passed the end-punctuation and word-count checks)."""
    kept = []
    max_len = c.max_word_length
    for line in text.splitlines():
        line = line.strip()
        words = line.split()  # counted before citations go, as datatrove does
        if max_len is not None and len(line) > max_len and any(len(w) > max_len for w in words):
            continue
        if c.remove_citations and "[" in line:
            line = CITATION_RE.sub("", line)
        if c.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
            continue
        if c.min_words_per_line is not None and len(words) < c.min_words_per_line:
            continue
        lower = line.lower()
        if c.filter_lorem_ipsum and "lorem ipsum" in lower:
            return C4LineResult(kept, "c4-lorem-ipsum")
        if c.filter_javascript and "javascript" in lower:
            continue
        if c.filter_curly_bracket and "{" in line:
            return C4LineResult(kept, "c4-curly-bracket")
        if c.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
            continue
        kept.append(line)
    return C4LineResult(kept)


def has_min_sentences(lines: list[str], minimum: int) -> bool:
    """Whether `lines` hold at least `minimum` sentences; counts only while it must (every kept
    line is non-empty, so holds at least one)."""
    if len(lines) >= minimum:
        return True
    n = 0
    for line in lines:
        n += count_sentences(line)
        if n >= minimum:
            return True
    return False


def c4_page(text: str, c: C4QualityConfig) -> C4LineResult:
    """The lines C4 keeps and the reason it drops the page, if it does (datatrove's decision)."""
    result = c4_lines(text, c)
    if result.page_reason is None and c.min_num_sentences is not None:
        if not has_min_sentences(result.kept, c.min_num_sentences):
            return C4LineResult(result.kept, "c4-too-few-sentences")
    return result


def c4_reason(text: str, c: C4QualityConfig) -> str | None:
    """The reason C4 drops the page, or None."""
    return c4_page(text, c).page_reason


class C4Quality(LanguageScopedTextFilter):
    name = "c4-quality"
    writes = ()
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = C4QualityConfig

    def text_reason(self, text: str, config: C4QualityConfig) -> str | None:
        return c4_reason(text, config)
