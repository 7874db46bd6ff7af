import gzip
import json
import logging

import pytest
from pydantic import ValidationError

from filters.c4_lines import C4LineFilter
from filters.c4_quality import C4Quality, C4QualityConfig, c4_lines, c4_reason
from filters.c4_sentences import count_sentences
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import check_golden

SENTENCES = [
    "The committee met on Tuesday to review the proposal for a new public library.",
    "Members agreed that the building should have a reading room with large windows.",
    "A small cafe and space for local groups to meet were also requested.",
    "The final plan will be presented to residents at an open meeting next month.",
    "Comments can be sent by email until the end of June.",
]


def decide(rows, **config):
    stage = C4Quality(C4QualityConfig(**config))
    stage.setup()
    return stage.decide(documents_from_rows(rows))


def test_golden(regen_golden):
    check_golden(C4Quality(), "c4-quality", regen_golden)


def test_golden_lines(regen_golden):
    check_golden(C4LineFilter(), "c4-lines", regen_golden)


def test_registered_under_its_name():
    from pipeline.registry import stage_class

    assert stage_class("c4-quality") is C4Quality
    assert stage_class("c4-lines") is C4LineFilter


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        C4QualityConfig(min_sentences=3)


# Sentence counts as spaCy's sentencizer makes them on its English tokens, worked out by hand:
# a sentence ends at a "." "!" "?" token followed by a non-punctuation token.
@pytest.mark.parametrize(
    "text, n",
    [
        ("One two three.", 1),
        ("One. Two! Three? Four", 4),
        ("Hello!!! World? Yes.", 3),  # "!" "!" "!" then a word: one boundary
        ('He said "stop." Then left.', 2),  # the quote after "." is punctuation: no boundary before it
        ("Mr. Smith met Dr. Jones at St. Paul's.", 1),  # spaCy's abbreviations keep their "."
        ("It is 5. $3 more.", 2),  # "$" is a symbol, not punctuation: starts a sentence
        ("See e.g. the U.S. and a. b. c.", 1),  # dotted abbreviations and lone letters are one token
        ("end.Next one.", 2),  # "." between a lower- and an upper-case letter is split off
        ("What?no way.", 1),  # "?" inside a word is not split
        ("1. Introduction to it.", 2),  # "." after a number is split off
        ("The .gov site is official.", 1),  # a "." that starts a word stays on it
        ("", 0),
    ],
)
def test_sentence_counts_follow_spacy(text, n):
    assert count_sentences(text) == n


def test_line_rules_follow_datatrove_order():
    c = C4QualityConfig()
    text = "\n".join(
        [
            "  Menu  ",  # no end punctuation
            "Two words.",  # too few words
            "Enable JavaScript to see this site.",  # javascript
            "We use cookies on this website.",  # policy
            "Wait for it, there is more...",  # ellipsis
            "A reference at the end.[3]",  # citation removed, kept
            "  A plain sentence stays here.  ",  # stripped, kept
        ]
    )
    assert c4_lines(text, c).kept == ["A reference at the end.", "A plain sentence stays here."]
    relaxed = C4QualityConfig(filter_javascript=False, filter_policy=False, min_words_per_line=None)
    assert c4_lines(text, relaxed).kept == [
        "Two words.",
        "Enable JavaScript to see this site.",
        "We use cookies on this website.",
        "A reference at the end.",
        "A plain sentence stays here.",
    ]


def test_page_rules_see_only_candidate_lines():
    good = "\n".join(SENTENCES)
    assert c4_reason(good + "\nfunction f() {", C4QualityConfig()) is None
    assert c4_reason(good + "\nSet x = {1, 2} here.", C4QualityConfig(filter_curly_bracket=True)) == "c4-curly-bracket"  # C4's rule
    assert c4_reason(good + "\nSet x = {1, 2} here.", C4QualityConfig(filter_curly_bracket=False)) is None
    assert c4_reason("Lorem ipsum dolor sit amet.\n" + good, C4QualityConfig()) == "c4-lorem-ipsum"


def test_sentence_minimum_is_inclusive_and_configurable():
    five, four = "\n".join(SENTENCES), "\n".join(SENTENCES[:4])
    assert decide([{"id": "a", "text": five}, {"id": "b", "text": four}]) == [None, "c4-too-few-sentences"]
    assert decide([{"id": "b", "text": four}], min_num_sentences=4) == [None]
    assert decide([{"id": "c", "text": "Short."}], min_num_sentences=None) == [None]
    # sentences on fewer lines are counted: 5 sentences on 2 lines
    two_lines = " ".join(SENTENCES[:3]) + "\n" + " ".join(SENTENCES[3:])
    assert decide([{"id": "d", "text": two_lines}]) == [None]


def test_terminal_punctuation_rule_can_be_switched_off():
    # FineWeb's setting: lines without end punctuation count
    text = "\n".join(s.rstrip(".") for s in SENTENCES)
    assert decide([{"id": "a", "text": text}]) == ["c4-too-few-sentences"]
    assert decide([{"id": "a", "text": text}], filter_no_terminal_punct=False) == [None]


def test_other_languages_pass_untouched_unless_configured():
    rows = [
        {"id": "de", "text": "Kurzer Text.", "language": "de"},
        {"id": "en", "text": "Short text.", "language": "en"},
        {"id": "none", "text": "Short text.", "language": None},
    ]
    assert decide(rows) == [None, "c4-too-few-sentences", "c4-too-few-sentences"]
    assert decide(rows, languages=None) == ["c4-too-few-sentences"] * 3


def test_missing_text_is_a_counted_drop(caplog):
    with caplog.at_level(logging.WARNING):
        rows = [{"id": "n", "text": None}, {"id": "p", "text": "\n".join(SENTENCES)}]
        kept, dropped = run_map_stage_local(C4Quality(), documents_from_rows(rows))
    assert kept.column("id").to_pylist() == ["p"]
    assert dropped.column("reason").to_pylist() == ["no-text"]
    assert dropped.column("stage").to_pylist() == ["c4-quality"]
    assert "no text" in caplog.text


def test_c4_lines_rewrites_kept_pages_only():
    page = "Menu\n" + "\n".join(SENTENCES) + "\nWe use cookies here, sorry."
    rows = [{"id": "k", "text": page}, {"id": "d", "text": "Menu\nShort one here."}]
    kept, dropped = run_map_stage_local(C4LineFilter(), documents_from_rows(rows))
    assert kept.column("text").to_pylist() == ["\n".join(SENTENCES)]
    # the dropped record keeps the text that was judged
    assert dropped.column("text").to_pylist() == ["Menu\nShort one here."]
    assert dropped.column("stage").to_pylist() == ["c4-lines"]
    # c4-quality and c4-lines make the same decisions
    assert decide(rows) == [None, "c4-too-few-sentences"]


def test_c4_lines_with_no_line_left_is_a_drop():
    stage = C4LineFilter(C4QualityConfig(min_num_sentences=None))
    kept, dropped = run_map_stage_local(stage, documents_from_rows([{"id": "x", "text": "Menu\nHome"}]))
    assert kept.num_rows == 0 and dropped.column("reason").to_pylist() == ["c4-no-lines-left"]


def test_agrees_with_datatrove_on_real_documents(shared_data):
    """The acceptance bar of bench/heuristic_filters.py (>= 99% identical decisions), on a sample,
    and the text datatrove keeps equals what c4-lines writes."""
    pytest.importorskip("spacy", reason="datatrove's sentence splitter needs spaCy (bench dependency)")
    from datatrove.data import Document
    from datatrove.pipeline.filters.c4_filters import C4QualityFilter

    with gzip.open(shared_data / "topics" / "weborganizer-topics.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for _, line in zip(range(300), f)]
    theirs, their_texts = [], []
    f = C4QualityFilter()
    for i, t in enumerate(texts):
        doc = Document(text=t, id=str(i))
        r = f.filter(doc)
        theirs.append(None if r is True else "c4-" + r[1].replace("_", "-"))
        their_texts.append(doc.text)
    ours = decide([{"id": str(i), "text": t} for i, t in enumerate(texts)], languages=None)
    same = sum((a is None) == (b is None) for a, b in zip(theirs, ours))
    assert same / len(texts) >= 0.99
    kept, _ = run_map_stage_local(C4LineFilter(C4QualityConfig(languages=None)),
                                  documents_from_rows({"id": str(i), "text": t} for i, t in enumerate(texts)))
    by_id = dict(zip(kept.column("id").to_pylist(), kept.column("text").to_pylist()))
    both = [i for i, (a, b) in enumerate(zip(theirs, ours)) if a is None and b is None]
    assert both and all(by_id[str(i)] == their_texts[i] for i in both)
