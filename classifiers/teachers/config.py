"""The teachers' settings (`train-scorers.teachers`)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from classifiers.teachers.labelling_functions import DomainVoteConfig


class TeachersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # the judge's label wins over the teachers' when it puts at least this probability on its side
    # (combine.py); 1.0: the teachers win wherever they vote
    judge_confidence: float = Field(0.8, gt=0.5, le=1.0)
    # labelling functions for code-score and reasoning-score; null: that teacher is off
    code: DomainVoteConfig | None = DomainVoteConfig()
    math: DomainVoteConfig | None = DomainVoteConfig()
    # quality positives: "auto" (the extraction benchmark's article bodies when ../shared/data is
    # present) or a list of text files (references.py); [] for none
    references: str | list[str] = "auto"
    max_references: int = Field(2000, ge=0)
    # quality negatives: the pages this run's rule filters dropped (rule_drops.py)
    rule_drops: bool = True
    max_rule_drops: int = Field(2000, ge=0)
    # topic labels: "auto" (../shared/data/topics/weborganizer-topics.jsonl.gz when present), a
    # path, or null (the judge's topic labels, when the judge labels topics)
    weborganizer: str | None = "auto"
