"""A 1-CPU Ray cluster: a map stage over parquet (how kl-divergence scores) must not hang. The
actor pool once asked for the only CPU and the read tasks feeding it waited forever."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.ray

SCRIPT = """
import sys
import pyarrow.parquet as pq
import ray
from pipeline import stage_io
from pipeline.executor.runner import map_stage
from pipeline.schema import documents_from_rows
from pipeline.stage import RunContext
from tests.spine_stages import ShortConfig, ShortFilter

out = sys.argv[1]
ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
rows = [{"id": f"d{i}", "text": "x" * (i % 9)} for i in range(200)]
for part in range(4):
    pq.write_table(documents_from_rows(rows[part::4]), f"{out}/in-{part}.parquet")
ctx = RunContext(output_dir=out, stage_dir=f"{out}/stage", batch_size=16)
ds = stage_io.read_kept_files(sorted(stage_io.parquet_files(out)))
kept = map_stage(ds, ShortFilter(ShortConfig(min_chars=5), ctx)).count()
print("kept", kept)
"""


def test_map_stage_over_parquet_finishes_on_one_cpu(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # texts of 5..8 characters pass min_chars=5: i % 9 in {5, 6, 7, 8}
    assert f"kept {sum(1 for i in range(200) if i % 9 >= 5)}" in proc.stdout
