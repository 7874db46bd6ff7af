"""Detectors for structured identifiers: each finds candidates with a regular expression that runs
in linear time, then keeps those a checksum or range rule confirms.

Linear time: every repetition is bounded or possessive (`++`, `{m,n}+`, Python >= 3.11), classes
that follow each other do not overlap (so the engine has one way to split a run), and every
pattern starts with a look-behind that forbids starting inside a word or number, so a long run of
digits, dots or letters offers one start, not one per character. tests/filters/test_pii.py times each
pattern on adversarial input against normal text.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

from filters.pii_checks import IBAN_LENGTHS, card_ok, iban_ok, ip_ok, ssn_ok

Span = tuple[int, int]

# Local part up to 64 characters, domain labels up to 63 (RFC 5321), at most 8 labels, a
# letters-only TLD. The look-behind excludes '@' too: "a@a@a@..." offers no start after an '@'.
EMAIL = re.compile(
    r"(?<![\w.%+@-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}+@(?:[A-Za-z0-9-]{1,63}+\.){1,8}[A-Za-z]{2,24}+(?![\w-])"
)
# "logo@2x.png": image names for high-density screens, not addresses (no such TLDs exist)
FILE_SUFFIX = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|bmp|ico|tiff?|avif)$", re.IGNORECASE)

# 12-19 digits: contiguous, in groups of four (4-4-4-4[-1..3]), or Amex/Diners 4-6-5 / 4-6-4, one
# kind of separator throughout.
CARD = re.compile(
    r"(?<![\w.,/+-])(?:\d{12,19}+|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}+(?:\1\d{1,3}+)?|\d{4}([ -])\d{6}\2\d{4,5}+)"
    r"(?![\w]|[.,/-]\d| \d)"
)

# Country code, check digits, then 11-30 letters/digits, printed either without spaces or in
# groups of four; the exact length comes from the country (cut in `find_ibans`).
IBAN = re.compile(
    r"(?<![\w-])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}+|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)(?!\w)",
    re.ASCII,
)

# 3-2-4 digits, with a hyphen (the printed form), a space, or none (those two need context).
SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w]|[-.]\d| \d)", re.ASCII)
SSN_CONTEXT = re.compile(r"\b(?:ssn|ssns|social security|ss#|ss no|ssa)\b", re.IGNORECASE)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# Not preceded by a word character or dot and not followed by ".digit": "1.1.1.1.1" is no address.
IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)", re.ASCII)
# Version strings look like addresses: "version 1.2.3.4", "v. 2.0.0.1".
VERSION_BEFORE = re.compile(r"(?:\bversion|\bver|\bv|\brelease|\bbuild|\bfirmware)\.?\s*$", re.IGNORECASE)
# Hex groups joined by colons (2-8 of them, "::" allowed); ipaddress decides.
IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}+)?(?::[0-9A-Fa-f]{0,4}+){2,8}+(?![\w:]|\.\d)")

# Six hex pairs joined by one kind of separator (IEEE 802 form).
MAC = re.compile(r"(?<![\w:.-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![\w:-])")


def find_emails(text: str, has_context: Callable[[int, int], bool]) -> Iterator[Span]:
    if "@" not in text:
        return
    for m in EMAIL.finditer(text):
        if not FILE_SUFFIX.search(m.group()):
            yield m.span()


def find_cards(text: str, has_context: Callable[[int, int], bool]) -> Iterator[Span]:
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if card_ok(digits):
            yield m.span()


def find_ibans(text: str, has_context: Callable[[int, int], bool]) -> Iterator[Span]:
    pos = 0
    while m := IBAN.search(text, pos):
        pos = m.end()
        s = m.group()
        length = IBAN_LENGTHS.get(s[:2].upper())
        if length is None:
            continue
        # exactly `length` characters (spaces aside), ending a group: a printed IBAN may be
        # followed by a short word the pattern took for its last group
        n, end = 0, None
        for i, ch in enumerate(s):
            n += ch != " "
            if n == length:
                end = i + 1
                break
        if end is None or (end < len(s) and s[end] != " "):
            continue
        if iban_ok(s[:end].replace(" ", "").upper()):
            yield m.start(), m.start() + end
            pos = m.start() + end  # the rest of the match may start the next IBAN


def find_ssns(text: str, has_context: Callable[[int, int], bool]) -> Iterator[Span]:
    for m in SSN.finditer(text):
        if not ssn_ok(m.group(1), m.group(3), m.group(4)):
            continue
        # 3-2-4 with hyphens is the printed form; other layouts are any nine digits without context
        if m.group(2) == "-" or SSN_CONTEXT.search(text, max(0, m.start() - 50), m.start()):
            yield m.span()


def find_ips(text: str, has_context: Callable[[int, int], bool], public_only: bool = True) -> Iterator[Span]:
    for m in IPV4.finditer(text):
        if ip_ok(m.group(), public_only) and not VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            yield m.span()
    if "::" in text or text.count(":") >= 7:
        for m in IPV6.finditer(text):
            s = m.group()
            # at least two hex groups: "a::" and "::1"-like tokens are too often not addresses
            if sum(1 for g in s.split(":") if g) >= 2 and ip_ok(s, public_only):
                yield m.span()


def find_macs(text: str, has_context: Callable[[int, int], bool]) -> Iterator[Span]:
    for m in MAC.finditer(text):
        hexes = re.sub(r"[:-]", "", m.group()).lower()
        # all-zero and broadcast addresses belong to no device
        if hexes not in ("000000000000", "ffffffffffff"):
            yield m.span()
