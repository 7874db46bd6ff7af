"""Web scale as users run it (issue 16): the shared WARC files in an S3 bucket (SeaweedFS on
loopback), `--config configs/commoncrawl.yaml --input 's3://BUCKET/warc/*.warc.gz' --output
s3://BUCKET/out` on a head and a worker node that share no disk (the worker in its own mount
namespace: private /tmp, $HOME and caches), and its shards and ledger byte for byte those of a
one-node run on local disk. The two-node run goes through `ray job submit ... python
pipeline/run.py` (the driver on the head, the code shipped as the job's working dir), as a team
runs it. The one-node reference is a plain `curate run` reading the WARC files from the bucket,
whose only configuration for S3 is the AWS variables, writing to local disk.

Judge labels and trained scorers go to one cache in the bucket (`run.shared_cache`), so the
offline judge labels the sample once for all the runs here."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import SHARED_DATA
from tests.fault_tools import curate_env
from tests.ray_cluster import LocalCluster, can_isolate, free_port, ray_env

ROOT = Path(__file__).resolve().parents[3]
CONFIG = str(ROOT / "configs" / "commoncrawl.yaml")
RAY = str(Path(sys.executable).parent / "ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

# what a run hands on: compared byte for byte across runs (summary.json and report.html name
# their output location and timings, so they differ by design)
HANDED_ON = ("shards/", "ledger/", "manifest.json")


def digests_local(out: Path) -> dict[str, str]:
    found = {}
    for f in sorted(out.rglob("*")):
        rel = f.relative_to(out).as_posix()
        if f.is_file() and rel.startswith(HANDED_ON):
            found[rel] = hashlib.sha256(f.read_bytes()).hexdigest()
    return found


def digests_s3(s3, uri: str, local: Path) -> dict[str, str]:
    for obj in s3.list(uri):
        rel = obj[len(uri.rstrip("/")) + 1:]
        if rel.startswith(HANDED_ON):
            s3.download(obj, local / rel)
    return digests_local(local)


def warc_response_ids(files: list[Path]) -> set[str]:
    from pipeline.sources.warc import record_id
    from warcio.archiveiterator import ArchiveIterator

    ids = set()
    for path in files:
        with open(path, "rb") as f:
            try:
                for rec in ArchiveIterator(f):
                    if rec.rec_type == "response":
                        ids.add(record_id(rec.rec_headers.get_header("WARC-Record-ID"), str(path), rec.offset))
            except Exception:  # a truncated file: the records before the damage are what counts
                pass
    return ids


def curate(args: list[str], env: dict, log: Path, timeout: float = 1500) -> subprocess.CompletedProcess:
    with open(log, "w") as f:
        return subprocess.run([sys.executable, "-m", "pipeline.cli", "run", *args], stdout=f, stderr=subprocess.STDOUT,
                              cwd=ROOT, env=env, timeout=timeout, start_new_session=True)


# every run here trains the topic scorer from TF-IDF alone: the MiniLM embeddings of 3,500
# WebOrganizer pages cost minutes on CI and do not change what these tests compare; the judge
# labels 8 pages, not 24 (its labels go through the bucket's cache all the same)
FAST = ["--set", "stages.train-scorers.train.linear.encoder=false", "--set", "stages.train-scorers.judge_budget=8"]


@pytest.fixture(scope="module")
def bucket(s3_server, tmp_path_factory):
    """The shared WARC files uploaded, and a plain one-node `curate run` to compare against: its
    input from the bucket (the AWS variables are all it is given), its output on local disk."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (tests that need real third-party data skip without it)")
    warcs = sorted((SHARED_DATA / "warc").glob("*.warc.gz"))
    uri = s3_server.create_bucket("crawl")
    for w in warcs:
        s3_server.upload(w, f"{uri}/warc/{w.name}")
    # the word lists dirty-words reads, beside the data: no node needs the repository's neighbours
    s3_server.upload_dir(SHARED_DATA / "lists" / "ldnoobw", f"{uri}/lists/ldnoobw")
    work = tmp_path_factory.mktemp("local")
    env = curate_env({**s3_server.env, "CURATE_SHARED_CACHE": f"{uri}/cache"})
    r = curate(["--config", CONFIG, "--input", f"{uri}/warc/*.warc.gz", "--output", str(work / "out"), *FAST], env,
               work / "run.log")
    assert r.returncode == 0, (work / "run.log").read_text()[-5000:]
    assert not (ROOT / "s3:").exists(), "a local folder named s3: was written"
    return {"uri": uri, "warcs": warcs, "local": work / "out", "env": env,
            "args": ["--set", f"stages.dirty-words.lists_dir={uri}/lists/ldnoobw", *FAST]}


def check_against_local(s3_server, bucket, out_uri: str, into: Path) -> None:
    got = digests_s3(s3_server, out_uri, into)
    want = digests_local(bucket["local"])
    assert any(k.startswith("shards/") and k.endswith(".bin") for k in want), want
    if got != want:  # say where the runs parted: stage counts and the scorers each used
        for name in ("summary.json", "trained-scorers.json"):
            s3_server.download(f"{out_uri}/{name}", into / name)
        mine = json.loads((into / "summary.json").read_text())
        local = json.loads((bucket["local"] / "summary.json").read_text())
        parted = [(a["name"], a["kept"], b["kept"]) for a, b in zip(mine["stages"], local["stages"]) if a["kept"] != b["kept"]]
        scorers = ((into / "trained-scorers.json").read_text(), (bucket["local"] / "trained-scorers.json").read_text())
        pytest.fail(f"outputs differ from the local run: stages (name, kept here, kept locally) {parted}; scorers {scorers}")
    rows = pq.read_table(into / "ledger").to_pylist()
    ids = [r["record_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a record id twice in the ledger"
    missing = warc_response_ids(bucket["warcs"]) - set(ids)
    assert not missing, f"{len(missing)} response records not in the ledger"
    s3_server.download(f"{out_uri}/summary.json", into / "summary.json")
    summary = json.loads((into / "summary.json").read_text())
    assert summary["balanced"] and summary["input_total"] == len(ids) > 0


def submit_job(address: str, env: dict, args: list[str]) -> subprocess.CompletedProcess:
    """`ray job submit ... -- python pipeline/run.py ARGS`, as the README says; the job runs in a
    copy of the code, and the teachers' "auto" data is named, as a user would."""
    runtime_env = json.dumps({"env_vars": {"CURATE_SHARED_DATA": str(SHARED_DATA)}})
    cmd = [RAY, "job", "submit", "--address", address, "--working-dir", str(ROOT), "--runtime-env-json", runtime_env, "--",
           "python", "pipeline/run.py", *args]
    for _ in range(30):  # the job agent may come up after the dashboard answers
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1500)
        if "No available agent" not in r.stdout + r.stderr:
            return r
        time.sleep(2)
    return r


@pytest.mark.timeout(2400)
def test_ray_job_on_two_shared_nothing_nodes_on_s3_equals_a_local_run(s3_server, bucket, tmp_path):
    if not can_isolate():
        pytest.skip("cannot make a private mount namespace here (unshare --mount needs root)")
    dash = free_port()
    cluster = LocalCluster(tmp_path)
    try:
        cluster.add_node(num_cpus=1, head=True, env=s3_server.env, dashboard_port=dash)
        cluster.add_node(num_cpus=1, isolated=True, env=s3_server.env)
        nodes = cluster.wait_for_nodes(2)
        out = f"{bucket['uri']}/out"
        args = ["--config", "configs/commoncrawl.yaml", "--input", f"{bucket['uri']}/warc/*.warc.gz", "--output", out,
                "--set", f"run.shared_cache={bucket['env']['CURATE_SHARED_CACHE']}", *bucket["args"]]
        r = submit_job(f"http://127.0.0.1:{dash}", {**ray_env(), **s3_server.env}, args)
        assert r.returncode == 0, (r.stdout + r.stderr)[-5000:] + cluster.logs()
    finally:
        cluster.stop()
    assert not (ROOT / "s3:").exists(), "a local folder named s3: was written"
    seen = set()
    for marker in s3_server.list(f"{out}/stages/"):
        if "/units/" in marker and marker.endswith(".json"):
            s3_server.download(marker, tmp_path / "m.json")
            seen.add(json.loads((tmp_path / "m.json").read_text())["node"])
    assert seen == set(nodes), f"units ran on {seen}, cluster nodes {nodes}"
    check_against_local(s3_server, bucket, out, tmp_path / "got")
