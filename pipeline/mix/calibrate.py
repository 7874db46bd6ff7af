"""Calibrating `assign-bucket`'s thresholds on labelled pages (bench/buckets.py --calibrate).

Labels: page -> "code" | "math" | None (a crawl page: neither). The pages are split in two by a
seeded hash of their key (the URL): thresholds are chosen on one half (`tune`) and measured on
the other (`held_out`), so the precision and recall written beside a threshold are not those of
the data it was fitted to. The rule is assign-bucket's: a primary-language page is `code` at
code score >= t_code, else `math_reasoning` at reasoning score >= t_reasoning; so t_code is chosen
first and t_reasoning among the pages t_code leaves.

A threshold is the one with the highest recall whose precision on the tune half reaches
`min_precision` (the issue's 0.9); it sits half way between the lowest accepted positive's score
and the next lower score, not on a page. Where no threshold reaches the precision, the best F1 is
taken and the result says so."""
from __future__ import annotations

from dataclasses import dataclass

import xxhash

LABELS = ("code", "math")


@dataclass(frozen=True)
class Page:
    key: str  # the URL: the split is by page, not by record
    label: str | None  # "code", "math" or None
    code: float | None
    reasoning: float | None
    language: str | None = "en"


def is_held_out(key: str, seed: int) -> bool:
    return xxhash.xxh64_intdigest(key.encode("utf-8", "surrogatepass"), seed=seed % 2**64) % 2 == 1


def precision_recall(scores: list[float], positive: list[bool], threshold: float) -> dict:
    tp = sum(1 for s, p in zip(scores, positive) if p and s >= threshold)
    fp = sum(1 for s, p in zip(scores, positive) if not p and s >= threshold)
    pos = sum(positive)
    return {"threshold": threshold, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / pos, 4) if pos else None, "tp": tp, "fp": fp, "fn": pos - tp}


def choose_threshold(scores: list[float], positive: list[bool], min_precision: float) -> dict:
    """The threshold of highest recall at precision >= min_precision (ties: the highest such
    threshold), half way to the next lower score; without one, the best F1 (`met`: False)."""
    distinct = sorted(set(scores), reverse=True)
    best, best_f1 = None, None
    for i, s in enumerate(distinct):
        below = distinct[i + 1] if i + 1 < len(distinct) else 0.0
        t = round((s + below) / 2, 4) if below < s else s
        pr = precision_recall(scores, positive, t)
        if not pr["tp"]:
            continue
        if pr["precision"] >= min_precision and (best is None or pr["recall"] > best["recall"]):
            best = pr
        f1 = 2 * pr["tp"] / (2 * pr["tp"] + pr["fp"] + pr["fn"])
        if best_f1 is None or f1 > best_f1[0]:
            best_f1 = (f1, pr)
    if best is not None:
        return {**best, "met": True}
    if best_f1 is not None:
        return {**best_f1[1], "met": False}
    return {"threshold": 1.0, "precision": None, "recall": 0.0 if sum(positive) else None, "tp": 0, "fp": 0,
            "fn": sum(positive), "met": False}


def reliability(scores: list[float], positive: list[bool], bins: int = 10) -> list[dict]:
    """Reliability curve: per equal-width score bin, documents, mean score and positive rate."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(s, p) for s, p in zip(scores, positive) if lo <= s < hi or (b == bins - 1 and s == hi)]
        if inside:
            out.append({"lo": lo, "hi": hi, "n": len(inside), "mean_score": round(sum(s for s, _ in inside) / len(inside), 4),
                        "positive_rate": round(sum(p for _, p in inside) / len(inside), 4)})
    return out


def assign(page: Page, t_code: float, t_reasoning: float, primary: tuple[str, ...], first: str = "code") -> str:
    """assign-bucket's rule, on one page (`first`: the domain tested first, as its `first`)."""
    if page.language is not None and page.language not in primary:
        return "multilingual"
    tests = [("code", page.code, t_code), ("math_reasoning", page.reasoning, t_reasoning)]
    for bucket, score, threshold in (tests if first == "code" else tests[::-1]):
        if score is not None and score >= threshold:
            return bucket
    return "general"


def bucket_pr(pages: list[Page], t_code: float, t_reasoning: float, primary: tuple[str, ...], first: str = "code") -> dict:
    """Precision and recall of the code and math buckets over `pages` under the rule."""
    got = [assign(p, t_code, t_reasoning, primary, first) for p in pages]
    out = {}
    for label, bucket in (("code", "code"), ("math", "math_reasoning")):
        tp = sum(1 for p, g in zip(pages, got) if g == bucket and p.label == label)
        fp = sum(1 for p, g in zip(pages, got) if g == bucket and p.label != label)
        pos = sum(1 for p in pages if p.label == label)
        out[label] = {"precision": round(tp / (tp + fp), 4) if tp + fp else None, "recall": round(tp / pos, 4) if pos else None,
                      "tp": tp, "fp": fp, "fn": pos - tp, "labelled": pos}
    return out


def _score(page: Page, label: str) -> float | None:
    return page.code if label == "code" else page.reasoning


def calibrate(pages: list[Page], primary: tuple[str, ...] = ("en",), min_precision: float = 0.9, seed: int = 0,
              first: str = "code") -> dict:
    """Thresholds chosen on the tune half, with precision and recall on both halves: the domain
    tested first (`first`) is chosen on every page, the other on the pages the first leaves."""
    eligible = [p for p in pages if p.language is None or p.language in primary]
    tune = [p for p in eligible if not is_held_out(p.key, seed)]
    held = [p for p in eligible if is_held_out(p.key, seed)]
    order = ("code", "math") if first == "code" else ("math", "code")
    chosen: dict[str, dict] = {}
    rest = tune
    for label in order:
        scored = [p for p in rest if _score(p, label) is not None]
        chosen[label] = choose_threshold([_score(p, label) for p in scored], [p.label == label for p in scored], min_precision)
        rest = [p for p in rest if _score(p, label) is None or _score(p, label) < chosen[label]["threshold"]]
    t_code, t_reasoning = chosen["code"]["threshold"], chosen["math"]["threshold"]
    with_code = [p for p in eligible if p.code is not None]
    with_reasoning = [p for p in eligible if p.reasoning is not None]
    return {
        "code_threshold": t_code, "reasoning_threshold": t_reasoning, "first": first, "min_precision": min_precision,
        "seed": seed, "chosen_on_tune": chosen,
        "tune": bucket_pr(tune, t_code, t_reasoning, primary, first),
        "held_out": bucket_pr(held, t_code, t_reasoning, primary, first),
        "all": bucket_pr(eligible, t_code, t_reasoning, primary, first),
        "pages": {"tune": len(tune), "held_out": len(held),
                  "labelled": {lab: sum(1 for p in eligible if p.label == lab) for lab in LABELS}},
        "reliability": {
            "code": reliability([p.code for p in with_code], [p.label == "code" for p in with_code]),
            "math": reliability([p.reasoning for p in with_reasoning], [p.label == "math" for p in with_reasoning]),
        },
    }
