"""Megatron-LM / megatron-core `IndexedDataset` files: `<prefix>.bin` holds the token ids of every
sequence back to back (little-endian, one dtype); `<prefix>.idx` indexes them ("MMIDIDX" format,
megatron/core/datasets/indexed_dataset.py, `_IndexWriter` / `_IndexReader`):

    offset  type              content
    0       9 bytes           b"MMIDIDX\\x00\\x00"
    9       <Q                version = 1
    17      <B                dtype code (DTYPE_CODES)
    18      <Q                sequence count S
    26      <Q                document count D  (= number of documents + 1: the indices below)
    34      int32[S]          sequence lengths, in elements
    ..      int64[S]          sequence byte offsets into .bin
    ..      int64[D]          document indices: document k is sequences [idx[k], idx[k+1]); starts at 0

Here one document is one sequence, so the document indices are 0..S. (megatron-core appends a
per-sequence int8 mode array only for multimodal datasets, which are opened with a flag: never here.)
"""
from __future__ import annotations

import hashlib
import os
import struct

import numpy as np

from pipeline import storage

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# megatron-core DType enum values
DTYPE_CODES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int8),
    3: np.dtype(np.int16),
    4: np.dtype(np.int32),
    5: np.dtype(np.int64),
    6: np.dtype(np.float64),
    7: np.dtype(np.float32),
    8: np.dtype(np.uint16),
}
_CODE_OF = {dt: code for code, dt in DTYPE_CODES.items()}


def optimal_dtype(vocab_size: int) -> np.dtype:
    """megatron-core's choice (DType.optimal_dtype): uint16 below 65500 ids, else int32."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


class MegatronWriter:
    """Streams sequences into `<prefix>.bin`, writes `<prefix>.idx` on close. `prefix` is a local
    path or an object-store URI (pipeline/storage.py): both files are written locally and appear
    whole on close (renamed into place, or uploaded in one put), `.bin` first; sha256 is computed
    on the fly."""

    def __init__(self, prefix: str | os.PathLike, dtype=np.int32):
        self.prefix = str(prefix)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        if np.dtype(dtype) not in _CODE_OF:
            raise ValueError(f"dtype {np.dtype(dtype)} has no megatron-core code")
        self._bin_file = storage.AtomicFile(self.prefix + ".bin")
        self._bin = open(self._bin_file.path, "wb")
        self._bin_sha = hashlib.sha256()
        self._lengths: list[np.ndarray] = []
        self.tokens = 0
        self.documents = 0
        self.closed = False

    def add(self, sequence) -> None:
        """Append one sequence (one document)."""
        arr = np.asarray(sequence)
        self.add_many(arr, np.array([arr.size], dtype=np.int64))

    def add_many(self, flat, lengths) -> None:
        """Append len(lengths) sequences whose elements are `flat`, back to back."""
        flat = np.asarray(flat)
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != flat.size:
            raise ValueError(f"lengths sum to {int(lengths.sum())} but {flat.size} elements were given")
        if lengths.size and (lengths.min() < 0 or lengths.max() > np.iinfo(np.int32).max):
            raise ValueError("sequence lengths must fit int32 (the index stores them as int32)")
        if flat.size and np.issubdtype(flat.dtype, np.integer) and np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            if flat.min() < info.min or flat.max() > info.max:
                raise ValueError(f"values outside {self.dtype} range")
        data = flat.astype(self.dtype, copy=False).tobytes(order="C")
        self._bin.write(data)
        self._bin_sha.update(data)
        self._lengths.append(lengths)
        self.tokens += flat.size
        self.documents += lengths.size

    def close(self) -> dict:
        """Finish both files; return {documents, tokens, bin, idx, bin_sha256, idx_sha256}."""
        if self.closed:
            raise RuntimeError("writer already closed")
        self.closed = True
        self._bin.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int64)
        pointers = np.zeros(lengths.size, dtype=np.int64)
        if lengths.size:
            np.cumsum(lengths[:-1] * self.dtype.itemsize, out=pointers[1:])
        idx = b"".join(
            [
                INDEX_HEADER,
                struct.pack("<Q", INDEX_VERSION),
                struct.pack("<B", _CODE_OF[np.dtype(self.dtype.name)]),
                struct.pack("<Q", lengths.size),
                struct.pack("<Q", lengths.size + 1),
                lengths.astype("<i4").tobytes(),
                pointers.astype("<i8").tobytes(),
                np.arange(lengths.size + 1, dtype="<i8").tobytes(),
            ]
        )
        idx_file = storage.AtomicFile(self.prefix + ".idx")
        try:
            with open(idx_file.path, "wb") as f:
                f.write(idx)
            self._bin_file.commit()
        except BaseException:
            idx_file.abort()
            self._bin_file.abort()
            raise
        idx_file.commit()
        return {
            "bin": storage.basename(self.prefix + ".bin"),
            "idx": storage.basename(self.prefix + ".idx"),
            "documents": int(lengths.size),
            "tokens": int(self.tokens),
            "bin_sha256": self._bin_sha.hexdigest(),
            "idx_sha256": hashlib.sha256(idx).hexdigest(),
        }

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self._bin.close()
            self._bin_file.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        elif not self.closed:
            self.close()


class MegatronReader:
    """Reads `<prefix>.idx/.bin` with numpy memmaps and checks that index and data agree (on an
    object store, from a node-local copy: `storage.local_path`)."""

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = str(prefix)
        idx_path, bin_path = storage.local_path(self.prefix + ".idx"), storage.local_path(self.prefix + ".bin")
        idx = np.memmap(idx_path, dtype=np.uint8, mode="r")
        fixed = 9 + 8 + 1 + 8 + 8
        if idx.size < fixed or bytes(idx[:9]) != INDEX_HEADER:
            raise ValueError(f"{idx_path}: not a Megatron MMIDIDX index")
        (version,) = struct.unpack_from("<Q", idx, 9)
        (code,) = struct.unpack_from("<B", idx, 17)
        (self.sequence_count,) = struct.unpack_from("<Q", idx, 18)
        (self.document_count,) = struct.unpack_from("<Q", idx, 26)
        if version != INDEX_VERSION:
            raise ValueError(f"{idx_path}: index version {version}, expected {INDEX_VERSION}")
        if code not in DTYPE_CODES:
            raise ValueError(f"{idx_path}: unknown dtype code {code}")
        self.dtype = DTYPE_CODES[code].newbyteorder("<")
        s, d = self.sequence_count, self.document_count
        expected = fixed + 4 * s + 8 * s + 8 * d
        if idx.size != expected:
            raise ValueError(f"{idx_path}: {idx.size} bytes, expected {expected} for {s} sequences and {d} document indices")
        self.sequence_lengths = np.frombuffer(idx, dtype="<i4", count=s, offset=fixed)
        self.sequence_pointers = np.frombuffer(idx, dtype="<i8", count=s, offset=fixed + 4 * s)
        self.document_indices = np.frombuffer(idx, dtype="<i8", count=d, offset=fixed + 12 * s)
        bin_size = os.path.getsize(bin_path)
        item = self.dtype.itemsize
        total = int(self.sequence_lengths.sum(dtype=np.int64))
        if bin_size != total * item:
            raise ValueError(f"{bin_path}: {bin_size} bytes, the index describes {total * item}")
        ends = self.sequence_pointers + self.sequence_lengths.astype(np.int64) * item
        if s and (self.sequence_pointers[0] != 0 or np.any(self.sequence_pointers[1:] != ends[:-1])):
            raise ValueError(f"{idx_path}: sequence pointers are not contiguous")
        di = self.document_indices
        if d < 1 or di[0] != 0 or di[-1] != s or np.any(np.diff(di) < 0):
            raise ValueError(f"{idx_path}: document indices must rise from 0 to {s}")
        self._data = np.memmap(bin_path, dtype=self.dtype, mode="r") if bin_size else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return self.sequence_count

    def __getitem__(self, i: int) -> np.ndarray:
        if not -self.sequence_count <= i < self.sequence_count:
            raise IndexError(i)
        i %= self.sequence_count
        start = int(self.sequence_pointers[i]) // self.dtype.itemsize
        return np.asarray(self._data[start : start + int(self.sequence_lengths[i])])

    def document(self, k: int) -> list[np.ndarray]:
        """The sequences of document k."""
        a, b = int(self.document_indices[k]), int(self.document_indices[k + 1])
        return [self[i] for i in range(a, b)]

    @property
    def num_documents(self) -> int:
        return self.document_count - 1
