"""Where a run's files live: a local folder or any filesystem pyarrow knows (`s3://`, `gs://`,
`hdfs://`; others through fsspec when it is installed). Every input and output of a run goes
through these functions, so a cluster whose nodes share nothing but an object store reads and
writes the same files as one machine does.

A location is a plain string: a local path, or a URI with a scheme. Credentials and endpoints
come only from the standard environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_ENDPOINT_URL`, `AWS_REGION`, ...), read by the filesystem's own client; nothing here logs them.

Atomicity: a reader must never see half a file. Locally a file is written under a temporary
name and renamed into place; on an object store it is spooled to node-local scratch space and
uploaded in one put (an object appears whole or not at all), so an interrupted writer leaves
nothing behind. Transient object-store errors are retried (`retrying`); a permanent one (missing
bucket, denied access) raises `StorageError` naming the location.
"""
from __future__ import annotations

import fnmatch
import functools
import glob as _glob
import json
import logging
import os
import posixpath
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from typing import IO, Iterator

import pyarrow as pa
import pyarrow.fs as pafs

log = logging.getLogger(__name__)

_RETRIES = 6          # transient errors: 0.5 s doubling to 16 s, ~30 s in all (an object store restarting)
# S3's error codes, as botocore names them and as Arrow's S3 filesystem does ("AWS Error
# SIGNATURE_DOES_NOT_MATCH during ListObjectsV2"): the second form was retried for 30 s
_PERMANENT = ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden",
              "NoSuchKey", "HTTP status 403", "HTTP status 404",
              "NO_SUCH_BUCKET", "ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "NO_SUCH_KEY")


class StorageError(OSError):
    """A location that cannot be read or written: for a reason no retry changes, or (`transient`)
    past this module's own retries (an object store down for longer; a later retry may succeed)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient

    def __reduce__(self):  # Ray ships it between processes
        return (type(self), (str(self), self.transient))


def is_uri(location: str) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def _strip_file(location: str) -> str:
    return location[len("file://"):] if location.startswith("file://") else location


def abspath(location: str) -> str:
    location = _strip_file(str(location))
    return location.rstrip("/") if is_uri(location) else os.path.abspath(location)


def join(base: str, *parts: str) -> str:
    if is_uri(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return os.path.join(base, *parts)


def basename(location: str) -> str:
    return posixpath.basename(location.rstrip("/")) if is_uri(location) else os.path.basename(location)


def dirname(location: str) -> str:
    return posixpath.dirname(location.rstrip("/")) if is_uri(location) else os.path.dirname(location)


@functools.lru_cache(maxsize=None)
def _remote_fs(scheme: str, netloc_hint: str) -> pafs.FileSystem:
    """One filesystem object per scheme in a process (its client reads the environment once)."""
    if scheme == "s3":
        kwargs = {}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:  # passed explicitly too: older pyarrow builds ignore the variable
            if "://" in endpoint:
                kwargs["scheme"], endpoint = endpoint.split("://", 1)
            kwargs["endpoint_override"] = endpoint.rstrip("/")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        return pafs.S3FileSystem(**kwargs, retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3))
    try:
        fs, _ = pafs.FileSystem.from_uri(f"{scheme}://{netloc_hint}")
        return fs
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import fsspec  # any other filesystem fsspec knows

        return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(scheme)))


_LOCAL = pafs.LocalFileSystem()


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) of a location."""
    location = _strip_file(str(location))
    if not is_uri(location):
        return _LOCAL, os.path.abspath(location)
    scheme, rest = location.split("://", 1)
    return _remote_fs(scheme, rest.split("/", 1)[0]), rest.rstrip("/")


def _uri(location: str, path: str) -> str:
    """The location of `path` (as a listing returns it) on the filesystem of `location`."""
    location = _strip_file(str(location))
    return f"{location.split('://', 1)[0]}://{path}" if is_uri(location) else path


def is_permanent(err: BaseException) -> bool:
    """An error no retry changes (a missing object or bucket, denied access)."""
    text = str(err)
    return isinstance(err, (FileNotFoundError, PermissionError)) or any(p in text for p in _PERMANENT)


def retrying(what: str, location: str, fn, *args, **kwargs):
    """Call `fn`, retrying transient object-store errors with backoff; a permanent one (or the
    last transient one) becomes a StorageError naming the location."""
    delay = 0.5
    for attempt in range(_RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except (OSError, pa.ArrowException) as err:
            if isinstance(err, StorageError) or not is_uri(location):
                raise
            if is_permanent(err) or attempt == _RETRIES:
                raise StorageError(f"cannot {what} {location}: {err}", transient=not is_permanent(err)) from err
            log.warning("%s %s: %s; retrying in %.1f s", what, location, type(err).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 16.0)


def info(location: str) -> pafs.FileInfo:
    fs, path = resolve(location)
    return retrying("stat", location, fs.get_file_info, path)


def exists(location: str) -> bool:
    return info(location).type != pafs.FileType.NotFound


def isdir(location: str) -> bool:
    return info(location).type == pafs.FileType.Directory


def size(location: str) -> int:
    i = info(location)
    if i.type == pafs.FileType.NotFound:
        raise FileNotFoundError(location)
    return int(i.size or 0)


def list_with_sizes(folder: str, suffix: str = "", recursive: bool = False) -> list[tuple[str, int]]:
    """(location, size) of the files under `folder` ending in `suffix`, sorted by name; [] when it
    does not exist. One listing call (no per-file requests)."""
    fs, path = resolve(folder)
    sel = pafs.FileSelector(path, allow_not_found=True, recursive=recursive)
    found = retrying("list", folder, fs.get_file_info, sel)
    return sorted((_uri(folder, i.path), int(i.size or 0)) for i in found
                  if i.type == pafs.FileType.File and i.path.endswith(suffix))


def listdir(folder: str, suffix: str = "", recursive: bool = False) -> list[str]:
    return [loc for loc, _ in list_with_sizes(folder, suffix, recursive)]


def glob(pattern: str) -> list[str]:
    """Files matching a glob (`*`, `?`, `[...]` in any path segment), sorted. On an object store
    the fixed prefix is listed once, recursively, and the rest matched by name."""
    pattern = _strip_file(pattern)
    if not is_uri(pattern):
        return sorted(_glob.glob(pattern))
    if not any(c in pattern for c in "*?["):
        return [pattern] if info(pattern).type == pafs.FileType.File else []
    scheme, rest = pattern.split("://", 1)
    segments = rest.split("/")
    fixed = []
    for seg in segments:
        if any(c in seg for c in "*?["):
            break
        fixed.append(seg)
    base = f"{scheme}://{'/'.join(fixed)}"
    depth = len(segments)
    out = []
    for loc in listdir(base, recursive=True):
        path = loc.split("://", 1)[1]
        if len(path.split("/")) == depth and fnmatch.fnmatchcase(path, rest):
            out.append(loc)
    return sorted(out)


def makedirs(folder: str) -> None:
    """A folder (locally); object stores have none to make."""
    if not is_uri(folder):
        os.makedirs(folder, exist_ok=True)


def remove(location: str) -> None:
    fs, path = resolve(location)
    try:
        retrying("delete", location, fs.delete_file, path)
    except (FileNotFoundError, StorageError) as err:
        if exists(location):
            raise err


def rmtree(folder: str) -> None:
    if not is_uri(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return
    fs, path = resolve(folder)
    if info(folder).type == pafs.FileType.NotFound:
        return
    retrying("delete", folder, fs.delete_dir_contents, path, missing_dir_ok=True)


def reset_dir(folder: str) -> None:
    rmtree(folder)
    makedirs(folder)


def open_input(location: str):
    """A seekable binary file (random access: parquet footers, WARC offsets)."""
    fs, path = resolve(location)
    return retrying("open", location, fs.open_input_file, path)


def open_stream(location: str):
    """A sequential binary stream (no decompression: the caller decides)."""
    fs, path = resolve(location)
    return retrying("open", location, fs.open_input_stream, path, compression=None)


def read_bytes(location: str) -> bytes:
    def read():
        with open_stream(location) as f:
            return f.read()

    return retrying("read", location, read)


def read_text(location: str) -> str:
    return read_bytes(location).decode("utf-8")


def read_json(location: str) -> dict | None:
    """The JSON object at `location`, or None when there is none."""
    try:
        return json.loads(read_bytes(location))
    except (FileNotFoundError, StorageError) as err:
        if isinstance(err, StorageError) and exists(location):
            raise
        return None


def scratch_dir() -> str:
    """Node-local scratch space (spooled uploads, copies of remote files a library needs as a
    local path). `CURATE_SCRATCH` or the system temp dir; never an output."""
    base = os.environ.get("CURATE_SCRATCH") or os.path.join(tempfile.gettempdir(), f"curate-scratch-{os.getuid()}")
    os.makedirs(base, exist_ok=True)
    return base


class AtomicFile:
    """A local file to write, then `commit()`ed into `location` whole (or `abort()`ed)."""

    def __init__(self, location: str):
        self.location = location
        if is_uri(location):
            self.path = os.path.join(scratch_dir(), f"up-{uuid.uuid4().hex}-{basename(location)}")
        else:
            makedirs(os.path.dirname(location) or ".")
            # unique per attempt: a retried task elsewhere never writes into this one's file
            self.path = f"{location}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"

    def commit(self) -> None:
        if is_uri(self.location):
            try:
                upload_file(self.path, self.location)
            finally:
                _unlink(self.path)
        else:
            os.replace(self.path, self.location)

    def abort(self) -> None:
        _unlink(self.path)


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(location: str) -> Iterator[str]:
    """A local path to write; on leaving the block it becomes `location` whole."""
    f = AtomicFile(location)
    try:
        yield f.path
    except BaseException:
        f.abort()
        raise
    f.commit()


@contextmanager
def atomic_open(location: str, mode: str = "wb") -> Iterator[IO]:
    with atomic_path(location) as path, open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
        yield f


def write_bytes(location: str, data: bytes) -> None:
    with atomic_open(location, "wb") as f:
        f.write(data)


def write_text(location: str, text: str) -> None:
    write_bytes(location, text.encode("utf-8"))


def write_json(location: str, obj) -> None:
    write_text(location, json.dumps(obj, indent=2, sort_keys=True))


def upload_file(local_path: str, location: str) -> None:
    if not is_uri(location):
        makedirs(os.path.dirname(location) or ".")
        shutil.copyfile(local_path, location)
        return
    fs, path = resolve(location)

    def put():
        # the bytes as they are: pyarrow's default compression="detect" gzips a `.gz` name again
        with open(local_path, "rb") as src, fs.open_output_stream(path, compression=None) as dst:
            shutil.copyfileobj(src, dst, 8 << 20)

    retrying("write", location, put)


def download_file(location: str, local_path: str) -> None:
    os.makedirs(os.path.dirname(local_path) or ".", exist_ok=True)
    tmp = f"{local_path}.{uuid.uuid4().hex[:8]}.tmp"

    def get():
        with open_stream(location) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 8 << 20)

    try:
        retrying("read", location, get)
        os.replace(tmp, local_path)
    finally:
        _unlink(tmp)


def upload_dir(local_dir: str, location: str) -> None:
    """Copy a local folder's files (recursively) under `location`."""
    for root, _, files in os.walk(local_dir):
        for name in sorted(files):
            src = os.path.join(root, name)
            rel = os.path.relpath(src, local_dir).replace(os.sep, "/")
            upload_file(src, join(location, *rel.split("/")))


def local_path(location: str) -> str:
    """A local path holding the file at `location`: itself when local; else a node-local copy,
    fetched once per (location, size, mtime), for libraries that want a path (mmap, fastText)."""
    if not is_uri(location):
        return os.path.abspath(_strip_file(location))
    i = info(location)
    if i.type == pafs.FileType.NotFound:
        raise FileNotFoundError(location)
    import xxhash

    stamp = f"{location}\0{i.size}\0{i.mtime_ns}"
    dest = os.path.join(scratch_dir(), "copies", xxhash.xxh3_64_hexdigest(stamp.encode()), basename(location))
    if not os.path.exists(dest):
        download_file(location, dest)
    return dest


def local_dir(location: str) -> str:
    """A local folder holding the files under `location` (itself when local; else a node-local
    copy, fetched once per listing of names, sizes and mtimes)."""
    if not is_uri(location):
        return os.path.abspath(_strip_file(location))
    fs, path = resolve(location)
    found = retrying("list", location, fs.get_file_info, pafs.FileSelector(path, allow_not_found=True, recursive=True))
    files = sorted((i.path, i.size, i.mtime_ns) for i in found if i.type == pafs.FileType.File)
    if not files:
        raise FileNotFoundError(location)
    import xxhash

    stamp = json.dumps([location, files], default=str)
    dest = os.path.join(scratch_dir(), "copies", xxhash.xxh3_64_hexdigest(stamp.encode()))
    if not os.path.exists(os.path.join(dest, ".complete")):
        for p, _, _ in files:
            rel = p[len(path):].lstrip("/")
            download_file(_uri(location, p), os.path.join(dest, *rel.split("/")))
        open(os.path.join(dest, ".complete"), "w").close()
    return dest
