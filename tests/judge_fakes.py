"""Test doubles for the judge: a backend without a model, and a scriptable OpenAI-compatible HTTP
server on 127.0.0.1 (for retries, timeouts, missing logprobs, the API key)."""
from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeBackend:
    """Deterministic label probabilities from a hash of the text; counts what it is asked."""

    def __init__(self, model_id: str = "fake-model", fail_on: str | None = None):
        self.model_id = model_id
        self.fail_on = fail_on  # texts containing this get no label probability
        self.calls: list[str] = []

    def check_tokens(self, prompt) -> None:
        pass

    def token_probs(self, prompt, texts):
        out = []
        for text in texts:
            self.calls.append(text)
            if self.fail_on and self.fail_on in text:
                out.append(None)
                continue
            h = hashlib.sha256(text.encode()).digest()
            out.append({tok: (h[i % len(h)] + 1) / 256 for i, tok in enumerate(prompt.tokens)})
        return out

    def close(self) -> None:
        pass


def chat_response(top: dict[str, float] | None) -> dict:
    """A /chat/completions answer whose one token has these top log-probabilities."""
    choice = {"index": 0, "message": {"role": "assistant", "content": next(iter(top or {"x": 0}))}, "finish_reason": "length"}
    if top is not None:
        entries = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()]
        choice["logprobs"] = {"content": [{"token": entries[0]["token"], "logprob": entries[0]["logprob"], "top_logprobs": entries}]}
    return {"object": "chat.completion", "model": "fake", "choices": [choice]}


def completion_response(top: dict[str, float] | None) -> dict:
    choice = {"index": 0, "text": next(iter(top or {"x": 0})), "finish_reason": "length"}
    choice["logprobs"] = {"tokens": [choice["text"]], "top_logprobs": [top]} if top is not None else None
    return {"object": "text_completion", "model": "fake", "choices": [choice]}


QUALITY_TOP = {"3": math.log(0.6), " 4": math.log(0.2), "The": math.log(0.1), "4": math.log(0.1)}


class FakeOpenAIServer:
    """`script(path, body, n)` returns (status, json_body, delay_s) for the n-th request to `path`
    (n counts from 0 per path); every request's path, headers and body is recorded."""

    def __init__(self, script):
        self.script = script
        self.requests: list[tuple[str, dict, dict]] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.removeprefix("/v1")
                with outer.lock:
                    n = outer.counts.get(path, 0)
                    outer.counts[path] = n + 1
                    outer.requests.append((path, dict(self.headers), body))
                status, payload, delay = outer.script(path, body, n)
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
