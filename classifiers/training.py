"""One entry point to train, load and evaluate any scorer (fastText, linear or transformer) as a
versioned artifact; used by `curate train/eval` and the train-scorers stage.

The linear scorer (the topic classifier's model): sublinear TF-IDF over the fastText tokens and a
multinomial logistic regression (scikit-learn's lbfgs: deterministic), optionally mixed in log
space with a logistic regression on MiniLM embeddings of the page start (`linear.encoder`). The
fitted numbers are stored as plain arrays (tfidf.json, linear.npz, encoder.npz): loading an
artifact runs no pickled code. On WebOrganizer's topics it beats fastText by 0.1 accuracy
(bench/scorers.py): a few thousand documents are too few for fastText's embeddings."""
from __future__ import annotations

import os

import numpy as np

from classifiers import artifacts
from classifiers.fasttext_scorer import FastTextScorer, TrainingDataError, evaluate, train_fasttext_scorer, train_versioned
from classifiers.label_sources import Example, seeded_order
from classifiers.scorer_specs import ScorerSpec
from classifiers.text_features import Tfidf, embed
from classifiers.train_settings import LinearParams, TrainSettings

MODEL_DIR = "model"
TFIDF, LINEAR, ENCODER = "tfidf.json", "linear.npz", "encoder.npz"


def train_transformer_scorer(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int,
                             device: str = "auto", extra: dict | None = None) -> str:
    from classifiers.transformer_model import TransformerScorer, fine_tune

    params = settings.transformer
    config = {"scorer": spec.name, "seed": seed, "held_out_fraction": settings.held_out_fraction,
              "positive_min": settings.positive_min, "transformer": params.model_dump(mode="json")}

    def fit(train: list[Example], tmp: str):
        used = fine_tune(train, params, seed, os.path.join(tmp, MODEL_DIR), device)
        meta = {"kind": "transformer", "model_dir": MODEL_DIR, "max_length": params.max_length}
        return meta, {"transformer": used}, TransformerScorer(os.path.join(tmp, MODEL_DIR), params.max_length, device)

    return train_versioned(spec, examples, settings, root, seed, config, fit, extra)


def _save_arrays(path: str, **arrays) -> None:
    """np.savez with fixed zip timestamps: the same arrays give the same bytes."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, arr in sorted(arrays.items()):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue(), zipfile.ZIP_DEFLATED)


def _logistic(x, y: list[str], c: float, max_iter: int, seed: int):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=max_iter, random_state=seed).fit(x, y)
    coef, intercept = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # scikit-learn keeps one row for two classes: P(classes_[1])
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return {"classes": np.array(clf.classes_, dtype=str), "coef": coef.astype(np.float64), "intercept": intercept.astype(np.float64)}


def train_linear_scorer(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int,
                        extra: dict | None = None) -> str:
    params = settings.linear
    config = {"scorer": spec.name, "seed": seed, "held_out_fraction": settings.held_out_fraction,
              "positive_min": settings.positive_min, "linear": params.model_dump(mode="json")}

    def fit(train: list[Example], tmp: str):
        train = seeded_order(train, seed)  # the optimiser's sums follow the row order
        texts, labels = [e.text for e in train], [e.label for e in train]
        tfidf = Tfidf.fit(texts, params.min_df, params.max_chars)
        tfidf.save(os.path.join(tmp, TFIDF))
        _save_arrays(os.path.join(tmp, LINEAR), **_logistic(tfidf.transform(texts), labels, params.C, params.max_iter, seed))
        meta = {"kind": "linear", "tfidf": TFIDF, "linear": LINEAR}
        if params.encoder:
            chosen = train[: params.encoder_max_train]  # train is in seeded order
            x = embed([e.text for e in chosen], params.encoder_max_length, params.encoder_path)
            mean, scale = x.mean(0), x.std(0) + 1e-6
            fitted = _logistic((x - mean) / scale, [e.label for e in chosen], params.encoder_C, params.max_iter, seed)
            _save_arrays(os.path.join(tmp, ENCODER), mean=mean, scale=scale, **fitted)
            meta.update(encoder=ENCODER, encoder_weight=params.encoder_weight, encoder_max_length=params.encoder_max_length,
                        encoder_path=params.encoder_path)
        used = {"linear": len(train), **({"encoder": min(len(train), params.encoder_max_train or len(train))} if params.encoder else {})}
        return meta, used, LinearScorer(tmp, meta)

    return train_versioned(spec, examples, settings, root, seed, config, fit, extra)


class LinearScorer:
    """A loaded linear artifact (see the module docstring); same interface as FastTextScorer."""

    def __init__(self, path: str, meta: dict | None = None):
        local = path if meta is not None else artifacts.local_copy(path)
        self.meta = meta or artifacts.read_metrics(local)
        self.tfidf = Tfidf.load(os.path.join(local, self.meta["tfidf"]))
        self.linear = dict(np.load(os.path.join(local, self.meta["linear"]), allow_pickle=False))
        self.encoder = dict(np.load(os.path.join(local, self.meta["encoder"]), allow_pickle=False)) if self.meta.get("encoder") else None
        self.classes = [str(c) for c in self.linear["classes"]]

    def log_probs(self, texts: list[str | None]) -> np.ndarray:
        """(n, classes) log-probabilities; rows of texts without tokens are NaN."""
        x = self.tfidf.transform(texts)
        out = _log_softmax(x @ self.linear["coef"].T + self.linear["intercept"])
        if self.encoder is not None:
            # one thread: a stage host is one per CPU (torch's default of every core oversubscribes)
            e = embed(texts, self.meta["encoder_max_length"], self.meta.get("encoder_path"), threads=1)
            own = _log_softmax(((e - self.encoder["mean"]) / self.encoder["scale"]) @ self.encoder["coef"].T + self.encoder["intercept"])
            # its classes in the TF-IDF model's order (a class its subsample lacked: ~0 probability)
            enc = np.full(out.shape, np.log(1e-9))
            where = {str(c): j for j, c in enumerate(self.encoder["classes"])}
            for i, c in enumerate(self.classes):
                if c in where:
                    enc[:, i] = own[:, where[c]]
            w = self.meta["encoder_weight"]
            out = _log_softmax((1 - w) * out + w * enc)
        empty = np.asarray(x.getnnz(axis=1) == 0)
        out[empty] = np.nan
        return out

    def label(self, texts: list[str | None], languages=None) -> tuple[list[tuple[str, float] | None], list[str]]:
        lp = self.log_probs(texts)
        out: list[tuple[str, float] | None] = []
        for row in lp:
            if np.isnan(row).any():
                out.append(None)
            else:
                best = int(np.argmax(row))
                out.append((self.classes[best], float(np.exp(row[best]))))
        return out, ["linear"] * len(texts)

    def probability(self, texts: list[str | None], languages=None) -> tuple[list[float | None], list[str]]:
        positive = self.classes.index("1")
        return [None if np.isnan(row[positive]) else round(float(np.exp(row[positive])), 6) for row in self.log_probs(texts)], ["linear"] * len(texts)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def train_scorer(spec: ScorerSpec, examples: list[Example], settings: TrainSettings, root: str, seed: int,
                 device: str = "auto", extra: dict | None = None) -> str:
    if spec.model == "transformer":
        return train_transformer_scorer(spec, examples, settings, root, seed, device, extra)
    if spec.model == "linear":
        return train_linear_scorer(spec, examples, settings, root, seed, extra)
    return train_fasttext_scorer(spec, examples, settings, root, seed, extra)


def load_scorer(path: str, device: str = "auto"):
    """The scorer of an artifact folder, local or a URI (copied to this node once)."""
    local = artifacts.local_copy(path)
    meta = artifacts.read_metrics(local)
    if meta["kind"] == "transformer":
        from classifiers.transformer_model import TransformerScorer

        return TransformerScorer(os.path.join(local, meta["model_dir"]), meta["max_length"], device)
    if meta["kind"] == "linear":
        return LinearScorer(local, meta)
    return FastTextScorer(local, meta)


__all__ = ["LinearParams", "LinearScorer", "TrainingDataError", "evaluate", "load_scorer", "train_scorer"]
