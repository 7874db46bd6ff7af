"""Default scorer artifacts shipped inside the package: `<scorer>/<version>/` (a quantised fastText
model, `default.ftz`, and `metrics.json`), indexed by `defaults.json` ({scorer: version}). They are
made by scripts/build_default_artifacts.py from data whose license allows it, labelled by the
teachers (classifiers/teachers/); README.md beside them names each source and its license, and each
metrics.json the held-out measurement and the rule that holds pages out of training.

A scorer stage with no configured artifact and no artifact from this run's train-scorers scores
with its default, and says so in the log. train-scorers records a default it falls back to as
`default:<scorer>/<version>` in trained-scorers.json: each node resolves that reference in its own
installed package (a path from the driver's install may not exist on another node). The topic
classifier has no default (its labels, WebOrganizer's, are for test use only)."""
from __future__ import annotations

import json
from pathlib import Path

from classifiers import artifacts

ROOT = Path(__file__).resolve().parent
INDEX = "defaults.json"
REF_PREFIX = "default:"


def versions() -> dict[str, str]:
    index = ROOT / INDEX
    return json.loads(index.read_text()) if index.is_file() else {}


def default_ref(scorer: str) -> str | None:
    """`default:<scorer>/<version>` when a default artifact ships for `scorer`, else None."""
    version = versions().get(scorer)
    return f"{REF_PREFIX}{scorer}/{version}" if version and artifacts.is_artifact(str(ROOT / scorer / version)) else None


def is_ref(location: str | None) -> bool:
    return bool(location) and location.startswith(REF_PREFIX)


def resolve_ref(location: str) -> str:
    """The local folder of a `default:<scorer>/<version>` reference."""
    path = ROOT / location[len(REF_PREFIX):]
    if not artifacts.is_artifact(str(path)):
        raise FileNotFoundError(f"{location}: not in this installation ({path}); reinstall the package or rerun train-scorers")
    return str(path)


def default_artifact(scorer: str) -> str | None:
    """The local folder of `scorer`'s shipped default, or None."""
    ref = default_ref(scorer)
    return resolve_ref(ref) if ref else None
