"""Where a model runs, and transformers kept quiet in the run's console. Its own module: the judge
and the encoder scorers both load models, and neither may import the other."""
from __future__ import annotations


def quiet_transformers() -> None:
    """No per-load progress bars or "classifier weights newly initialised" reports (expected for a
    fresh head) in every Ray worker's log."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def resolve_device(device: str) -> str:
    import torch

    quiet_transformers()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda, but torch sees no GPU")
    return device
