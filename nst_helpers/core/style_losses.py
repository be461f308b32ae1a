"""The style losses a run can use, named once: each is a statistic of one layer's features and a
distance between two statistics, summed over the style layers by `style_loss`.

Everything that offers a choice of style loss reads this registry: `Settings` checks the name,
`nst --help` lists the choices, the objective and the tiles compute the targets, the memory
estimate counts what the loss holds, and docs/method.md's table is checked against it. Adding a
style loss is one `register(StyleLoss(...))` (docs/method.md has a worked example) plus its tests.

Importing this module does not load TensorFlow (the formulas import it on first use), so the
settings and the command line can check a name before TensorFlow starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from nst_helpers.core import losses as L
from nst_helpers.errors import NSTError


@dataclass(frozen=True)
class StyleLoss:
    """One style loss.

    Attributes:
        name: What `Settings.style_loss` and `--style-loss` call it.
        summary: One line for `nst --help` and the docs.
        statistic: (features (B, H, W, C), mask (1, H, W, 1) or None) -> the statistic the loss
            compares, e.g. the Gram matrix (B, C, C).
        distance: (statistic of the image, statistic of the style) -> a scalar, 0 when equal.
        averaged: Whether the statistic is a mean over positions: several style images then
            mix, and a style image's chunks combine (tiled runs), as the weighted mean of their
            statistics. Otherwise the statistic is a set of samples, (1, N, C), and they pool
            their samples in proportion to their weights.
        bytes_per_activation: Memory the loss holds beyond the Gram loss's, per style-layer
            activation (the memory estimate adds it).
    """

    name: str
    summary: str
    statistic: Callable
    distance: Callable
    averaged: bool = True
    bytes_per_activation: float = 0.0


STYLE_LOSSES: dict[str, StyleLoss] = {}


def register(loss: StyleLoss) -> StyleLoss:
    """Adds `loss` to the registry (replacing one of the same name) and returns it."""
    STYLE_LOSSES[loss.name] = loss
    return loss


def style_loss_named(name: str) -> StyleLoss:
    """The registered style loss called `name`; an NSTError naming the choices otherwise."""
    if name not in STYLE_LOSSES:
        raise NSTError(f"unknown style_loss {name!r}: choose one of {', '.join(STYLE_LOSSES)}.")
    return STYLE_LOSSES[name]


def style_loss(
    features: Mapping,
    targets: Mapping,
    layer_weights: Mapping[str, float] | None = None,
    masks: Mapping | None = None,
    kind: str = "gram",
):
    """The style loss: a weighted mean over the style layers of each layer's distance.

    Args:
        features: {layer: (1, H, W, C) features of the image being optimized}.
        targets: {layer: the style image's statistic}, from `style_targets` (for "gram", the
            Gram matrices, (1, C, C)).
        layer_weights: {layer: weight}; default equal weights. Weights are normalized to sum
            to 1, so only their ratios matter.
        masks: {layer: (1, H, W, 1) mask at that layer's size}: compare the statistic of the
            masked region only (style only where the mask is white).
        kind: The registered style loss's name.

    Returns:
        A scalar: 0 when every statistic equals its target.
    """
    loss = style_loss_named(kind)
    weights = layer_weights or dict.fromkeys(targets, 1.0)
    masks = masks or {}
    total = sum(
        weights[name] * loss.distance(loss.statistic(features[name], masks.get(name)), target)
        for name, target in targets.items()
    )
    return total / sum(weights[name] for name in targets)


def style_targets(kind: str, parts: Sequence[tuple[float, Mapping]]) -> dict:
    """The style's statistic at each layer, from feature maps that each count with a weight.

    `parts` are (weight, {layer: (1, H, W, C) features}): several style images mixed by their
    blend weights, or one image's chunks weighted by their positions. An averaged statistic is
    the weighted mean of the parts' statistics; a set of samples pools the parts' samples, each
    part giving its share of them (`pool_samples`).
    """
    loss = style_loss_named(kind)
    total = sum(weight for weight, _ in parts)
    targets: dict = {}
    for name in parts[0][1]:
        statistics = [(weight / total, loss.statistic(f[name], None)) for weight, f in parts]
        if loss.averaged:
            targets[name] = sum(share * statistic for share, statistic in statistics)
        else:
            targets[name] = pool_samples(statistics)
    return targets


def pool_samples(parts: Sequence[tuple[float, object]]):
    """One set of samples (1, N, C) from several, each giving its share of the N (the sum of
    theirs) rows: evenly spaced rows of its own, repeated where it has fewer. A style image's
    chunks, weighted by their positions, give all their rows."""
    import numpy as np
    import tensorflow as tf

    total = sum(int(samples.shape[1]) for _, samples in parts)
    pooled = []
    for share, samples in parts:
        rows, count = int(samples.shape[1]), max(1, round(share * total))
        pick = np.minimum((np.arange(count) + 0.5) * rows / count, rows - 1).astype(np.int64)
        pooled.append(tf.gather(samples, pick, axis=1))
    return tf.concat(pooled, axis=1)


register(
    StyleLoss(
        "gram",
        "the paper's: Gram matrices, by relative squared error",
        statistic=L.gram_matrix,
        distance=L.relative_squared_error,
    )
)
register(
    StyleLoss(
        "wasserstein",
        "each layer's features as a Gaussian (mean, covariance), by the 2-Wasserstein distance",
        statistic=L.gaussian_moments,
        distance=L.relative_w2,
    )
)
register(
    StyleLoss(
        "sliced",
        "each layer's feature distribution along random directions, by the sliced Wasserstein "
        "distance (Heitz et al. 2021)",
        statistic=L.feature_samples,
        distance=L.sliced_wasserstein,
        averaged=False,  # its projections peaked no higher than the Gram loss's: MEMORY_FIT.md
    )
)
