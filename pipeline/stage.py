"""The stage interface. A stage is a small class in the folder of its concern that declares its
name, the columns it reads and writes, its resources and its config model.

Kinds of stage:
- `SourceStage` reads the input (WARC files) into documents.
- `MapStage` sees one batch (a pyarrow Table) at a time and returns (kept, dropped).
  `Filter` only decides (a reason or None per record); `Annotator` only writes columns, never
  drops; `Editor` rewrites text and drops what an edit empties, keeping the original text.
- `GlobalStage` looks at the whole input (URL dedup, MinHash, line counts, KL fit, mix) with
  Ray's own groupby/shuffle; nothing is collected on the driver. It fits on the columns it
  reads (`fit`: a decision under its `decision/` folder) and hands the runner a map stage that
  applies the decision to each document (`apply_stage`), which runs fused into the next pass: the
  documents themselves never go through a shuffle.
- `SinkStage` writes the final outputs (shards) from the kept dataset.

Dropped records never travel with the data: each stage hands them to its `DropWriter`, which
writes them (with `stage` and `reason`) under the stage's `dropped/` folder, named by content so
that a retried task rewrites the same file instead of adding a second one.
"""
from __future__ import annotations

import functools
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import BaseModel, ConfigDict

from pipeline import storage
from pipeline.schema import DOCUMENT_SCHEMA, DROPPED_SCHEMA, conform, merge_annotations, split_by_reason, with_column

if TYPE_CHECKING:  # ray is only needed where datasets are built
    import ray.data

log = logging.getLogger(__name__)


class StageConfig(BaseModel):
    """Base of every stage's config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Resources:
    """What one worker of the stage needs; the runner passes these to Ray."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_gb: float | None = None
    # size of the actor pool for stages that load a model once per worker; None: one per CPU
    concurrency: int | None = None


@dataclass(frozen=True)
class RunContext:
    """What a stage may know about the run it is part of."""

    output_dir: str
    stage_dir: str
    seed: int = 0
    batch_size: int = 256
    # node-local cache of what is derived from installed assets (converted models, blocklists):
    # any node can rebuild it, so it never needs to be shared
    cache_dir: str = ".cache"
    extra: dict = field(default_factory=dict)
    # labels and trained artifacts that later runs may reuse: a local folder or an object-store
    # URI every node reaches (default OUTPUT/cache); None only outside a run (tests, benches)
    shared_cache: str | None = None

    @property
    def dropped_dir(self) -> str:
        return storage.join(self.stage_dir, "dropped")

    @property
    def kept_dir(self) -> str:
        return storage.join(self.stage_dir, "kept")

    @property
    def decision_dir(self) -> str:
        return storage.join(self.stage_dir, "decision")

    @property
    def shared(self) -> str:
        """Where labels and artifacts are kept: `shared_cache`, else the node-local cache."""
        return self.shared_cache or self.cache_dir


class Stage:
    name: ClassVar[str]
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()
    resources: ClassVar[Resources] = Resources()
    Config: ClassVar[type[StageConfig]] = StageConfig

    def __init__(self, config: StageConfig | None = None, ctx: RunContext | None = None):
        self.config = config if config is not None else self.Config()
        self.ctx = ctx

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "setup" in cls.__dict__:  # a setup called by hand (a test, a helper) counts as done
            cls.setup = _marks_ready(cls.__dict__["setup"], True)
        if "teardown" in cls.__dict__:  # after a teardown the next batch sets up again
            cls.teardown = _marks_ready(cls.__dict__["teardown"], False)

    def needs(self) -> tuple[str | tuple[str, ...], ...]:
        """The columns this stage cannot do without under its config (a tuple in it: any one of
        those), which the plan checks an earlier stage writes; `reads` unless a stage says less."""
        return self.reads

    def setup(self) -> None:
        """Load models and lists; called once per worker before the first batch (`ensure_setup`)."""

    def ensure_setup(self) -> None:
        """Run `setup` unless it has run on this instance: map stages call it on entry, so no
        stage checks for itself whether it was set up."""
        if not self.__dict__.get("_ready"):
            self.setup()
            self._ready = True

    def teardown(self) -> None:
        """Release what `setup` started (child processes); called when a worker is done with the stage."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def _marks_ready(method, ready: bool):
    @functools.wraps(method)
    def wrapped(self):
        method(self)
        self._ready = ready

    return wrapped


def _sets_up_first(method):
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        self.ensure_setup()
        return method(self, *args, **kwargs)

    return wrapped


class MapStage(Stage):
    # the batch entry points: whichever a class defines runs `setup` first, once per instance
    ENTRY_POINTS: ClassVar[tuple[str, ...]] = ("process", "decide", "annotate", "edit")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for entry in MapStage.ENTRY_POINTS:
            if entry in cls.__dict__:
                setattr(cls, entry, _sets_up_first(cls.__dict__[entry]))

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Return (kept documents, dropped records) for one batch of documents."""
        raise NotImplementedError


class Filter(MapStage):
    """Decides only: `decide` returns one reason (str) or None (keep) per row."""

    def decide(self, batch: pa.Table) -> list[str | None]:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        return split_by_reason(batch, self.name, self.decide(batch))


class Annotator(MapStage):
    """Writes columns only (scores, labels, token ids); drops nothing."""

    def annotate(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        return self.annotate(batch), DROPPED_SCHEMA.empty_table()


@dataclass
class Edits:
    """What an editor did to a batch, one entry per row: the new text (None: unchanged), the drop
    reason (None: kept) and a note for `annotations[Editor.annotation]` (None: nothing to note)."""

    texts: list[str | None]
    reasons: list[str | None]
    notes: list | None = None


class Editor(MapStage):
    """Rewrites text (removes lines, redacts): `edit` returns `Edits` for the rows that have text.
    The base writes the new text and the notes; a row whose edit leaves only whitespace, or that the
    edit gives a reason, is dropped with its original text (what was judged, for the audit), unless
    `dropped_text` is "edited" (a redaction must not reach the dropped files either)."""

    annotation: ClassVar[str | None] = None  # key of the notes in `annotations`
    no_text: ClassVar[str | None] = "no-text"  # reason for a record without text; None: kept as is
    emptied_reason: ClassVar[str] = "no-text-left"  # reason when an edit leaves only whitespace
    dropped_text: ClassVar[str] = "original"  # or "edited"

    def edit(self, batch: pa.Table) -> Edits:
        """Edits for `batch`, every row of which has text."""
        raise NotImplementedError

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        texts = batch.column("text").to_pylist()
        missing = [t is None for t in texts]
        if any(missing):
            log.warning("%s: %d of %d records have no text (%s)", self.name, sum(missing), len(texts),
                        "kept unchanged" if self.no_text is None else f"dropped as {self.no_text}")
            with_text = batch.filter(pa.array([not m for m in missing]))
        else:
            with_text = batch
        edits = self.edit(with_text) if with_text.num_rows else Edits([], [])
        if len(edits.texts) != with_text.num_rows or len(edits.reasons) != with_text.num_rows:
            raise ValueError(f"stage {self.name}: edits for {len(edits.texts)} of {with_text.num_rows} rows")
        untouched = not any(edits.reasons) and all(t is None for t in edits.texts)
        if untouched and not any(missing) and (edits.notes is None or all(n is None for n in edits.notes)):
            return batch, DROPPED_SCHEMA.empty_table()  # nothing touched: the batch as it came
        out, reasons, notes = list(texts), [], []
        j = 0
        for i, text in enumerate(texts):
            if text is None:
                reasons.append(self.no_text)
                notes.append(None)
                continue
            new, reason = edits.texts[j], edits.reasons[j]
            notes.append(edits.notes[j] if edits.notes is not None else None)
            j += 1
            if reason is None and new is not None and not new.strip():
                reason = self.emptied_reason
            if new is not None and (reason is None or self.dropped_text == "edited"):
                out[i] = new
            reasons.append(reason)
        batch = with_column(batch, "text", out)
        if self.annotation is not None and edits.notes is not None:
            batch = merge_annotations(batch, self.annotation, notes)
        return split_by_reason(batch, self.name, reasons)


class SourceStage(Stage):
    # columns the input may bring along beyond `writes` (read-documents: any of the contract's)
    carries: ClassVar[tuple[str, ...]] = ()

    def read(self, paths: list[str]) -> "ray.data.Dataset":
        """Return the dataset of documents read from `paths`; drops go to a DropWriter."""
        raise NotImplementedError


class GlobalStage(Stage):
    """Two forms. Fit/apply: `fit(ds)` sees the stage's input restricted to its `reads`
    columns and writes its decision under `ctx.decision_dir`; `apply_stage()` returns the map stage
    (named like this stage, writing to its dropped/) that applies the decision document by
    document, or None when nothing changes (a stage that only trains models). Or `run(ds)` alone,
    returning the kept dataset (stages that must see whole documents together)."""

    def fit(self, ds: "ray.data.Dataset") -> dict | None:
        """Write the decision under ctx.decision_dir; return facts for summary.json (or None)."""
        raise NotImplementedError

    def apply_stage(self) -> "MapStage | None":
        return None

    def applies_nothing(self, facts: dict) -> bool:
        """Whether the decision (its `facts`) leaves every document as it is, so that the runner
        need not run its apply stage at all."""
        return False

    @classmethod
    def fits(cls) -> bool:
        return cls.fit is not GlobalStage.fit

    def run(self, ds: "ray.data.Dataset") -> "ray.data.Dataset":
        """Return the kept dataset, for a stage that must see whole documents together (the
        fit/apply form needs no `run`: the runner's `run_global` fits, then applies)."""
        raise NotImplementedError


class SinkStage(Stage):
    def write(self, ds: "ray.data.Dataset") -> dict[str, Any]:
        """Write the final outputs from the kept dataset; return facts for summary.json."""
        raise NotImplementedError


_UNIT = threading.local()
# a unit's dropped rows are buffered per stage and written as one file at the unit's end (one per
# batch made ~100 M files a pass at Common Crawl scale); past this many bytes a part is written early
DROP_BUFFER_BYTES = 64 * 2**20


@contextmanager
def unit_scope(unit: str):
    """Inside the block, dropped rows are buffered per dropped/ folder and written when the block
    ends normally, as `part-<unit>--<hash>.parquet` (the unit's name: a resumed pass clears what a
    unit that never committed left behind); nothing is written when it raises. Yields the rows
    dropped per dropped/ folder, which the unit's commit records (the driver sums commits instead
    of reading every dropped file's footer)."""
    _UNIT.name, _UNIT.counts, _UNIT.pending = unit, {}, {}
    try:
        yield _UNIT.counts
        for folder in list(_UNIT.pending):
            _flush_drops(folder)
    finally:
        _UNIT.name, _UNIT.counts, _UNIT.pending = None, None, None


def unit_drop_prefix(unit: str) -> str:
    return f"part-{unit}--"


def _write_drops(dropped_dir: str, tables: list[pa.Table], unit: str | None) -> None:
    dropped = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    h = xxhash.xxh3_64()
    for rid in dropped.column("id").to_pylist():
        h.update(rid.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    name = f"{unit_drop_prefix(unit)}{h.hexdigest()}.parquet" if unit else f"part-{h.hexdigest()}.parquet"
    with storage.atomic_path(storage.join(dropped_dir, name)) as path:
        pq.write_table(dropped, path)


def _flush_drops(dropped_dir: str) -> None:
    tables = _UNIT.pending.pop(dropped_dir, None)
    if tables:
        _write_drops(dropped_dir, tables, _UNIT.name)


class DropWriter:
    """Writes dropped records of one stage as parquet files named by their content, atomically:
    inside a work unit one file per unit (`unit_scope`), else one per call."""

    def __init__(self, dropped_dir: str):
        self.dropped_dir = dropped_dir

    def write(self, dropped: pa.Table) -> None:
        if dropped.num_rows == 0:
            return
        dropped = conform(dropped, DROPPED_SCHEMA)
        for stage, reason in set(zip(dropped.column("stage").to_pylist(), dropped.column("reason").to_pylist())):
            log.debug("stage %s dropped records: %s", stage, reason)
        if getattr(_UNIT, "name", None) is None:
            _write_drops(self.dropped_dir, [dropped], None)
            return
        _UNIT.counts[self.dropped_dir] = _UNIT.counts.get(self.dropped_dir, 0) + dropped.num_rows
        pending = _UNIT.pending.setdefault(self.dropped_dir, [])
        pending.append(dropped)
        if sum(t.nbytes for t in pending) >= DROP_BUFFER_BYTES:
            _flush_drops(self.dropped_dir)


class FusedMapUDF:
    """Ray Data class UDF for consecutive map stages run in one pass: each stage is built once
    per worker and sees what the previous one kept; each writes its own dropped records."""

    def __init__(self, specs: list[tuple[type[MapStage], StageConfig, RunContext]]):
        self.stages = []
        for stage_cls, config, ctx in specs:
            stage = stage_cls(config, ctx)
            stage.ensure_setup()
            self.stages.append((stage, DropWriter(ctx.dropped_dir)))

    def close(self) -> None:
        for stage, _ in self.stages:
            stage.teardown()

    def __call__(self, batch: pa.Table) -> pa.Table:
        batch = conform(batch)
        for stage, drops in self.stages:
            if batch.num_rows == 0:
                break
            kept, dropped = stage.process(batch)
            drops.write(dropped)
            batch = conform(kept)
        return batch


class MapStageUDF(FusedMapUDF):
    """Ray Data class UDF for one map stage."""

    def __init__(self, stage_cls: type[MapStage], config: StageConfig, ctx: RunContext):
        super().__init__([(stage_cls, config, ctx)])
        self.stage = self.stages[0][0]


def run_map_stage_local(stage: MapStage, table: pa.Table, batch_size: int = 256) -> tuple[pa.Table, pa.Table]:
    """Run a map stage in this process over a table (tests, small CLI inputs, benchmarks)."""
    stage.ensure_setup()
    table = conform(table)
    kept_parts, dropped_parts = [], []
    for start in range(0, max(table.num_rows, 1), batch_size):
        batch = table.slice(start, batch_size)
        kept, dropped = stage.process(batch)
        kept_parts.append(conform(kept))
        dropped_parts.append(conform(dropped, DROPPED_SCHEMA))
    return (
        pa.concat_tables(kept_parts) if kept_parts else DOCUMENT_SCHEMA.empty_table(),
        pa.concat_tables(dropped_parts) if dropped_parts else DROPPED_SCHEMA.empty_table(),
    )
