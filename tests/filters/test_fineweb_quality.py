import gzip
import json
import logging

import pytest
from pydantic import ValidationError

from filters.fineweb_quality import FineWebQuality, FineWebQualityConfig
from pipeline.schema import documents_from_rows
from pipeline.stage import run_map_stage_local
from tests.golden import check_golden

PARAGRAPHS = [
    "The committee met on Tuesday to review the proposal for a new public library in the town centre.",
    "Members agreed that the building should have a reading room with large windows and a small cafe.",
    "The final plan will be presented to residents at an open meeting next month in the town hall.",
]


def decide(texts, **config):
    stage = FineWebQuality(FineWebQualityConfig(**config))
    stage.setup()
    return stage.decide(documents_from_rows({"id": str(i), "text": t} for i, t in enumerate(texts)))


def test_golden(regen_golden):
    check_golden(FineWebQuality(), "fineweb-quality", regen_golden)


def test_registered_under_its_name():
    from pipeline.registry import stage_class

    assert stage_class("fineweb-quality") is FineWebQuality


def test_config_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        FineWebQualityConfig(short_line_ratio=0.5)


def test_line_punct_ratio_bound_and_exclude_zero():
    # 1 of 8 long lines ends in "." (0.125): kept; none: dropped unless zero is excluded
    lines = [f"A long catalogue line number {i} without any final mark" for i in range(8)]
    assert decide(["\n".join(lines[:-1] + [lines[-1] + "."])]) == [None]
    assert decide(["\n".join(lines)]) == ["fineweb-line-punct-ratio"]
    assert decide(["\n".join(lines)], line_punct_exclude_zero=True) == [None]
    assert decide(["\n".join(lines)], line_punct_thr=None) == [None]


def test_stop_chars_are_configurable():
    text = "\n".join(p[:-1] + ";" for p in PARAGRAPHS)
    assert decide([text]) == ["fineweb-line-punct-ratio"]
    assert decide([text], stop_chars=(";",)) == [None]
    assert decide([text], stop_chars=("e;", "x")) == [None]  # multi-character endings work too


def test_trailing_space_hides_the_punctuation_like_datatrove():
    # datatrove tests line.endswith() on the unstripped line
    assert decide(["\n".join(p + " " for p in PARAGRAPHS)]) == ["fineweb-line-punct-ratio"]


def test_duplicate_line_characters():
    text = "\n".join(PARAGRAPHS + [PARAGRAPHS[0]])
    assert decide([text]) == ["fineweb-char-dup-ratio"]
    assert decide([text], char_duplicates_ratio=0.5) == [None]
    assert decide(["\n".join(PARAGRAPHS + ["\n\n"])]) == [None]  # blank lines are not duplicates


def test_list_ratio_uses_spacy_like_word_counts():
    # 4 lines of "word word ." = 12 tokens (the "." is a token): 3 newlines (0.25) kept, 5 (0.42) not
    lines = ["Extraordinary circumstances arose.", "Incomprehensible regulations apply.",
             "Unbelievable achievements everywhere.", "Uncharacteristically straightforward explanations."]
    assert decide(["\n".join(lines)]) == [None]
    assert decide(["\n".join(lines) + "\n\n"]) == ["fineweb-list-ratio"]
    assert decide(["\n".join(lines) + "\n\n"], new_line_ratio=None) == [None]


def test_other_languages_pass_untouched_and_missing_text_is_counted(caplog):
    rows = [{"id": "de", "text": "Startseite", "language": "de"}, {"id": "n", "text": None, "language": "en"}]
    with caplog.at_level(logging.WARNING):
        kept, dropped = run_map_stage_local(FineWebQuality(), documents_from_rows(rows))
    assert kept.column("id").to_pylist() == ["de"]
    assert dropped.column("reason").to_pylist() == ["no-text"]
    assert dropped.column("stage").to_pylist() == ["fineweb-quality"]
    assert "no text" in caplog.text


def test_agrees_with_datatrove_on_real_documents(shared_data):
    """The acceptance bar of bench/heuristic_filters.py (>= 99% identical decisions), on a sample."""
    pytest.importorskip("spacy", reason="datatrove's word tokenizer needs spaCy (bench dependency)")
    from datatrove.data import Document
    from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter

    with gzip.open(shared_data / "topics" / "weborganizer-topics.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for _, line in zip(range(300), f)]
    f = FineWebQualityFilter()
    theirs = []
    for i, t in enumerate(texts):
        r = f.filter(Document(text=t, id=str(i)))
        theirs.append(None if r is True else "fineweb-" + r[1].replace("_", "-"))
    ours = decide(texts, languages=None)
    assert sum((a is None) == (b is None) for a, b in zip(theirs, ours)) / len(texts) >= 0.99
    assert sum(a == b for a, b in zip(theirs, ours)) / len(texts) >= 0.99
    assert len(set(theirs)) >= 4  # the sample exercises several rules, not just one
