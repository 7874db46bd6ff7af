"""Serve a GGUF over the OpenAI API with llama-cpp-python's server, on 127.0.0.1 only: for the
HTTP backend's tests and benchmark, or to run the judge against a local server without vLLM.
The server process is always stopped on exit; every wait is bounded."""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_gguf(gguf: Path, n_ctx: int = 2048, n_threads: int = 1, start_timeout_s: float = 120.0, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT/v1) of a llama-cpp-python server for `gguf`."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", Path(gguf).stem,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(n_ctx), "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads),
        # keep every position's logits: llama-cpp-python returns logprobs only with it
        "--logits_all", "true",
        *extra_args,
    ]
    log_file = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {Path(log_file.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"llama_cpp.server not ready after {start_timeout_s} s: {Path(log_file.name).read_text()[-2000:]}")
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log_file.close()
        os.unlink(log_file.name)
