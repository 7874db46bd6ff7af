"""Stage `read-documents`: a source of already-extracted documents (parquet or jsonl files with the
record contract's columns, e.g. the kept/ files of an earlier run, or a WET-derived corpus), one
work unit per file, so that any later part of the pipeline runs on them as it runs after
`extract`. Rows are coerced to the contract (pipeline/inputs.py); rows without an id get one
derived from their url and text. A file that cannot be read is one counted drop
(`unreadable-file:<error>`) with a log line, never a crash."""
from __future__ import annotations

import json
import logging
import os
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import Field

from pipeline.inputs import coerce_documents
from pipeline.schema import documents_from_rows, to_dropped
from pipeline.stage import DropWriter, Resources, SourceStage, StageConfig

log = logging.getLogger(__name__)


class ReadDocumentsConfig(StageConfig):
    batch_rows: int = Field(256, ge=1)  # documents per batch handed to the next stage


class ReadDocuments(SourceStage):
    name = "read-documents"
    reads = ()
    writes = ("id", "text")
    resources = Resources(num_cpus=1)
    Config = ReadDocumentsConfig

    def read(self, paths: list[str]):
        raise NotImplementedError(f"{self.name} runs as work units (read_file), on the runner's stage hosts")

    def read_file(self, path: str) -> Iterator[pa.Table]:
        try:
            if path.endswith(".parquet"):
                for rb in pq.ParquetFile(path).iter_batches(batch_size=self.config.batch_rows):
                    yield coerce_documents(pa.Table.from_batches([rb]))
                return
            rows = []
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        rows.append(json.loads(line))
                    if len(rows) >= self.config.batch_rows:
                        yield coerce_documents(pa.Table.from_pylist(rows))
                        rows = []
            if rows:
                yield coerce_documents(pa.Table.from_pylist(rows))
        except (OSError, ValueError, pa.ArrowException) as err:
            log.warning("%s: %s unreadable (%s: %s); counted as one dropped record", self.name, path, type(err).__name__, err)
            rid = "file-" + xxhash.xxh3_64_hexdigest(os.path.abspath(path).encode("utf-8", "surrogatepass"))
            row = documents_from_rows([{"id": rid, "source_file": path}])
            DropWriter(self.ctx.dropped_dir).write(to_dropped(row, self.name, [f"unreadable-file:{type(err).__name__}"]))
