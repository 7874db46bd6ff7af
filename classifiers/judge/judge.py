"""The judge: prompts + a backend (local transformers or an OpenAI-compatible server) + the label
cache (classifiers/judge/cache.py). A backend returns, per document, the probabilities of the
prompt's label tokens as the next token; the judge renormalises them and turns them into a
`JudgeScore`."""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from classifiers.judge.cache import LabelCache, label_cache_dir
from classifiers.judge.config import JudgeConfig
from classifiers.judge.errors import JudgeError
from classifiers.judge.prompts import TASKS, Prompt, get_prompt
from classifiers.judge.taxonomy import load_taxonomy
from classifiers.paths import default_cache_dir
from pipeline import storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JudgeScore:
    task: str  # one of TASKS
    label: str  # argmax label: "0".."5", or a taxonomy topic key; "" when the model gave no label
    expected: float  # scales: sum(p(label) * value); topic: p(argmax); NaN when failed
    probs: dict[str, float]  # renormalised over the task's labels
    # which prompt and model produced it (the labels file's columns); "" when built by hand
    prompt_version: str = field(default="", compare=False)
    model: str = field(default="", compare=False)

    @property
    def failed(self) -> bool:
        return not self.label


class Backend(Protocol):
    model_id: str

    def check_tokens(self, prompt: Prompt) -> None:
        """Raise JudgeError unless each of the prompt's label tokens is one token for the model."""

    def token_probs(self, prompt: Prompt, texts: list[str]) -> list[dict[str, float] | None]:
        """Per text, the (unnormalised) probability of each label token as the next token; None
        when the model gave none of them any probability we can see."""

    def close(self) -> None: ...


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def score_from_probs(prompt: Prompt, token_probs: dict[str, float] | None, model_id: str) -> JudgeScore:
    total = sum(token_probs.values()) if token_probs else 0.0
    if not total or not math.isfinite(total):
        return JudgeScore(prompt.task, "", math.nan, {}, prompt.version, model_id)
    # rounded so that scores written by different batchings of the same documents compare equal
    probs = {label: round(token_probs.get(tok, 0.0) / total, 6) for tok, label in zip(prompt.tokens, prompt.labels)}
    best = max(prompt.labels, key=lambda lab: probs[lab])  # first label wins a tie
    if prompt.task == "topic":
        expected = probs[best]
    else:
        expected = round(sum(p * int(lab) for lab, p in probs.items()), 6)
    return JudgeScore(prompt.task, best, expected, probs, prompt.version, model_id)


class Judge:
    def __init__(self, backend: Backend, config: JudgeConfig, cache: LabelCache | None):
        self.backend = backend
        self.config = config
        self.cache = cache
        self.model_id = backend.model_id
        self.model_calls = 0  # documents sent to the model (tests check that the cache works)
        self._prompts: dict[str, Prompt] = {}

    def prompt(self, task: str) -> Prompt:
        if task not in self._prompts:
            if task not in TASKS:
                raise ValueError(f"unknown judge task {task!r}; tasks: {', '.join(TASKS)}")
            topics = load_taxonomy(self.config.taxonomy) if task == "topic" else ()
            prompt = get_prompt(task, self.config.prompt_versions.get(task), topics)
            self.backend.check_tokens(prompt)
            self._prompts[task] = prompt
        return self._prompts[task]

    def score(self, texts: Sequence[str], task: str) -> list[JudgeScore]:
        prompt = self.prompt(task)
        cut = [(t or "")[: self.config.max_chars] for t in texts]
        shas = [text_sha256(t) for t in cut]
        found: dict[str, JudgeScore] = {}
        if self.cache is not None:
            for sha, (label, expected, probs) in self.cache.get(shas, prompt.version, self.model_id).items():
                found[sha] = JudgeScore(task, label, expected, probs, prompt.version, self.model_id)
        todo = sorted({sha: text for sha, text in zip(shas, cut) if sha not in found}.items())
        # the backend sees 8 batches at a time: room to group documents of similar length (local)
        # or to keep `concurrency` requests busy (http); each chunk's labels go to the cache, which
        # writes a file every `flush_every` labels
        step = 8 * self.config.batch_size
        for start in range(0, len(todo), step):
            chunk = todo[start : start + step]
            self.model_calls += len(chunk)
            results = self.backend.token_probs(prompt, [text for _, text in chunk])
            scored = [(sha, score_from_probs(prompt, probs, self.model_id)) for (sha, _), probs in zip(chunk, results)]
            found.update(scored)
            if self.cache is not None:  # a crash loses at most the labels since the cache's last flush
                ok = [(sha, s.label, s.expected, s.probs) for sha, s in scored if not s.failed]
                self.cache.put(ok, prompt.version, self.model_id)
        failed = sum(1 for sha, _ in todo if found[sha].failed)
        if failed:
            log.warning("judge %s: %d of %d documents got no label probability from %s (not cached)", task, failed, len(todo), self.model_id)
        return [found[sha] for sha in shas]

    def flush(self) -> None:
        """Write the labels not yet in the label cache's files (the judge stage: after each batch)."""
        if self.cache is not None:
            self.cache.flush()

    def close(self) -> None:
        self.backend.close()
        if self.cache is not None:
            self.cache.close()


def build_judge(config: JudgeConfig, cache_dir: str | None = None, shared_cache: str | None = None) -> Judge:
    """A judge for `config`. Converted models live in a node-local cache: config.cache_dir (when
    a local folder), else `cache_dir` (the run's), else ~/.cache/llama3-curate. Labels live under a
    root every node reaches: config.cache_dir, else `shared_cache` (the run's `ctx.shared`: a
    folder or object-store URI), else that node-local cache."""
    configured = config.cache_dir
    local_root = (configured if configured and not storage.is_uri(configured) else None) or cache_dir or default_cache_dir()
    labels_root = configured or shared_cache or local_root
    if config.backend == "local":
        from classifiers.judge.local import LocalBackend

        backend: Backend = LocalBackend(config, local_root)
    else:
        from classifiers.judge.http_backend import OpenAIBackend

        backend = OpenAIBackend(config)
    return Judge(backend, config, LabelCache(label_cache_dir(labels_root)))
