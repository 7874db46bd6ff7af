"""Shared by the dedup tests: a fast shuffle for small Ray runs, and synthetic word texts."""
import random

import pytest

VOCAB = [a + b + c for a in ("ka", "lo", "mi", "ne", "su", "ta", "vi", "ro") for b in ("r", "n", "s", "l", "t") for c in ("a", "e", "o", "um", "is")]


def text(seed: int, n_words: int = 300) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(VOCAB) for _ in range(n_words)]


def edit(words: list[str], positions, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = list(words)
    for p in positions:
        out[p] = rng.choice(VOCAB).upper() + "x"  # a word no generated text contains
    return out


@pytest.fixture
def sort_shuffle(monkeypatch, ray_local):
    """Ray with sort shuffles for this test. Ray's default hash shuffle costs seconds of fixed
    overhead per shuffle on the shared 2-core test box (sort: ~0.1 s), and a dedup run has 5+
    shuffles; grouping is the same either way (tests/dedup/test_dedup_url.py and the `slow` MinHash
    test run the hash path)."""
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    monkeypatch.setattr(DataContext.get_current(), "shuffle_strategy", ShuffleStrategy.SORT_SHUFFLE_PULL_BASED)
    return ray_local
