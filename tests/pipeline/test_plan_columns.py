"""The plan checks the columns a pipeline reads (pipeline/columns.py): a stage placed before the
writer of a column it needs stops the run when it is planned, naming the stage and the column."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline import registry
from pipeline.columns import unwritten_reads
from pipeline.config import ConfigError, load_config, validate
from pipeline.executor.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "configs").glob("*.yaml"))


def _stages(cfg):
    return [registry.stage_class(n)(cfg.stage_config(n)) for n in cfg.pipeline]


def _config(tmp_path, pipeline, stages=None):
    src = tmp_path / "in.warc.gz"
    src.write_bytes(b"")
    return validate({"input": {"paths": [str(src)]}, "pipeline": pipeline, "stages": stages or {}}, source="t.yaml")


def test_a_stage_before_the_writer_of_its_column_fails_when_planned(tmp_path):
    runner = Runner(_config(tmp_path, ["read-warc", "langid", "extract", "tokenize"]), str(tmp_path / "out"))
    with pytest.raises(ConfigError) as e:
        runner.plan()
    assert "t.yaml: pipeline: stage 'langid' reads column 'text', which no stage before it writes" in str(e.value)
    assert "tokenize" not in str(e.value)  # extract wrote text before it
    assert not (tmp_path / "out" / "stages").exists()  # nothing ran


def test_the_same_stages_in_order_plan(tmp_path):
    steps = Runner(_config(tmp_path, ["read-warc", "extract", "langid", "tokenize"]), str(tmp_path / "out")).plan()
    assert [n for s in steps for n in s.names.split("+")] == ["read-warc", "extract", "langid", "tokenize"]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_config_reads_only_what_is_written_before(path):
    cfg = load_config(path, {"input": {"paths": ["x.warc.gz"]}})  # base.yaml names no input
    assert len(cfg.pipeline) > 3
    assert unwritten_reads(_stages(cfg)) == []


def test_a_need_with_alternatives_is_met_by_any_one(tmp_path):
    pipeline = ["read-warc", "extract", "langid", "quality-fasttext", "quality-threshold"]
    assert unwritten_reads(_stages(_config(tmp_path, pipeline))) == []  # either score column will do
    only_transformer = _config(tmp_path, pipeline, {"quality-threshold": {"columns": ["quality_transformer"]}})
    assert unwritten_reads(_stages(only_transformer)) == [("quality-threshold", "quality_transformer")]
    no_scorer = _config(tmp_path, ["read-warc", "extract", "langid", "quality-threshold"])
    assert unwritten_reads(_stages(no_scorer)) == [("quality-threshold", "quality_transformer or quality_fasttext")]


def test_documents_may_carry_any_column_and_no_source_is_not_checked(tmp_path):
    assert unwritten_reads(_stages(_config(tmp_path, ["read-documents", "quality-threshold", "shard"]))) == []
    assert unwritten_reads(_stages(_config(tmp_path, ["quality-threshold"]))) == []


def test_a_stage_needs_only_columns_it_reads():
    """`needs` narrows `reads` (the columns a global stage's fit is given): never beyond it."""
    for name in registry.STAGES:
        cls = registry.stage_class(name)
        try:
            stage = cls()
        except ValidationError:  # a config without defaults (decontaminate's eval sets): needs are its reads
            continue
        needed = {c for need in stage.needs() for c in ((need,) if isinstance(need, str) else need)}
        assert needed <= set(cls.reads), name
