"""Deterministic fastText supervised training and batched prediction for the scorers.

Determinism: one thread, a fixed seed, and the training file written in a seeded hash order
(fastText reads it front to back and never shuffles). That is not enough: fastText 0.9.2
initialises only `thread`/10 of its input matrix (facebookresearch/fastText#1061); with one
thread 90% of the rows keep whatever the allocator hands back, so models differ from run to run
and training sometimes ends in "Encountered NaN" (both seen here). We therefore pass every input
row as a seeded "pretrained" vector: the vocabulary is computed here exactly as fastText builds it
(whitespace tokens seen `min_count` times, plus its end-of-line token), and there are no hashed
n-gram rows (bucket 0, so unigrams only). The same examples and config then give a
byte-identical model file, and so identical scores."""
from __future__ import annotations

import logging
import os
import tempfile

import numpy as np
from classifiers.label_sources import Example, seeded_order
from classifiers.text_features import fasttext_line
from classifiers.train_settings import FastTextParams

log = logging.getLogger(__name__)

PREFIX = "__label__"


def train(examples: list[Example], params: FastTextParams, seed: int, model_path: str) -> int:
    """Train on `examples` and save to `model_path`; returns the number of examples used
    (those whose text has no tokens are skipped)."""
    import fasttext

    lines = []
    for e in seeded_order(examples, seed):
        line = fasttext_line(e.text, params.max_chars)
        if line:
            lines.append(f"{PREFIX}{e.label} {line}\n")
    if len(lines) < len(examples):
        log.warning("fastText training: %d examples without tokens skipped", len(examples) - len(lines))
    with tempfile.TemporaryDirectory(dir=os.path.dirname(model_path) or None) as tmp:
        data, vectors = os.path.join(tmp, "train.txt"), os.path.join(tmp, "init.vec")
        with open(data, "w", encoding="utf-8") as f:
            f.writelines(lines)
        _write_initial_vectors(lines, params, seed, vectors)
        model = fasttext.train_supervised(
            input=data, dim=params.dim, epoch=params.epoch, lr=params.lr, wordNgrams=1, minCount=params.min_count,
            bucket=0, thread=1, seed=seed, verbose=0, pretrainedVectors=vectors,
        )
    model.save_model(model_path)
    return len(lines)


def _write_initial_vectors(lines: list[str], params: FastTextParams, seed: int, path: str) -> None:
    """A seeded uniform(-1/dim, 1/dim) row (fastText's own init) for every word of the vocabulary
    fastText will build from `lines`."""
    counts: dict[str, int] = {}
    for line in lines:
        for tok in line.split()[1:]:  # [0] is the label
            counts[tok] = counts.get(tok, 0) + 1
    vocab = sorted(w for w, c in counts.items() if c >= params.min_count) + ["</s>"]
    rows = np.random.default_rng(seed).uniform(-1 / params.dim, 1 / params.dim, (len(vocab), params.dim))
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(vocab)} {params.dim}\n")
        for word, row in zip(vocab, rows):
            f.write(word + " " + " ".join(f"{x:.6f}" for x in row) + "\n")


def load(path: str):
    import fasttext

    return fasttext.load_model(path)


def predict(model, texts: list[str | None], max_chars: int) -> list[dict[str, float] | None]:
    """Per text, every label's probability (None for a text without tokens)."""
    lines = [fasttext_line(t, max_chars) for t in texts]
    todo = [i for i, line in enumerate(lines) if line]
    out: list[dict[str, float] | None] = [None] * len(texts)
    if todo:
        labels, probs = model.predict([lines[i] for i in todo], k=-1)
        for i, labs, ps in zip(todo, labels, probs):
            out[i] = {lab.removeprefix(PREFIX): float(min(max(p, 0.0), 1.0)) for lab, p in zip(labs, ps)}
    return out


def positive_probability(model, texts: list[str | None], max_chars: int) -> list[float | None]:
    return [None if p is None else p.get("1", 0.0) for p in predict(model, texts, max_chars)]


def top_label(model, texts: list[str | None], max_chars: int) -> list[tuple[str, float] | None]:
    return [None if p is None else max(p.items(), key=lambda kv: (kv[1], kv[0])) for p in predict(model, texts, max_chars)]


def quantize(src: str, dst: str, cutoff: int) -> None:
    """Write a quantised copy (`.ftz`: product-quantised rows, the `cutoff` words of largest norm
    kept) of the model at `src`: ~10x smaller, for the default artifacts that ship in the package.
    No retraining, so the same model gives the same file."""
    model = load(src)
    model.quantize(cutoff=cutoff, retrain=False, qnorm=True)
    model.save_model(dst)
