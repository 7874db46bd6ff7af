"""Label cache: one sqlite file (WAL, so several Ray workers can read while one writes), keyed by
(sha256 of the text the model saw, prompt version, model id). A rerun, or a run resumed after a
crash, never asks the model twice for the same label."""
from __future__ import annotations

import json
import os
import sqlite3
from typing import Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    doc_sha256 TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    model_id TEXT NOT NULL,
    label TEXT NOT NULL,
    expected REAL NOT NULL,
    probs TEXT NOT NULL,
    PRIMARY KEY (doc_sha256, prompt_version, model_id)
) WITHOUT ROWID
"""


class LabelCache:
    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        # timeout: wait for another worker's write transaction rather than fail
        self.db = sqlite3.connect(path, timeout=60.0, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(_SCHEMA)
        self.db.commit()

    def get(self, shas: list[str], prompt_version: str, model_id: str) -> dict[str, tuple[str, float, dict]]:
        found: dict[str, tuple[str, float, dict]] = {}
        unique = sorted(set(shas))
        for start in range(0, len(unique), 500):  # sqlite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT doc_sha256, label, expected, probs FROM labels WHERE prompt_version=? AND model_id=? AND doc_sha256 IN ({marks})",
                [prompt_version, model_id, *chunk],
            )
            for sha, label, expected, probs in rows:
                found[sha] = (label, expected, json.loads(probs))
        return found

    def put(self, rows: Iterable[tuple[str, str, float, dict]], prompt_version: str, model_id: str) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?)",
                [(sha, prompt_version, model_id, label, expected, json.dumps(probs, sort_keys=True)) for sha, label, expected, probs in rows],
            )

    def close(self) -> None:
        self.db.close()
