"""OpenAI-compatible HTTP backend (vLLM, llama.cpp server, llama-cpp-python, Ollama). One request
per document asks for a single token with its top-20 log-probabilities; the label tokens found
among them are renormalised by the judge. Requests run `concurrency` at a time, failed ones are
retried with exponential backoff. The API key is read from the environment and only ever sent
in the Authorization header: never logged, cached or written."""
from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from classifiers.judge.config import JudgeConfig
from classifiers.judge.errors import JudgeError
from classifiers.judge.prompts import Prompt

log = logging.getLogger(__name__)

TOP_LOGPROBS = 20  # the most OpenAI allows and vLLM's default max_logprobs
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_BACKOFF_S = 0.5  # first retry delay, doubling per retry (our choice)
_MAX_BACKOFF_S = 30.0


class _DocumentRejected(Exception):
    """The server refused one document (HTTP 400/413/422, e.g. longer than its context)."""


class OpenAIBackend:
    def __init__(self, config: JudgeConfig):
        if not config.base_url:
            raise JudgeError("judge backend 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)")
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        key = os.environ.get(config.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=config.timeout_s, headers=headers)
        self.api = config.api
        self.model = config.model or self._served_model()
        self.model_id = f"openai:{self.model}"

    def _served_model(self) -> str:
        try:
            data = self._request("GET", "/models")
        except _DocumentRejected as e:
            raise JudgeError(f"{self.base_url}/models: {e}; set judge `model`") from None
        models = sorted(m["id"] for m in data.get("data", []) if m.get("id"))
        if len(models) != 1:
            raise JudgeError(f"{self.base_url} serves {len(models)} models {models}; set judge `model`")
        return models[0]

    def _request(self, method: str, path: str, body: dict | None = None, url: str | None = None) -> dict:
        url = url or self.base_url + path
        last, delay = "", 0.0
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(delay)
            delay = min(_MAX_BACKOFF_S, _BACKOFF_S * 2**attempt)
            try:
                resp = self.client.request(method, url, json=body)
            except httpx.TransportError as e:  # connection refused/reset, timeouts
                last = f"{type(e).__name__}: {e}"
                continue
            if resp.status_code in _RETRY_STATUS:
                last = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("retry-after", "")
                if retry_after.isdigit():
                    delay = min(_MAX_BACKOFF_S, float(retry_after))
                continue
            if resp.status_code in (400, 413, 422):
                raise _DocumentRejected(f"HTTP {resp.status_code}: {resp.text[:200]}")
            if resp.status_code >= 400:
                raise JudgeError(f"{method} {url} answered HTTP {resp.status_code}: {resp.text[:200]}")
            return resp.json()
        raise JudgeError(f"{method} {url} failed after {self.config.max_retries + 1} tries (last: {last})")

    def check_tokens(self, prompt: Prompt) -> None:
        """Ask the server's tokenizer (vLLM and llama.cpp: /tokenize; llama-cpp-python:
        /extras/tokenize) that each label is one token; without one, say we could not check.
        Counts are taken relative to the empty string, since some endpoints always add a BOS."""
        root = self.base_url.removesuffix("/v1")
        attempts = [
            (f"{root}/tokenize", lambda t: {"model": self.model, "prompt": t, "add_special_tokens": False}),
            (f"{root}/tokenize", lambda t: {"content": t, "add_special": False}),
            (f"{root}/extras/tokenize", lambda t: {"input": t, "model": self.model}),
        ]
        for url, make in attempts:
            base = self._token_count(url, make(""))
            counts = [self._token_count(url, make(t)) for t in prompt.tokens] if base is not None else [None]
            if None in counts or all(c == base for c in counts):  # endpoint absent or did not understand
                continue
            bad = [t for t, c in zip(prompt.tokens, counts) if c - base != 1]
            if bad:
                raise JudgeError(f"{prompt.version}: labels {bad} are not single tokens for {self.model}")
            return
        log.warning("%s has no tokenize endpoint: cannot check that %s's labels are single tokens", self.base_url, prompt.version)

    def _token_count(self, url: str, body: dict) -> int | None:
        try:
            resp = self.client.post(url, json=body)
            ids = resp.json().get("tokens") if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return len(ids) if isinstance(ids, list) else None

    def token_probs(self, prompt: Prompt, texts: list[str]) -> list[dict[str, float] | None]:
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            return list(pool.map(lambda text: self._one(prompt, text), texts))

    def _one(self, prompt: Prompt, text: str) -> dict[str, float] | None:
        try:
            if self.api in ("auto", "chat"):
                top = self._chat_top(prompt, text)
                if top is None and self.api == "auto":
                    log.warning("%s/chat/completions returned no logprobs; using /completions", self.base_url)
                    self.api = "completions"
                elif top is None:
                    raise JudgeError(f"{self.base_url}/chat/completions returned no logprobs; try api: completions")
            if self.api == "completions":
                top = self._completion_top(prompt, text)
                if top is None:
                    raise JudgeError(
                        f"{self.base_url} returned no logprobs on /chat/completions nor /completions: the judge "
                        "needs them (vLLM and llama.cpp server return them; llama-cpp-python needs logits_all)"
                    )
        except _DocumentRejected as e:
            log.warning("judge: %s rejected a document (%s); it gets no label", self.base_url, e)
            return None
        probs: dict[str, float] = {}
        for token, logprob in top:
            key = token.strip()  # " 3" and "3" are the same answer
            if key in prompt.tokens and logprob is not None and math.isfinite(logprob):
                probs[key] = probs.get(key, 0.0) + math.exp(logprob)
        return probs or None

    def _chat_top(self, prompt: Prompt, text: str) -> list[tuple[str, float]] | None:
        body = {
            "model": self.model,
            "messages": prompt.messages(text),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        data = self._request("POST", "/chat/completions", body)
        try:
            first = data["choices"][0]["logprobs"]["content"][0]
            return [(e["token"], e["logprob"]) for e in first["top_logprobs"]] or None
        except (KeyError, IndexError, TypeError):
            return None

    def _completion_top(self, prompt: Prompt, text: str) -> list[tuple[str, float]] | None:
        body = {"model": self.model, "prompt": prompt.plain(text), "max_tokens": 1, "temperature": 0.0, "logprobs": TOP_LOGPROBS}
        data = self._request("POST", "/completions", body)
        try:
            top = data["choices"][0]["logprobs"]["top_logprobs"][0]
            return list(top.items()) or None
        except (KeyError, IndexError, TypeError, AttributeError):
            return None

    def close(self) -> None:
        self.client.close()
