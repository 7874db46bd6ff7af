"""Every candidate language identifier alone on the UDHR halves, and the ceiling of any choice
among them: the evidence that a 96% mean over lid.176's 133 UDHR languages needs a model that
PyPI does not ship (docs/languages.md).

    .venv/bin/python bench/langid_candidates.py [--doc-chars 500] [--half report]

Models: lid.176.ftz, the langid stage (lid.176 + lingua, no vote), lingua alone (all its
languages), pycld2, py3langid (project dependencies), and, when installed, cld3-py (`gcld3`) and
langidentify with langidentify-full-model (pip install cld3-py==3.1.0 langidentify==1.0.2
langidentify-full-model==1.0.0; not project dependencies). Codes become lid.176 labels as in
classifiers/langid_vote.py. "Oracle" lines choose, per language or per paragraph, whichever model
is right on the half being scored: an upper bound for any routing or vote over these models.
Speeds here are one text per call with lazy model loads included; the stage's own speeds are
bench/langid_accuracy.py's.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.langid_accuracy import as_documents, load, mean  # noqa: E402
from classifiers.langid import LanguageId, normalize  # noqa: E402
from classifiers.langid_vote import Voters, to_lid  # noqa: E402
from pipeline.assets import shared_data_dir  # noqa: E402
from pipeline.language_codes import lingua_to_lid  # noqa: E402


def candidates() -> dict:
    """{name: text -> label}, for the models importable here."""
    models = {}
    lid = LanguageId(LanguageId.Config(second_opinion=False, vote=[]))
    lid.setup()
    models["lid.176"] = lambda t: lid.predict([t])[0][0]
    stage = LanguageId(LanguageId.Config(vote=[]))
    stage.setup()
    models["lid.176+lingua"] = lambda t: stage.predict([t])[0][0]
    voters = Voters()
    models["cld2"] = lambda t: voters.label("cld2", t)
    models["py3langid"] = lambda t: voters.label("py3langid", t)
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().build()

    def lingua(text: str) -> str | None:
        found = detector.detect_language_of(normalize(text, stage.config)[:1000])
        return lingua_to_lid(found.iso_code_639_1.name) if found else None
    models["lingua"] = lingua
    try:
        import gcld3

        cld3 = gcld3.NNetLanguageIdentifier(0, 5000)
        models["cld3"] = lambda t: to_lid(cld3.FindLanguage(t).language)
    except ImportError:
        print("(cld3-py not installed: no cld3 column)")
    try:
        from langidentify import Detector, Language, Model
        from langidentify.language import ALL

        ident = Detector(Model.load(sorted(ALL, key=lambda lang: lang.iso_code)))

        def langidentify(text: str) -> str | None:
            found = ident.detect(text)
            return to_lid(found.iso_code) if found is not None and found != Language.UNKNOWN else None
        models["langidentify"] = langidentify
    except ImportError:
        print("(langidentify not installed: no langidentify column)")
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "langid" / "udhr-paragraphs.jsonl")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--half", choices=("tune", "report"), default="report")
    ap.add_argument("--doc-chars", type=int, default=0)
    args = ap.parse_args()
    models = candidates()
    probe = LanguageId(LanguageId.Config(second_opinion=False, vote=[]))
    probe.setup()
    lid_labels = {lab.removeprefix("__label__") for lab in probe.model.get_labels()}
    items = [i for i in load(args.data, lid_labels, args.seed) if i["half"] == args.half and not i["unmodelled"]]
    if args.doc_chars:
        items = as_documents(items, args.doc_chars)
    right: dict[str, list[bool]] = {}
    rates = {}
    for name, predict in models.items():
        t0 = time.process_time()
        labels = [predict(i["text"]) for i in items]
        rates[name] = len(items) / (time.process_time() - t0)
        right[name] = [label == i["label"] for i, label in zip(items, labels)]

    def per_language(flags: list[bool]) -> dict[str, float]:
        by = defaultdict(list)
        for item, flag in zip(items, flags):
            by[item["label"]].append(flag)
        return {lang: sum(v) / len(v) for lang, v in by.items()}
    acc = {name: per_language(flags) for name, flags in right.items()}
    langs = sorted(acc["lid.176"])
    unit = f"documents of >= {args.doc_chars} chars" if args.doc_chars else "paragraphs"
    print(f"UDHR {args.half} half, {len(items)} {unit}, {len(langs)} languages lid.176 has a label for")
    for name in models:
        named = sum(1 for lang in langs if acc[name][lang] > 0)
        print(f"  {name:16} mean {mean(acc[name]):.4f}  right on some item of {named:3d} languages  "
              f"{rates[name]:8.0f} docs/s per core")
    best = {lang: max(acc[name][lang] for name in models) for lang in langs}
    print(f"oracle, best model per language: mean {mean(best):.4f}; any model right per item: "
          f"{mean(per_language([any(right[n][k] for n in models) for k in range(len(items))])):.4f}")
    low = [lang for lang in langs if best[lang] < 0.9]
    print(f"{len(low)} languages no candidate gets to 90%: " +
          ", ".join(f"{lang} {best[lang]:.2f}" for lang in low))


if __name__ == "__main__":
    main()
