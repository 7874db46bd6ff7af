"""Shards, manifest, ledger, summary and report written to an S3 bucket (SeaweedFS, the
`s3_server` fixture) by Ray tasks: the same bytes as on local disk, and readable from there."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipeline import storage
from pipeline.output.megatron import MegatronReader

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.ray


@pytest.fixture
def s3(request, tmp_path, monkeypatch):
    from tests.sink_fixtures import use_s3

    return use_s3(request, tmp_path, monkeypatch)


def test_shards_manifest_ledger_and_report_on_s3_equal_local(s3, tmp_path):
    from tests.sink_fixtures import output_files

    local = str(tmp_path / "local")
    remote = f"{s3.create_bucket(f'sink-{uuid.uuid4().hex[:12]}')}/out"
    # a fresh Ray, whose workers inherit the AWS_* variables (the session's Ray started without them)
    code = "import sys; from tests.sink_fixtures import main; main(sys.argv[1:])"
    done = subprocess.run([sys.executable, "-c", code, local, remote], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert not any(p.startswith("s3:") for p in os.listdir(ROOT)), "an s3:// location became a local folder"
    a, b = output_files(local, "shards", "ledger"), output_files(remote, "shards", "ledger")
    assert sorted(a) == sorted(b) and len(a) > 20 and {"manifest.json", "summary.json", "report.html"} <= set(a)
    assert a == b
    manifest = storage.read_json(storage.join(remote, "manifest.json"))
    first = manifest["shards"][0]
    reader = MegatronReader(storage.join(remote, first["prefix"]))  # a node-local copy of the S3 objects
    assert len(reader) == first["documents"] and sum(len(reader[i]) for i in range(len(reader))) == first["tokens"]
