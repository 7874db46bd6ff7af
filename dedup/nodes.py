"""Node keys of `dedup-minhash`: binary keys whose byte order is the keep rule (most recent crawl
first, null = oldest; then longest text; then smallest id), so a cluster's smallest key is the
document it keeps, and the id inside each key."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INT64_MIN = np.iinfo(np.int64).min


def node_keys(batch: pa.Table) -> pa.Array:
    """Binary keys ordered as the keep rule: ~(date + 2^63) big-endian (newest first, null =
    oldest), then ~length in characters big-endian (longest first), then the id's UTF-8 bytes."""
    n = batch.num_rows
    date = pc.fill_null(batch.column("crawl_date").cast(pa.int64()), _INT64_MIN).to_numpy().astype(np.int64)
    length = pc.fill_null(pc.utf8_length(batch.column("text")), 0).to_numpy().astype(np.uint64)
    prefix = np.empty((n, 2), dtype=">u8")
    prefix[:, 0] = ~(date.view(np.uint64) ^ np.uint64(1 << 63))
    prefix[:, 1] = ~length
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(prefix.tobytes())])
    ids = batch.column("id").combine_chunks().cast(pa.binary())
    return pc.binary_join_element_wise(fixed.cast(pa.binary()), ids, b"")


def node_ids(nodes: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The id inside each node key (everything after the 16-byte prefix). Done on the buffers:
    pyarrow's binary_slice miscomputes its output size on some inputs ("Negative buffer
    resize", pyarrow 26)."""
    if isinstance(nodes, pa.ChunkedArray):
        nodes = nodes.combine_chunks()
    n = len(nodes)
    if n == 0:
        return pa.array([], pa.string())
    if nodes.null_count:
        raise ValueError("null node key")
    offsets = np.frombuffer(nodes.buffers()[1], dtype=np.int32)[nodes.offset : nodes.offset + n + 1].astype(np.int64)
    data = np.frombuffer(nodes.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    keep = np.ones(len(data), dtype=bool)
    keep[(starts[:, None] + np.arange(16)).ravel()] = False
    new_offsets = (offsets - offsets[0] - 16 * np.arange(n + 1)).astype(np.int32)
    ids = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(new_offsets.tobytes()), pa.py_buffer(data[keep].tobytes())])
    return ids.cast(pa.string())
