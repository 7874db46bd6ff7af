"""`bench/langid_accuracy.py --fit`: when lingua's second opinion is asked, chosen per lid.176
label on the tune half and written to classifiers/assets/langid_second_opinion.json.

Items whose top label is L are changed only by L's rule, so each label's rule is chosen on its own:
of the (below, min_confidence) pairs in GRID, the one with the largest gain in mean per-language
accuracy that lowers no language's accuracy (net over that language's items); labels with no such
rule (or a gain under MIN_FIXED items) are never sent to lingua."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from classifiers.langid import LanguageId, normalize
from classifiers.langid_second import SecondOpinion, takes

# ask lingua when lid.176's top probability is below `below` (1.01: always) ...
BELOWS = (0.3, 0.5, 0.7, 0.9, 1.01)
# ... and take lingua's label only at this confidence among the candidates or more
MIN_CONFIDENCES = (0.0, 0.5, 0.7, 0.9, 0.99)
GRID = [(b, c) for b in BELOWS for c in MIN_CONFIDENCES]
# a rule must fix at least this many tune-half items net: one item is noise, not a rule
MIN_FIXED = 2


def collect(items: list[dict], config: dict) -> list[dict]:
    """Per item: the truth, lid.176's top label and probability, and lingua's pick among the
    candidates (None where the stage would not ask: lid.176's label unknown to lingua ...)."""
    stage = LanguageId(LanguageId.Config(min_score=0.0, **config, second_opinion=False, vote=[]))
    stage.setup()  # lid.176 only: the rules are what is being fitted
    cfg, second = stage.config, SecondOpinion(low_accuracy=stage.config.second_opinion_low_accuracy)
    lines = [normalize(i["text"], cfg) for i in items]
    out = []
    for item, line in zip(items, lines):
        rec = {"truth": item["label"], "top": None, "prob": 0.0, "lingua": None, "confidence": 0.0}
        if line:
            labs, probs = stage.model.predict(line, k=cfg.second_opinion_top_k)
            labels = [lab.removeprefix("__label__") for lab in labs]
            rec["top"], rec["prob"] = labels[0], float(min(probs[0], 1.0))
            candidates = second.candidates(labels, line)
            found = second.decide(line[: cfg.second_opinion_max_chars], candidates) if candidates else None
            if found is not None:
                rec["lingua"], rec["confidence"] = found
        out.append(rec)
    return out


def decided(rec: dict, rules: dict) -> str | None:
    """The label the stage gives this item under `rules` (the same test as LanguageId.predict)."""
    if rec["lingua"] is None:
        return rec["top"]
    rule = rules.get(rec["top"])
    return rec["lingua"] if takes(rule, rec["prob"], rec["confidence"]) else rec["top"]


def fit(records: list[dict]) -> dict[str, dict]:
    """{lid.176 label: rule} for the labels where asking lingua helps on these records."""
    n = Counter(r["truth"] for r in records)
    by_top = defaultdict(list)
    for r in records:
        if r["lingua"] is not None and r["lingua"] != r["top"]:
            by_top[r["top"]].append(r)  # only items where lingua disagrees can change
    rules = {}
    for top, recs in sorted(by_top.items()):
        best = None
        for below, conf in GRID:
            rule = {"below": below, "min_confidence": conf}
            delta = Counter()
            for r in recs:
                delta[r["truth"]] += (decided(r, {top: rule}) == r["truth"]) - (r["top"] == r["truth"])
            if min(delta.values()) < 0 or sum(delta.values()) < MIN_FIXED:
                continue
            gain = sum(d / n[t] for t, d in delta.items())
            asks = sum(r["prob"] < below for r in recs)
            if best is None or (gain, -asks) > (best[0], -best[1]):
                best = (gain, asks, rule, delta)
        if best is not None:
            gain, _, rule, delta = best
            rules[top] = {**rule, "tune_fixed": {t: d for t, d in sorted(delta.items()) if d}}
    return rules


def write(path: Path, rules: dict, measured: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = {"below": BELOWS, "min_confidence": MIN_CONFIDENCES, "min_fixed": MIN_FIXED}
    one = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731
    lines = ",\n".join(f"  {one(label)}: {one(rule)}" for label, rule in sorted(rules.items()))
    path.write_text(f'{{"measured": {json.dumps(measured, indent=1)},\n "grid": {one(grid)},\n'
                    f' "rules": {{\n{lines}\n }}\n}}\n', encoding="utf-8")
