"""lingua's second opinion for lid.176's unsure labels, the text normalisation before lid.176,
and the label mapping the accuracy benchmark relies on."""
import json
import unicodedata
from collections import defaultdict

import pytest

from classifiers.langid import LanguageId
from pipeline.language_codes import lid_label_for, unmodelled_script
from classifiers.langid_second import RULES_PATH, SecondOpinion, load_rules
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local

MALAY = "Kerajaan negeri akan membina lebih banyak rumah mampu milik untuk rakyat di kawasan bandar tahun hadapan."
NYNORSK = "Kommunen skal byggje fleire bustader for ungdom i bygda neste år."
SOMALI = "Dadka oo dhan waxay dhashaan iyagoo xor ah kuna siman xagga sharafta iyo xuquuqda."


def run(rows, **config):
    stage = LanguageId(LanguageId.Config(**config))
    return run_map_stage_local(stage, documents_from_rows(rows))


def run_fast(rows, **config):
    """lingua in low-accuracy mode: its models load in a tenth of the time (tests stay quick)."""
    return run(rows, second_opinion_low_accuracy=True, **config)


def test_second_opinion_corrects_where_fitted_and_is_recorded():
    rows = [{"id": "nn", "text": NYNORSK}, {"id": "so", "text": SOMALI},
            {"id": "en", "text": "The committee published its annual report on water quality in the river basin."}]
    alone, _ = run(rows, second_opinion=False, min_score=0.0)
    both, _ = run_fast(rows, min_score=0.0)
    first = {r["id"]: r["language"] for r in alone.to_pylist()}
    second = {r["id"]: r for r in both.to_pylist()}
    # lid.176 alone takes these for Bokmål and English (labels the fitted table sends to lingua)
    assert (first["nn"], first["so"]) == ("no", "en")
    assert {k: second[k]["language"] for k in ("nn", "so")} == {"nn": "nn", "so": "so"}
    note = json.loads(second["nn"]["annotations"])["langid_second"]
    assert note["by"] == "lingua" and note["lid176"] == "no" and note["lingua"] == "nn"
    # a confident lid.176 label is not second-guessed and gets no annotation
    assert second["en"]["language"] == "en" and second["en"]["annotations"] is None
    default, _ = run(rows[:1], min_score=0.0)  # lingua's default (high-accuracy) mode agrees
    assert default.column("language").to_pylist() == ["nn"]


def test_fitted_table_is_read_and_a_label_lingua_hurts_is_not_sent(tmp_path):
    """`id`: on the tune half lingua turned more Indonesian paragraphs into Malay than it fixed
    Malay ones, so the fitted table leaves lid.176's `id` alone; a table that does send it shows
    the stage reads the table (lingua then calls the Malay text Malay)."""
    rules = load_rules()
    assert "id" not in rules and {"no", "nl", "en", "ja"} <= set(rules)
    assert all(0 < r["below"] <= 1.01 and 0 <= r["min_confidence"] <= 1 for r in rules.values())
    assert json.loads(RULES_PATH.read_text())["measured"]["half"].startswith("tune")
    stage = LanguageId(LanguageId.Config(second_opinion_low_accuracy=True))
    stage.setup()
    assert stage.rules == rules
    rows = [{"id": "ms", "text": MALAY}]
    alone, _ = run(rows, second_opinion=False, min_score=0.0)
    assert alone.column("language").to_pylist() == ["id"]  # lid.176 takes this Malay for Indonesian
    shipped, _ = run_fast(rows, min_score=0.0)
    assert shipped.column("language").to_pylist() == ["id"] and shipped.column("annotations").to_pylist() == [None]
    table = tmp_path / "rules.json"
    table.write_text(json.dumps({"rules": {"id": {"below": 1.01, "min_confidence": 0.0}}}))
    sent, _ = run_fast(rows, min_score=0.0, second_opinion_rules=str(table))
    assert sent.column("language").to_pylist() == ["ms"]
    table.write_text(json.dumps({"rules": {"id": {"below": 1.01, "min_confidence": 1.01}}}))
    strict, _ = run_fast(rows, min_score=0.0, second_opinion_rules=str(table))
    assert strict.column("language").to_pylist() == ["id"]  # asked, but its confidence is too low
    assert json.loads(strict.column("annotations").to_pylist()[0])["langid_second"]["lingua"] == "ms"


def test_candidates_only_where_lingua_can_judge():
    second = SecondOpinion()
    # a group member pulls in its whole group; labels lingua lacks (lmo) are left out
    assert second.candidates(["no", "lmo"], "tekst") == ("da", "nn", "no")
    assert second.candidates(["sh", "sl"], "текст") == ("bs", "hr", "sl", "sr")
    # lid.176's own choice unknown to lingua: lingua could only replace it with a wrong label
    assert second.candidates(["gl", "pt", "es"], "texto") == ()
    # lingua's Serbian is Cyrillic-only: Latin Serbian stays lid.176's, Latin candidates drop sr
    assert second.candidates(["sr", "hr"], "svi ljudi") == ()
    assert second.candidates(["hr", "sr"], "svi ljudi") == ("bs", "hr")
    assert second.candidates(["sr", "hr"], "сви људи") == ("bs", "hr", "sr")
    assert second.candidates(["en"], "text") == ()  # one candidate: nothing to choose


def test_outputs_are_deterministic():
    rows = [{"id": "ms", "text": MALAY}, {"id": "nn", "text": NYNORSK}]
    once, _ = run_fast(rows, min_score=0.0)
    again, _ = run_fast(rows, min_score=0.0)
    assert once.equals(again)


def test_normalisation_composes_accents_and_lowercases():
    text = "Der Ausschuss hat seinen jährlichen Bericht über die Wasserqualität veröffentlicht."
    decomposed = unicodedata.normalize("NFD", text).upper()
    kept, _ = run([{"id": "nfc", "text": text}, {"id": "nfd-upper", "text": decomposed}], second_opinion=False)
    got = {r["id"]: (r["language"], r["language_score"]) for r in kept.to_pylist()}
    assert got["nfc"] == got["nfd-upper"] and got["nfc"][0] == "de"
    raw, _ = run([{"id": "nfd-upper", "text": decomposed}], second_opinion=False, unicode_form="none", lowercase=False, min_score=0.0)
    assert raw.column("language_score").to_pylist()[0] != got["nfd-upper"][1]  # the options do act


def test_label_mapping_traps():
    labels = {"sq", "als", "ms", "id", "no", "nn", "sh", "en", "eml", "zh", "fa"}
    assert lid_label_for("als", "als", labels) == "sq"  # ISO 639-3 als is Tosk Albanian, not Alemannic
    assert lid_label_for("gsw", "gsw", labels) == "als"
    assert lid_label_for("zlm", "zlm-Latn", labels) == "ms"
    assert lid_label_for("nob", "nb", labels) == "no" and lid_label_for("nno", "nn", labels) == "nn"
    assert lid_label_for("cnr", "cnr", labels) == "sh"
    assert lid_label_for("rgn", "rgn", labels) == "eml"
    assert lid_label_for("cmn", "zh-Hant", labels) == "zh" and lid_label_for("prs", "fa-AF", labels) == "fa"
    assert lid_label_for("eng", "en", labels) == "en"
    assert lid_label_for("hau", "ha", labels) is None  # lid.176 has no Hausa
    assert unmodelled_script("ms", "كراجاءن نݢري") and not unmodelled_script("ms", MALAY)
    assert unmodelled_script("bs", "Сва људска бића") and not unmodelled_script("sr", "Сва људска бића")


CONFUSABLE = {"zlm": "ms", "ind": "id", "nno": "nn", "nob": "no", "dan": "da", "yor": "yo", "som": "so",
              "bos": "bs", "hrv": "hr", "srp": "sr"}


@pytest.fixture
def udhr_sample(shared_data):
    rows = []
    for line in open(shared_data / "langid" / "udhr-paragraphs.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        label = CONFUSABLE.get(rec["iso6393"])
        if label and rec["paragraphs"] and not unmodelled_script(label, " ".join(rec["paragraphs"])):
            rows += [{"id": f"{rec['code']}-{i}", "text": p, "expect": label}
                     for i, p in enumerate(rec["paragraphs"][:12])]
    if len(rows) < 80:
        pytest.skip(f"UDHR file layout not as expected ({len(rows)} paragraphs of the confusable languages)")
    return rows


def test_udhr_confusable_languages_improve(udhr_sample):
    """On the languages the second opinion is for, the mean per-language accuracy rises, no
    language loses, and every label stays a lid.176 code (dirty-words lists and filters are keyed
    by them)."""
    docs = [{"id": r["id"], "text": r["text"]} for r in udhr_sample]
    expect = {r["id"]: r["expect"] for r in udhr_sample}

    def accuracy(table):
        hits = defaultdict(list)
        for rid, lang in zip(table.column("id").to_pylist(), table.column("language").to_pylist()):
            hits[expect[rid]].append(lang == expect[rid])
        return {lang: sum(v) / len(v) for lang, v in hits.items()}

    def mean_accuracy(table):
        return sum(accuracy(table).values()) / len(accuracy(table))

    alone, _ = run(docs, min_score=0.0, second_opinion=False)
    both, _ = run_fast(docs, min_score=0.0)
    assert alone.num_rows == both.num_rows == len(docs)
    assert mean_accuracy(both) >= mean_accuracy(alone) + 0.05, (mean_accuracy(alone), mean_accuracy(both))
    lost = {k: (v, accuracy(both)[k]) for k, v in accuracy(alone).items() if accuracy(both)[k] < v}
    assert not lost, lost
    stage = LanguageId(LanguageId.Config())
    stage.setup()
    lid_labels = {lab.removeprefix("__label__") for lab in stage.model.get_labels()}
    assert set(both.column("language").to_pylist()) <= lid_labels  # e.g. Bokmål is `no`, never `nb`
