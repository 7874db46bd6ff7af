"""The math teacher (`math-lf`): labels sampled documents for `reasoning-score` with the math
labelling functions of classifiers/domain_signals.py (MathML/TeX markup, LaTeX, equations and math
symbols, math vocabulary, computer-algebra sessions). Positive when the page reads as mathematics
(score >= 0.6, math winning a tie with code), negative below 0.25 or on a code page, abstains in
between."""
from classifiers.teachers.labelling_functions import DomainTeacher, DomainVoteConfig


def teacher(config: DomainVoteConfig | None = None) -> DomainTeacher:
    return DomainTeacher("math-lf", "reasoning", "math", config)
