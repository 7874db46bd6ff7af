"""Per-language rule thresholds: FineWeb-2's per-language filter configs, stored verbatim with
their source in filters/assets/language_rules.yaml (docs/languages.md).

`rules_for(language)` gives a language's FineWeb-2 values merged over what FineWeb-2's pipeline
sets alike for every language. English (and pages without a language) gets no rules: the stages'
own defaults are the English ones (Gopher, C4, FineWeb), unchanged. A language FineWeb-2's table
here lacks gets the pipeline's common settings alone: the English thresholds in FineWeb-2's
pipeline shape, less the stop-word rule (there is no list to count) - never no filtering.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

RULES_PATH = Path(__file__).resolve().parent / "assets" / "language_rules.yaml"
# the stages' own thresholds were set on English; FineWeb-2 has no English config
OWN_THRESHOLDS = frozenset({"en"})


@functools.lru_cache(maxsize=1)
def load_rules() -> dict:
    return yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))


def covered_languages() -> list[str]:
    return sorted(load_rules()["languages"])


@functools.lru_cache(maxsize=None)
def _fallback_logged(language: str) -> None:
    log.warning("language %r has no FineWeb-2 thresholds in %s: English thresholds in FineWeb-2's "
                "pipeline shape, no stop-word rule", language, RULES_PATH.name)


def rules_for(language: str | None) -> dict | None:
    """FineWeb-2's values for `language` (its own over the pipeline's common ones), the common
    ones alone for a language without a config, None where the stages' own thresholds apply."""
    if language is None or language in OWN_THRESHOLDS:
        return None
    table = load_rules()
    common = {k: v for k, v in table["pipeline"].items() if k != "source"}
    own = table["languages"].get(language)
    if own is None:
        _fallback_logged(language)
        return common
    return {**common, **{k: v for k, v in own.items() if k != "source"}}


def pick(rules: dict, fields: dict[str, str]) -> dict:
    """{our field: rules[FineWeb-2 key]} for the keys `rules` has."""
    return {field: rules[key] for key, field in fields.items() if key in rules}
