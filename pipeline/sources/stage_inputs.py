"""A stage run alone (`curate <stage> --input FILES`): its documents as a Ray Dataset from jsonl,
parquet, WET or WARC files, checked for the columns the stage reads (pipeline/cli.py)."""
from __future__ import annotations

import logging
from typing import Iterator

import pyarrow as pa

from pipeline.sources.documents import first_record_columns, read_any_file
from pipeline.sources.inputs import is_warc, is_wet
from pipeline.schema import DOCUMENT_SCHEMA

log = logging.getLogger(__name__)


def file_columns(path: str) -> set[str]:
    """The contract columns an input file provides: a parquet footer, a jsonl file's first record;
    WARC and WET files give what their readers write."""
    if is_wet(path):
        return {"id", "url", "crawl_date", "source_file", "source_offset", "content_type", "text", "language"}
    if is_warc(path):
        return {"id", "url", "crawl_date", "source_file", "source_offset", "content_type", "html"}
    return first_record_columns(path)


def _read_inputs(batch: pa.Table, batch_rows: int) -> Iterator[pa.Table]:
    """Ray task: the documents of each file named in `batch` (drops are logged: a single stage's
    output has no ledger)."""
    yielded = False
    for path in batch.column("path").to_pylist():
        for table in read_any_file(path, batch_rows):
            yielded = True
            yield table
    if not yielded:
        yield DOCUMENT_SCHEMA.empty_table()


# columns a stage run alone may find missing in plain documents (`id`, `text`, `url`): they are
# read as null, which every stage handles, and the log says so
NULL_DEFAULTS = {
    "language": "language unknown (null): per-language stages treat the pages as of no known language (run langid first to set it)",
    "language_score": "no language score (null)",
    "crawl_date": "crawl date none (null): the newest-crawl rule falls to the next key",
}


def read_documents(files: list[str], required: tuple[str, ...], batch_rows: int = 256):
    """A Ray Dataset of documents from jsonl(.gz), parquet, WET or WARC files (local or in an
    object store), checked for the columns the stage needs; one read task per file."""
    import ray.data

    if not files:
        raise FileNotFoundError("no input files")
    for f in files:  # ids are derived where a file has none
        present = file_columns(f)
        missing = [c for c in required if c != "id" and c not in present and c not in NULL_DEFAULTS]
        if missing:
            raise ValueError(f"input {f} lacks column(s) {missing} that this stage needs")
        for c in (c for c in required if c not in present and c in NULL_DEFAULTS):
            log.warning("input %s has no %r column: %s", f, c, NULL_DEFAULTS[c])
    ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files))
    return ds.map_batches(_read_inputs, batch_size=1, batch_format="pyarrow", fn_kwargs={"batch_rows": batch_rows})
