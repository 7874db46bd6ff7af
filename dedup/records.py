"""`dedup-records`: the same input record read more than once (one WARC listed under two paths, a
copy of a file with a garbage tail, jsonl files that overlap) is one record in the ledger.

Runs right after the source. A copy is a row whose `id` (the WARC-Record-ID, or the id of a
document row) another row read in this run also has; rows are told apart by where they were read
(`source_file`, `source_offset`). In each group of copies one keeps its id: a copy the source kept
before one it dropped (a truncated copy never replaces a whole one), then the smallest (base name
of `source_file`, `source_offset`), then the full `source_file`. The ledger sees:
- every other copy the source kept: dropped here as `duplicate-record`, `duplicate_of` = the kept
  id, under the ledger id `<id>#dup-<xxh3 of base name and offset>` (a counter is appended in the
  one case that needs it: copies with equal base names and offsets);
- every other copy an earlier stage dropped (a request record of a WARC listed twice, a truncated
  copy): it stays that stage's drop with its reason, and gets the same kind of ledger id and
  `duplicate_of` here, rewritten in place in that stage's dropped/ file. Without this, two drops
  of one record would hold one id twice and the ledger could not balance.
Ids depend on base names and offsets, never on folders or buckets, so the same inputs read from
a local disk and from an object store give the same ledger.

Cost: the common case has no copies. The decision then reads the kept documents' id and source
columns and the drops' ids, and moves one int64 per record (a hash of the id) to find ids seen
twice; only if there are any does it read where those few rows came from and decide on them.
The apply side is a lookup in an empty table, but it is a pass of its own: the source's kept
documents are written once more (on the 9 shared WARC files, 355 records: ~2.5 s of fixed fit
cost and ~1.5 s of pass, of a 8 s run). The decision is keyed by a hash of (id, source_file,
offset), so only the extra copies match it, never the copy kept in their place (a decision keyed
by id alone dropped or kept every copy together: the crash of issue 16).
"""
from __future__ import annotations

import logging
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import xxhash

from dedup.partitions import map_partitions_by_key
from pipeline import stage_io, storage
from pipeline.decisions import id_keys, write_decision, write_meta
from pipeline.drop_listed import DropListConfig, DropListed
from pipeline.schema import DROPPED_SCHEMA, to_dropped, with_column
from pipeline.stage import GlobalStage, Resources, StageConfig

log = logging.getLogger(__name__)

STAGE = "dedup-records"
REASON = "duplicate-record"
_KEY = "_key"
_ORIGIN = "_origin"  # "" for a kept row, else the dropped/ file the row is in
_STAGE_DIR = re.compile(r"^(\d+)-")
# where a copy was read: the key of the decision rows and of the renames
COPY_SCHEMA = pa.schema([pa.field(_KEY, pa.int64()), pa.field("id", pa.string()), pa.field("new_id", pa.string()),
                         pa.field("duplicate_of", pa.string()), pa.field(_ORIGIN, pa.string())])
_ROWS_SCHEMA = pa.schema([pa.field(_KEY, pa.int64()), pa.field("id", pa.string()), pa.field("source_file", pa.string()),
                          pa.field("source_offset", pa.int64()), pa.field(_ORIGIN, pa.string())])


def copy_key(rid: str, source_file: str | None, offset: int | None) -> str:
    """What tells one copy of a record from another: its id and where it was read."""
    return f"{rid}\0{source_file or ''}\0{-1 if offset is None else offset}"


def copy_keys(batch: pa.Table) -> list[str]:
    return [copy_key(i, f, o) for i, f, o in zip(batch.column("id").to_pylist(), batch.column("source_file").to_pylist(),
                                                 batch.column("source_offset").to_pylist())]


def dup_id(rid: str, source_file: str | None, offset: int | None) -> str:
    """The ledger id of an extra copy: its id and where it was read (base name and offset only)."""
    base = storage.basename(source_file) if source_file else ""
    where = f"{base}\0{-1 if offset is None else offset}".encode("utf-8", "surrogatepass")
    return f"{rid}#dup-{xxhash.xxh3_64_hexdigest(where)}"


# --------------------------------------------------------------------------- Ray tasks


def _id_hashes(batch: pa.Table) -> pa.Table:
    return pa.table({_KEY: pa.array(id_keys(batch.column("id")), pa.int64())})


def _repeated(part: pa.Table) -> pa.Table:
    """The id hashes seen more than once in one key partition."""
    if part.num_rows == 0:
        return pa.table({_KEY: pa.array([], pa.int64())})
    keys, counts = np.unique(part.column(_KEY).to_numpy(), return_counts=True)
    return pa.table({_KEY: pa.array(keys[counts > 1], pa.int64())})


def _rows_of(batch: pa.Table, repeated: np.ndarray, origin: str = "") -> pa.Table:
    """The rows of `batch` whose id hash is repeated, with where they were read."""
    keys = id_keys(batch.column("id"))
    mask = np.isin(keys, repeated)
    rows = batch.filter(pa.array(mask))
    n = rows.num_rows
    return pa.table({_KEY: pa.array(keys[mask], pa.int64()), "id": rows.column("id").cast(pa.string()),
                     "source_file": rows.column("source_file").cast(pa.string()),
                     "source_offset": rows.column("source_offset").cast(pa.int64()),
                     _ORIGIN: pa.array([origin] * n, pa.string())}, schema=_ROWS_SCHEMA)


def _dropped_rows(batch: pa.Table, repeated: np.ndarray) -> pa.Table:
    """Ray task: the rows of the dropped/ files named in `batch` whose id hash is repeated, with
    the file each is in."""
    columns = ["id", "source_file", "source_offset"]
    schema = pa.schema([DROPPED_SCHEMA.field(c) for c in columns])
    tables = [_rows_of(stage_io.read_parquet(path, columns=columns, schema=schema), repeated, path)
              for path in batch.column("path").to_pylist()]
    return pa.concat_tables(tables) if tables else _ROWS_SCHEMA.empty_table()


def order_copies(rows: list[dict]) -> list[dict]:
    """Copies of one record, the one that keeps its id first (see the module docstring)."""
    def rank(r):
        src = r["source_file"] or ""
        off = -1 if r["source_offset"] is None else r["source_offset"]
        return (r[_ORIGIN] != "", storage.basename(src) if src else "", off, src, r[_ORIGIN])

    return sorted(rows, key=rank)


def resolve_copies(part: pa.Table) -> pa.Table:
    """The decision rows of one partition of repeated-id rows: every copy but the first of each id
    (`order_copies`), keyed by its copy key, with its ledger id and the id kept in its place."""
    if part.num_rows == 0:
        return COPY_SCHEMA.empty_table()
    groups: dict[str, list[dict]] = {}
    for r in part.to_pylist():
        groups.setdefault(r["id"], []).append(r)
    out = []
    for rid, rows in groups.items():
        if len(rows) < 2:
            continue  # another id with the same hash
        used: dict[str, int] = {}
        for r in order_copies(rows)[1:]:
            new = dup_id(rid, r["source_file"], r["source_offset"])
            used[new] = used.get(new, 0) + 1
            if used[new] > 1:  # same base name and offset: told apart by their order
                new = f"{new}-{used[new]}"
            out.append({"ck": copy_key(rid, r["source_file"], r["source_offset"]), "new_id": new, "duplicate_of": rid,
                        _ORIGIN: r[_ORIGIN]})
    cks = [o["ck"] for o in out]
    return pa.table({_KEY: pa.array(id_keys(cks), pa.int64()), "id": pa.array(cks, pa.string()),
                     "new_id": pa.array([o["new_id"] for o in out], pa.string()),
                     "duplicate_of": pa.array([o["duplicate_of"] for o in out], pa.string()),
                     _ORIGIN: pa.array([o[_ORIGIN] for o in out], pa.string())}, schema=COPY_SCHEMA)


def _copies_from(batch: pa.Table, kept: bool) -> pa.Table:
    """The decision rows of copies the source kept (`kept`), or of copies an earlier stage dropped
    (with an int64 key of the file they are in, to group them by file)."""
    if batch.num_rows == 0:
        batch = COPY_SCHEMA.empty_table()
    batch = batch.filter(pc.equal(batch.column(_ORIGIN), "") if kept else pc.not_equal(batch.column(_ORIGIN), ""))
    if kept:
        return batch.drop_columns([_ORIGIN])
    files = batch.column(_ORIGIN).to_pylist()
    keys = np.fromiter((xxhash.xxh3_64_intdigest(f.encode("utf-8", "surrogatepass")) for f in files), dtype=np.uint64, count=len(files))
    return batch.append_column("_file", pa.array(keys.view(np.int64), pa.int64()))


def rename_in_files(part: pa.Table) -> pa.Table:
    """Ray task: give the extra copies in earlier stages' dropped/ files their ledger ids (each
    file read, changed and written back whole; a second run finds nothing left to change)."""
    renamed = 0
    if part.num_rows == 0:
        return pa.table({"renamed": pa.array([0], pa.int64())})
    for origin in sorted(set(part.column(_ORIGIN).to_pylist())):
        mine = part.filter(pc.equal(part.column(_ORIGIN), origin))
        new_ids = dict(zip(mine.column("id").to_pylist(), mine.column("new_id").to_pylist()))
        kept_ids = dict(zip(mine.column("id").to_pylist(), mine.column("duplicate_of").to_pylist()))
        table = stage_io.read_parquet(origin, schema=DROPPED_SCHEMA)
        cks = copy_keys(table)
        ids = [new_ids.get(ck, rid) for ck, rid in zip(cks, table.column("id").to_pylist())]
        dup_of = [kept_ids.get(ck) if old is None else old for ck, old in zip(cks, table.column("duplicate_of").to_pylist())]
        changed = sum(ck in new_ids for ck in cks)
        if changed:
            table = with_column(with_column(table, "id", ids), "duplicate_of", dup_of)
            stage_io.write_parquet(table, origin)
            renamed += changed
    return pa.table({"renamed": pa.array([renamed], pa.int64())})


# --------------------------------------------------------------------------- the stage


class DedupRecordsConfig(StageConfig):
    # shuffle partitions of the id hashes; None: one task when they are small, else Ray's default
    num_partitions: int | None = None


class DedupRecords(GlobalStage):
    name = STAGE
    reads = ("id", "source_file", "source_offset")
    writes = ()
    resources = Resources(num_cpus=1)
    Config = DedupRecordsConfig

    def earlier_dropped_files(self) -> list[str]:
        """The dropped/ files of the stages before this one in the run (the source's): the records
        they hold were read as well, and their ids must stay unique too."""
        stages_dir = storage.dirname(self.ctx.stage_dir)
        m = _STAGE_DIR.match(storage.basename(self.ctx.stage_dir))
        if m is None:
            return []  # a stage run alone (`curate dedup-records`): no earlier stages
        mine = int(m.group(1))
        fs, path = storage.resolve(stages_dir)
        entries = storage.retrying("list", stages_dir, fs.get_file_info, pafs.FileSelector(path, allow_not_found=True))
        files: list[str] = []
        for e in sorted(entries, key=lambda e: e.path):
            name = e.path.rstrip("/").rsplit("/", 1)[-1]
            em = _STAGE_DIR.match(name)
            if e.type == pafs.FileType.Directory and em and int(em.group(1)) < mine:
                files += stage_io.parquet_files(storage.join(stages_dir, name, "dropped"))
        return files

    def fit(self, ds) -> dict:
        import ray
        import ray.data

        dropped = self.earlier_dropped_files()
        # 1. id hashes seen more than once (one int64 per record moved, nothing else)
        hashes = ds.map_batches(_id_hashes, batch_format="pyarrow")
        if dropped:
            ids = stage_io.read_parquet_files(dropped, DROPPED_SCHEMA, ["id"])
            hashes = hashes.union(ids.map_batches(_id_hashes, batch_format="pyarrow"))
        found = map_partitions_by_key(hashes, _KEY, _repeated, num_partitions=self.config.num_partitions)
        repeated = np.concatenate([b.column(_KEY).to_numpy() for b in found.iter_batches(batch_format="pyarrow", batch_size=None)]
                                  or [np.array([], np.int64)])
        if len(repeated) == 0:  # the common case: an empty decision, written without a Ray step
            for old in storage.listdir(self.ctx.decision_dir, ".arrow"):
                storage.remove(old)
            write_meta(self.ctx.decision_dir, {"key": _KEY, "rows": 0, "bytes": 0, "files": 0})
            log.info("%s: no record read twice", self.name)
            return {"duplicate_records": 0, "renamed_drops": 0}
        # 2. only the rows of those ids: where each was read, one decision per copy
        rows = ds.map_batches(_rows_of, batch_format="pyarrow", fn_kwargs={"repeated": repeated})
        if dropped:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            files = ray.data.from_items([{"path": f} for f in dropped], override_num_blocks=min(len(dropped), 4 * cpus))
            rows = rows.union(files.map_batches(_dropped_rows, batch_format="pyarrow", fn_kwargs={"repeated": repeated}))
        copies = map_partitions_by_key(rows, _KEY, resolve_copies, num_partitions=self.config.num_partitions).materialize()
        kept_copies = copies.map_batches(_copies_from, batch_format="pyarrow", fn_kwargs={"kept": True})
        facts = write_decision(kept_copies, self.ctx.decision_dir, _KEY)
        renames = copies.map_batches(_copies_from, batch_format="pyarrow", fn_kwargs={"kept": False})
        renamed = sum(int(b.column("renamed").to_numpy().sum()) for b in
                      map_partitions_by_key(renames, "_file", rename_in_files).iter_batches(batch_format="pyarrow", batch_size=None))
        log.info("%s: %d extra copies of records the source kept are dropped, %d earlier drops get their own ids",
                 self.name, facts["rows"], renamed)
        return {"duplicate_records": facts["rows"], "renamed_drops": renamed}

    def applies_nothing(self, facts: dict) -> bool:
        return facts.get("duplicate_records", 1) == 0

    def apply_stage(self) -> "DuplicateRecordDrops":
        return DuplicateRecordDrops(DropListConfig(decision_dir=self.ctx.decision_dir, reason=REASON), self.ctx)


class DuplicateRecordDrops(DropListed):
    """The extra copies the decision names, dropped as `duplicate-record` under their ledger ids
    (the pass after the decision); with no copies, every batch passes untouched."""

    name = DedupRecords.name
    reads = ("id", "source_file", "source_offset")

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        if self._table.rows == 0 or batch.num_rows == 0:
            return batch, DROPPED_SCHEMA.empty_table()
        found = self._table.match_ids(copy_keys(batch), ["new_id", "duplicate_of"])
        drop = pa.array([f is not None for f in found], pa.bool_())
        hits = [f for f in found if f is not None]
        dropped = with_column(batch.filter(drop), "id", [f["new_id"] for f in hits])
        reasons = [self.config.reason] * len(hits)
        return batch.filter(pc.invert(drop)), to_dropped(dropped, self.name, reasons, [f["duplicate_of"] for f in hits])
