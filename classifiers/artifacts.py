"""Versioned scorer artifacts: `<root>/<scorer>/<version>/` holds the model file(s) and
`metrics.json` (held-out metrics, label counts, training-data sha256, config, model files). The
version is a hash of the training data and the config, so the same inputs name the same folder
and a trained artifact is found again instead of retrained. Folders appear atomically (built
under a temporary name, then renamed)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from typing import Callable

log = logging.getLogger(__name__)

METRICS = "metrics.json"
# written by `train-scorers` into the run's output folder: scorer -> artifact folder (or null)
RUN_POINTER = "trained-scorers.json"


def artifacts_root(cache_dir: str) -> str:
    return os.path.join(cache_dir, "artifacts")


def version_of(data_sha256: str, config: dict) -> str:
    blob = json.dumps([data_sha256, config], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_artifact(path: str) -> bool:
    return os.path.isfile(os.path.join(path, METRICS))


def read_metrics(path: str) -> dict:
    with open(os.path.join(path, METRICS)) as f:
        return json.load(f)


def _write_json(path: str, obj: dict) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def build_artifact(root: str, scorer: str, version: str, build: Callable[[str], dict]) -> str:
    """Return `<root>/<scorer>/<version>`, calling `build(tmp_dir)` (writes the model files,
    returns the metrics.json object) only when no complete artifact of that version exists."""
    final = os.path.join(root, scorer, version)
    if is_artifact(final):
        log.info("artifact %s exists: not retrained", final)
        return final
    tmp = os.path.join(root, scorer, f".tmp-{version}-{uuid.uuid4().hex}")
    os.makedirs(tmp)
    try:
        metrics = build(tmp)
        _write_json(os.path.join(tmp, METRICS), {**metrics, "scorer": scorer, "version": version})
        try:
            os.rename(tmp, final)
        except OSError:  # another worker finished the same version first: theirs is identical
            if not is_artifact(final):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("artifact written: %s", final)
    return final


def write_run_pointer(output_dir: str, artifacts: dict[str, str | None]) -> None:
    os.makedirs(output_dir, exist_ok=True)
    _write_json(os.path.join(output_dir, RUN_POINTER), artifacts)


def resolve_artifact(scorer: str, configured: str | None, output_dir: str | None) -> str | None:
    """The artifact a scorer stage loads: the configured folder (which must exist), else what
    `train-scorers` trained for this run (None when it could not train this scorer)."""
    if configured:
        path = os.path.expanduser(configured)
        if not is_artifact(path):
            raise FileNotFoundError(f"{scorer}: artifact {configured!r} has no {METRICS}; train one with `curate train {scorer}`")
        return path
    pointer = os.path.join(output_dir or ".", RUN_POINTER)
    if not os.path.exists(pointer):
        raise FileNotFoundError(
            f"{scorer}: no artifact configured and no {RUN_POINTER} in {output_dir}: "
            f"put train-scorers before this stage or set `artifact:` to a folder from `curate train {scorer}`"
        )
    with open(pointer) as f:
        return json.load(f).get(scorer)
