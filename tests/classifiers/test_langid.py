"""Language ID with lid.176: labels, scores, thresholds, and the UDHR texts it should know."""
import json

import pytest

from classifiers.langid import LanguageId
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local


def run(rows, **config):
    stage = LanguageId(LanguageId.Config(**config))
    return run_map_stage_local(stage, documents_from_rows(rows))


def test_labels_scores_and_drop_reasons():
    kept, dropped = run(
        [
            {"id": "en", "text": "The committee published its annual report on water quality in the river basin."},
            {"id": "de", "text": "Der Ausschuss hat seinen jährlichen Bericht über die Wasserqualität veröffentlicht."},
            {"id": "multi-line", "text": "Первая строка текста.\nВторая строка текста о погоде в городе."},
            {"id": "empty", "text": "   "},
            {"id": "none", "text": None},
            {"id": "digits", "text": "12 34 56 78 90"},
        ]
    )
    k = {r["id"]: r for r in kept.to_pylist()}
    d = {r["id"]: r for r in dropped.to_pylist()}
    assert k["en"]["language"] == "en" and k["en"]["language_score"] > 0.8
    assert k["de"]["language"] == "de" and k["multi-line"]["language"] == "ru"
    assert d["empty"]["reason"] == "no-text" and d["none"]["reason"] == "no-text"
    assert d["digits"]["reason"] == "low-language-confidence"
    assert 0 <= d["digits"]["language_score"] < 0.3  # the score is still recorded on the dropped row


def test_language_allow_list_and_threshold_zero():
    kept, dropped = run(
        [{"id": "en", "text": "A short note about the weather in the mountains today."},
         {"id": "fr", "text": "Une courte note sur le temps qu'il fait à la montagne aujourd'hui."},
         {"id": "digits", "text": "12 34 56 78 90"}],
        languages=["en"], min_score=0.0,
    )
    reasons = {r["id"]: r["reason"] for r in dropped.to_pylist()}
    assert "en" in kept.column("id").to_pylist()
    assert reasons["fr"] == "language-not-kept:fr"
    assert "low-language-confidence" not in reasons.values()  # threshold 0 keeps every confident-or-not label


def test_udhr_major_languages(shared_data):
    """lid.176 must recognise the UDHR in widely spoken languages (ISO 639-3 -> lid.176 codes)."""
    wanted = {"eng": "en", "fra": "fr", "deu": "de", "spa": "es", "rus": "ru", "por": "pt", "ita": "it",
              "nld": "nl", "pol": "pl", "tur": "tr", "jpn": "ja", "arb": "ar", "vie": "vi", "kor": "ko"}
    rows = []
    for line in open(shared_data / "langid" / "udhr-paragraphs.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        code = rec.get("iso6393")
        # "(Welche)", "(Han nom)"...: dialects and historic scripts lid.176 does not model
        if code in wanted and rec.get("paragraphs") and "(" not in rec.get("name", ""):
            rows.append({"id": f"{code}-{len(rows)}", "text": " ".join(rec["paragraphs"][:3]), "expect": wanted[code]})
    if len(rows) < 10:
        pytest.skip(f"UDHR file layout not as expected (found {len(rows)} of the wanted languages)")
    kept, dropped = run([{"id": r["id"], "text": r["text"]} for r in rows], min_score=0.0)
    got = {r["id"]: r["language"] for r in kept.to_pylist()}
    correct = sum(got.get(r["id"]) == r["expect"] for r in rows)
    assert correct / len(rows) >= 0.95, {r["id"]: got.get(r["id"]) for r in rows if got.get(r["id"]) != r["expect"]}
