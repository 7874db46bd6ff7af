"""Real documents and label-cache folders for the judge's benchmarks and tests (tests import this
module; bench never imports tests)."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path


def cache_with_models(tmp: Path, model_cache: Path) -> Path:
    """A fresh cache folder (empty label cache) whose models/ is the shared converted models."""
    tmp.mkdir(parents=True, exist_ok=True)
    link = tmp / "models"
    if not link.exists():
        os.symlink(model_cache / "models", link)
    return tmp


def weborganizer_docs(shared_data: Path, n: int, topics: tuple[str, ...] | None = None) -> list[dict]:
    """The first `n` documents (optionally of the given WebOrganizer topics) of the topics file."""
    out = []
    with gzip.open(shared_data / "topics" / "weborganizer-topics.jsonl.gz", "rt") as f:
        for line in f:
            row = json.loads(line)
            if topics is None or row["topic"] in topics:
                out.append(row)
                if len(out) == n:
                    break
    return out
