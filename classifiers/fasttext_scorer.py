"""Training a fastText scorer into a versioned artifact, and the loaded artifact that scores
(the same object serves the pipeline stage and `curate eval`, so both score alike)."""
from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Callable

from classifiers import artifacts, fasttext_model
from classifiers.label_sources import Example, examples_sha256, split
from classifiers.metrics import binary_metrics, multiclass_metrics
from classifiers.scorer_specs import ScorerSpec
from classifiers.train_settings import TrainSettings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"


class TrainingDataError(ValueError):
    """The labels cannot train this scorer (e.g. one class only); the message says why."""


def check_classes(spec: ScorerSpec, examples: list[Example], minimum: int = 1) -> None:
    counts = Counter(e.label for e in examples)
    if len(counts) < 2 or min(counts.values()) < minimum:
        raise TrainingDataError(f"{spec.name}: labels {dict(counts)} need two classes with >= {minimum} examples each")


def _language_models(spec: ScorerSpec, train: list[Example], settings: TrainSettings) -> list[str]:
    if not spec.per_language:
        return []
    by_lang: dict[str, list[Example]] = {}
    for e in train:
        if e.language:
            by_lang.setdefault(e.language, []).append(e)
    langs = []
    for lang, exs in sorted(by_lang.items()):
        counts = Counter(e.label for e in exs)
        if len(exs) >= settings.min_language_examples and len(counts) == 2 and min(counts.values()) >= settings.min_class_examples:
            langs.append(lang)
    return langs


def train_versioned(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int,
                    config: dict, fit: Callable, extra: dict | None = None) -> str:
    """Train (or find) the artifact of `examples` under `config` (with the data, its version);
    returns its folder. `fit(train, tmp)` writes the model files of one kind into `tmp` and returns
    (meta, examples used per model, a scorer of `tmp`), which is measured on the held-out split;
    `extra` goes into metrics.json as it is (e.g. which teachers labelled the examples)."""
    check_classes(spec, examples, 2)
    data_sha = examples_sha256(examples)
    version = artifacts.version_of(data_sha, config)

    def build(tmp: str) -> dict:
        train, held = split(examples, settings.held_out_fraction, seed)
        check_classes(spec, train)
        meta, n_used, scorer = fit(train, tmp)
        meta = {"task": spec.task, "scorer_kind": spec.kind, "column": spec.column, **meta}
        return {
            **meta,
            "metrics": {"held_out": evaluate(scorer, held, spec) if held else {}},
            "label_counts": dict(sorted(Counter(e.label for e in train).items())),
            "examples_per_model": n_used,
            "n_train": len(train),
            "n_held_out": len(held),
            "training_data_sha256": data_sha,
            "config": config,
            **(extra or {}),
        }

    return artifacts.build_artifact(root, spec.name, version, build)


def train_fasttext_scorer(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int,
                          extra: dict | None = None) -> str:
    """Train (or find) the fastText artifact for `examples`; returns its folder."""
    config = {"scorer": spec.name, "seed": seed, **settings.model_dump(mode="json", exclude={"transformer", "linear"})}

    def fit(train: list[Example], tmp: str):
        models = {DEFAULT_MODEL: "default.bin"}
        n_used = {DEFAULT_MODEL: fasttext_model.train(train, settings.fasttext, seed, os.path.join(tmp, "default.bin"))}
        for lang in _language_models(spec, train, settings):
            models[lang] = f"lang-{lang}.bin"
            subset = [e for e in train if e.language == lang]
            n_used[lang] = fasttext_model.train(subset, settings.fasttext, seed, os.path.join(tmp, models[lang]))
        meta = {"kind": "fasttext", "models": models, "max_chars": settings.fasttext.max_chars}
        return meta, n_used, FastTextScorer(tmp, {**meta, "scorer_kind": spec.kind})

    return train_versioned(spec, examples, settings, root, seed, config, fit, extra)


class FastTextScorer:
    """A loaded fastText artifact: one default model plus optional per-language models."""

    def __init__(self, path: str, meta: dict | None = None):
        """`path`: an artifact folder, local or a URI (copied to this node once); with `meta`, a
        local folder being built."""
        self.path = path
        local = path if meta is not None else artifacts.local_copy(path)
        self.meta = meta or artifacts.read_metrics(local)
        self.max_chars = self.meta["max_chars"]
        self.models = {name: fasttext_model.load(os.path.join(local, f)) for name, f in self.meta["models"].items()}

    def model_name(self, language: str | None) -> str:
        return language if language in self.models else DEFAULT_MODEL

    def _grouped(self, texts, languages, fn):
        languages = languages or [None] * len(texts)
        names = [self.model_name(lang) for lang in languages]
        out = [None] * len(texts)
        for name in sorted(set(names)):
            idx = [i for i, n in enumerate(names) if n == name]
            for i, v in zip(idx, fn(self.models[name], [texts[i] for i in idx], self.max_chars)):
                out[i] = v
        return out, names

    def probability(self, texts: list[str | None], languages: list[str | None] | None = None) -> tuple[list[float | None], list[str]]:
        """P(positive) per text (None: no tokens), and the model that scored it."""
        return self._grouped(texts, languages, fasttext_model.positive_probability)

    def label(self, texts: list[str | None], languages: list[str | None] | None = None) -> tuple[list[tuple[str, float] | None], list[str]]:
        return self._grouped(texts, languages, fasttext_model.top_label)


def evaluate(scorer: FastTextScorer, examples: list[Example], spec: ScorerSpec) -> dict:
    """Metrics of `scorer` against the labels of `examples` (texts without tokens count as
    negative / wrong: a scorer that cannot read a document has not recognised it)."""
    texts = [e.text for e in examples]
    langs = [e.language for e in examples]
    truth = [e.label for e in examples]
    if spec.kind == "binary":
        probs, names = scorer.probability(texts, langs)
        out = binary_metrics([int(t) for t in truth], [p or 0.0 for p in probs])
    else:
        labels, names = scorer.label(texts, langs)
        out = multiclass_metrics(truth, [lab[0] if lab else "" for lab in labels])
    out["scored_by"] = dict(sorted(Counter(names).items()))
    return out
