"""Accuracy of the `pii` stage's detectors on Presidio's labelled synthetic sentences, and its
speed and drop rate on real Common Crawl text, in one run.

    .venv/bin/python bench/pii_accuracy.py            # add --show-errors to print misses and FPs

Matching rule: a labelled span counts as found (recall) when a detection of the matching type
overlaps it by at least one character; a detection counts as correct (precision) when it overlaps
a labelled span of its type; "on a label" is the share of all detections that overlap a labelled
span of any type (a redaction that hides something labelled as PII, e.g. a phone number labelled
as a ZIP code, is no loss of clean text).
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filters.pii import PII_TYPES, Pii, detect  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402

# Presidio's entity types -> ours (types we do not detect: names, addresses, dates ...)
LABELS = {
    "EMAIL_ADDRESS": "email",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip",
    "PHONE_NUMBER": "phone",
}


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def accuracy(stage: Pii, records: list[dict], show_errors: bool) -> dict:
    found, labelled = Counter(), Counter()
    correct, detected, on_label = Counter(), Counter(), Counter()
    for r in records:
        text = r["full_text"]
        spans = [(s["start_position"], s["end_position"], s["entity_type"]) for s in r["spans"]]
        regions = detect(text, stage._finders)
        for s, e, label in spans:
            kind = LABELS.get(label)
            if kind is None:
                continue
            labelled[kind] += 1
            if any(k == kind and overlaps((s, e), (a, b)) for a, b, k in regions):
                found[kind] += 1
            elif show_errors:
                print(f"MISS {kind:12} {text[s:e]!r:32} in {text[max(0, s - 50):e + 20]!r}")
        for a, b, kind in regions:
            detected[kind] += 1
            hits = [lab for s, e, lab in spans if overlaps((s, e), (a, b))]
            correct[kind] += any(LABELS.get(lab) == kind for lab in hits)
            on_label[kind] += bool(hits)
            if show_errors and not any(LABELS.get(lab) == kind for lab in hits):
                print(f"FP   {kind:12} {text[a:b]!r:32} labels={hits} in {text[max(0, a - 50):b + 20]!r}")
    print(f"{'type':12} {'labelled':>8} {'recall':>7} {'detected':>8} {'precision':>9} {'on a label':>10}")
    for kind in PII_TYPES:
        n, d = labelled[kind], detected[kind]
        rec = f"{found[kind] / n:.3f}" if n else "-"
        prec = f"{correct[kind] / d:.3f}" if d else "-"
        onl = f"{on_label[kind] / d:.3f}" if d else "-"
        print(f"{kind:12} {n:8d} {rec:>7} {d:8d} {prec:>9} {onl:>10}")
    total_d = sum(detected.values())
    print(f"{'all':12} {sum(labelled.values()):8d} {sum(found.values()) / max(sum(labelled.values()), 1):7.3f} "
          f"{total_d:8d} {sum(correct.values()) / max(total_d, 1):9.3f} {sum(on_label.values()) / max(total_d, 1):10.3f}")
    return {"found": found, "labelled": labelled, "detected": detected, "correct": correct, "on_label": on_label}


def real_text(stage: Pii, path: Path, repeats: int) -> None:
    with gzip.open(path, "rt") as f:
        texts = [json.loads(line)["text"] for line in f]
    counts, reasons = Counter(), Counter()
    best = None
    for _ in range(repeats):
        t0 = time.process_time()
        results = [stage.scan(t) for t in texts]
        dt = time.process_time() - t0
        best = dt if best is None else min(best, dt)
    for _, c, reason in results:
        counts.update(c)
        reasons[reason] += 1
    mb = sum(len(t.encode()) for t in texts) / 1e6
    with_pii = sum(1 for _, c, _ in results if c)
    print(f"\nreal text: {path.name}: {len(texts)} docs, {mb:.2f} MB")
    print(f"  speed: {len(texts) / best:.0f} docs/s, {mb / best:.2f} MB/s (CPU time, best of {repeats}, one core)")
    print(f"  docs with any PII: {with_pii}; identifiers per type: {dict(sorted(counts.items()))}")
    print(f"  dropped (pii-density): {reasons['pii-density']} of {len(texts)}")


def adversarial(stage: Pii) -> None:
    """datatrove's PIIFormatter email pattern against ours on a run of "a.a.a.": theirs grows with
    the square of the length (every word start re-scans the run), ours stays linear."""
    from datatrove.pipeline.formatters.pii import PIIFormatter

    theirs = PIIFormatter().emails_replacer
    print("\nadversarial 'a.a.a.a...' (CPU s):")
    for n in (10_000, 20_000, 40_000):
        s = "a." * (n // 2)
        t0 = time.process_time()
        theirs.replace(s)
        t1 = time.process_time()
        detect(s, stage._finders)
        t2 = time.process_time()
        print(f"  {n:>6} chars: datatrove email {t1 - t0:.3f}   ours (all types) {t2 - t1:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labelled", type=Path, default=shared_data_dir() / "pii" / "presidio-synth-even.json")
    ap.add_argument("--text", type=Path, default=shared_data_dir() / "text" / "cc-main-2019-30-wet.jsonl.gz")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    stage = Pii()
    stage.setup()
    print(__doc__.split("\n\n")[2].strip(), "\n")
    accuracy(stage, json.loads(args.labelled.read_text()), args.show_errors)
    real_text(stage, args.text, args.repeats)
    adversarial(stage)


if __name__ == "__main__":
    main()
