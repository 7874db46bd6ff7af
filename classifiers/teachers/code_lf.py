"""The code teacher (`code-lf`): labels sampled documents for `code-score` with the code
labelling functions of classifiers/domain_signals.py (code blocks, syntax highlighting, API
definitions, prompts, code-like lines, programming keywords). Positive when the page reads as code
(score >= 0.6 and not a math page), negative below 0.25 or on a math page, abstains in between."""
from classifiers.teachers.labelling_functions import DomainTeacher, DomainVoteConfig


def teacher(config: DomainVoteConfig | None = None) -> DomainTeacher:
    return DomainTeacher("code-lf", "code", "code", config)
