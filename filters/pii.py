"""PII filter (Llama 3, section 3.1.1: "we filter out ... websites containing high volumes of
personally identifiable information"): redacts structured identifiers (emails, phone numbers, IP
and MAC addresses, payment cards, IBANs, US SSNs) with typed placeholders, counts them per type in
annotations["pii"], and drops documents dense with them (reason pii-density).

Only structured identifiers: names and street addresses need a model and are out of scope here.
datatrove's PIIFormatter covers emails and IPv4 only, and its email pattern is quadratic on runs
like "a.a.a.a..." (bench/pii_accuracy.py measures it), so the patterns are our own
(filters/pii_patterns.py, filters/pii_phone.py).
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

import pyarrow as pa
from pydantic import Field

from filters.pii_patterns import find_cards, find_emails, find_ibans, find_ips, find_macs, find_ssns
from filters.pii_phone import find_phones, phone_context
from pipeline.stage import Editor, Edits, Resources, StageConfig


# Detection order is priority order: a region claimed by an earlier type is not offered to a later
# one (an email's digits are no phone number, a card number is no phone number).
PII_TYPES = ("email", "credit_card", "iban", "ssn", "ip", "mac", "phone")


class PiiConfig(StageConfig):
    # Types to detect and redact (any of PII_TYPES).
    types: tuple[str, ...] = PII_TYPES
    # Typed placeholders (the style of StarCoder's and Dolma's PII masking: one token per type).
    placeholders: dict[str, str] = {
        "email": "<EMAIL>",
        "credit_card": "<CREDIT_CARD>",
        "iban": "<IBAN>",
        "ssn": "<SSN>",
        "ip": "<IP>",
        "mac": "<MAC>",
        "phone": "<PHONE>",
    }
    # Redact only globally routable IP addresses (datatrove's PIIFormatter default): private,
    # loopback and documentation addresses in technical text identify no one.
    ip_public_only: bool = True
    # Drop a document with at least `min_count_for_density` identifiers and more than
    # `max_per_1000_words` per 1,000 words, or with `max_count` identifiers at all. Our choice: on
    # the CC-MAIN-2019-30 WET sample (bench/pii_accuracy.py) a page of ordinary prose with a contact
    # line has 1-4; these catch directories, lead lists and dumps (Llama 3 gives no numbers).
    min_count_for_density: int = Field(5, ge=1)
    max_per_1000_words: float = Field(20.0, ge=0)
    max_count: int | None = Field(100, ge=1)


def _finders(c: PiiConfig) -> dict[str, Callable]:
    return {
        "email": find_emails,
        "credit_card": find_cards,
        "iban": find_ibans,
        "ssn": find_ssns,
        "ip": partial(find_ips, public_only=c.ip_public_only),
        "mac": find_macs,
        "phone": find_phones,
    }


def detect(text: str, finders: list[tuple[str, Callable]]) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, type) regions, sorted; earlier finders win overlaps."""
    taken = bytearray(len(text))
    found: list[tuple[int, int, str]] = []
    has_context = phone_context(text)
    for kind, find in finders:
        spans: Iterator = find(text, has_context)
        for s, e in spans:
            if taken.find(1, s, e) == -1:
                taken[s:e] = b"\x01" * (e - s)
                found.append((s, e, kind))
    found.sort()
    return found


def redact(text: str, regions: list[tuple[int, int, str]], placeholders: dict[str, str]) -> str:
    parts, pos = [], 0
    for s, e, kind in regions:
        parts.append(text[pos:s])
        parts.append(placeholders[kind])
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


class Pii(Editor):
    name = "pii"
    reads = ("text",)
    writes = ("text", "annotations")
    resources = Resources(num_cpus=1, memory_gb=0.5)
    Config = PiiConfig
    annotation = "pii"
    no_text = None  # nothing to redact; the stages that need text drop it
    dropped_text = "edited"  # dropped records are written to disk too, and must not carry PII

    def setup(self) -> None:
        c = self.config
        unknown = set(c.types) - set(PII_TYPES)
        missing = set(c.types) - set(c.placeholders)
        if unknown or missing:
            raise ValueError(f"pii: unknown types {sorted(unknown)}, types without a placeholder {sorted(missing)}")
        finders = _finders(c)
        self._finders = [(t, finders[t]) for t in PII_TYPES if t in c.types]

    def scan(self, text: str) -> tuple[str, dict[str, int], str | None]:
        """(redacted text, counts per type, drop reason or None) for one document."""
        regions = detect(text, self._finders)
        counts: dict[str, int] = {}
        for _, _, kind in regions:
            counts[kind] = counts.get(kind, 0) + 1
        return redact(text, regions, self.config.placeholders), counts, self._reason(len(regions), text)

    def _reason(self, n: int, text: str) -> str | None:
        c = self.config
        if c.max_count is not None and n >= c.max_count:
            return "pii-density"
        if n >= c.min_count_for_density and n * 1000 > c.max_per_1000_words * max(len(text.split()), 1):
            return "pii-density"
        return None

    def edit(self, batch: pa.Table) -> Edits:
        texts, reasons, notes = [], [], []
        for text in batch.column("text").to_pylist():
            redacted, counts, reason = self.scan(text)
            texts.append(redacted if counts else None)  # None: unchanged
            reasons.append(reason)
            notes.append(dict(sorted(counts.items())) or None)
        return Edits(texts, reasons, notes)
