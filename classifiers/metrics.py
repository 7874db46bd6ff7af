"""Held-out metrics for the scorers: ROC-AUC and accuracy for binary scorers, accuracy and
macro-F1 for multi-class ones (a few lines each; not worth a scikit-learn dependency)."""
from __future__ import annotations

from collections import Counter

import numpy as np


def roc_auc(labels: list[int], scores: list[float]) -> float | None:
    """Mann-Whitney form of the area under the ROC curve (ties count half); None when the
    labels hold one class only."""
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    # 1-based ranks, tied scores sharing their mean rank
    _, group, counts = np.unique(np.asarray(scores, dtype=float), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[group]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def macro_f1(truth: list[str], predicted: list[str]) -> float | None:
    """Unweighted mean of per-class F1 over the classes present in `truth`."""
    classes = sorted(set(truth))
    if not classes:
        return None
    f1s = []
    for c in classes:
        tp = sum(1 for t, p in zip(truth, predicted) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted) if t == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def accuracy(truth: list, predicted: list) -> float | None:
    return float(np.mean([t == p for t, p in zip(truth, predicted)])) if truth else None


def binary_metrics(labels: list[int], scores: list[float], threshold: float = 0.5) -> dict:
    predicted = [int(s >= threshold) for s in scores]
    return {
        "n": len(labels),
        "roc_auc": roc_auc(labels, scores),
        "accuracy": accuracy(labels, predicted),
        "macro_f1": macro_f1([str(x) for x in labels], [str(x) for x in predicted]),
        "label_counts": dict(sorted(Counter(str(x) for x in labels).items())),
    }


def multiclass_metrics(truth: list[str], predicted: list[str]) -> dict:
    return {
        "n": len(truth),
        "accuracy": accuracy(truth, predicted),
        "macro_f1": macro_f1(truth, predicted),
        "label_counts": dict(sorted(Counter(truth).items())),
    }
