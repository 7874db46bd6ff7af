"""Tiny stages used to test the spine (runner, ledger, resume) independently of the real ones."""
from __future__ import annotations

import json
import os

import pyarrow as pa
from pydantic import Field

from pipeline.schema import DOCUMENT_COLUMNS, documents_from_rows, to_dropped
from pipeline.stage import DropWriter, Filter, GlobalStage, SinkStage, SourceStage, StageConfig


class JsonlSource(SourceStage):
    name = "t-source"
    writes = ("id", "text")
    carries = DOCUMENT_COLUMNS  # each jsonl row may hold any contract column

    def read(self, paths):
        import ray.data

        ctx = self.ctx

        def read_file(batch: pa.Table) -> pa.Table:
            kept, dropped = [], []
            for path in batch.column("path").to_pylist():
                for line in open(path):
                    row = json.loads(line)
                    (dropped if row.pop("bad", False) else kept).append(row)
            if dropped:
                DropWriter(ctx.dropped_dir).write(
                    to_dropped(documents_from_rows(dropped), "t-source", ["bad-line"] * len(dropped))
                )
            return documents_from_rows(kept)

        return ray.data.from_items([{"path": p} for p in paths]).map_batches(read_file, batch_format="pyarrow", batch_size=1)


class ShortConfig(StageConfig):
    min_chars: int = Field(5, ge=0)


class ShortFilter(Filter):
    name = "t-short"
    reads = ("text",)
    Config = ShortConfig

    def decide(self, batch):
        return [None if len(t or "") >= self.config.min_chars else "too-short" for t in batch.column("text").to_pylist()]


class ExactDedup(GlobalStage):
    name = "t-exact"
    reads = ("text",)

    def run(self, ds):
        dropped_dir = self.ctx.dropped_dir

        def keep_smallest(group: pa.Table) -> pa.Table:
            group = group.sort_by("id")
            first = group.column("id")[0].as_py()
            rest = group.slice(1)
            DropWriter(dropped_dir).write(to_dropped(rest, "t-exact", ["exact-duplicate"] * rest.num_rows, [first] * rest.num_rows))
            return group.slice(0, 1)

        return ds.groupby("text").map_groups(keep_smallest, batch_format="pyarrow")


class CountSink(SinkStage):
    name = "t-sink"

    def write(self, ds):
        n = ds.count()
        with open(os.path.join(self.ctx.output_dir, "sink.json"), "w") as f:
            json.dump({"documents": n}, f)
        return {"documents": n}


SPINE_STAGES = {
    "t-source": "tests.spine_stages:JsonlSource",
    "t-short": "tests.spine_stages:ShortFilter",
    "t-exact": "tests.spine_stages:ExactDedup",
    "t-sink": "tests.spine_stages:CountSink",
}
