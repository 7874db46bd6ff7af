"""What the code and math teachers share: a page's two domain signals (classifiers/domain_signals.py,
over its text and the HTML counts `extract` left in `annotations["html"]`) turned into a vote for
one domain: positive on strong signal, negative on strong absence, abstain in between.

A page of the other domain is a negative (a computer-algebra manual page is not a code page for the
code bucket; a Python page about the math module is not a math page): the buckets are exclusive, and
`domain_kind` says which domain wins when both signals are high."""
from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class DomainVoteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # positive: the page's kind is this domain (domain_signals.KindRule: score >= 0.6 and the
    # other domain not clearly higher) and its score is at least this much
    positive_min: float = Field(0.6, ge=0, le=1)
    # ... from at least this many labelling functions voting >= 0.1: one kind of evidence alone
    # is too weak to teach from (math symbols alone are Greek text and map coordinates, code-like
    # lines alone a Russian municipal page). bench/teachers.py, training half of the docs pages
    # plus 928 crawl/WET pages, precision / recall of the positive votes: code 0.79 / 0.90 with
    # one vote, 0.88 / 0.90 with two; math 0.54 / 0.81 -> 0.86 / 0.68 (the crawl positives left
    # with two votes are real code and math pages: Android and Java API pages, LaTeX papers)
    min_votes: int = Field(2, ge=1)
    # negative: its score is below this (no more than one weak vote), or its kind is the other
    # domain; in between the teacher abstains. Our measurement on the training half of
    # ../shared/data/domains and the CC WET sample (bench/teachers.py)
    negative_below: float = Field(0.25, ge=0, le=1)

# a labelling function "votes" (counts towards min_votes) from this much
_VOTE_MIN = 0.1


@dataclass(frozen=True)
class Signals:
    code: float
    math: float
    kind: str | None  # "code", "math" or None (prose)
    code_votes: int = 0  # labelling functions voting >= 0.1
    math_votes: int = 0


def html_counts(annotations: str | dict | None) -> dict | None:
    """The HTML counts `extract` stored in a row's annotations (None when it stored none)."""
    if not annotations:
        return None
    data = json.loads(annotations) if isinstance(annotations, str) else annotations
    return data.get("html") if isinstance(data, dict) else None


def signals(text: str | None, annotations: str | dict | None = None) -> Signals:
    from classifiers.domain_signals import code_signal, domain_kind, math_signal

    text = text or ""
    html = html_counts(annotations)
    code, math_ = code_signal(text, html), math_signal(text, html)

    def n(sig):
        return sum(1 for v in sig.votes.values() if v >= _VOTE_MIN)

    return Signals(code.score, math_.score, domain_kind(code, math_), n(code), n(math_))


def vote(s: Signals, domain: str, config: DomainVoteConfig) -> str | None:
    score, votes = (s.code, s.code_votes) if domain == "code" else (s.math, s.math_votes)
    if s.kind == domain and score >= config.positive_min and votes >= config.min_votes:
        return "1"
    if score < config.negative_below or (s.kind is not None and s.kind != domain):
        return "0"
    return None


class DomainTeacher:
    """A labelling-function teacher for one domain; `votes(rows)` reads `text` and `annotations`."""

    def __init__(self, name: str, task: str, domain: str, config: DomainVoteConfig | None = None):
        self.name, self.task, self.domain = name, task, domain
        self.config = config or DomainVoteConfig()

    def votes(self, rows: list[dict], precomputed: list[Signals] | None = None) -> list[str | None]:
        sigs = precomputed if precomputed is not None else [signals(r.get("text"), r.get("annotations")) for r in rows]
        return [vote(s, self.domain, self.config) for s in sigs]
