"""Fréchet distance between feature distributions (Heusel et al. 2017), in float64 numpy.

FID = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁^½ Σ₂ Σ₁^½)^½); the trace of the matrix square root is
computed from the eigenvalues of the symmetric Σ₁^½ Σ₂ Σ₁^½, which is stable where the
general ``sqrtm`` of Σ₁Σ₂ is not.
"""

from typing import NamedTuple

import numpy as np


class FeatureStats(NamedTuple):
    mean: np.ndarray  # [D] float64
    cov: np.ndarray   # [D, D] float64
    count: int


def feature_stats(features) -> FeatureStats:
    """Mean and (unbiased) covariance of features [N, D]."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need features [N >= 2, D], got shape {features.shape}")
    return FeatureStats(features.mean(axis=0), np.cov(features, rowvar=False),
                        features.shape[0])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """The Fréchet distance between the Gaussians N(a.mean, a.cov) and N(b.mean, b.cov)."""
    root_a = _sqrt_psd(a.cov)
    middle = root_a @ b.cov @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_root = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    diff = a.mean - b.mean
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * trace_root)
