"""Word-4-gram shingle precision/recall/F1 of an extracted text against a reference text.

Same definitions as scrapinghub/article-extraction-benchmark's evaluate.py (tokens are `\\w+` runs,
shingles are a multiset, a text shorter than n tokens is one short shingle, an empty text has none,
two empty texts agree perfectly, a page with no predicted shingle has no precision and one with no
reference shingle has no recall), so numbers compare with the published ones. That script reports
F1 of the page-averaged P and R ("published F1"); we also report the mean of per-page F1.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, NamedTuple

_TOKEN_RE = re.compile(r"\w+")


def shingles(text: str | None, n: int = 4) -> Counter:
    tokens = _TOKEN_RE.findall(text or "")
    if not tokens:
        return Counter()
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


class PRF(NamedTuple):
    precision: float | None  # None: nothing predicted (left out of the precision mean)
    recall: float | None  # None: empty reference (left out of the recall mean)
    f1: float


def shingle_prf(reference: str | None, predicted: str | None, n: int = 4) -> PRF:
    true, pred = shingles(reference, n), shingles(predicted, n)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    if fp == fn == 0:  # identical multisets, including both empty
        return PRF(1.0, 1.0, 1.0)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return PRF(precision, recall, f1)


@dataclass(frozen=True)
class Summary:
    precision: float  # mean over pages
    recall: float  # mean over pages
    f1: float  # mean of per-page F1
    published_f1: float  # F1 of mean P and mean R (the benchmark's own figure)
    pages: int


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def summarize(scores: Iterable[PRF]) -> Summary:
    scores = list(scores)
    if not scores:
        raise ValueError("no pages to summarize")
    p = _mean([s.precision for s in scores if s.precision is not None])
    r = _mean([s.recall for s in scores if s.recall is not None])
    return Summary(
        precision=p,
        recall=r,
        f1=statistics.fmean(s.f1 for s in scores),
        published_f1=2 * p * r / (p + r) if p + r else 0.0,
        pages=len(scores),
    )
