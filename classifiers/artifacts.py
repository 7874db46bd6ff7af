"""Versioned scorer artifacts: `<root>/<scorer>/<version>/` holds the model file(s) and
`metrics.json` (held-out metrics, label counts, training-data sha256, config, model files). The
version is a hash of the training data and the config, so the same inputs name the same folder
and a trained artifact is found again instead of retrained.

The root is a local folder or an object-store URI (pipeline/storage.py); in a run it is
`<ctx.shared>/artifacts`, which every node reaches. An artifact is built in a node-local temporary
folder and then appears whole: locally by a rename, on an object store by uploading the model
files first and `metrics.json` last. `metrics.json` marks a complete artifact (`is_artifact`), so
a reader never takes a half-uploaded folder for one. Loaders get a local folder with `local_copy`
(the folder itself, or a node-local copy of a remote one) for libraries that want paths."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from typing import Callable

from pipeline import storage

log = logging.getLogger(__name__)

METRICS = "metrics.json"
# written by `train-scorers` into the run's output folder: scorer -> artifact location (or null)
RUN_POINTER = "trained-scorers.json"


def artifacts_root(shared: str) -> str:
    return storage.join(shared, "artifacts")


def version_of(data_sha256: str, config: dict) -> str:
    blob = json.dumps([data_sha256, config], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_artifact(location: str) -> bool:
    return storage.exists(storage.join(location, METRICS))


def read_metrics(location: str) -> dict:
    meta = storage.read_json(storage.join(location, METRICS))
    if meta is None:
        raise FileNotFoundError(f"{location}: no {METRICS} (not a complete artifact)")
    return meta


def _json_text(obj: dict) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def local_copy(location: str) -> str:
    """A local folder holding the artifact's files: the folder itself when local, else a
    node-local copy fetched once (fastText and transformers load from paths)."""
    if not is_artifact(location):
        raise FileNotFoundError(f"{location}: no {METRICS} (not a complete artifact)")
    return storage.local_dir(location)


def build_artifact(root: str, scorer: str, version: str, build: Callable[[str], dict]) -> str:
    """Return `<root>/<scorer>/<version>`, calling `build(tmp_dir)` (writes the model files into a
    local folder, returns the metrics.json object) only when no complete artifact of that version
    exists."""
    root = storage.abspath(root)
    final = storage.join(root, scorer, version)
    if is_artifact(final):
        log.info("artifact %s exists: not retrained", final)
        return final
    remote = storage.is_uri(root)
    if remote:
        tmp = tempfile.mkdtemp(prefix=f"artifact-{scorer}-{version}-", dir=storage.scratch_dir())
    else:  # beside the final folder, so that a rename publishes it
        tmp = os.path.join(root, scorer, f".tmp-{version}-{uuid.uuid4().hex}")
        os.makedirs(tmp)
    try:
        metrics = _json_text({**build(tmp), "scorer": scorer, "version": version})
        if remote:
            # model files first, metrics.json last: it marks the artifact complete. Another worker
            # uploading the same version writes the same bytes (training is deterministic).
            storage.upload_dir(tmp, final)
            storage.write_text(storage.join(final, METRICS), metrics)
        else:
            with open(os.path.join(tmp, METRICS), "w", encoding="utf-8") as f:
                f.write(metrics)
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
    storage.makedirs(output_dir)
    storage.write_text(storage.join(output_dir, RUN_POINTER), _json_text(artifacts))


def resolve_artifact(scorer: str, configured: str | None, output_dir: str | None) -> str | None:
    """The artifact a scorer stage loads: the configured location (which must exist), else what
    `train-scorers` trained for this run (None when it could not train this scorer)."""
    if configured:
        location = configured if storage.is_uri(configured) else os.path.expanduser(configured)
        if not is_artifact(location):
            raise FileNotFoundError(f"{scorer}: artifact {configured!r} has no {METRICS}; train one with `curate train {scorer}`")
        return location
    pointer = storage.read_json(storage.join(output_dir or ".", RUN_POINTER))
    if pointer is None:
        raise FileNotFoundError(
            f"{scorer}: no artifact configured and no {RUN_POINTER} in {output_dir}: "
            f"put train-scorers before this stage or set `artifact:` to a folder from `curate train {scorer}`"
        )
    return pointer.get(scorer)
