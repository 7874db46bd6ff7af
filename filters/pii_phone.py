"""Phone numbers, international and national formats, without a phone-number library.

A regular expression finds runs of digit groups that a phone number could be (linear time: digit
groups are possessive and separators are mandatory between them, so a run has one split); then
`_judge` reads the groups. Layouts that are phone numbers on their own ("+CC ...", "(area) ...",
a trunk "0" prefix, NANP 3-3-4 with hyphens or dots, hyphen/dot pairs "71-33-52-22", an
extension) are kept anywhere. Layouts that other numbers share (space-separated groups
"467 3395", a bare run of 7-11 digits) are kept only near a phone word ("Phone:", "call me on",
"... office"). Dates, years, prices and ISBNs are rejected first. When a run starts with a group
that cannot start a phone number (a postcode before it: "61487 416 60 039"), the run's suffixes
are tried.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

Span = tuple[int, int]

PHONE = re.compile(
    r"""
    (?<![\w+./\-$€£¥₹%#&)\]])(?<!\d,)(?<!\d[ .\-])
    (?=(?:[ .\-()+]{0,3}\d){7})       # seven digits ahead, or no phone number: cheap rejection
    (?:\+[ ]?)?
    (?:\(\+?\d{1,4}+\)[ .\-]?)?
    \d{1,12}+
    (?:(?:[ .\-]|[ .\-]?\(0\)[ .\-]?|[ ]?\(\d{1,4}+\)[ ]?)\d{1,12}+){0,7}+
    (?P<ext>[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6}+)?
    (?![\w])(?![ .\-/]\d)
    """,
    re.VERBOSE,
)
_TOKEN = re.compile(r"\(0\)|\(\+?(\d++)\)|(\+)|(\d++)")
# Words that make a number a phone number when they sit just before it (40 characters) or just
# after it ("... office", "-Fax"); Presidio's phone context words plus messaging ones.
PHONE_CONTEXT = re.compile(
    r"\b(?:phone|phones|telephone|tel|tlf|call|calls|calling|called|mobile|mob|cell|cellphone|fax|office|desk|"
    r"contact|dial|sms|text|texts|message|messages|whatsapp|answering|hotline|helpline|"
    r"telefon|telefono|téléphone|tél|portable)\b",
    re.IGNORECASE,
)
ISBN_BEFORE = re.compile(r"isbn(?:-1[03])?:?\s*$", re.IGNORECASE)
CONTEXT_BEFORE, CONTEXT_AFTER = 40, 16


def _is_year(g: str) -> bool:
    return len(g) == 4 and 1900 <= int(g) <= 2099


def _looks_like_date(groups: list[str], seps: list[str]) -> bool:
    lens = [len(g) for g in groups]
    if any(s not in "-./" for s in seps):
        return False
    if lens == [4, 2, 2] and _is_year(groups[0]):
        return True
    if lens in ([2, 2, 4], [2, 2, 2], [1, 2, 4], [2, 1, 4]):
        a, b = int(groups[0]), int(groups[1])
        return (a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and b <= 31)
    return False


def _judge(toks: list[tuple[str, str]], seps: list[str], ext: bool) -> str | None:
    """'strong' (a phone number anywhere), 'weak' (one near a phone word) or None.
    toks: ("plus"|"trunk"|"paren"|"digits", digits); seps[i]: the text before toks[i+1]."""
    groups = [d for k, d in toks if k in ("paren", "digits")]
    kinds = [k for k, _ in toks if k in ("paren", "digits")]
    n = sum(len(g) for g in groups)
    plus = toks[0][0] == "plus"
    gseps = [s.strip() or " " for s in seps if s is not None]
    if not groups or n < 7 or n > 15:
        return None
    if _looks_like_date(groups, gseps) or all(_is_year(g) for g in groups):
        return None
    if plus:
        return "strong" if 8 <= n <= 15 else None
    if kinds[0] == "paren":
        area, rest = groups[0], groups[1:]
        if 2 <= len(area) <= 4 and not _is_year(area) and 8 <= n <= 12 and (len(rest) >= 2 or len(rest[0]) >= 6):
            return "strong"
        return None
    if "paren" in kinds:  # "(...)" in the middle: only after a country or trunk prefix
        return None
    first = groups[0]
    same_sep = len(set(gseps)) <= 1
    lens = [len(g) for g in groups]
    if lens == [3, 2, 4] and gseps == ["-", "-"]:
        return None  # the SSN layout (an invalid SSN is no phone number either)
    if first.startswith("0") and 2 <= len(first) <= 5 and len(groups) >= 2 and 9 <= n <= 13:
        if same_sep and min(lens) >= 2:
            return "strong"  # national trunk prefix, or "00"/"001" international prefix
    if same_sep and gseps and gseps[0] in "-." and (lens == [3, 3, 4] or lens == [1, 3, 3, 4] and first == "1"):
        return "strong"  # NANP
    if same_sep and gseps and gseps[0] in "-." and len(groups) in (4, 5) and set(lens) == {2}:
        return "strong"  # "71-33-52-22", "01.84.17.61.18"
    if ext and n >= 10:
        return "strong"
    if len(groups) == 1:
        return "weak" if 7 <= n <= 11 else None
    # an area code then the number: "89 523-43-01", "21 253 109 8211"
    area_then_same = gseps[0] == " " and len(set(gseps[1:])) <= 1
    if (same_sep or area_then_same) and 2 <= lens[0] <= 4 and all(2 <= x <= 8 for x in lens) and n <= 12:
        return "weak"
    return None


def _tokens(s: str, offset: int) -> list[tuple[str, str, int, int]]:
    out = []
    for m in _TOKEN.finditer(s):
        if m.group(1) is not None:
            kind, digits = "paren", m.group(1)
        elif m.group(2):
            kind, digits = "plus", ""
        elif m.group(3) is not None:
            kind, digits = "digits", m.group(3)
        else:
            kind, digits = "trunk", ""
        out.append((kind, digits, offset + m.start(), offset + m.end()))
    return out


def find_phones(text: str, has_context: Callable[[int, int], bool]) -> Iterator[Span]:
    for m in PHONE.finditer(text):
        start, end = m.span()
        if end - start < 7:  # "1. 1. 1." passes the look-ahead; no phone number is this short
            continue
        body_end = m.start("ext") if m.group("ext") else end
        toks = _tokens(text[start:body_end], start)
        # suffixes, longest first: a postcode or house number may run into the number
        for i, tok in enumerate(toks):
            if tok[0] == "trunk" or (i and toks[i - 1][0] == "plus"):
                continue
            if i and not text[toks[i - 1][3] : tok[2]].isspace():
                continue  # drop only whole leading words ("61487 416 60 039"), never part of a group run
            sub = toks[i:]
            seps = [text[a[3] : b[2]] for a, b in zip(sub, sub[1:]) if b[0] in ("paren", "digits")]
            verdict = _judge([(k, d) for k, d, _, _ in sub], seps, bool(m.group("ext")))
            s0 = sub[0][2]
            if verdict == "strong" or (verdict == "weak" and has_context(s0, end)):
                if ISBN_BEFORE.search(text, max(0, s0 - 12), s0):
                    break
                yield s0, end
                break


def phone_context(text: str) -> Callable[[int, int], bool]:
    def has_context(start: int, end: int) -> bool:
        return bool(
            PHONE_CONTEXT.search(text, max(0, start - CONTEXT_BEFORE), start)
            or PHONE_CONTEXT.search(text[end : end + CONTEXT_AFTER])
        )

    return has_context
