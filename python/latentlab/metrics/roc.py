"""Receiver operating characteristic of a detector's scores (higher = more anomalous)."""

import numpy as np


def _check(normal, anomalous) -> tuple[np.ndarray, np.ndarray]:
    normal, anomalous = (np.asarray(x, np.float64).ravel() for x in (normal, anomalous))
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError(f"need scores of both groups, got {normal.size} normal and "
                         f"{anomalous.size} anomalous")
    if not (np.isfinite(normal).all() and np.isfinite(anomalous).all()):
        raise ValueError("scores must be finite")
    return normal, anomalous


def auroc(normal, anomalous) -> float:
    """Area under the ROC curve: the probability that an anomalous sample scores higher than a
    normal one, ties counted one half (the Mann–Whitney U statistic over n₀ n₁)."""
    normal, anomalous = _check(normal, anomalous)
    scores = np.concatenate([normal, anomalous])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # tied scores share the mean of their ranks
    unique, inverse = np.unique(scores, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    ranks = (sums / counts)[inverse]
    n0, n1 = len(normal), len(anomalous)
    u = ranks[n0:].sum() - n1 * (n1 + 1) / 2
    return float(u / (n0 * n1))


def roc_curve(normal, anomalous) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates), from (0, 0) to (1, 1), one point per
    distinct score used as the threshold ``score >= threshold`` (highest first)."""
    normal, anomalous = _check(normal, anomalous)
    thresholds = np.unique(np.concatenate([normal, anomalous]))[::-1]
    fpr = np.array([0.0] + [float(np.mean(normal >= t)) for t in thresholds])
    tpr = np.array([0.0] + [float(np.mean(anomalous >= t)) for t in thresholds])
    return fpr, tpr
