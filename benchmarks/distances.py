"""Distances the judge scores results by, from families no run optimizes (numpy only).

A method must not be its own referee: a run that minimizes Gram matrices looks best by a Gram
distance. Beside the judge's Gram, Wasserstein-2 and feature distances (`judge.py`), these come
from other families, each 0 for identical inputs and lower for closer:

    sliced_wasserstein   style: the whole distribution of features along random directions
    nearest_neighbor     style: how far each feature vector is from its nearest match in the
                         other image (both directions: the result's textures found in the style,
                         and the style's found in the result)
    self_similarity      content: the layout, as which places of the image look alike
    chroma_hellinger     color: the result's a/b (CIELAB) histogram against the style's

Features are (N, C) arrays: a layer's positions by channels.
"""

from __future__ import annotations

import numpy as np

# At most this many positions of a layer are compared (a seeded sample): the nearest-neighbour
# search is N x M, and the distributions' shapes are stable well below it.
MAX_POSITIONS = 4096


def sample_positions(features: np.ndarray, seed: int = 0, limit: int = MAX_POSITIONS):
    """At most `limit` rows of (N, C) `features`, a seeded random choice (all if fewer)."""
    features = np.asarray(features, np.float64).reshape(-1, np.shape(features)[-1])
    if len(features) <= limit:
        return features
    rows = np.random.default_rng(seed).choice(len(features), limit, replace=False)
    return features[np.sort(rows)]


def unit_directions(channels: int, count: int = 64, seed: int = 0) -> np.ndarray:
    """`count` seeded random unit vectors in `channels` dimensions, (C, count)."""
    directions = np.random.default_rng(seed).standard_normal((channels, count))
    return directions / np.linalg.norm(directions, axis=0, keepdims=True)


def sliced_wasserstein(features, target, directions: np.ndarray, quantiles: int = 256) -> float:
    """sqrt(mean over directions of the squared 1-D Wasserstein-2 distance between the two
    projections / the target's mean squared projection): scale-free, and blind to where in the
    image a feature sits. Sets of different sizes are compared at the same quantiles.

    Args:
        features, target: (N, C) and (M, C).
        directions: (C, K) unit vectors (`unit_directions`), the same for every image compared.
        quantiles: Levels at which the sorted projections are compared.
    """
    levels = (np.arange(quantiles) + 0.5) / quantiles
    a = np.quantile(np.asarray(features, np.float64) @ directions, levels, axis=0)  # (Q, K)
    b = np.quantile(np.asarray(target, np.float64) @ directions, levels, axis=0)
    return float(np.sqrt(np.mean((a - b) ** 2) / max(np.mean(b**2), 1e-300)))


def nearest_neighbor(features, target, chunk: int = 1024) -> float:
    """The mean over the rows of `features` of the cosine distance (1 - cos) to the nearest row
    of `target`: 0 when every feature vector has an exact match (up to scale) in `target`."""
    a = _unit_rows(features)
    b = _unit_rows(target)
    nearest = [1.0 - (a[i : i + chunk] @ b.T).max(axis=1) for i in range(0, len(a), chunk)]
    return float(np.mean(np.concatenate(nearest)))


def self_similarity(features, photo) -> float:
    """The mean absolute difference between the two images' self-similarity matrices (cosine
    similarity of every pair of positions, (N, N)); the rows must be the same places in both.
    0 when the layout matches, whatever each place is painted like."""
    a, b = _unit_rows(features), _unit_rows(photo)
    return float(np.mean(np.abs(a @ a.T - b @ b.T)))


def chroma_hellinger(rgb: np.ndarray, target_rgb: np.ndarray, bins: int = 16) -> float:
    """The Hellinger distance between the CIELAB a/b histograms of two images ((H, W, 3) in
    [0, 1]): 0 for the same colors in any arrangement, 1 for colors with nothing in common."""

    def histogram(image):
        ab = srgb_to_lab(image)[..., 1:].reshape(-1, 2)
        counts, _, _ = np.histogram2d(ab[:, 0], ab[:, 1], bins, [[-128, 128], [-128, 128]])
        return counts / counts.sum()

    overlap = np.sum(np.sqrt(histogram(rgb) * histogram(target_rgb)))
    return float(np.sqrt(max(0.0, 1.0 - overlap)))


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to CIELAB (D65 white), (..., 3) -> (..., 3): L in [0, 100], a, b ~±128."""
    rgb = np.asarray(rgb, np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])  # fmt: skip
    xyz = linear @ to_xyz.T / to_xyz.sum(axis=1)  # relative to the white point (sRGB's D65)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def _unit_rows(features) -> np.ndarray:
    features = np.asarray(features, np.float64).reshape(-1, np.shape(features)[-1])
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-300)
