"""The rule that combines the judge's labels with the teachers' votes (the package docstring states
it in full): a confident judge first, then agreeing teachers, then an unconfident judge, else no
label. Every label carries the name of the teacher that gave it, for the counts the run reports."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from classifiers.label_sources import binary_label

JUDGE = "judge"


@dataclass(frozen=True)
class JudgeVote:
    label: str  # "1"/"0" for a binary scorer, a topic key for the topic classifier
    confident: bool


def _positive_probability(probs: dict[str, float], positive_min: int) -> float | None:
    """P(label >= positive_min) from the judge's renormalised label probabilities (None: the
    score came without them, e.g. built by hand)."""
    if not probs:
        return None
    return sum(p for label, p in probs.items() if label.isdigit() and int(label) >= positive_min)


def judge_votes(scores, task: str, settings, confidence: float) -> list[JudgeVote | None]:
    """The judge's scores (`JudgeScore`s) of one task as binary votes: by the absolute cut
    `positive_min` (confident when the probability on the label's side is >= `confidence`; a score
    without probabilities counts as confident), or by rank within the labelled documents
    (`positive_quantile`: never confident). None where the judge gave no label."""
    import numpy as np

    quantile = settings.quantile_for(task)
    ok = [s.expected for s in scores if not s.failed]
    cut = float(np.quantile(ok, quantile)) if quantile is not None and ok else None
    out: list[JudgeVote | None] = []
    for s in scores:
        if s.failed:
            out.append(None)
        elif cut is not None:
            out.append(JudgeVote("1" if s.expected >= cut else "0", False))
        else:
            label = binary_label(s.label, settings.positive_min)
            p = _positive_probability(s.probs, settings.positive_min)
            side = None if p is None else (p if label == "1" else 1.0 - p)
            out.append(JudgeVote(label, side is None or side >= confidence))
    return out


def combine(n: int, judge: list[JudgeVote | None] | None, teachers: dict[str, list[str | None]]) -> list[tuple[str, str] | None]:
    """Per document: (label, name of the teacher that gave it), or None (no label). `judge`: one
    vote per document or None (not judged); `teachers`: name -> one vote per document (None:
    abstains)."""
    out: list[tuple[str, str] | None] = []
    for i in range(n):
        j = judge[i] if judge else None
        if j is not None and j.confident:
            out.append((j.label, JUDGE))
            continue
        votes = {name: v[i] for name, v in sorted(teachers.items()) if v[i] is not None}
        if votes and len(set(votes.values())) == 1:
            name, label = next(iter(votes.items()))
            out.append((label, name))
        elif j is not None:
            out.append((j.label, JUDGE))
        else:
            out.append(None)
    return out


def teacher_counts(sources: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(sources).items()))
