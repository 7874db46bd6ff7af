"""The Llama 3 tokenizer on `gigatoken` (Rust BPE, about 3x our tiktoken path per core with a cold
cache, more once it is warm: see bench/tokenizer.py), built from the same packaged tokenizer.json
as the HF reference.

Two settings make its ids Meta's (checked document by document on the whole benchmark corpus):
- `ignore_merges: true`, as in Meta's tokenizer.json (see pipeline/output/llama3_tokenizer.py);
- mode "plain" (special-token strings inside a page are ordinary text): gigatoken always matches
  its added tokens in the input, so the plain tokenizer is built with none. The 128,000 BPE ranks
  are unchanged, so every other id is the same; the special ids themselves (the EOT appended after
  each document) come from the spec, not from encoding.

`available()` is False when the package is not installed; the caller then falls back to tiktoken.

Memory: gigatoken caches the BPE of every distinct pre-token it has encoded. The distribution we
depend on, gigatoken-cachefix 0.10.1 (upstream's later fix), wipes that cache at 512 MiB per process;
gigatoken 0.10.0 has no bound. Measured (distinct random words, RSS growth): both +424 MB at 4 M;
0.10.0 +837 MB at 12 M and growing, the fork +462 MB from 8 M to 20 M. With 0.10.0 a warning is
logged.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache

from pipeline import assets

log = logging.getLogger(__name__)


def available() -> bool:
    try:
        import gigatoken  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=None)
def gigatoken_tokenizer(special_mode: str = "plain"):
    """One per process and mode: its encode caches warm up over a worker's documents."""
    return new_tokenizer(special_mode)


def new_tokenizer(special_mode: str = "plain"):
    """A fresh tokenizer, caches empty (benchmarks time it cold)."""
    import gigatoken
    from gigatoken import gigatoken_rs

    if not hasattr(gigatoken_rs, "get_max_cache_bytes"):
        log.warning("tokenizer: this gigatoken's encode cache has no bound; install gigatoken-cachefix")

    data = json.loads(assets.llama3_tokenizer_json().read_text(encoding="utf-8"))
    data["model"]["ignore_merges"] = True
    if special_mode == "plain":
        data["added_tokens"] = []
    return gigatoken.Tokenizer.from_json(json.dumps(data))


class GigatokenEncoder:
    """encode / encode_batch / decode with plain int lists, one thread (the stage holds one CPU:
    gigatoken's own thread pool would take every core of the node)."""

    def __init__(self, special_mode: str = "plain"):
        self._tok = gigatoken_tokenizer(special_mode)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode_batch_list([text], parallel=False)[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._tok.encode_batch_list(texts, parallel=False)

    def encode_batch_arrow(self, texts: list[str], eot_id: int | None = None):
        """The batch's ids as one Arrow list<int32> array, `eot_id` (if any) after each document,
        built from gigatoken's flat buffers without Python lists (3.4x the list path, measured)."""
        import numpy as np
        import pyarrow as pa

        layout = self._tok.encode_batch(texts, parallel=False).layout
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        flat = np.asarray(layout.content.data)[offsets[0]:offsets[-1]]
        offsets = offsets - offsets[0]
        if eot_id is not None:
            flat = np.insert(flat, offsets[1:], eot_id)
            offsets = offsets + np.arange(len(offsets))
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat.astype(np.int32)))

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids).decode("utf-8", errors="replace")
