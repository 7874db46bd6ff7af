import logging

import pytest
from pydantic import ValidationError

from filters.gopher_quality import GopherQuality, GopherQualityConfig, gopher_reason
from filters.word_stats import text_stats
from pipeline.registry import stage_class
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import check_golden

PARAGRAPH = (
    "The committee met on Tuesday to review the proposal for a new public library in the town centre. "
    "Members agreed that the building should have a reading room with large windows, a small cafe and "
    "space for local groups to meet."
)


def decide(rows, **config):
    stage = GopherQuality(GopherQualityConfig(**config))
    stage.setup()
    return stage.decide(documents_from_rows(rows))


def test_golden(regen_golden):
    check_golden(GopherQuality(), "gopher-quality", regen_golden)


def test_registered_under_its_name():
    assert stage_class("gopher-quality") is GopherQuality


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        GopherQualityConfig(min_words=10)


# Token counts as spaCy's English tokenizer makes them (datatrove's word splitter), worked out by
# hand from its rules: punctuation split off, "..." one token, clitics their own token, "10:17",
# "1,000", "U.S.", emoticons and URLs whole, hyphens and dashes before letters split.
@pytest.mark.parametrize(
    "text, tokens, words, alpha",
    [
        ("Hello, world... It's 10:17 and well-known.", 12, 8, 7),  # Hello , world ... It 's 10:17 and well - known .
        ("U.S. sales rose 1,000 units (5%).", 10, 6, 4),  # U.S. sales rose 1,000 units ( 5 % ) .
        ("See https://example.com/a/b, then stop.", 6, 4, 4),  # See URL , then stop .
        ("a_b ___ _x", 6, 2, 2),  # a_b _ _ _ _ x
        ("200GB of RAM -v C++ don't", 8, 8, 7),  # 200 GB of RAM -v C++ do n't
        ("so good :-) and <3 x ///", 7, 5, 4),  # so good :-) and <3 x ///  (emoticons: one token)
        ("word–word 2010–2015", 4, 3, 2),  # word – word 2010–2015
    ],
)
def test_token_counts_follow_spacy(text, tokens, words, alpha):
    s = text_stats(text)
    assert (s.n_tokens, s.n_words, s.n_alpha_words) == (tokens, words, alpha)


def test_mean_word_length_ignores_punctuation():
    s = text_stats("aaa, bbbbb. c!")
    assert s.n_words == 3 and s.mean_word_length == pytest.approx(3.0)


def test_lines_bullets_and_ellipses_are_counted_per_line():
    s = text_stats("- one\n  • two\nthree...\nfour…\n\nfive # six")
    assert (s.n_lines, s.n_bullet_lines, s.n_ellipsis_lines) == (6, 2, 2)
    assert (s.n_ellipses, s.n_hashes) == (2, 1)


def test_each_threshold_is_a_strict_bound():
    # 50 words: kept at min_doc_words=50, dropped at 51
    text = " ".join(["the cat and the dog"] * 10) + "."
    assert decide([{"id": "a", "text": text}]) == [None]
    assert decide([{"id": "a", "text": text}], min_doc_words=51) == ["gopher-short-doc"]
    assert decide([{"id": "a", "text": text}], max_doc_words=49) == ["gopher-long-doc"]
    # 10 lines, 9 bullets: 0.9 is not more than 0.9
    lines = ["- the cat and the dog sat"] * 9 + ["the cat and the dog sat upon the mat"]
    assert decide([{"id": "b", "text": "\n".join(lines)}]) == [None]
    assert decide([{"id": "b", "text": "\n".join(lines)}], max_bullet_lines_ratio=0.89) == ["gopher-too-many-bullets"]


def test_long_doc():
    text = " ".join(["the quick brown fox jumps over the lazy dog and"] * 10_001)  # 100,010 words
    assert decide([{"id": "x", "text": text}]) == ["gopher-long-doc"]
    assert decide([{"id": "x", "text": text}], max_doc_words=None) == [None]


def test_rules_switched_off_with_none():
    # 10 "#" in 92 tokens: 0.109
    text = "#news " * 10 + " ".join(["the big cat and the small dog sat together"] * 8)
    assert decide([{"id": "h", "text": text}]) == ["gopher-too-many-hashes"]
    assert decide([{"id": "h", "text": text}], max_symbol_word_ratio=None) == [None]


def test_first_broken_rule_is_the_reason():
    s = text_stats("x y")
    assert gopher_reason(s, GopherQualityConfig()) == "gopher-short-doc"
    assert gopher_reason(s, GopherQualityConfig(min_doc_words=None)) == "gopher-below-avg-word-length"


def test_every_language_is_judged_unless_scoped():
    rows = [
        {"id": "de", "text": "Kurzer Text.", "language": "de"},
        {"id": "en", "text": "Short text.", "language": "en"},
        {"id": "none", "text": "Short text.", "language": None},
    ]
    assert decide(rows) == ["gopher-short-doc"] * 3  # default: every language, each with its own rules
    assert decide(rows, languages=["en"]) == [None, "gopher-short-doc", "gopher-short-doc"]
    assert decide(rows, languages=["de", "en"]) == ["gopher-short-doc"] * 3


def test_missing_text_is_a_counted_drop(caplog):
    stage = GopherQuality()
    with caplog.at_level(logging.WARNING):
        rows = [{"id": "n", "text": None}, {"id": "p", "text": PARAGRAPH * 2}]
        kept, dropped = run_map_stage_local(stage, documents_from_rows(rows))
    assert kept.column("id").to_pylist() == ["p"]
    assert dropped.column("reason").to_pylist() == ["no-text"]
    assert dropped.column("stage").to_pylist() == ["gopher-quality"]
    assert "no text" in caplog.text


def test_stop_words_are_case_sensitive_like_datatrove():
    # "The" and "And" do not count: datatrove matches the exact token (measured on 9.4k real
    # documents, matching case-insensitively would keep 5 more, mostly non-English pages)
    s = text_stats("The cat. And the dog.")
    assert s.stop_words == {"the"}


def test_agrees_with_datatrove_on_real_documents(shared_data):
    """The acceptance bar of bench/heuristic_filters.py (>= 99% identical decisions), on a sample."""
    pytest.importorskip("spacy", reason="datatrove's word tokenizer needs spaCy (bench dependency)")
    from bench.heuristic_filters import pair, read_texts, run_ours, run_theirs

    texts = read_texts(shared_data / "text" / "cc-main-2019-30-wet.jsonl.gz", 300)
    theirs, _ = run_theirs(pair("GopherQuality"), texts)
    ours, _ = run_ours(pair("GopherQuality"), texts, repeats=1)
    same = sum((a is None) == (b is None) for a, b in zip(theirs, ours))
    assert same / len(texts) >= 0.99
    assert sum(a == b for a, b in zip(theirs, ours)) / len(texts) >= 0.98


def test_alpha_ratio_over_words_ignores_punctuation_tokens():
    # prose dense with punctuation: every word has letters, but commas and quotes are many tokens
    text = " ".join(['"Yes," she said, "the band — all of them — will tour in 2020, 2021, and 2022."'] * 30)
    from filters.word_stats import text_stats

    s = text_stats(text)
    assert s.n_alpha_words / s.n_tokens < 0.8 <= s.n_alpha_words / s.n_words
    assert gopher_reason(s, GopherQualityConfig(alpha_ratio_over="tokens")) == "gopher-below-alpha-threshold"  # datatrove's
    assert gopher_reason(s, GopherQualityConfig()) is None  # ours: words
