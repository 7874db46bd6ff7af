"""Fit the langid vote (classifiers/langid_vote.py) on the UDHR tune half and write
classifiers/assets/langid_vote.json; `bench/langid_accuracy.py` reports it on the other half.

    .venv/bin/python bench/langid_vote_fit.py [--seed 0] [--out PATH]

1. Precision of each voter's claim "this is L" (the stage's own label counts as the voter
   `stage`): (right + 1) / (claims + 2) over the tune half's paragraphs.
2. Per paragraph the most precise claim wins. A (stage label, winner) pair is allowed only when
   switching fixed at least MIN_FIXED paragraphs net on the tune half and lowered no language's
   count (net over that language's paragraphs); other disagreements keep the stage's label."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.langid_accuracy import load, mean, per_language  # noqa: E402
from classifiers.langid import LanguageId  # noqa: E402
from classifiers.langid_vote import BASE, TABLE_PATH, VOTERS, Voters, winner  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402

MIN_FIXED = 2  # one paragraph is noise, not a rule


def collect(items: list[dict], voters: tuple[str, ...] = VOTERS) -> list[dict]:
    """Per item: the truth and every voter's label (the stage's without the vote)."""
    stage = LanguageId(LanguageId.Config(min_score=0.0, vote=[]))
    stage.setup()
    texts = [i["text"] for i in items]
    base = []
    for start in range(0, len(texts), 256):
        base += stage.predict(texts[start:start + 256])[0]
    voting = Voters(voters, max_chars=stage.config.vote_max_chars)
    return [{"truth": i["label"], "votes": {BASE: b, **voting.labels(i["text"])}} for i, b in zip(items, base)]


def fit_precision(records: list[dict]) -> dict[str, dict[str, float]]:
    claims, right = defaultdict(Counter), defaultdict(Counter)
    for r in records:
        for name, label in r["votes"].items():
            if label is not None:
                claims[name][label] += 1
                right[name][label] += label == r["truth"]
    return {name: {label: round((right[name][label] + 1) / (n + 2), 4) for label, n in sorted(c.items())}
            for name, c in sorted(claims.items())}


def fit_pairs(records: list[dict], precision: dict) -> dict[str, dict]:
    by_pair = defaultdict(Counter)
    for r in records:
        found = winner(r["votes"], precision)
        base = r["votes"][BASE]
        if found is not None and found[0] != base:
            by_pair[f"{base}>{found[0]}"][r["truth"]] += (found[0] == r["truth"]) - (base == r["truth"])
    return {pair: {"tune_fixed": {t: d for t, d in sorted(delta.items()) if d}}
            for pair, delta in sorted(by_pair.items())
            if min(delta.values()) >= 0 and sum(delta.values()) >= MIN_FIXED}


def decided(rec: dict, table: dict) -> str | None:
    from classifiers.langid_vote import decide

    found = decide(rec["votes"], table)
    return found[0] if found else rec["votes"][BASE]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "langid" / "udhr-paragraphs.jsonl")
    ap.add_argument("--seed", type=int, default=0, help="seed of the tune/report split")
    ap.add_argument("--out", type=Path, default=TABLE_PATH)
    args = ap.parse_args()
    probe = LanguageId(LanguageId.Config(second_opinion=False, vote=[]))
    probe.setup()
    lid_labels = {lab.removeprefix("__label__") for lab in probe.model.get_labels()}
    items = [i for i in load(args.data, lid_labels, args.seed) if i["half"] == "tune" and not i["unmodelled"]]
    records = collect(items)
    precision = fit_precision(records)
    pairs = fit_pairs(records, precision)
    table = {"precision": precision, "pairs": pairs}
    fitted = [decided(r, table) for r in records]
    measured = {
        "date": date.today().isoformat(),
        "command": "bench/langid_vote_fit.py" + (f" --seed {args.seed}" if args.seed else ""),
        "data": "shared/data/langid/udhr-paragraphs.jsonl",
        "half": f"tune (seeded xxh64 of the text, seed {args.seed})", "unit": "paragraphs",
        "items": len(records), "languages": len({r["truth"] for r in records}), "voters": list(VOTERS),
        "mean_accuracy_without_vote": round(mean(per_language(items, [r["votes"][BASE] for r in records])), 4),
        "mean_accuracy_with_vote": round(mean(per_language(items, fitted)), 4),
        "min_fixed": MIN_FIXED,
    }
    one = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)  # noqa: E731
    lines = lambda d: ",\n".join(f"  {one(k)}: {one(v)}" for k, v in d.items())  # noqa: E731
    args.out.write_text(f'{{"measured": {json.dumps(measured, indent=1)},\n "precision": {{\n{lines(precision)}\n }},\n'
                        f' "pairs": {{\n{lines(pairs)}\n }}\n}}\n', encoding="utf-8")
    print(json.dumps(measured, indent=1), f"\n{len(pairs)} pairs -> {args.out}")


if __name__ == "__main__":
    main()
