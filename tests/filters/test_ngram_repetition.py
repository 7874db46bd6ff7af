import gzip
import json
import logging
import random

import pytest
from pydantic import ValidationError

from filters.ngram_repetition import (
    NgramRepetition,
    NgramRepetitionConfig,
    _Ngrams,
    dup_ngram_chars,
    repetition_reason,
    top_ngram_chars,
)
from filters.ngram_tokens import split_words
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import check_golden

# datatrove's own measures (pure Python, no spaCy): ours must equal them on the same tokens
from datatrove.pipeline.filters.gopher_repetition_filter import (  # noqa: E402
    find_all_duplicate,
    find_top_duplicate,
    get_n_grams,
)

CONFIG = NgramRepetitionConfig(languages=None)


def reference(tokens, n):
    grams = get_n_grams(tokens, n)
    return (find_top_duplicate(grams) if grams else 0), find_all_duplicate(tokens, n)


def ours(tokens, n):
    g = _Ngrams(tokens)
    return (top_ngram_chars(g, n) if len(tokens) >= n else 0), dup_ngram_chars(g, n)


def test_golden(regen_golden):
    check_golden(NgramRepetition(), "ngram-repetition", regen_golden)


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        NgramRepetitionConfig(top_ngrams={2: 0.2})


@pytest.mark.parametrize("seed", range(30))
def test_measures_equal_datatrove_on_random_repetitive_sequences(seed):
    # small alphabets make long repeats, overlapping repeats and ties for the top n-gram, the cases
    # where the greedy jump-ahead scan and the tie order matter
    rng = random.Random(seed)
    alphabet = [w * rng.randint(1, 3) for w in "abcdefg"[: rng.randint(1, 7)]]
    tokens = [rng.choice(alphabet) for _ in range(rng.randint(0, 120))]
    if seed % 3 == 0 and tokens:  # a pasted block: long exact repeats
        tokens = tokens[:20] * 3 + tokens
    for n in range(2, 11):
        assert ours(tokens, n) == reference(tokens, n), (seed, n)


def test_measures_equal_datatrove_on_real_documents(shared_data):
    with gzip.open(shared_data / "text" / "cc-main-2019-30-wet.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for line in f][:120]
    for text in texts:
        tokens = split_words(text)
        for n in (2, 3, 4, 5, 7, 10):
            assert ours(tokens, n) == reference(tokens, n)


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Hello, world... It's 10:17.", ["Hello", ",", "world", "...", "It", "'s", "10:17", "."]),
        ("See https://example.com/a, St. Gallen", ["See", "https://example.com/a", ",", "St.", "Gallen"]),
        ("200GB of _x </div>", ["200", "GB", "of", "_", "x", "<", "/div", ">"]),
    ],
)
def test_tokens_follow_spacy(text, tokens):
    assert split_words(text) == tokens


def test_each_rule_and_its_reason():
    para = "The committee met on Tuesday to review the proposal for a new public library in the town."
    other = "Members agreed that the building should have a reading room with large windows and a cafe."
    assert repetition_reason(f"{para}\n\n{other}", CONFIG) is None
    # 2 of 4 paragraphs are repeats: 0.5 > 0.3
    assert repetition_reason(f"{para}\n\n{other}\n\n{para}\n\n{other}", CONFIG) == "dup-para-frac"
    # one line repeated in a 4-line text split by single newlines only: lines, not paragraphs
    assert repetition_reason(f"{para}\n{other}\n{para}\n{other}", CONFIG) == "dup-line-frac"
    # a phrase repeated inside one line: top 2-gram "buy now" 7 chars x 20 / 200ish chars
    assert repetition_reason("buy now " * 20 + "please", CONFIG) == "top-2-gram"
    assert repetition_reason("", CONFIG) == "empty-text"


def test_duplicated_ngrams_without_repeated_lines():
    # a 12-word sentence said twice inside one paragraph: no line or top-n-gram rule fires, the
    # duplicated 5-gram coverage (about half the text) does
    s = "Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima"
    text = f"{s} mike november, and then {s} oscar papa quebec romeo sierra tango uniform victor whiskey"
    c = NgramRepetitionConfig(languages=None, top_n_grams={})
    assert repetition_reason(text, c) == "dup-5-gram"
    assert repetition_reason(text, NgramRepetitionConfig(languages=None, top_n_grams={}, dup_n_grams={})) is None


def test_thresholds_are_strict_bounds():
    # 10 lines, 3 repeats: 0.3 is not more than 0.3
    lines = [f"line number {w} of the text" for w in "abcdefg"] + ["line number a of the text"] * 3
    c = NgramRepetitionConfig(languages=None, dup_line_char_frac=None, top_n_grams={}, dup_n_grams={})
    assert repetition_reason("\n".join(lines), c) is None
    c = NgramRepetitionConfig(languages=None, dup_line_frac=0.29, dup_line_char_frac=None, top_n_grams={}, dup_n_grams={})
    assert repetition_reason("\n".join(lines), c) == "dup-line-frac"


def test_other_languages_pass_and_missing_text_is_counted(caplog):
    rows = [
        {"id": "de", "text": "Hallo Welt " * 30, "language": "de"},
        {"id": "en", "text": "hello world " * 30, "language": "en"},
        {"id": "none", "text": None, "language": "en"},
    ]
    with caplog.at_level(logging.WARNING):
        kept, dropped = run_map_stage_local(NgramRepetition(NgramRepetitionConfig(languages=["en"])), documents_from_rows(rows))
    assert kept.column("id").to_pylist() == ["de"]
    assert dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist())) == {
        "en": "top-2-gram",
        "none": "no-text",
    }
    assert "no text" in caplog.text


def test_agrees_with_datatrove_on_real_documents(shared_data):
    """The acceptance bar of bench/heuristic_filters.py (>= 99% identical decisions), on a sample."""
    pytest.importorskip("spacy", reason="datatrove's word tokenizer needs spaCy (bench dependency)")
    from bench.heuristic_filters import pair, read_texts, run_ours, run_theirs

    texts = read_texts(shared_data / "text" / "cc-main-2019-30-wet.jsonl.gz", 300)
    theirs, _ = run_theirs(pair("GopherRepetition"), texts)
    mine, _ = run_ours(pair("GopherRepetition"), texts, repeats=1)
    assert sum((a is None) == (b is None) for a, b in zip(theirs, mine)) / len(texts) >= 0.99
