"""A stage changes nothing outside its declared `writes`: tests/golden.py checks it on every golden
folder it runs (tests/test_goldens.py, and the folders whose stage needs a fixture in their own
tests); this file shows the check catches what it should."""
from __future__ import annotations

import pytest

from pipeline import registry
from pipeline.schema import documents_from_rows, with_column
from pipeline.stage import Annotator, Filter, MapStage, run_map_stage_local
from tests.golden import GOLDEN_DIR, undeclared_changes


class _WritesLanguage(Filter):
    name = "writes-language-fixture"
    reads = ("text",)

    def decide(self, batch):
        return [None] * batch.num_rows

    def process(self, batch):
        return super().process(with_column(batch, "language", ["xx"] * batch.num_rows))


class _DropsOne(Annotator):
    name = "drops-one-fixture"
    writes = ("topic",)

    def annotate(self, batch):
        return with_column(batch, "topic", ["t"] * batch.num_rows)

    def process(self, batch):
        kept, _ = super().process(batch)
        return kept.slice(1), kept.slice(0, 0)  # loses a record instead of dropping it


def _rows():
    return documents_from_rows([{"id": "a", "text": "one", "language": "en"}, {"id": "b", "text": "two", "language": "de"}])


def test_a_column_changed_outside_writes_is_named():
    stage = _WritesLanguage()
    kept, dropped = run_map_stage_local(stage, _rows())
    assert undeclared_changes(stage, _rows(), kept, dropped) == ["a: language", "b: language"]
    type(stage).writes = ("language",)
    try:
        assert undeclared_changes(stage, _rows(), kept, dropped) == []
    finally:
        del type(stage).writes


def test_a_lost_record_is_caught():
    stage = _DropsOne()
    kept, dropped = stage.process(_rows())
    assert undeclared_changes(stage, _rows(), kept, dropped) == ["records in 2, out 1 (1 distinct)"]


def test_every_golden_folder_of_a_map_stage_is_checked():
    """Each folder named after a registered map stage runs through tests/golden.py's check_golden
    (which applies the check): with the stage's defaults in test_goldens, or in the test named."""
    from tests.test_goldens import CUSTOM, map_stage_folders

    folders = {p.name for p in GOLDEN_DIR.iterdir() if p.is_dir()}
    map_folders = {n for n in folders if n in registry.STAGES and issubclass(registry.stage_class(n), MapStage)}
    assert map_folders == set(map_stage_folders()) | set(CUSTOM)
    assert len(map_folders) >= 10


@pytest.mark.parametrize("name", ["pii", "line-repetition", "c4-lines"])
def test_editors_write_text_and_drop_with_the_text_they_were_given(name):
    """On their goldens: a kept record's text may change; a dropped one keeps what it came with
    (pii: its redacted text, so no identifier reaches the dropped files)."""
    import json

    rows = [json.loads(x) for x in (GOLDEN_DIR / name / "input.jsonl").read_text().splitlines() if x.strip()]
    stage = registry.stage_class(name)()
    kept, dropped = run_map_stage_local(stage, documents_from_rows(rows))
    given = {r["id"]: r.get("text") for r in rows}
    assert dropped.num_rows and any(r["text"] != given[r["id"]] for r in kept.to_pylist())
    for r in dropped.to_pylist():
        if name == "pii":
            assert r["text"] == stage.scan(given[r["id"]])[0]
        else:
            assert r["text"] == given[r["id"]]
