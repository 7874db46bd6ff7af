"""Plan-time check of the columns a pipeline reads: every column a stage needs must be written by
a stage before it (the source included), so that a stage placed before its writer fails when the
plan is made, naming the stage and the column, and not hours later on null values."""
from __future__ import annotations

from pipeline.config import ConfigError
from pipeline.stage import SourceStage, Stage


def unwritten_reads(stages: list[Stage]) -> list[tuple[str, str]]:
    """(stage, column) for every column a stage needs that no earlier stage writes. A pipeline
    without a source reads documents whose columns the plan cannot know: nothing to check."""
    if not stages or not isinstance(stages[0], SourceStage):
        return []
    written: set[str] = set()
    missing = []
    for stage in stages:
        for need in stage.needs():
            options = (need,) if isinstance(need, str) else tuple(need)
            if written.isdisjoint(options):
                missing.append((stage.name, " or ".join(options)))
        written.update(stage.writes)
        if isinstance(stage, SourceStage):
            written.update(stage.carries)
    return missing


def check_reads(stages: list[Stage], source: str = "<memory>") -> None:
    """Raise ConfigError naming each stage that reads a column no earlier stage writes."""
    missing = unwritten_reads(stages)
    if missing:
        lines = [f"{source}: pipeline: stage {name!r} reads column {column!r}, which no stage before it writes"
                 for name, column in missing]
        raise ConfigError("\n".join(lines) + "\n(put the stage that writes it earlier, or add one)")
