"""A shared-nothing Ray cluster on this machine: a head and an isolated worker node (own mount
namespace, private /tmp, /dev/shm and home, tests/ray_cluster.py) whose only shared storage is a
local S3 endpoint (SeaweedFS, tests/s3_server.py). What one node writes to /tmp, ~ or ~/.cache the
other cannot see; an object the isolated node writes to S3 the driver reads back; `kill_node`
leaves none of the node's processes. And the S3 endpoint itself: signed requests only, data kept
across a crash."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.fault_tools import group_pids
from tests.ray_cluster import LocalCluster, can_isolate


DRIVER = """
import json, os, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On
P = json.loads(P)
ray.init(address=A, log_to_driver=False)
nodes = [n for n in ray.nodes() if n["Alive"]]
head = next(n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"])
worker = next(n["NodeID"] for n in nodes if n["NodeID"] != head)

def paths(tag):
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return [f"/tmp/{P['name']}-{tag}", os.path.expanduser(f"~/{P['name']}-{tag}"), f"{cache}/{P['name']}-{tag}"]

@ray.remote(num_cpus=1)
def write(tag):
    for p in paths(tag):
        os.makedirs(os.path.dirname(p), exist_ok=True)
        open(p, "w").write(tag)
    return {"home": os.path.expanduser("~"), "pid": os.getpid()}

@ray.remote(num_cpus=1)
def sees(tags, extra):
    return {p: os.path.exists(p) for t in tags for p in paths(t) + extra}

@ray.remote(num_cpus=1)
def put_s3(uri, data):
    from pyarrow import fs
    f, path = fs.FileSystem.from_uri(uri)  # endpoint and keys from the AWS_* the node started with
    with f.open_output_stream(path) as out:
        out.write(data.encode())
    return sorted(k for k in os.environ if k.startswith("AWS_"))

on = {"head": On(head, soft=False), "worker": On(worker, soft=False)}
wrote = {t: ray.get(write.options(scheduling_strategy=on[t]).remote(t)) for t in on}
seen = {t: ray.get(sees.options(scheduling_strategy=on[t]).remote(list(on), [P["tmp"]])) for t in on}
aws = ray.get(put_s3.options(scheduling_strategy=on["worker"]).remote(P["uri"], P["name"]))
os.environ.update(P["env"])  # the driver's own credentials
from pyarrow import fs
f, path = fs.FileSystem.from_uri(P["uri"])
print(json.dumps({"wrote": wrote, "seen": seen, "driver": {p: os.path.exists(p) for t in on for p in paths(t)},
                  "aws": aws, "read": f.open_input_stream(path).read().decode()}))
"""


def test_s3_server_signed_and_durable(tmp_path, s3_server, monkeypatch):
    """Requests must be signed with the configured keys; `.env` is all an "s3://" URI needs;
    objects survive a crash of the server."""
    from pyarrow import fs

    bucket = s3_server.create_bucket("durable")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "b.txt").write_text("b")
    uris = s3_server.upload_dir(tmp_path / "d", f"{bucket}/dir")
    assert uris == s3_server.list(bucket) == [f"{bucket}/dir/a.txt", f"{bucket}/dir/sub/b.txt"]
    endpoint = dict(endpoint_override=s3_server.env["AWS_ENDPOINT_URL"].split("//")[1], scheme="http")
    unsigned = fs.S3FileSystem(anonymous=True, **endpoint)
    wrong_key = fs.S3FileSystem(access_key=s3_server.env["AWS_ACCESS_KEY_ID"], secret_key="wrong", **endpoint)
    for client in (unsigned, wrong_key):
        with pytest.raises(OSError, match="ACCESS_DENIED"):
            client.open_input_stream("durable/dir/a.txt").read()
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    client, path = fs.FileSystem.from_uri(uris[0])  # from_uri reads AWS_ENDPOINT_URL, S3FileSystem() does not
    assert client.open_input_stream(path).read() == b"a"
    s3_server.restart()  # SIGKILL, start on the same ports and data
    assert s3_server.list(bucket) == uris
    assert s3_server.download(uris[1], tmp_path / "b.txt").read_text() == "b"


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_isolated_node_shares_only_s3(tmp_path, s3_server):
    if not can_isolate():
        pytest.skip("cannot make a mount namespace here (needs root or CAP_SYS_ADMIN): no isolated Ray node")
    bucket = s3_server.create_bucket("shared-nothing")
    name = f"shared-nothing-{uuid.uuid4().hex[:8]}"
    params = {"name": name, "tmp": str(tmp_path), "uri": f"{bucket}/from-worker/{name}.txt", "env": s3_server.env}
    cluster = LocalCluster(tmp_path)
    try:
        cluster.add_node(num_cpus=1, head=True)
        cluster.add_node(num_cpus=1, isolated=True, env=s3_server.env)
        cluster.wait_for_nodes(2)
        r = cluster.python(f"P = {json.dumps(params)!r}\n{DRIVER}")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:] + cluster.logs()
        pids = group_pids(cluster.nodes[1][0].pid)  # `ray start`, raylet, agents, workers
        cluster.kill_node(1)
        assert len(pids) >= 3 and not [p for p in pids if os.path.exists(f"/proc/{p}")]
    finally:
        cluster.stop()
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        for folder in ("/tmp", os.path.expanduser("~"), cache):  # the head's files (the worker's went with its tmpfs)
            if os.path.exists(f"{folder}/{name}-head"):
                os.remove(f"{folder}/{name}-head")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # each node sees its own files and none of the other's; the worker not even the test's tmp_path
    for node, other in (("head", "worker"), ("worker", "head")):
        seen = out["seen"][node]
        assert all(v for p, v in seen.items() if p.endswith(f"-{node}")), seen
        assert not any(v for p, v in seen.items() if p.endswith(f"-{other}")), seen
    assert out["seen"]["head"][str(tmp_path)] and not out["seen"]["worker"][str(tmp_path)]
    # the driver runs beside the head: same view as the head's tasks
    assert out["driver"] == {p: p.endswith("-head") for p in out["driver"]}, out["driver"]
    # the isolated node reached S3 with the credentials it was started with (no runtime_env)
    assert set(s3_server.env) <= set(out["aws"]), out["aws"]
    assert out["read"] == name
    assert s3_server.list(bucket) == [params["uri"]]
