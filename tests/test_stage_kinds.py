"""The stage vocabulary's base classes (pipeline/stage.py): what they own so stages need not."""
from __future__ import annotations

from pipeline.schema import documents_from_rows
from pipeline.stage import Filter, run_map_stage_local


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
