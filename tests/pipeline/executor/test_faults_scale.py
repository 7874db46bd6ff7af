"""Faults at scale (issue 16), input and output in an S3 bucket (SeaweedFS on loopback), each run
compared byte for byte (shards, manifest, ledger) with one undisturbed local run:
- a worker node of a two-node shared-nothing cluster is killed (its raylet and workers) while a
  map pass runs: the units running there die with it and are redone on the head, and the run
  finishes;
- the object store is killed and restarted mid-pass: storage retries ride out the outage (or a
  unit is redone), and the run finishes;
- a permanent error (denied access) stops the run at once with a message naming the location."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.fault_tools import (
    FAULT_PIPELINE, curate_cmd, curate_env, kill_group, output_digests, reference_run, worker_pids, write_config,
)
from tests.ray_cluster import LocalCluster, can_isolate
from tests.s3_server import download_prefix

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PASS_DIR = f"{FAULT_PIPELINE.index('tokenize'):02d}-tokenize"  # dedup-url's drops, extract .. tokenize


@pytest.fixture(scope="module")
def corpus(s3_server, tmp_path_factory):
    """The demo cut into WARC files (tests/fault_tools.py: reference_run), uploaded; the digests of an undisturbed local run."""
    ref = reference_run(tmp_path_factory)
    uri = s3_server.create_bucket("faults")
    for f in ref["files"]:
        s3_server.upload(f, f"{uri}/in/{Path(f).name}")
    return {"uri": uri, "config": ref["config"], "digests": ref["digests"]}


def start(config: str, input_glob: str, out: str, log: Path, env: dict) -> subprocess.Popen:
    cmd = curate_cmd(config, out) + ["--input", input_glob]
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[3],
                            env=curate_env(env), start_new_session=True)


def wait_until(proc, done, what: str, timeout: float = 900, interval: float = 0.2) -> None:
    """Poll `done()` until it holds; fail if the run ends first or `timeout` passes."""
    deadline = time.time() + timeout
    while not done():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {what}")
        if time.time() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(interval)


def wait_for_units(s3, proc, prefix: str, at_least: int) -> None:
    wait_until(proc, lambda: len([o for o in s3.list(prefix) if o.endswith(".json")]) >= at_least,
               f"{at_least} units committed under {prefix}")


def wait_for_a_unit_on(node: subprocess.Popen, s3, proc, pass_dir: str) -> None:
    """Until the map pass has started and one of `node`'s worker processes runs a unit of it: a
    kill then cuts that unit short (a unit still waiting for a process is only sent elsewhere, and
    waiting for commits lost the race against a pass that ended first)."""
    wait_until(proc, lambda: any(o.endswith("_STARTED.json") for o in s3.list(pass_dir)), f"{pass_dir} started")
    wait_until(proc, lambda: bool(worker_pids(node.pid, "ray::run_unit")), "a unit running on the second node",
               interval=0.05)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 1200) -> None:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        pytest.fail(f"the run did not finish: {log.read_text()[-4000:]}")
    assert proc.returncode == 0, log.read_text()[-5000:]


def digests(s3, out: str, into: Path) -> dict[str, str]:
    download_prefix(s3, out, into, lambda rel: rel.startswith(("shards/", "ledger/")) or rel == "manifest.json")
    return output_digests(str(into))


@pytest.mark.timeout(2400)
def test_worker_node_killed_mid_pass(s3_server, corpus, tmp_path):
    if not can_isolate():
        pytest.skip("cannot make a private mount namespace here (unshare --mount needs root)")
    cluster = LocalCluster(tmp_path)
    out = f"{corpus['uri']}/killed-node"
    try:
        cluster.add_node(num_cpus=1, head=True, env=s3_server.env)
        cluster.add_node(num_cpus=1, isolated=True, env=s3_server.env)
        cluster.wait_for_nodes(2)
        env = {**s3_server.env, "RAY_AUTH_MODE": "token"}
        config = write_config(tmp_path, ["unused"], FAULT_PIPELINE, run={"ray_address": cluster.address})
        proc = start(config, f"{corpus['uri']}/in/*.warc.gz", out, tmp_path / "run.log", env)
        wait_for_a_unit_on(cluster.nodes[1][0], s3_server, proc, f"{out}/stages/{PASS_DIR}/")
        cluster.kill_node(1)
        finish(proc, tmp_path / "run.log")
    finally:
        cluster.stop()
    assert "redone" in (tmp_path / "run.log").read_text()
    assert digests(s3_server, out, tmp_path / "got") == corpus["digests"]


@pytest.mark.timeout(1800)
def test_object_store_restarted_mid_run(s3_server, corpus, tmp_path):
    out = f"{corpus['uri']}/restarted"
    proc = start(corpus["config"], f"{corpus['uri']}/in/*.warc.gz", out, tmp_path / "run.log", s3_server.env)
    wait_for_units(s3_server, proc, f"{out}/stages/{PASS_DIR}/units/", 1)
    s3_server.restart()
    finish(proc, tmp_path / "run.log")
    assert digests(s3_server, out, tmp_path / "got") == corpus["digests"]


def test_denied_access_stops_with_the_location_named(s3_server, corpus, tmp_path):
    """A permanent object-store error (wrong credentials: SeaweedFS creates a missing bucket on the
    first write, so denial is the permanent error it can show) ends the run at once, naming the
    location; no retry loop."""
    env = {**s3_server.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    t0 = time.time()
    r = subprocess.run(curate_cmd(corpus["config"], f"{corpus['uri']}/denied") + ["--input", f"{corpus['uri']}/in/*.warc.gz"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[3], env=curate_env(env), timeout=600)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{corpus['uri']}/in" in r.stderr and "not-the-secret" not in r.stdout + r.stderr
    assert time.time() - t0 < 60
