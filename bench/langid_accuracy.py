"""Accuracy and speed of the `langid` stage on the Universal Declaration of Human Rights, per
language, for lid.176 alone, with lingua's second opinion, and with the CLD2 + py3langid vote
on top (the stage's default), in one run.

    .venv/bin/python bench/langid_accuracy.py            # held-out (report) half
    .venv/bin/python bench/langid_accuracy.py --tune     # the choices, measured on the tune half
    .venv/bin/python bench/langid_accuracy.py --fit      # refit when lingua is asked, per lid.176
                                                         # label (classifiers/assets/langid_second_opinion.json)
    .venv/bin/python bench/langid_vote_fit.py            # refit the vote (classifiers/assets/langid_vote.json)

Unit: one UDHR paragraph (median ~150 characters: sentence-sized, harder than a web page);
`--doc-chars 500` joins a version's consecutive paragraphs into page-sized documents instead.
Languages: every lid.176 label some UDHR version maps to (pipeline/language_codes.py: ISO 639-3 /
BCP 47 -> lid.176 code, macro-languages by CLDR's aliases), all versions of a language pooled;
versions in a script lid.176 never saw for that language are left out of the mean and shown apart,
as are the versions in VARIETIES. No other file in ../shared/data has language labels that are not
some model's prediction, so UDHR is the only labelled set.
Accuracy of a language: the share of its paragraphs labelled with its code (recall); the mean is
over languages, unweighted. Paragraphs are split into tune / report halves by a seeded hash of
their text; thresholds were chosen on the tune half and the report half is what this prints.
Speed: documents per CPU-second of this process (process time, so per core even on a busy box).
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import xxhash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifiers.langid import LanguageId  # noqa: E402
from pipeline.language_codes import lid_label_for, unmodelled_script  # noqa: E402
from classifiers.langid_second import RULES_PATH  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402

# Versions whose tag names a language they are not the written standard of: "French (Welche)" is
# tagged `fr` but is the Lorraine Romance dialect of the Vosges (lid.176 says fr for 0 of its 59
# paragraphs; it alone held French at 52-62% in the 2026-12-06 run).
VARIETIES = frozenset({"French (Welche)"})


def load(path: Path, lid_labels: set[str], seed: int) -> list[dict]:
    """One item per paragraph of each UDHR version lid.176 has a label for."""
    items = []
    for line in open(path, encoding="utf-8"):
        rec = json.loads(line)
        label = lid_label_for(rec["iso6393"], rec["bcp47"], lid_labels)
        if label is None or not rec.get("paragraphs"):
            continue
        unmodelled = unmodelled_script(label, " ".join(rec["paragraphs"])) or rec["name"] in VARIETIES
        for text in rec["paragraphs"]:
            half = "tune" if xxhash.xxh64_intdigest(text.encode("utf-8"), seed=seed) % 2 == 0 else "report"
            items.append({"label": label, "text": text, "half": half, "unmodelled": unmodelled,
                          "version": f"{rec['bcp47']} {rec['name']}"})
    return items


def as_documents(items: list[dict], min_chars: int) -> list[dict]:
    """Consecutive paragraphs of one version joined (by newlines) until at least `min_chars`: the
    length of a short web page rather than of a sentence."""
    docs, current = [], None
    for item in items:
        if current is not None and current["version"] == item["version"] and len(current["text"]) < min_chars:
            current["text"] += "\n" + item["text"]
            continue
        current = dict(item)
        docs.append(current)
    return docs


def run(config: dict, items: list[dict]) -> tuple[list[str | None], float]:
    """Labels for the items' texts, and the CPU seconds predicting them took."""
    stage = LanguageId(LanguageId.Config(min_score=0.0, **config))
    stage.setup()
    texts = [i["text"] for i in items]
    stage.predict(texts)  # warm-up: lingua loads each language's model on first use
    t0 = time.process_time()
    labels = []
    for start in range(0, len(texts), 256):  # the pipeline's batch size
        labels += stage.predict(texts[start:start + 256])[0]
    return labels, time.process_time() - t0


def per_language(items: list[dict], labels: list[str | None]) -> dict[str, float]:
    hits = defaultdict(list)
    for item, label in zip(items, labels):
        hits[item["label"]].append(label == item["label"])
    return {lang: sum(v) / len(v) for lang, v in hits.items()}


def web_speed(path: Path) -> str:
    """Documents per CPU-second on real Common Crawl WET pages (unlabelled: speed only)."""
    if not path.is_file():
        return f"(no {path.name}: web-page speed not measured)"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        docs = [{"text": json.loads(line)["text"]} for line in f]
    # best of 3 interleaved rounds: on a shared machine one round can be off by 30%
    stages = []
    for config in CONFIGS.values():
        stage = LanguageId(LanguageId.Config(min_score=0.0, **config))
        stage.setup()
        stage.predict([d["text"] for d in docs])  # warm-up (lingua's lazy model loads)
        stages.append(stage)
    rates = [0.0] * len(stages)
    for _ in range(3):
        for k, stage in enumerate(stages):
            t0 = time.process_time()
            for start in range(0, len(docs), 256):
                stage.predict([d["text"] for d in docs[start:start + 256]])
            rates[k] = max(rates[k], len(docs) / (time.process_time() - t0))
    chars = sum(len(d["text"]) for d in docs) / len(docs)
    return (f"{len(docs)} Common Crawl WET pages (mean {chars:.0f} chars): " +
            ", ".join(f"{name} {rate:.0f} docs/s" for name, rate in zip(CONFIGS, rates)) +
            f" (vote / lid.176 alone: {rates[2] / rates[0]:.2f}x)")


# ISO 639-3 macro-languages among lid.176's labels and their members that lid.176 also labels:
# zh (zho) holds Cantonese and Wu, sh (hbs) Bosnian, Croatian and Serbian, ms (msa) Indonesian and
# Minangkabau. Only for the secondary "macro-language level" line, where every member counts as
# its macro-language (Indonesian for a Malay text is right there). The headline figures stay
# exact: the pipeline keys dedup, rules and quality models by the exact label.
MACRO = {"yue": "zh", "wuu": "zh", "bs": "sh", "hr": "sh", "sr": "sh", "id": "ms", "min": "ms"}


def same_at_macro_level(truth: str, label: str | None) -> bool:
    return label is not None and MACRO.get(label, label) == MACRO.get(truth, truth)


# the three set-ups compared, each measured in the same run
CONFIGS = {"lid.176": dict(second_opinion=False, vote=[]), "+lingua": dict(vote=[]), "+vote": {}}


def mean(acc: dict[str, float]) -> float:
    return sum(acc.values()) / max(len(acc), 1)


def tune(items: list[dict]) -> None:
    """The choices behind LanguageIdConfig's defaults, each measured on the tune half."""
    trials = [
        ("lid.176, raw text", dict(second_opinion=False, vote=[], unicode_form="none", lowercase=False)),
        ("lid.176, NFC", dict(second_opinion=False, vote=[], unicode_form="NFC", lowercase=False)),
        ("lid.176, NFKC", dict(second_opinion=False, vote=[], unicode_form="NFKC", lowercase=False)),
        ("lid.176, NFKC + lower", dict(second_opinion=False, vote=[])),
    ]
    trials += [(f"+ lingua, fitted rules, top_k={k}", dict(second_opinion_top_k=k, vote=[])) for k in (1, 3, 5, 8)]
    trials += [(f"+ lingua + vote of {v}", dict(vote=v)) for v in (["cld2"], ["py3langid"], ["cld2", "py3langid"])]
    for name, config in trials:
        labels, cpu = run(config, items)
        print(f"{name:48} mean {mean(per_language(items, labels)):.4f}  {len(items) / cpu:8.0f} docs/s/core")


def fit_and_write(args, items: list[dict], half: str) -> None:
    from datetime import date

    from bench.langid_fit import collect, decided, fit, write

    records = collect(items, {})
    rules = fit(records)
    unit = f"documents of >= {args.doc_chars} chars" if args.doc_chars else "paragraphs"
    labels_alone = [decided(r, {}) for r in records]
    measured = {
        "date": date.today().isoformat(), "command": "bench/langid_accuracy.py --fit" +
        (f" --doc-chars {args.doc_chars}" if args.doc_chars else "") + (f" --seed {args.seed}" if args.seed else ""),
        "data": "shared/data/langid/udhr-paragraphs.jsonl", "half": f"{half} (seeded xxh64 of the text, seed {args.seed})",
        "unit": unit, "items": len(records), "languages": len({r["truth"] for r in records}),
        "mean_accuracy_lid176_alone": round(mean(per_language(items, labels_alone)), 4),
        "mean_accuracy_fitted": round(mean(per_language(items, [decided(r, rules) for r in records])), 4),
    }
    write(args.fit, rules, measured)
    print(json.dumps(measured, indent=1), f"\n{len(rules)} labels go to lingua: {sorted(rules)} -> {args.fit}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "langid" / "udhr-paragraphs.jsonl")
    ap.add_argument("--seed", type=int, default=0, help="seed of the tune/report split")
    ap.add_argument("--tune", action="store_true", help="measure the choices on the tune half instead")
    ap.add_argument("--fit", type=Path, nargs="?", const=RULES_PATH, default=None,
                    help="fit when lingua is asked on the tune half and write the table (default: the shipped one)")
    ap.add_argument("--worst", type=int, default=15)
    ap.add_argument("--doc-chars", type=int, default=0,
                    help="join a version's consecutive paragraphs into documents of at least this many characters")
    args = ap.parse_args()
    if not args.data.is_file():
        sys.exit(f"UDHR paragraphs not found at {args.data} (see ../shared/data/README.md)")

    probe = LanguageId(LanguageId.Config(second_opinion=False, vote=[]))
    probe.setup()
    lid_labels = {lab.removeprefix("__label__") for lab in probe.model.get_labels()}
    all_items = load(args.data, lid_labels, args.seed)
    half = "tune" if args.tune or args.fit else "report"
    items = [i for i in all_items if i["half"] == half and not i["unmodelled"]]
    apart = [i for i in all_items if i["half"] == half and i["unmodelled"]]
    if args.doc_chars:
        items, apart = as_documents(items, args.doc_chars), as_documents(apart, args.doc_chars)
    if args.tune:
        tune(items)
        return
    if args.fit:
        fit_and_write(args, items, half)
        return

    runs = {name: run(config, items) for name, config in CONFIGS.items()}
    acc = {name: per_language(items, labels) for name, (labels, _) in runs.items()}
    alone, final = acc["lid.176"], acc["+vote"]
    counts = Counter(i["label"] for i in items)
    unit = f"documents of >= {args.doc_chars} chars" if args.doc_chars else "paragraphs"
    print(f"UDHR {half} half (held out from tuning, split seed {args.seed}): {len(items)} {unit}, "
          f"{len(final)} languages lid.176 covers")
    print(f"{'lang':6} {'n':>4} " + " ".join(f"{name:>8}" for name in CONFIGS))
    for lang in sorted(final):
        print(f"{lang:6} {counts[lang]:4d} " + " ".join(f"{acc[name][lang]:8.3f}" for name in CONFIGS))
    print(f"\nmean accuracy over {len(final)} languages: " + ", ".join(f"{name} {mean(a):.4f}" for name, a in acc.items()))
    labels = runs["+vote"][0]
    macro = defaultdict(list)
    for item, label in zip(items, labels):
        macro[item["label"]].append(same_at_macro_level(item["label"], label))
    print(f"at the macro-language level (ISO 639-3; zh = yue/wuu, sh = bs/hr/sr, ms = id/min), +vote: "
          f"{mean({lang: sum(v) / len(v) for lang, v in macro.items()}):.4f}")
    micro = sum(lab == i["label"] for i, lab in zip(items, labels)) / len(items)
    print(f"accuracy over all {unit} (weighted by count) with lingua and the vote: {micro:.4f}")
    confusions = defaultdict(Counter)
    for item, label in zip(items, labels):
        if label != item["label"]:
            confusions[item["label"]][label] += 1
    print(f"\nworst {args.worst} (with lingua and the vote): language accuracy  most frequent wrong labels")
    for lang in sorted(final, key=lambda x: (final[x], x))[: args.worst]:
        print(f"  {lang:6} {final[lang]:.3f}  {dict(confusions[lang].most_common(3))}")
    for name in ("+lingua", "+vote"):
        changed = {x: round(acc[name][x] - alone[x], 3) for x in alone if acc[name][x] != alone[x]}
        print(f"\nchanged from lid.176 alone by {name}: {dict(sorted(changed.items(), key=lambda kv: kv[1]))}")
        below = sorted(x for x in alone if acc[name][x] < alone[x])
        print(f"languages below their lid.176-alone accuracy ({name}): {below or 'none'}")
    known = LanguageId(LanguageId.Config(vote=[]))
    known.setup()
    both_know = sorted(x for x in final if x in known.second.languages)
    others = sorted(set(final) - set(both_know))
    print(f"mean over the {len(both_know)} languages lingua knows too: " +
          ", ".join(f"{name} {mean({x: a[x] for x in both_know}):.4f}" for name, a in acc.items()) +
          f"; over the {len(others)} others: " + ", ".join(f"{name} {mean({x: a[x] for x in others}):.4f}" for name, a in acc.items()))
    if apart:
        labels, _ = run({}, apart)
        versions = Counter(i["version"] for i in apart)
        print(f"\nleft out (script lid.176 never saw for the language): {len(apart)} {unit}, "
              f"{len(versions)} versions, accuracy {mean(per_language(apart, labels)):.3f}: {sorted(versions)}")
    chars = sum(len(i["text"]) for i in items) / len(items)
    rates = {name: len(items) / cpu for name, (_, cpu) in runs.items()}
    print(f"\nspeed (per core, {len(items)} {unit}, mean {chars:.0f} chars): " +
          ", ".join(f"{name} {rate:.0f} docs/s" for name, rate in rates.items()) +
          f" (vote / lid.176 alone: {rates['+vote'] / rates['lid.176']:.2f}x)")
    print(f"speed (per core) on {web_speed(args.data.parent.parent / 'text' / 'cc-main-2019-30-wet.jsonl.gz')}")


if __name__ == "__main__":
    main()
