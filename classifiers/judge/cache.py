"""Label cache: a folder of parquet files (local, or on an object store every worker reaches),
keyed by (sha256 of the text the model saw, prompt version, model id). A rerun, a run resumed after
a crash, or another node never asks the model twice for a label that any worker has written.

Format: `<folder>/part-<sha256 of the rows>.parquet`, one file per flush, columns `doc_sha256`,
`prompt_version`, `model_id`, `label`, `expected`, `probs` (JSON), sorted by key. Writers never
coordinate: each adds new files named by their content (two writers of the same labels write the
same name and bytes; no writer rewrites or deletes another's file), every write is atomic (a
reader sees a whole file or none). A reader lists the folder once, on its first lookup, and reads
every file into an in-memory dict; `refresh()` picks up files written since. New labels are
flushed every `flush_every` labels and on `close()`, so a labelling run cut mid-way loses at most
the labels since its last flush."""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Iterable

import pyarrow as pa

from pipeline import storage

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        pa.field("doc_sha256", pa.string(), nullable=False),
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("expected", pa.float64(), nullable=False),
        pa.field("probs", pa.string(), nullable=False),
    ]
)
# labels per file: a file every ~25 s of a CPU judge (10 docs/s), a few hundred KB at most
FLUSH_EVERY = 256

Key = tuple[str, str, str]  # (doc_sha256, prompt_version, model_id)
Value = tuple[str, float, dict]  # (label, expected, probs)


def label_cache_dir(root: str) -> str:
    """The label cache folder under a shared root (a run's `ctx.shared`, or the judge's cache_dir)."""
    return storage.join(root, "judge", "label-cache")


def _read_file(location: str) -> pa.Table | None:
    from pipeline.stage_io import read_parquet

    try:
        return read_parquet(location, schema=SCHEMA)
    except (FileNotFoundError, storage.StorageError) as err:  # removed by hand since the listing
        log.warning("label cache: %s unreadable, skipped: %s", location, err)
        return None


def _read_files(files: list[str]) -> list[pa.Table | None]:
    if len(files) <= 4 or not storage.is_uri(files[0]):
        return [_read_file(f) for f in files]
    from concurrent.futures import ThreadPoolExecutor  # one request each on an object store

    with ThreadPoolExecutor(max_workers=min(32, len(files))) as ex:
        return list(ex.map(_read_file, files))


class LabelCache:
    def __init__(self, folder: str, flush_every: int = FLUSH_EVERY):
        self.folder = storage.abspath(folder)
        self.flush_every = max(1, flush_every)
        self._labels: dict[Key, Value] = {}
        self._seen: set[str] = set()  # files read (or written) by this cache
        self._pending: dict[Key, Value] = {}
        self._listed = False

    def refresh(self) -> int:
        """Read the files not read yet (one listing); returns how many were read."""
        files = [f for f in storage.listdir(self.folder, ".parquet") if f not in self._seen]
        for f, table in zip(files, _read_files(files)):
            self._seen.add(f)
            if table is None:
                continue
            cols = [table.column(n).to_pylist() for n in SCHEMA.names]
            for sha, version, model, label, expected, probs in zip(*cols):
                # what this process labelled itself stays; otherwise the first file in name order wins
                self._labels.setdefault((sha, version, model), (label, expected, json.loads(probs)))
        self._listed = True
        if files:
            log.debug("label cache %s: %d files read, %d labels", self.folder, len(files), len(self._labels))
        return len(files)

    def get(self, shas: list[str], prompt_version: str, model_id: str) -> dict[str, Value]:
        if not self._listed:
            self.refresh()
        found: dict[str, Value] = {}
        for sha in shas:
            hit = self._labels.get((sha, prompt_version, model_id))
            if hit is not None:
                found[sha] = hit
        return found

    def put(self, rows: Iterable[tuple[str, str, float, dict]], prompt_version: str, model_id: str) -> None:
        for sha, label, expected, probs in rows:
            key, value = (sha, prompt_version, model_id), (label, float(expected), dict(probs))
            self._labels[key] = value
            self._pending[key] = value
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> str | None:
        """Write the labels added since the last flush as one new file; returns its location."""
        if not self._pending:
            return None
        keys = sorted(self._pending)
        values = [self._pending[k] for k in keys]
        probs = [json.dumps(v[2], sort_keys=True) for v in values]
        cols = [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                [v[0] for v in values], [v[1] for v in values], probs]
        h = hashlib.sha256()
        for row in zip(*cols):
            h.update(json.dumps(row).encode("utf-8", "surrogatepass"))
            h.update(b"\n")
        location = storage.join(self.folder, f"part-{h.hexdigest()[:32]}.parquet")
        from pipeline.stage_io import write_parquet

        write_parquet(pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(cols, SCHEMA)], schema=SCHEMA), location)
        self._seen.add(location)
        self._pending.clear()
        return location

    def __len__(self) -> int:
        return len(self._labels)

    def close(self) -> None:
        self.flush()
