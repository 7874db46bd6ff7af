"""A Ray cluster of one or more nodes on this machine for the tests: each node `ray start --block`
in its own process group with its own ports and temp dir, so that stopping it ends exactly its
processes (`ray stop` would stop every Ray on the machine, other people's included).

An `isolated` node shares nothing with the others but the network and the read-only code: it runs
in its own mount namespace with private tmpfs over /tmp, /dev/shm and the home directory (HOME and
XDG_CACHE_HOME point there), like a second machine whose only shared storage is an object store."""
from __future__ import annotations

import json
import os
import pwd
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.fault_tools import RAY_START_TIMEOUT, ROOT, group_pids, kill_group

RAY = str(Path(sys.executable).parent / "ray")
PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--runtime-env-agent-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--metrics-export-port")


# the ids of the live nodes, from the GCS (no driver, no worker process)
LIVE_NODES = """import json
from ray._raylet import GcsClient
from ray.core.generated.gcs_pb2 import GcsNodeInfo
infos = GcsClient(address=A).get_all_node_info(timeout=10, state_filter=GcsNodeInfo.GcsNodeState.ALIVE)
print(json.dumps(sorted(node_id.hex() for node_id in infos)))"""


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


def can_isolate() -> bool:
    """Whether this process may make a mount namespace and mount in it (root, or CAP_SYS_ADMIN)."""
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs", "/mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def token_path() -> Path:
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")


def ensure_auth_token() -> None:
    """Make the token file if there is none, once for every process of the test session: each
    `ray start --head` writes a new token when it finds none, and two heads started together by two
    pytest-xdist workers on a fresh machine would each write their own (one cluster then refuses its
    probes). Linked into place, so the first process's token wins."""
    path = token_path()
    if os.environ.get("RAY_AUTH_TOKEN") or (path.exists() and path.read_text().strip()):
        return
    from ray._private.authentication.authentication_token_generator import generate_new_authentication_token

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(generate_new_authentication_token())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def auth_token(timeout: float = 60) -> str:
    """The cluster's token: RAY_AUTH_TOKEN, else the file the head writes when it starts
    (RAY_AUTH_TOKEN_PATH, default ~/.ray/auth_token)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"]
    path = token_path()
    deadline = time.time() + timeout
    while not (path.exists() and path.read_text().strip()):
        if time.time() > deadline:
            raise RuntimeError(f"no Ray auth token at {path} {timeout}s after the head started")
        time.sleep(0.2)
    return path.read_text().strip()


def isolate_cmd(cmd: list[str], env: dict) -> tuple[list[str], dict]:
    """`cmd` in a private mount namespace: fresh tmpfs over /tmp, /dev/shm and the home directory
    (unless the code or the interpreter lives there: then HOME moves into the private /tmp; code
    under /tmp is mounted back at its path). The
    token reaches Ray through RAY_AUTH_TOKEN, the only place Ray reads it from besides the home."""
    home = pwd.getpwuid(os.getuid()).pw_dir
    needed = (str(ROOT), sys.prefix, sys.base_prefix)
    hide_home = home != "/" and os.path.isdir(home) and not any(p == home or p.startswith(home + "/") for p in needed)
    mounts = ["/tmp", "/dev/shm"] + ([home] if hide_home else [])
    # the code or the interpreter under /tmp (a clone in /tmp): held on /mnt while the private /tmp
    # is mounted, then moved back to its path, so the node runs the same installation
    under_tmp = sorted(p for p in set(needed) if p.startswith("/tmp/"))
    kept = [p for p in under_tmp if not any(p.startswith(q + "/") for q in under_tmp)]
    script = "set -e; "
    if kept:
        script += "mount -t tmpfs tmpfs /mnt; " + "".join(
            f"mkdir -p /mnt/k{i}; mount --bind {shlex.quote(p)} /mnt/k{i}; " for i, p in enumerate(kept))
    script += "".join(f"mount -t tmpfs -o mode=1777 tmpfs {shlex.quote(m)}; " for m in mounts)
    script += "".join(f"mkdir -p {shlex.quote(p)}; mount --move /mnt/k{i} {shlex.quote(p)}; " for i, p in enumerate(kept))
    script += 'mkdir -p "$XDG_CACHE_HOME"; exec "$@"'
    env = {**env, "HOME": home if hide_home else "/tmp/home", "RAY_AUTH_TOKEN": auth_token()}
    env["XDG_CACHE_HOME"] = f"{env['HOME']}/.cache"
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd], env


class LocalCluster:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.nodes: list[tuple[subprocess.Popen, str]] = []
        self.params: list[dict] = []  # each node's add_node arguments, to start it again
        self.restarts = 0
        self.gcs_port = free_port()
        self.address = f"127.0.0.1:{self.gcs_port}"

    def add_node(self, num_cpus: int = 1, head: bool = False, extra: list[str] = (), isolated: bool = False,
                 env: dict | None = None, dashboard_port: int | None = None) -> None:
        """Start node `len(self.nodes)`. `isolated`: in its own mount namespace (`isolate_cmd()`; the
        head must have been added first); `env`: added to the node's environment, which its
        workers inherit (e.g. the AWS_* variables of an S3 endpoint); `dashboard_port`: the head
        serves the dashboard and job API there, on 127.0.0.1 (`ray job submit`)."""
        self.params.append(dict(num_cpus=num_cpus, head=head, extra=extra, isolated=isolated, env=env,
                                dashboard_port=dashboard_port))
        self.nodes.append(self._start(len(self.nodes), **self.params[-1]))

    def _start(self, i: int, num_cpus: int, head: bool, extra: list[str], isolated: bool, env: dict | None,
               dashboard_port: int | None) -> tuple[subprocess.Popen, str]:
        """`ray start` for node i, with fresh ports; its process and temp dir."""
        temp_dir = f"/tmp/rc{os.getpid()}n{i}"  # Ray's socket paths must stay short; private /tmp if isolated
        ports = []
        for flag in PORT_FLAGS:
            ports += [flag, str(free_port())]
        dashboard = ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port",
                     str(dashboard_port)] if dashboard_port else ["--include-dashboard", "false"]
        where = ["--head", "--port", str(self.gcs_port), *dashboard, "--ray-client-server-port",
                 str(free_port())] if head else ["--address", self.address]
        cmd = [RAY, "start", "--block", *where, "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus),
               "--temp-dir", temp_dir, "--disable-usage-stats", "--min-worker-port", "0", "--max-worker-port", "0",
               *ports, *extra]
        # no drain on SIGTERM: the head waits out its whole 30 s for a drain that never ends
        node_env = {**ray_env(), "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0", **(env or {})}
        if isolated:
            cmd, node_env = isolate_cmd(cmd, node_env)
        log = open(self.log_dir / f"node{i}.log", "w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=node_env, start_new_session=True)
        log.close()
        return proc, temp_dir

    def kill_node(self, i: int) -> None:
        """SIGKILL node i's processes (`ray start`, its raylet and the workers under it) at once, as
        if its machine died; the cluster notices when the node's heartbeats stop."""
        proc = self.nodes[i][0]
        for pid in group_pids(proc.pid):  # before the group goes: the workers' parents lead to it
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_group(proc)

    def wait_for_nodes(self, n: int, timeout: float = 300) -> list[str]:
        """The ids of the cluster's live nodes once there are `n`. Asks the GCS directly (a
        GcsClient in a fresh interpreter, about a second): a `ray.init` probe starts a driver with
        its own worker, and under a second pytest-xdist worker's load one took over 120 s."""
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            for i, (proc, _) in enumerate(self.nodes):
                if proc.poll() is not None:
                    # Ray gives a node 30 s to register (hard-coded); on an overloaded machine it
                    # can take longer, which says nothing about the pipeline: start it again (twice
                    # at most per cluster), after whatever it had started
                    if RAY_START_TIMEOUT in (self.log_dir / f"node{i}.log").read_text() and self.restarts < 2:
                        self.restarts += 1
                        kill_group(proc)
                        self.nodes[i] = self._start(i, **self.params[i])
                        continue
                    raise RuntimeError(f"a ray node exited: {self.logs()}")
            try:
                r = self.python(LIVE_NODES, timeout=60)
            except subprocess.TimeoutExpired:
                last = "the GCS did not answer in 60 s"
                continue
            if r.returncode == 0:
                ids = json.loads(r.stdout.strip().splitlines()[-1])
                if len(ids) >= n:
                    return ids
            last = r.stdout + r.stderr
            time.sleep(1)
        raise RuntimeError(f"{n} nodes never came up: {last[-2000:]} {self.logs()}")

    def python(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run `code` in a fresh interpreter with A bound to the cluster address."""
        return subprocess.run([sys.executable, "-c", f"A = {self.address!r}\n{code}"], capture_output=True, text=True,
                              env=ray_env(), timeout=timeout)

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
