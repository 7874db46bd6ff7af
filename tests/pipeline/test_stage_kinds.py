"""The stage vocabulary's base classes (pipeline/stage.py): what they own so stages need not."""
from __future__ import annotations

import json

from pipeline.schema import documents_from_rows
from pipeline.stage import Editor, Edits, Filter, run_map_stage_local


class _CountsSetups(Filter):
    name = "counts-setups-fixture"
    reads = ("text",)

    def setup(self) -> None:
        self.setups = getattr(self, "setups", 0) + 1
        self.word = "spam"

    def decide(self, batch):
        return ["spam" if self.word in (t or "") else None for t in batch.column("text").to_pylist()]

    def teardown(self) -> None:
        del self.word


def _rows():
    return documents_from_rows([{"id": "a", "text": "fine"}, {"id": "b", "text": "spam here"}])


def test_an_entry_point_sets_up_once_without_a_guard_in_the_stage():
    stage = _CountsSetups()
    assert stage.decide(_rows()) == [None, "spam"]  # no setup called by hand
    stage.process(_rows())
    run_map_stage_local(stage, _rows())
    assert stage.setups == 1


def test_a_setup_called_by_hand_counts_and_a_teardown_sets_up_again():
    stage = _CountsSetups()
    stage.setup()
    stage.decide(_rows())
    assert stage.setups == 1
    stage.teardown()
    assert stage.decide(_rows()) == [None, "spam"]
    assert stage.setups == 2


class _DropsDigitLines(Editor):
    """Removes lines that are only digits; a page with "secret" is dropped."""

    name = "drops-digit-lines-fixture"
    reads = ("text",)
    writes = ("text", "annotations")
    annotation = "digit_lines"

    def edit(self, batch):
        texts, reasons, notes = [], [], []
        for text in batch.column("text").to_pylist():
            lines = text.split("\n")
            kept = [x for x in lines if not x.strip().isdigit()]
            texts.append("\n".join(kept) if len(kept) < len(lines) else None)
            notes.append({"removed": len(lines) - len(kept)} if len(kept) < len(lines) else None)
            reasons.append("secret" if "secret" in text else None)
        return Edits(texts, reasons, notes)


def _editor_rows():
    return documents_from_rows([
        {"id": "clean", "text": "just prose"},
        {"id": "digits", "text": "prose\n123\nmore"},
        {"id": "only-digits", "text": "123\n456"},
        {"id": "secret", "text": "a secret\n789"},
        {"id": "none", "text": None},
    ])


def _by_id(table):
    return {r["id"]: r for r in table.to_pylist()}


def test_an_editor_writes_new_text_and_drops_with_the_original():
    kept, dropped = _DropsDigitLines().process(_editor_rows())
    kept, dropped = _by_id(kept), _by_id(dropped)
    assert set(kept) == {"clean", "digits"}
    assert kept["digits"]["text"] == "prose\nmore" and json.loads(kept["digits"]["annotations"]) == {"digit_lines": {"removed": 1}}
    assert kept["clean"]["text"] == "just prose" and kept["clean"]["annotations"] is None
    # emptied by the edit, given a reason, without text: each dropped with the text it came with
    assert {i: (r["reason"], r["text"]) for i, r in dropped.items()} == {
        "only-digits": ("no-text-left", "123\n456"), "secret": ("secret", "a secret\n789"), "none": ("no-text", None)}
    assert dropped["secret"]["stage"] == "drops-digit-lines-fixture"


def test_an_editor_may_keep_records_without_text_and_drop_the_edited_text():
    class Redacts(_DropsDigitLines):
        no_text = None
        dropped_text = "edited"

    kept, dropped = Redacts().process(_editor_rows())
    assert _by_id(kept)["none"]["text"] is None
    assert _by_id(dropped)["secret"]["text"] == "a secret"


def test_an_editor_that_touches_nothing_returns_the_batch_as_it_came():
    batch = documents_from_rows([{"id": "a", "text": "prose", "annotations": '{"b": 1,  "a": 2}'}])
    kept, dropped = _DropsDigitLines().process(batch)
    assert kept is batch and dropped.num_rows == 0
