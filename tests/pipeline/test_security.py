"""Security: servers we start listen on loopback; HTML/XML parsing never resolves external entities,
XInclude or network resources; decompression stops at its cap with a counted drop."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from pipeline.executor import ray_env
from pipeline.sources.warc import ReadWarcConfig, read_warc_local
from tests.make_bad_inputs import (
    PROSE, SECRET, brotli_bomb, gz, http_response, response_record, uid, zeros_compressed, _chunked,
)

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- Ray's dashboard


def test_private_ray_has_no_dashboard_and_one_asked_for_binds_loopback(monkeypatch):
    import ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {})
    monkeypatch.setattr(ray_env, "quiet_ray_data", lambda shuffle="sort": None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv(ray_env.DASHBOARD_HOST_ENV, raising=False)
    ray_env.init_ray()
    ray_env.init_ray(dashboard=True)
    monkeypatch.setenv(ray_env.DASHBOARD_HOST_ENV, "10.1.2.3")
    ray_env.init_ray(dashboard=True)
    assert calls[0]["include_dashboard"] is False and "dashboard_host" not in calls[0]
    assert calls[1]["include_dashboard"] is True and calls[1]["dashboard_host"] == "127.0.0.1"
    assert calls[2]["dashboard_host"] == "10.1.2.3"  # only when configured


_LISTENERS = r"""
import json, os, ray
from pipeline.executor.ray_env import init_ray
ctx = ray.init(address="local", num_cpus=1, include_dashboard=True, log_to_driver=False,
               dashboard_host=__import__("pipeline.executor.ray_env", fromlist=["x"]).dashboard_host())
port = int(ctx.dashboard_url.rsplit(":", 1)[1])
rows = []
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(name).read().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A":  # LISTEN
            host, p = f[1].split(":")
            rows.append([host, int(p, 16)])
print(json.dumps({"port": port, "listeners": [h for h, p in rows if p == port]}))
ray.shutdown()
"""


@pytest.mark.ray
@pytest.mark.slow
def test_dashboard_listens_on_loopback_only():
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("RAY_ADDRESS", ray_env.DASHBOARD_HOST_ENV)}
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run([sys.executable, "-c", _LISTENERS], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    facts = json.loads(r.stdout.strip().splitlines()[-1])
    # /proc/net/tcp writes 127.0.0.1 as 0100007F; 0.0.0.0 (every interface) would be 00000000
    assert facts["listeners"] and set(facts["listeners"]) == {"0100007F"}, facts


# --------------------------------------------------------------------------- external entities


class _Listener:
    """A local TCP port that counts the connections made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        self._thread.join()
        self.sock.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hostile_pages(secret_path: str, open_port: int, closed_port: int) -> list[bytes]:
    urls = [f"file://{secret_path}", f"http://127.0.0.1:{open_port}/e", f"http://127.0.0.1:{closed_port}/e"]
    entities = "".join(f'<!ENTITY e{i} SYSTEM "{u}">' for i, u in enumerate(urls))
    refs = "".join(f"<p>&e{i};</p>" for i in range(len(urls)))
    includes = "".join(f'<xi:include href="{u}" parse="text"/>' for u in urls)
    body = f"<p>{PROSE}</p><p>{PROSE}</p>"
    return [
        # internal subset with external entities, XInclude, an external DTD, a parameter entity
        f'<?xml version="1.0"?><!DOCTYPE html [{entities}]><html xmlns:xi="http://www.w3.org/2001/XInclude">'
        f"<body><article>{refs}{includes}{body}</article></body></html>".encode(),
        f'<!DOCTYPE html SYSTEM "{urls[1]}"><html><body><article>{body}</article></body></html>'.encode(),
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "{urls[0]}"> %p;]><html><body><article>{body}'
        f'<iframe src="{urls[1]}"></iframe><img src="{urls[2]}" alt="x"></article></body></html>'.encode(),
    ]


def test_no_entity_xinclude_or_dtd_is_resolved(tmp_path):
    from pipeline.extract.stage import ExtractConfig, extract_document
    from pipeline.extract.html import parse_html

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    listener = _Listener()
    try:
        pages = hostile_pages(str(secret), listener.port, _closed_port())
        texts = []
        for page in pages:
            for content_type in ("text/html", "application/xhtml+xml", "application/xml"):
                out = extract_document(page, content_type, ExtractConfig(min_text_chars=0), "https://x.example/")
                texts.append(out.text or "")
            texts.append(parse_html(page.decode()).text_content())
    finally:
        listener.close()
    assert any(PROSE.strip()[:40] in t for t in texts), "the pages' own text must still come through"
    assert not any(SECRET in t for t in texts)
    assert listener.connections == 0, "a parser fetched a network resource"


# --------------------------------------------------------------------------- decompression caps


def test_decompression_bombs_stop_at_the_cap(tmp_path):
    bomb = 200 * 2**20
    records = {
        "gzip": http_response(zeros_compressed(bomb, 31), extra=["Content-Encoding: gzip"]),
        "deflate": http_response(zeros_compressed(bomb, 15), extra=["Content-Encoding: deflate"]),
        "raw-deflate": http_response(zeros_compressed(bomb, -15), extra=["Content-Encoding: deflate"]),
        "chunked-gzip": http_response(_chunked(zeros_compressed(bomb, 31)), extra=["Content-Encoding: gzip", "Transfer-Encoding: chunked"]),
        "br": http_response(brotli_bomb(bomb), extra=["Content-Encoding: br"]),
        "fine": http_response(b"<html><body><p>" + PROSE.encode() + b"</p></body></html>", extra=[]),
    }
    path = tmp_path / "bombs.warc.gz"
    path.write_bytes(b"".join(gz(response_record(f"bomb-{k}", v)) for k, v in records.items()))
    cap = 1 << 20
    warm = tmp_path / "warm.warc.gz"  # first-time imports would count towards the peak
    warm.write_bytes(gz(response_record("warm", records["fine"])))
    read_warc_local([str(warm)], ReadWarcConfig(max_payload_bytes=cap))
    tracemalloc.start()
    try:
        kept, dropped = read_warc_local([str(path)], ReadWarcConfig(max_payload_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reasons = dict(zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()))
    for key in ("gzip", "deflate", "chunked-gzip"):
        assert reasons[uid(f"bomb-{key}")] == "payload-too-large", key
    # raw deflate (no zlib header) is what some servers send; either decoded up to the cap or refused
    assert reasons[uid("bomb-raw-deflate")] in ("payload-too-large", "undecodable-body:deflate")
    assert reasons[uid("bomb-br")] in ("payload-too-large", "content-encoding:br")
    assert kept.column("id").to_pylist() == [uid("bomb-fine")]
    # 200 MB per bomb never lands in memory: the reader holds about one cap's worth at a time
    # (measured ~1.7 MB; warcio alone decompressed a 64 KB block of a bomb into 64 MB at once)
    assert peak < 8 * cap, peak
