"""Local backend: a causal LM with transformers, in this process. Documents go through in
left-padded batches, one forward pass each; the label tokens' logits at the last position are
softmaxed into the label distribution (no sampling, no parsing)."""
from __future__ import annotations

import logging
from pathlib import Path

from classifiers.judge.config import JudgeConfig
from classifiers.judge.errors import JudgeError
from classifiers.judge.model_store import converted_dir, default_gguf, folder_id, gguf_model_id
from classifiers.judge.prompts import Prompt
from classifiers.torch_device import resolve_device  # quiets transformers' per-load bars too

log = logging.getLogger(__name__)


class LocalBackend:
    """The model loads on the first document the label cache does not hold: a run whose sample is
    labelled already (a rerun, or labels made earlier) never imports torch or reads the weights."""

    def __init__(self, config: JudgeConfig, cache_dir: str):
        self.config = config
        self.path = Path(config.model_path) if config.model_path else default_gguf()
        if not self.path.exists():
            raise JudgeError(f"judge model_path not found: {self.path}")
        self.model_id = gguf_model_id(self.path) if self.path.suffix == ".gguf" else folder_id(self.path)
        self.cache_dir = cache_dir
        self.tokenizer = self.model = None
        self._prompts: dict[str, Prompt] = {}  # checked on load (their label tokens must be single tokens)
        self._token_ids: dict[str, list[int]] = {}

    def _load(self) -> None:
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = converted_dir(self.path, self.cache_dir) if self.path.suffix == ".gguf" else self.path
        self.device = resolve_device(self.config.device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not self.tokenizer.chat_template:
            raise JudgeError(f"{self.path} has no chat template: the judge needs an instruct (chat) model")
        # bf16 halves GPU memory and time; on CPU float32 is the fast path
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(self.device).eval()
        log.info("judge model %s on %s", self.model_id, self.device)
        for prompt in self._prompts.values():
            self._check(prompt)

    def check_tokens(self, prompt: Prompt) -> None:
        self._prompts[prompt.version] = prompt
        if self.model is not None:
            self._check(prompt)

    def _check(self, prompt: Prompt) -> None:
        ids = []
        for token in prompt.tokens:
            enc = self.tokenizer.encode(token, add_special_tokens=False)
            if len(enc) != 1:
                raise JudgeError(f"{prompt.version}: label {token!r} is {len(enc)} tokens for {self.model_id}; labels must be single tokens")
            ids.append(enc[0])
        self._token_ids[prompt.version] = ids

    def render(self, prompt: Prompt, text: str) -> str:
        return self.tokenizer.apply_chat_template(prompt.messages(text), tokenize=False, add_generation_prompt=True)

    def token_probs(self, prompt: Prompt, texts: list[str]) -> list[dict[str, float] | None]:
        import torch

        self._load()
        label_ids = torch.tensor(self._token_ids[prompt.version])
        encoded = [self.tokenizer.encode(self.render(prompt, t), add_special_tokens=False) for t in texts]
        # batches of similar lengths waste less on padding; order is by (length, position)
        order = sorted(range(len(texts)), key=lambda i: (len(encoded[i]), i))
        out: list[dict[str, float] | None] = [None] * len(texts)
        for start in range(0, len(order), self.config.batch_size):
            idx = order[start : start + self.config.batch_size]
            batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            ids = batch["input_ids"].to(self.device)
            mask = batch["attention_mask"].to(self.device)
            # positions count real tokens only, so a left-padded document scores as it would alone
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, logits_to_keep=1).logits
            probs = torch.softmax(logits[:, -1, :].float()[:, label_ids.to(self.device)], dim=-1).cpu().tolist()
            for i, row in zip(idx, probs):
                out[i] = dict(zip(prompt.tokens, row))
        return out

    def close(self) -> None:
        self.model = None
