"""The local S3 endpoint (SeaweedFS) for the tests: one implementation, in
scripts/seaweedfs_server.py (scripts must not import tests, and scripts/ is no package), loaded
here by path."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "scripts" / "seaweedfs_server.py"
_spec = importlib.util.spec_from_file_location("seaweedfs_server", _PATH)
seaweedfs_server = sys.modules.setdefault("seaweedfs_server", importlib.util.module_from_spec(_spec))
if not hasattr(seaweedfs_server, "SeaweedS3"):
    _spec.loader.exec_module(seaweedfs_server)

SeaweedS3 = seaweedfs_server.SeaweedS3
weed_binary = seaweedfs_server.weed_binary
split_uri = seaweedfs_server.split_uri


def download_prefix(server, uri: str, local, keep=lambda rel: True) -> list[str]:
    """Download every object under `uri` whose path relative to it passes `keep`; their paths."""
    from pathlib import Path

    got = []
    for obj in server.list(uri):
        rel = obj[len(uri.rstrip("/")) + 1:]
        if keep(rel):
            server.download(obj, Path(local) / rel)
            got.append(rel)
    return got
