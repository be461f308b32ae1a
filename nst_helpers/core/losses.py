"""The losses of neural style transfer: content, Gram-matrix style, total variation, and their sum.

Where we depart from Gatys et al. (2016), and why: the paper's losses are raw sums of squares,
so their size depends on the network's activation magnitudes (which differ by orders of magnitude
between VGG16, VGG19 and different weight files) and on the image size. The anchors (the
TensorFlow tutorial, the Keras example, jcjohnson/neural-style) compensate with weights like
`style_weight=1e-2, content_weight=1e4` that must be retuned for every network and size. Here:

* the Gram matrix is averaged over positions (divided by H*W), so it does not grow with the image;
* content and style losses are *relative* squared errors, divided by the squared norm of their
  target, so multiplying a layer's features by any constant leaves the loss unchanged;
* total variation is averaged over pixels, so it does not grow with the image.

All three are then dimensionless numbers of order 1, and the same `content_weight`,
`style_weight` and `tv_weight` mean the same thing for any network, weights or image size.

A second style loss, `wasserstein_style_loss` (setting `style_loss="wasserstein"`, as
crowsonkb/style-transfer-pytorch uses), compares each layer's features as Gaussians: their means
and covariances, by the squared 2-Wasserstein distance, divided by the style's mean squared
feature norm so that it is scale-free too. The Gram loss stays the default (the paper's).
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

# Guards the relative losses against an all-zero target (a blank image can switch a layer off).
_TINY = 1e-30  # far below any real squared norm, so scale invariance holds


def gram_matrix(features: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """Channel correlations of a feature map, averaged over positions.

    G[c, d] = sum over positions (i, j) of F[i, j, c] * F[i, j, d], divided by H*W.
    With a mask (spatial control, Gatys et al. 2017) each position counts with its mask value and
    the sum is divided by the mask's total instead: the Gram matrix of the masked region.
    Computed in float32 even for float16/bfloat16 features, which would overflow.

    Args:
        features: Tensor of shape (B, H, W, C).
        mask: Optional weights in [0, 1] of shape (B or 1, H, W, 1).

    Returns:
        Tensor of shape (B, C, C).

    Example:
        >>> gram_matrix(tf.ones((1, 2, 2, 3))).shape
        TensorShape([1, 3, 3])
    """
    features = tf.cast(features, tf.float32)
    if mask is None:
        positions = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], tf.float32)
        # (B, H, W, C) x (B, H, W, C) -> (B, C, C), summing over H and W.
        return tf.einsum("bijc,bijd->bcd", features, features) / positions
    mask = tf.cast(mask, tf.float32)
    weight = tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3]), _TINY)[:, None, None]  # (B, 1, 1)
    return tf.einsum("bijc,bijd->bcd", features * mask, features) / weight


def relative_squared_error(
    value: tf.Tensor, target: tf.Tensor, per_item: bool = False
) -> tf.Tensor:
    """Returns ||value - target||^2 / ||target||^2, summed over all elements (a scalar).

    With `per_item`, one value per item of `value`'s batch, shape (B,), against a shared target.
    """
    value = tf.cast(value, tf.float32)
    target = tf.cast(target, tf.float32)
    axes = list(range(1, len(value.shape))) if per_item else None
    return tf.reduce_sum(tf.square(value - target), axis=axes) / tf.maximum(
        tf.reduce_sum(tf.square(target)), _TINY
    )


def content_loss(
    features: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor], per_item: bool = False
) -> tf.Tensor:
    """Relative squared error between content features, averaged over the content layers.

    Args:
        features: {layer: (B, H, W, C) features of the image being optimized}.
        targets: {layer: features of the content image}, same keys and shapes.
        per_item: One loss per image of the batch, shape (B,), instead of their sum.

    Returns:
        A scalar (shape (B,) with `per_item`): 0 when the features equal the targets; 1 when the
        features are all zero.
    """
    errors = [relative_squared_error(features[name], targets[name], per_item) for name in targets]
    return tf.add_n(errors) / len(errors)


def style_loss(
    features: Mapping[str, tf.Tensor],
    target_grams: Mapping[str, tf.Tensor],
    layer_weights: Mapping[str, float] | None = None,
    masks: Mapping[str, tf.Tensor] | None = None,
    per_item: bool = False,
) -> tf.Tensor:
    """Relative squared error between Gram matrices, as a weighted mean over the style layers.

    Args:
        features: {layer: (B, H, W, C) features of the image being optimized}.
        target_grams: {layer: (B or 1, C, C) Gram matrices of the style image}.
        layer_weights: {layer: weight}; default equal weights. Weights are normalized to sum
            to 1, so only their ratios matter.
        masks: {layer: (1, H, W, 1) mask at that layer's size}: compare the Gram matrix of the
            masked region only (style only where the mask is white).
        per_item: One loss per image of the batch, shape (B,), instead of their sum.

    Returns:
        A scalar (shape (B,) with `per_item`): 0 when every Gram matrix equals its target.
    """
    weights = layer_weights or {name: 1.0 for name in target_grams}
    total_weight = sum(weights[name] for name in target_grams)
    masks = masks or {}
    errors = [
        weights[name]
        * relative_squared_error(
            gram_matrix(features[name], masks.get(name)), target_grams[name], per_item
        )
        for name in target_grams
    ]
    return tf.add_n(errors) / total_weight


def style_statistics(features: tf.Tensor, kind: str = "gram", mask: tf.Tensor | None = None):
    """What a style loss compares at one layer: the Gram matrix, or for "wasserstein" the
    second moment of the features with a constant 1 appended, [[G, mean], [mean^T, 1]].

    Both are averages over positions, so mixing styles and combining image chunks is a weighted
    mean of them. Shape (B, C, C), or (B, C + 1, C + 1) for "wasserstein".
    """
    if kind == "wasserstein":
        features = tf.cast(features, tf.float32)
        # (B, H, W, C) -> (B, H, W, C + 1): E[f f^T] then holds the mean in its last column.
        features = tf.concat([features, tf.ones_like(features[..., :1])], axis=-1)
    return gram_matrix(features, mask)


def gaussian_w2(moments: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The squared 2-Wasserstein distance between two Gaussians given by their moments.

    W2^2 = |m1 - m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2), for means m and covariances S.

    Args:
        moments: (B, C + 1, C + 1) from `style_statistics(..., "wasserstein")`.
        target: (1 or B, C + 1, C + 1), the same for the style image.

    Returns:
        Shape (B,), in float64 for float64 moments, else float32.
    """
    channels = moments.shape[-1] - 1

    def mean_and_cov(m):
        mean = m[:, :channels, channels]  # (B, C)
        return mean, m[:, :channels, :channels] - mean[:, :, None] * mean[:, None, :]

    dtype = tf.float64 if moments.dtype == tf.float64 else tf.float32  # float32 at least
    mean, cov = mean_and_cov(tf.cast(moments, dtype))
    target_mean, target_cov = mean_and_cov(tf.cast(target, dtype))
    values, vectors = tf.linalg.eigh(target_cov)  # the style's, a constant of the run
    root = (vectors * tf.sqrt(tf.maximum(values, 0.0))[:, None, :]) @ tf.linalg.adjoint(vectors)
    # tr((S2^1/2 S1 S2^1/2)^1/2) is the sum of the square roots of its eigenvalues; their
    # gradient is finite for repeated eigenvalues, and the floor keeps it finite near 0.
    middle = tf.linalg.eigvalsh(root @ cov @ root)  # (B, C)
    floor = 1e-12 * tf.reduce_max(tf.linalg.trace(target_cov))
    cross = tf.reduce_sum(tf.sqrt(tf.maximum(middle, floor)), axis=-1)
    means = tf.reduce_sum(tf.square(mean - target_mean), axis=-1)
    return means + tf.linalg.trace(cov) + tf.linalg.trace(target_cov) - 2.0 * cross


def wasserstein_style_loss(
    features: Mapping[str, tf.Tensor],
    targets: Mapping[str, tf.Tensor],
    layer_weights: Mapping[str, float] | None = None,
    masks: Mapping[str, tf.Tensor] | None = None,
    per_item: bool = False,
) -> tf.Tensor:
    """The Gaussian W2 style loss, relative: W2^2 / E|f_style|^2, as a weighted layer mean.

    Arguments and weights as for `style_loss`, with `targets` from `style_statistics(...,
    "wasserstein")`. Departure from crowsonkb/style-transfer-pytorch: divided by the style's
    mean squared feature norm (the trace of its second moment), so scaling a layer's features by
    any constant leaves it unchanged, as for the Gram loss: 0 when the means and covariances
    equal the style's, 1 when the features are all zero.
    """
    weights = layer_weights or {name: 1.0 for name in targets}
    total_weight = sum(weights[name] for name in targets)
    masks = masks or {}
    errors = []
    for name, target in targets.items():
        moments = style_statistics(features[name], "wasserstein", masks.get(name))
        target = tf.cast(target, tf.float32)
        scale = tf.maximum(tf.linalg.trace(target[:1, :-1, :-1])[0], _TINY)  # E|f|^2
        error = gaussian_w2(moments, target) / scale
        errors.append(weights[name] * (error if per_item else tf.reduce_sum(error)))
    return tf.add_n(errors) / total_weight


def tv_loss(image: tf.Tensor, per_item: bool = False) -> tf.Tensor:
    """Total variation: the mean absolute difference between neighbouring pixels.

    Equals `tf.image.total_variation(image)` divided by the number of values, H*W*C, so it does
    not grow with the image size (summed over the batch).

    Args:
        image: Tensor of shape (B, H, W, C).
        per_item: One value per image, shape (B,), instead of their sum.

    Returns:
        A scalar (shape (B,) with `per_item`).
    """
    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    values = tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
    axes = [1, 2, 3] if per_item else None
    down = tf.abs(image[:, 1:, :, :] - image[:, :-1, :, :])  # vertical neighbours
    right = tf.abs(image[:, :, 1:, :] - image[:, :, :-1, :])  # horizontal neighbours
    return (tf.reduce_sum(down, axis=axes) + tf.reduce_sum(right, axis=axes)) / values


def total_loss(
    content: tf.Tensor,
    style: tf.Tensor,
    tv: tf.Tensor,
    content_weight: float,
    style_weight: float,
    tv_weight: float,
) -> tf.Tensor:
    """The weighted sum alpha * content + beta * style + tv_weight * tv that we minimize."""
    return content_weight * content + style_weight * style + tv_weight * tv
