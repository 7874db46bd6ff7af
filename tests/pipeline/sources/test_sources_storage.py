"""The sources read their inputs from an S3 bucket (SeaweedFS, the `s3_server` fixture) as from
local disk: globs expand, files are streamed, and every row but `source_file` is the same, ids
included, so a run over s3:// and one over a local copy give the same ledger."""
from __future__ import annotations

import gzip
import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline import storage
from pipeline.sources.documents import ReadDocuments
from pipeline.sources.inputs import expand_inputs
from pipeline.stage import RunContext
from pipeline.sources.warc import iter_warc
from tests.fault_tools import split_demo
from tests.pipeline.output.test_outputs_s3 import s3  # noqa: F401 - the fixture: the s3_server's AWS_* set, fresh clients


def without_source(rows):
    return [{k: v for k, v in r.items() if k != "source_file"} for r in rows]


def read_documents(path: str, out: str):
    ctx = RunContext(output_dir=out, stage_dir=f"{out}/s")
    kept = [r for t in ReadDocuments(ReadDocuments.Config(batch_rows=64), ctx).read_file(path) for r in t.to_pylist()]
    files = storage.listdir(f"{out}/s/dropped", ".parquet")
    dropped = [r for f in files for r in pq.read_table(f).to_pylist()]
    return kept, dropped


def test_warc_files_from_a_glob_read_as_from_disk(s3, tmp_path):
    local = split_demo(tmp_path / "warc", 3)
    bucket = s3.create_bucket(f"src-{uuid.uuid4().hex[:12]}")
    # storage.upload_file, not the server's upload(): that one's pyarrow stream gzips a .gz name again
    for path in local:
        storage.upload_file(path, f"{bucket}/crawl/warc/{path.rsplit('/', 1)[-1]}")
    storage.upload_file(local[0], f"{bucket}/crawl/other/not-matched.warc.gz")
    remote = expand_inputs([f"{bucket}/crawl/warc/*.warc.gz"])
    assert remote == [f"{bucket}/crawl/warc/{p.rsplit('/', 1)[-1]}" for p in local]
    assert expand_inputs([f"{bucket}/crawl/warc"]) == remote  # a folder: its input files
    for loc, path in zip(remote, local):
        assert storage.read_bytes(loc) == open(path, "rb").read()
        got, want = list(iter_warc(loc)), list(iter_warc(path))
        assert [r for _, r in got] == [r for _, r in want] and len(got) > 10
        assert without_source([r for r, _ in got]) == without_source([r for r, _ in want])
        assert {r["source_file"] for r, _ in got} == {loc}
    # a missing object is one counted drop with the id a missing local file gets
    missing = list(iter_warc(f"{bucket}/crawl/warc/gone.warc.gz"))
    assert [r for _, r in missing] == ["unreadable-file"]
    assert missing[0][0]["id"] == next(iter_warc(str(tmp_path / "gone.warc.gz")))[0]["id"]


def test_jsonl_gz_and_parquet_read_as_from_disk(s3, tmp_path):
    lines = [json.dumps({"id": f"d{i}", "text": f"document {i}"}) for i in range(200)]
    lines[100] = "{broken"
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "docs.jsonl.gz").write_bytes(data)
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) * 2 // 3])
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(150)], "text": ["t"] * 150}), tmp_path / "docs.parquet", row_group_size=50)
    bucket = s3.create_bucket(f"docs-{uuid.uuid4().hex[:12]}")
    for name in ("docs.jsonl.gz", "cut.jsonl.gz", "docs.parquet"):
        storage.upload_file(str(tmp_path / name), f"{bucket}/in/{name}")
        kept, dropped = read_documents(f"{bucket}/in/{name}", f"{bucket}/out-{name}")
        want_kept, want_dropped = read_documents(str(tmp_path / name), str(tmp_path / f"out-{name}"))
        assert without_source(kept) == without_source(want_kept) and len(kept) > 100, name
        assert without_source(dropped) == without_source(want_dropped), name
    assert [r["reason"] for r in dropped] == [] and len(kept) == 150


def test_denied_access_stops_at_once(s3, tmp_path, monkeypatch, caplog):
    """A wrong secret is a permanent error, as the server words it through Arrow ("AWS Error
    SIGNATURE_DOES_NOT_MATCH"): one StorageError naming the location, no retry with backoff (it
    was retried for ~30 s)."""
    bucket = s3.create_bucket(f"denied-{uuid.uuid4().hex[:12]}")
    storage.upload_file(split_demo(tmp_path / "warc", 1)[0], f"{bucket}/in/a.warc.gz")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    storage._remote_fs.cache_clear()  # a fresh client reads the wrong secret
    try:
        with pytest.raises(storage.StorageError) as err:
            expand_inputs([f"{bucket}/in/*.warc.gz"])
    finally:
        storage._remote_fs.cache_clear()
    assert f"{bucket}/in" in str(err.value) and not err.value.transient
    assert "retrying" not in caplog.text
