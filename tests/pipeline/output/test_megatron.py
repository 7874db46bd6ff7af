"""Megatron IndexedDataset files: the reader on bytes built here from the format definition
(not by our writer), the writer by reading back, and byte-stable output."""
import hashlib
import struct

import numpy as np
import pytest

from pipeline.output.megatron import MegatronReader, MegatronWriter, optimal_dtype


def _spec_files(tmp_path, sequences, dtype_code=4, np_dtype="<i4", doc_indices=None):
    """Write <prefix>.bin/.idx field by field as megatron-core's _IndexWriter lays them out."""
    prefix = tmp_path / "spec"
    item = np.dtype(np_dtype).itemsize
    data = b"".join(np.asarray(s, dtype=np_dtype).tobytes() for s in sequences)
    (tmp_path / "spec.bin").write_bytes(data)
    lengths = [len(s) for s in sequences]
    pointers, pos = [], 0
    for n in lengths:
        pointers.append(pos)
        pos += n * item
    doc_indices = list(range(len(sequences) + 1)) if doc_indices is None else doc_indices
    idx = bytearray(b"MMIDIDX\x00\x00")
    idx += struct.pack("<Q", 1)
    idx += struct.pack("<B", dtype_code)
    idx += struct.pack("<Q", len(lengths))
    idx += struct.pack("<Q", len(doc_indices))
    idx += b"".join(struct.pack("<i", n) for n in lengths)
    idx += b"".join(struct.pack("<q", p) for p in pointers)
    idx += b"".join(struct.pack("<q", d) for d in doc_indices)
    (tmp_path / "spec.idx").write_bytes(bytes(idx))
    return prefix


def test_reader_reads_spec_built_files(tmp_path):
    seqs = [[5, 128001], [], [70000, 1, 2, 3, 128001], [2**31 - 1]]
    r = MegatronReader(_spec_files(tmp_path, seqs))
    assert len(r) == 4 and r.num_documents == 4
    assert r.dtype == np.int32
    assert [r[i].tolist() for i in range(len(r))] == seqs
    assert r[-1].tolist() == [2**31 - 1]
    assert r.sequence_pointers.tolist() == [0, 8, 8, 28]


def test_reader_uint16_and_multi_sequence_documents(tmp_path):
    # two documents: sequences [0,2) and [2,3) (megatron allows several sequences per document)
    seqs = [[1, 2], [65535], [7, 8, 9]]
    r = MegatronReader(_spec_files(tmp_path, seqs, dtype_code=8, np_dtype="<u2", doc_indices=[0, 2, 3]))
    assert r.dtype == np.uint16 and r.num_documents == 2
    assert [s.tolist() for s in r.document(0)] == [[1, 2], [65535]]
    assert [s.tolist() for s in r.document(1)] == [[7, 8, 9]]


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda idx, b: (b"XXIDIDX\x00\x00" + idx[9:], b), "not a Megatron"),
        (lambda idx, b: (idx[:9] + struct.pack("<Q", 2) + idx[17:], b), "version"),
        (lambda idx, b: (idx[:17] + b"\x63" + idx[18:], b), "dtype code"),
        (lambda idx, b: (idx[:-8], b), "bytes, expected"),
        (lambda idx, b: (idx, b[:-4]), "the index describes"),
    ],
)
def test_reader_rejects_corrupt_files(tmp_path, corrupt, message):
    prefix = _spec_files(tmp_path, [[1, 2, 3], [4]])
    idx, data = corrupt((tmp_path / "spec.idx").read_bytes(), (tmp_path / "spec.bin").read_bytes())
    (tmp_path / "spec.idx").write_bytes(idx)
    (tmp_path / "spec.bin").write_bytes(data)
    with pytest.raises(ValueError, match=message):
        MegatronReader(prefix)


def test_writer_round_trip_and_layout(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 128256, size=n).astype(np.int32) for n in (1, 0, 17, 300, 2)]
    with MegatronWriter(tmp_path / "w", np.int32) as w:
        w.add(seqs[0])
        w.add_many(np.concatenate(seqs[1:4]), [len(s) for s in seqs[1:4]])
        w.add(seqs[4].tolist())
        info = w.close()
    assert info["documents"] == 5 and info["tokens"] == sum(len(s) for s in seqs)
    r = MegatronReader(tmp_path / "w")
    assert [r[i].tolist() for i in range(len(r))] == [s.tolist() for s in seqs]
    assert r.document_indices.tolist() == [0, 1, 2, 3, 4, 5]
    # the index is exactly what the spec builder produces for the same sequences
    _spec_files(tmp_path, [s.tolist() for s in seqs])
    assert (tmp_path / "w.idx").read_bytes() == (tmp_path / "spec.idx").read_bytes()
    assert (tmp_path / "w.bin").read_bytes() == (tmp_path / "spec.bin").read_bytes()
    assert info["bin_sha256"] == hashlib.sha256((tmp_path / "w.bin").read_bytes()).hexdigest()
    assert info["idx_sha256"] == hashlib.sha256((tmp_path / "w.idx").read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.bin", "spec.idx", "w.bin", "w.idx"]  # no temp files


def test_writer_output_is_byte_stable(tmp_path):
    seqs = [np.arange(n, dtype=np.int32) * 977 for n in range(1, 50)]
    infos = []
    for name in ("a", "b"):
        w = MegatronWriter(tmp_path / name)
        for s in seqs:
            w.add(s)
        infos.append(w.close())
    assert infos[0]["bin_sha256"] == infos[1]["bin_sha256"] and infos[0]["idx_sha256"] == infos[1]["idx_sha256"]


def test_writer_refuses_values_outside_dtype(tmp_path):
    w = MegatronWriter(tmp_path / "u", np.uint16)
    with pytest.raises(ValueError, match="range"):
        w.add([70000])
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_empty_shard_is_readable(tmp_path):
    MegatronWriter(tmp_path / "e").close()
    r = MegatronReader(tmp_path / "e")
    assert len(r) == 0 and r.num_documents == 0


def test_optimal_dtype_follows_megatron():
    assert optimal_dtype(50257) == np.uint16
    assert optimal_dtype(128256) == np.int32


@pytest.mark.parametrize("dtype", [np.int32, np.uint16])
def test_megatron_core_reads_our_shards(tmp_path, dtype):
    """Megatron's own reader (megatron-core's IndexedDataset) on files our writer wrote."""
    pytest.importorskip("torch", reason="megatron-core needs torch (scripts/setup.sh installs it)")
    indexed = pytest.importorskip(
        "megatron.core.datasets.indexed_dataset", reason="megatron-core not installed (a dev dependency)"
    )
    rng = np.random.default_rng(1)
    high = 128256 if dtype == np.int32 else 50257
    seqs = [rng.integers(0, high, size=n).astype(dtype) for n in (5, 1, 0, 64, 1000, 3)]
    with MegatronWriter(tmp_path / "shard", dtype) as w:
        for s in seqs:
            w.add(s)
    ds = indexed.IndexedDataset(str(tmp_path / "shard"), mmap=True)
    assert len(ds) == len(seqs)
    assert ds.index.dtype == dtype
    assert [ds[i].tolist() for i in range(len(ds))] == [s.tolist() for s in seqs]
    assert ds.document_indices.tolist() == list(range(len(seqs) + 1))
    assert ds.sequence_lengths.tolist() == [len(s) for s in seqs]
