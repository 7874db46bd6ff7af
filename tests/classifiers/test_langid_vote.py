"""The CLD2 + py3langid vote over the langid stage's label: code mapping, who wins, the fitted
pairs (a pair that makes a language worse is never allowed), and the stage on UDHR paragraphs
of languages lid.176.ftz folds into a neighbour."""
import json

import pytest

from bench.langid_vote_fit import fit_pairs, fit_precision
from classifiers.langid import LanguageId
from classifiers.langid_vote import BASE, TABLE_PATH, Voters, decide, load_table, to_lid, winner
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local


def test_voter_codes_become_lid176_labels():
    assert [to_lid(c) for c in ("iw", "jw", "zh-Hant", "nb", "sr-ME", "de")] == ["he", "jv", "zh", "no", "sh", "de"]
    assert [to_lid(c) for c in ("un", "xx-Latn", "zxx", "und", "", None, "zh-Latn")] == [None] * 7


def test_most_precise_claim_wins_and_only_fitted_pairs_switch():
    precision = {BASE: {"it": 0.6, "fr": 0.9}, "cld2": {"co": 0.97, "fr": 0.9}, "py3langid": {"it": 0.9}}
    votes = {BASE: "it", "cld2": "co", "py3langid": "it"}
    assert winner(votes, precision) == ("co", 0.97)
    assert decide(votes, {"precision": precision, "pairs": {"it>co": {}}}) == ("co", 0.97)
    assert decide(votes, {"precision": precision, "pairs": {"fr>co": {}}}) is None  # pair not fitted
    # a tie keeps the stage's own label; unknown claims weigh nothing
    assert winner({BASE: "fr", "cld2": "fr", "py3langid": "xx"}, precision) == ("fr", 0.9)
    assert winner({BASE: None, "cld2": None}, precision) is None


def test_a_pair_that_makes_any_language_worse_is_not_allowed():
    def rec(truth, base, cld2, py3):
        return {"truth": truth, "votes": {BASE: base, "cld2": cld2, "py3langid": py3}}

    # cld2's `co` is always right: it -> co fixes three Corsican paragraphs and breaks nothing
    records = [rec("co", "it", "co", "it")] * 3 + [rec("it", "it", "it", "it")] * 5
    assert "it>co" in fit_pairs(records, fit_precision(records))
    # ... unless switching also turns one Italian paragraph into Corsican: Italian would lose it
    hurt = records + [rec("it", "it", "co", "co")]
    precision = fit_precision(hurt)
    assert winner(hurt[-1]["votes"], precision)[0] == "co"
    assert "it>co" not in fit_pairs(hurt, precision)
    # one fixed paragraph is not enough for a rule
    assert fit_pairs(records[:1] + records[3:], fit_precision(records[:1] + records[3:])) == {}


def test_shipped_table_was_fitted_on_the_tune_half():
    table = load_table()
    measured = json.loads(TABLE_PATH.read_text())["measured"]
    assert measured["half"].startswith("tune") and measured["voters"] == ["cld2", "py3langid"]
    assert measured["mean_accuracy_with_vote"] > measured["mean_accuracy_without_vote"]
    assert all(min(p["tune_fixed"].values()) > 0 for p in table["pairs"].values())
    assert {"it>co", "fr>wa"} <= set(table["pairs"])


def test_voters_read_raw_text_and_survive_odd_input():
    voters = Voters()
    assert voters.labels("Alle Menschen sind frei und gleich an Würde und Rechten geboren.") == \
        {"cld2": "de", "py3langid": "de"}
    voters.labels("\ud800 a lone surrogate, \x00 a control character")  # pycld2 raises on these: caught
    with pytest.raises(ValueError):
        Voters(["cld3"])


def udhr(shared_data, iso6393: str, n: int = 3) -> list[str]:
    for line in open(shared_data / "langid" / "udhr-paragraphs.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        if rec["iso6393"] == iso6393 and rec.get("paragraphs"):
            return rec["paragraphs"][3:3 + n]
    pytest.skip(f"no {iso6393} version in the UDHR file")


def test_stage_vote_names_languages_lid176_folds_away(shared_data):
    rows = [{"id": f"{code}{k}", "text": text} for code in ("cos", "wln") for k, text in enumerate(udhr(shared_data, code))]
    rows.append({"id": "en", "text": "The committee published its annual report on water quality in the river basin."})
    docs = documents_from_rows(rows)
    alone, _ = run_map_stage_local(LanguageId(LanguageId.Config(min_score=0.0, vote=[], second_opinion_low_accuracy=True)), docs)
    voted, _ = run_map_stage_local(LanguageId(LanguageId.Config(min_score=0.0, second_opinion_low_accuracy=True)), docs)
    before = {r["id"]: r["language"] for r in alone.to_pylist()}
    after = {r["id"]: r for r in voted.to_pylist()}
    assert "co" not in {before[f"cos{k}"] for k in range(3)}  # lid.176 alone: Italian
    assert [after[f"cos{k}"]["language"] for k in range(3)] == ["co"] * 3
    # lid.176 says fr or ca for Walloon; only fr -> wa was fitted (ca -> wa fixed too few)
    assert [before[f"wln{k}"] for k in range(3)].count("wa") == 0
    assert [after[f"wln{k}"]["language"] for k in range(3)].count("wa") >= 2
    note = json.loads(after["wln0"]["annotations"])["langid_second"]
    assert note["by"] == "vote" and note["vote"][BASE] == before["wln0"] and note["vote"]["py3langid"] == "wa"
    assert 0.3 <= after["wln0"]["language_score"] <= 1.0  # the claim's tune-half precision
    assert after["en"]["language"] == "en" and after["en"]["annotations"] is None


def test_skipping_voters_that_cannot_win_changes_no_decision(shared_data):
    """Voters.votes stops asking once no remaining voter could overrule the stage's label; on
    UDHR paragraphs of every language it must decide exactly as asking them all does."""
    table, voters = load_table(), Voters()
    stage = LanguageId(LanguageId.Config(min_score=0.0, vote=[], second_opinion=False))
    stage.setup()
    texts = []
    for line in open(shared_data / "langid" / "udhr-paragraphs.jsonl", encoding="utf-8"):
        texts += json.loads(line).get("paragraphs", [])[5:7]
    bases = stage.predict(texts)[0]
    skipped = 0
    for text, base in zip(texts, bases):
        if base is None:
            continue
        full = {BASE: base, **voters.labels(text)}
        lazy = voters.votes(text, base, table)
        skipped += len(lazy) < len(full)
        assert decide(lazy, table) == decide(full, table), (base, full, lazy)
    assert skipped > len(texts) / 4  # the shortcut does fire
