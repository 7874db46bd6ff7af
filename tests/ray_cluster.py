"""A Ray cluster of one or more nodes on this machine for the tests: each node `ray start --block`
in its own process group with its own ports and temp dir, so that stopping it ends exactly its
processes (`ray stop` would stop every Ray on the machine, other people's included)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")
PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--runtime-env-agent-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--metrics-export-port")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env() -> dict:
    # token auth on every process of the cluster: `ray start --head` turns it on and writes the
    # token to ~/.ray/auth_token, and a process that does not ask for it is refused
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    return env


class LocalCluster:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.nodes: list[tuple[subprocess.Popen, str]] = []
        self.gcs_port = free_port()
        self.address = f"127.0.0.1:{self.gcs_port}"

    def add_node(self, num_cpus: int = 1, head: bool = False, extra: list[str] = ()) -> None:
        i = len(self.nodes)
        temp_dir = f"/tmp/rc{os.getpid()}n{i}"  # Ray's socket paths must stay short
        ports = []
        for flag in PORT_FLAGS:
            ports += [flag, str(free_port())]
        where = ["--head", "--port", str(self.gcs_port), "--include-dashboard", "false", "--ray-client-server-port",
                 str(free_port())] if head else ["--address", self.address]
        cmd = [RAY, "start", "--block", *where, "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus),
               "--temp-dir", temp_dir, "--disable-usage-stats", "--min-worker-port", "0", "--max-worker-port", "0",
               *ports, *extra]
        log = open(self.log_dir / f"node{i}.log", "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ray_env(), start_new_session=True)
        self.nodes.append((proc, temp_dir))

    def wait_for_nodes(self, n: int, timeout: float = 180) -> list[str]:
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            for proc, _ in self.nodes:
                if proc.poll() is not None:
                    raise RuntimeError(f"a ray node exited: {self.logs()}")
            r = self.python("import ray, json; ray.init(address=A, log_to_driver=False); "
                            "print(json.dumps(sorted(n['NodeID'] for n in ray.nodes() if n['Alive'])))")
            if r.returncode == 0:
                ids = json.loads(r.stdout.strip().splitlines()[-1])
                if len(ids) >= n:
                    return ids
            last = r.stdout + r.stderr
            time.sleep(2)
        raise RuntimeError(f"{n} nodes never came up: {last[-2000:]} {self.logs()}")

    def python(self, code: str) -> subprocess.CompletedProcess:
        """Run `code` in a fresh interpreter with A bound to the cluster address."""
        return subprocess.run([sys.executable, "-c", f"A = {self.address!r}\n{code}"], capture_output=True, text=True,
                              env=ray_env(), timeout=120)

    def logs(self) -> str:
        return "".join((self.log_dir / f"node{i}.log").read_text()[-1500:] for i in range(len(self.nodes)))

    def stop(self) -> None:
        for proc, temp_dir in reversed(self.nodes):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            subprocess.run(["rm", "-rf", temp_dir])
