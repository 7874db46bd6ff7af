"""The apply side of a global stage whose decision is a list of documents to drop (URL dedup,
MinHash, semantic dedup): each document named in the decision is dropped with the stage's reason
(or the decision row's own `reason`, when the decision has that column) and its `duplicate_of`;
every other document passes unchanged."""
from __future__ import annotations

import logging

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.decisions import DecisionTable, id_keys
from pipeline.schema import to_dropped
from pipeline.stage import MapStage, Resources, StageConfig

log = logging.getLogger(__name__)

# the decision rows: key = id_keys(id), the dropped id, the id of the document kept in its place
DROP_LIST_SCHEMA = pa.schema([pa.field("_key", pa.int64()), pa.field("id", pa.string()), pa.field("duplicate_of", pa.string())])


def drop_list_rows(ids: pa.Array | pa.ChunkedArray, duplicate_of: pa.Array | pa.ChunkedArray) -> pa.Table:
    return pa.table({"_key": pa.array(id_keys(ids), pa.int64()), "id": ids, "duplicate_of": duplicate_of}, schema=DROP_LIST_SCHEMA)


class DropListConfig(StageConfig):
    decision_dir: str
    reason: str


class DropListed(MapStage):
    """Subclasses set `name` to their global stage's (drops are counted under it)."""

    reads = ("id",)
    writes = ()
    resources = Resources(num_cpus=1)
    Config = DropListConfig

    def setup(self) -> None:
        self._table = DecisionTable(self.config.decision_dir)

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        ids = batch.column("id").to_pylist()
        per_row = bool(self._table.tables) and "reason" in self._table.tables[0].column_names
        found = self._table.match_ids(ids, ["duplicate_of", "reason"] if per_row else ["duplicate_of"])
        drop = pa.array([f is not None for f in found], pa.bool_())
        dropped = batch.filter(drop)
        dup_of = [f["duplicate_of"] for f in found if f is not None]
        reasons = [f["reason"] if per_row else self.config.reason for f in found if f is not None]
        return batch.filter(pc.invert(drop)), to_dropped(dropped, self.name, reasons, dup_of)
