"""One entry point to train, load and evaluate any scorer (fastText or transformer) as a
versioned artifact; used by `curate train/eval` and the train-scorers stage."""
from __future__ import annotations

import os
from collections import Counter

from classifiers import artifacts
from classifiers.fasttext_scorer import FastTextScorer, TrainingDataError, check_classes, evaluate, train_fasttext_scorer
from classifiers.label_sources import Example, examples_sha256, split
from classifiers.scorer_specs import ScorerSpec
from classifiers.train_settings import TrainSettings

MODEL_DIR = "model"


def train_transformer_scorer(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int, device: str = "auto") -> str:
    from classifiers.transformer_model import TransformerScorer, fine_tune

    check_classes(spec, examples, 2)
    data_sha = examples_sha256(examples)
    params = settings.transformer
    config = {"scorer": spec.name, "seed": seed, "held_out_fraction": settings.held_out_fraction,
              "positive_min": settings.positive_min, "transformer": params.model_dump(mode="json")}
    version = artifacts.version_of(data_sha, config)

    def build(tmp: str) -> dict:
        train, held = split(examples, settings.held_out_fraction, seed)
        check_classes(spec, train)
        used = fine_tune(train, params, seed, os.path.join(tmp, MODEL_DIR), device)
        meta = {"kind": "transformer", "task": spec.task, "scorer_kind": spec.kind, "column": spec.column,
                "model_dir": MODEL_DIR, "max_length": params.max_length}
        scorer = TransformerScorer(os.path.join(tmp, MODEL_DIR), params.max_length, device)
        return {
            **meta,
            "metrics": {"held_out": evaluate(scorer, held, spec) if held else {}},
            "label_counts": dict(sorted(Counter(e.label for e in train).items())),
            "examples_per_model": {"transformer": used},
            "n_train": len(train), "n_held_out": len(held),
            "training_data_sha256": data_sha, "config": config,
        }

    return artifacts.build_artifact(root, spec.name, version, build)


def train_scorer(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int, device: str = "auto") -> str:
    if spec.model == "transformer":
        return train_transformer_scorer(spec, examples, settings, root, seed, device)
    return train_fasttext_scorer(spec, examples, settings, root, seed)


def load_scorer(path: str, device: str = "auto"):
    """The scorer of an artifact folder, local or a URI (copied to this node once)."""
    local = artifacts.local_copy(path)
    meta = artifacts.read_metrics(local)
    if meta["kind"] == "transformer":
        from classifiers.transformer_model import TransformerScorer

        return TransformerScorer(os.path.join(local, meta["model_dir"]), meta["max_length"], device)
    return FastTextScorer(local, meta)


__all__ = ["TrainingDataError", "evaluate", "load_scorer", "train_scorer"]
