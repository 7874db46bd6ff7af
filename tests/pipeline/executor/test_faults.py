"""Faults during a run, each compared byte for byte (shards, manifest, ledger) with one undisturbed
run of the same config:
- a killed driver: `curate run` is SIGKILLed once the source pass (read-warc + url-safety, one
  unit per input file) has committed some of its units; the rerun into the same folder skips the committed units (their
  files untouched) and finishes (tests/pipeline/executor/test_resume_units.py does the same for a map pass, in
  process);
- a killed worker: a Ray worker process running a map pass's unit is SIGKILLed; the unit is
  handed out again, Ray starts a process for it, and the run completes."""
from __future__ import annotations

import glob
import json
import os
import re
import signal
import time

import pytest

from tests.fault_tools import (
    FAULT_PIPELINE, REFERENCE_PARTS as PARTS, kill_group, output_digests, reference_run, run_curate, start_curate, unit_files,
    worker_pids,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# the source pass (read-warc + url-safety): one unit per input file, so a kill lands among them;
# a pass keeps its unit markers in its last stage's folder
READ_DIR = "01-url-safety"
# the pass after dedup-url's decision: dedup-url's drops, extract .. tokenize
PASS_DIR = f"{FAULT_PIPELINE.index('tokenize'):02d}-tokenize"


def wait_for_units(proc, folder: str, at_least: int, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while len(glob.glob(os.path.join(folder, "units", "*.json"))) < at_least:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before committing {at_least} units in {folder}")
        if time.time() > deadline:
            pytest.fail(f"no unit committed in {folder} within {timeout}s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The config and the digests of one undisturbed run."""
    ref = reference_run(tmp_path_factory)
    return ref["config"], ref["digests"]


@pytest.mark.timeout(1800)
def test_killed_driver_resumes_by_unit_and_matches_an_undisturbed_run(reference, tmp_path):
    config, ref_digests = reference

    out = str(tmp_path / "out")
    proc = start_curate(config, out, tmp_path / "killed.log")
    try:
        wait_for_units(proc, os.path.join(out, "stages", READ_DIR), 1)
    finally:
        kill_group(proc)
    stage_dir = os.path.join(out, "stages", READ_DIR)
    committed = unit_files(stage_dir)
    markers = sorted(k for k in committed if k.startswith("units/"))
    assert 0 < len(markers) < PARTS, f"the kill came after {len(markers)} of {PARTS} units"
    assert not os.path.exists(os.path.join(stage_dir, "_SUCCESS.json"))

    r = run_curate(config, out, tmp_path / "rerun.log")
    log = (tmp_path / "rerun.log").read_text()
    assert r.returncode == 0, log[-3000:]
    # committed units were not recomputed: same files, same inodes and mtimes, and the log says so
    after = unit_files(stage_dir)
    for marker in markers:
        unit = marker[len("units/") : -len(".json")]
        parts = json.load(open(os.path.join(stage_dir, marker)))["parts"]
        assert parts and all(after[f"kept/{p}"] == committed[f"kept/{p}"] for p in parts), unit
        assert after[marker] == committed[marker], unit
    assert len([k for k in after if k.startswith("units/")]) == PARTS
    m = re.search(r"stage read-warc\+url-safety: resuming, (\d+) of (\d+) units committed earlier", log)
    assert m and int(m.group(1)) == len(markers) and int(m.group(2)) == PARTS, log[-3000:]
    assert output_digests(out) == ref_digests

@pytest.mark.timeout(1800)
def test_killed_worker_is_replaced_and_the_output_is_unchanged(reference, tmp_path):
    config, ref_digests = reference
    out = str(tmp_path / "out")
    proc = start_curate(config, out, tmp_path / "run.log")
    killed = None
    try:
        # a process running a unit, caught while the extract..tokenize pass has units left to do
        deadline = time.time() + 600
        while killed is None and time.time() < deadline and proc.poll() is None:
            if os.path.exists(os.path.join(out, "stages", PASS_DIR, "_STARTED.json")):
                pids = worker_pids(proc.pid, "ray::run_unit")
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed = pids[0]
                    done_at_kill = len(glob.glob(os.path.join(out, "stages", PASS_DIR, "units", "*.json")))
            time.sleep(0.05)
        assert killed, "no map worker was found to kill"
        rc = proc.wait(timeout=900)
    finally:
        kill_group(proc)
    log = (tmp_path / "run.log").read_text()
    assert rc == 0, log[-4000:]
    units = len(glob.glob(os.path.join(out, "stages", PASS_DIR, "units", "*.json")))
    assert done_at_kill < units, "the worker was killed after its pass had finished"
    assert output_digests(out) == ref_digests
