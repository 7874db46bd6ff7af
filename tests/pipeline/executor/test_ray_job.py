"""`ray start --head` + `ray job submit ... python pipeline/run.py`: the documented cluster path.

The head runs with its own ports and temp dir, started with --block so that ending this one
process group stops exactly this cluster (`ray stop` would stop every Ray on the machine)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RAY = str(Path(sys.executable).parent / "ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    gcs_port, dash_port = free_port(), free_port()
    # every port explicit: the defaults (agent 52365, client 10001, ...) may be held by the test
    # session's own local Ray, and an agent that cannot bind leaves "No available agent" forever
    ports = []
    for flag in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port", "--metrics-export-port",
                 "--runtime-env-agent-port", "--ray-client-server-port", "--node-manager-port", "--object-manager-port"):
        ports += [flag, str(free_port())]
    # the job's entrypoint runs `python` on the cluster: it must be this venv's
    env = {**os.environ, "RAY_AUTH_MODE": "token", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    # no drain on SIGTERM: with the group's GCS gone, the head waited out 30 s for a drain (as tests/ray_cluster.py)
    head_env = {**env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    temp_dir = f"/tmp/rt{os.getpid()}"  # Ray's socket paths must stay short
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--port", str(gcs_port), "--dashboard-host", "127.0.0.1",
         "--dashboard-port", str(dash_port), "--num-cpus", "2", "--temp-dir", temp_dir, "--disable-usage-stats",
         "--include-dashboard", "true", *ports],
        stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT, env=head_env, start_new_session=True,
    )
    address = f"http://127.0.0.1:{dash_port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        r = subprocess.run([RAY, "job", "list", "--address", address], capture_output=True, text=True, env=env)
        if r.returncode == 0:
            break
        if head.poll() is not None:
            pytest.fail(f"ray start exited: {(tmp_path / 'head.log').read_text()[-3000:]}")
        time.sleep(2)
    else:
        os.killpg(head.pid, signal.SIGTERM)
        pytest.fail(f"the Ray dashboard never answered: {(tmp_path / 'head.log').read_text()[-3000:]}")
    yield address, env
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    subprocess.run(["rm", "-rf", temp_dir])


def test_ray_job_submit_runs_the_demo(ray_head, tmp_path):
    address, env = ray_head
    out = tmp_path / "job-out"
    for _ in range(30):  # the job agent may come up after the dashboard answers
        r = subprocess.run(
            [RAY, "job", "submit", "--address", address, "--working-dir", str(ROOT), "--",
             "python", "pipeline/run.py", "--config", "configs/demo.yaml", "--output", str(out)],
            capture_output=True, text=True, env=env,
            cwd=ROOT, timeout=900,
        )
        if "No available agent" not in r.stdout + r.stderr:
            break
        time.sleep(3)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "succeeded" in r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["balanced"] and summary["kept_total"] > 20
    assert (out / "manifest.json").exists()
