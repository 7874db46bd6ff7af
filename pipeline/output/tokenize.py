"""Stage `tokenize`: Llama 3 token ids per document, ending with <|end_of_text|>.

Ids are those of HF `tokenizers` with the Llama 3 tokenizer.json, `encode(text,
add_special_tokens=False)`; the default backend computes them with gigatoken (tiktoken when it is not
installed; both many times faster, identical ids: see bench/tokenizer.py and tests/pipeline/output/test_tokenize.py). How special-token strings typed
inside a document are treated is `special_tokens_in_text` (see pipeline/output/llama3_tokenizer.py).
"""
from __future__ import annotations

import itertools
import logging
from typing import Literal

import numpy as np
import pyarrow as pa

from pipeline.schema import DROPPED_SCHEMA, split_by_reason, with_column
from pipeline.stage import Annotator, Resources, StageConfig

log = logging.getLogger(__name__)


class TokenizeConfig(StageConfig):
    # gigatoken: fastest (falls back to tiktoken, with a log line, when not installed); tiktoken: the
    # previous fast path; hf: the reference implementation. Same ids from all three.
    backend: Literal["gigatoken", "tiktoken", "hf"] = "gigatoken"
    # one <|end_of_text|> after each document: Megatron GPT datasets pack documents back to back and
    # rely on it as the boundary (Llama 3 pretraining format)
    append_eos: bool = True
    # "plain": "<|end_of_text|>" written in a page is ordinary text (Meta's tiktoken reference,
    # disallowed_special=()), so a page cannot forge a document boundary; "special": plain HF
    # behaviour, which turns such strings into the special ids
    special_tokens_in_text: Literal["plain", "special"] = "plain"


class Tokenize(Annotator):
    name = "tokenize"
    reads = ("text",)
    writes = ("tokens", "token_count")
    resources = Resources(num_cpus=1)
    Config = TokenizeConfig

    def setup(self) -> None:
        from pipeline.output.llama3_tokenizer import Llama3Encoder

        self.encoder = Llama3Encoder(self.config.backend, self.config.special_tokens_in_text)

    def process(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        # a document without text would become a bare EOT sequence: drop it, with its reason
        texts = batch.column("text").to_pylist()
        reasons = [("no-text" if t is None else "empty-text") if not t else None for t in texts]
        if any(reasons):
            kept, dropped = split_by_reason(batch, self.name, reasons)
            for reason in sorted(set(r for r in reasons if r)):
                log.info("tokenize: dropped %d documents: %s", reasons.count(reason), reason)
            return self.annotate(kept), dropped
        return self.annotate(batch), DROPPED_SCHEMA.empty_table()

    def annotate(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        if self.encoder.encode_batch_arrow is not None:  # gigatoken: straight to Arrow, same ids
            tokens = self.encoder.encode_batch_arrow(texts, self.encoder.eot_id if self.config.append_eos else None)
            lengths = np.diff(np.asarray(tokens.offsets)).astype(np.int64)
            return with_column(with_column(batch, "tokens", tokens), "token_count", pa.array(lengths))
        ids = self.encoder.encode_batch(texts)
        if self.config.append_eos:
            eot = self.encoder.eot_id
            for seq in ids:
                seq.append(eot)
        lengths = np.fromiter((len(s) for s in ids), dtype=np.int64, count=len(ids))
        offsets = np.zeros(len(ids) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        # one flat int32 buffer + offsets: ~6x faster than pa.array(list of lists) (measured)
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(offsets[-1]))
        tokens = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
        batch = with_column(batch, "tokens", tokens)
        return with_column(batch, "token_count", pa.array(lengths))
