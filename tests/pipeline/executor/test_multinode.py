"""Two Ray nodes on this machine (a head and a second node joined with `ray start --address`, each
with its own ports and temp dir); `curate run` against the cluster uses both: the unit markers
record the node that ran each unit, and both nodes' ids appear there."""
from __future__ import annotations

import glob
import json
import os

import pytest

from tests.e2e_checks import ledger
from tests.fault_tools import FAULT_PIPELINE, run_curate, split_demo, write_config
from tests.ray_cluster import LocalCluster

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.mark.timeout(1200)
def test_job_runs_across_two_nodes(tmp_path):
    cluster = LocalCluster(tmp_path)
    try:
        cluster.add_node(num_cpus=1, head=True)
        cluster.add_node(num_cpus=1)
        node_ids = cluster.wait_for_nodes(2)
        files = split_demo(tmp_path / "in", 8)
        config = write_config(tmp_path, files, FAULT_PIPELINE, run={"ray_address": cluster.address})
        out = str(tmp_path / "out")
        r = run_curate(config, out, tmp_path / "run.log", env={"RAY_AUTH_MODE": "token"})
        log = (tmp_path / "run.log").read_text()
        assert r.returncode == 0, log[-4000:] + cluster.logs()
    finally:
        cluster.stop()
    seen = {}
    for marker in glob.glob(os.path.join(out, "stages", "*", "units", "*.json")):
        node = json.load(open(marker))["node"]
        seen[node] = seen.get(node, 0) + 1
    assert set(seen) == set(node_ids), (seen, node_ids)
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["balanced"] and summary["kept_total"] > 0
    assert len(ledger(out)) == summary["input_total"]
