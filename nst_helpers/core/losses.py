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

The style loss is one of several (`nst_helpers.core.style_losses`, their registry): each is a
statistic of a layer's features and a distance between two statistics. The Gram matrix and the
relative squared error are the paper's; the Gaussian 2-Wasserstein pieces are below them.
TensorFlow is imported when a loss is first computed, so the settings can name the losses
without loading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

# The terms of the total loss, each weighted by the setting `<term>_weight` (alpha, beta, ...).
TERMS = ("content", "style", "tv")
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
        >>> import tensorflow as tf
        >>> gram_matrix(tf.ones((1, 2, 2, 3))).shape
        TensorShape([1, 3, 3])
    """
    import tensorflow as tf

    features = tf.cast(features, tf.float32)
    if mask is None:
        positions = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], tf.float32)
        # (B, H, W, C) x (B, H, W, C) -> (B, C, C), summing over H and W.
        return tf.einsum("bijc,bijd->bcd", features, features) / positions
    mask = tf.cast(mask, tf.float32)
    weight = tf.maximum(tf.reduce_sum(mask, axis=[1, 2, 3]), _TINY)[:, None, None]  # (B, 1, 1)
    return tf.einsum("bijc,bijd->bcd", features * mask, features) / weight


def relative_squared_error(value: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Returns ||value - target||^2 / ||target||^2, summed over all elements (a scalar)."""
    import tensorflow as tf

    value, target = tf.cast(value, tf.float32), tf.cast(target, tf.float32)
    error = tf.reduce_sum(tf.square(value - target))
    return error / tf.maximum(tf.reduce_sum(tf.square(target)), _TINY)


def content_loss(features: Mapping[str, tf.Tensor], targets: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Relative squared error between content features, averaged over the content layers.

    Args:
        features: {layer: (1, H, W, C) features of the image being optimized}.
        targets: {layer: features of the content image}, same keys and shapes.

    Returns:
        A scalar: 0 when the features equal the targets; 1 when the features are all zero.
    """
    import tensorflow as tf

    errors = [relative_squared_error(features[name], targets[name]) for name in targets]
    return tf.add_n(errors) / len(errors)


def tv_loss(image: tf.Tensor) -> tf.Tensor:
    """Total variation: the mean absolute difference between neighbouring pixels.

    Equals `tf.image.total_variation(image)` divided by the number of values, H*W*C, so it does
    not grow with the image size (summed over a batch).

    Args:
        image: Tensor of shape (B, H, W, C).

    Returns:
        A scalar.
    """
    import tensorflow as tf

    image = tf.cast(image, tf.float32)
    shape = tf.shape(image)
    values = tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
    down = tf.abs(image[:, 1:, :, :] - image[:, :-1, :, :])  # vertical neighbours
    right = tf.abs(image[:, :, 1:, :] - image[:, :, :-1, :])  # horizontal neighbours
    return (tf.reduce_sum(down) + tf.reduce_sum(right)) / values


def total_loss(losses: Mapping[str, tf.Tensor], weights: Mapping[str, float]) -> tf.Tensor:
    """The weighted sum we minimize: alpha * content + beta * style + tv_weight * tv.

    Args:
        losses: {term: value} for every term in `TERMS` (more keys are ignored).
        weights: {term: weight} for every term in `TERMS` (`Settings.loss_weights()`).

    Example:
        >>> float(total_loss({"content": 2.0, "style": 3.0, "tv": 5.0},
        ...                  {"content": 1.0, "style": 10.0, "tv": 0.5}))
        34.5
    """
    return sum(weights[term] * losses[term] for term in TERMS)


# --- the Gaussian 2-Wasserstein style loss (crowsonkb/style-transfer-pytorch uses it) ---------
def gaussian_moments(features: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """The features' second moment with a constant 1 appended: [[E ff^T, mean], [mean^T, 1]].

    Like the Gram matrix it is an average over positions, so mixing styles and combining image
    chunks is a weighted mean of it. Shape (B, H, W, C) -> (B, C + 1, C + 1).
    """
    import tensorflow as tf

    features = tf.cast(features, tf.float32)
    # (B, H, W, C) -> (B, H, W, C + 1): E[f f^T] then holds the mean in its last column.
    return gram_matrix(tf.concat([features, tf.ones_like(features[..., :1])], axis=-1), mask)


def gaussian_w2(moments: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The squared 2-Wasserstein distance between two Gaussians given by their moments.

    W2^2 = |m1 - m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2), for means m and covariances S.

    Args:
        moments: (B, C + 1, C + 1) from `gaussian_moments`.
        target: (1 or B, C + 1, C + 1), the same for the style image.

    Returns:
        Shape (B,), in float64 for float64 moments, else float32; never below 0.
    """
    import tensorflow as tf

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
    # A distance: rounding (and the floor) can take the difference of traces below 0.
    return tf.maximum(means + tf.linalg.trace(cov) + tf.linalg.trace(target_cov) - 2.0 * cross, 0)


def relative_w2(moments: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """W2^2 / E|f_style|^2, summed over the batch (a scalar).

    Departure from crowsonkb/style-transfer-pytorch: divided by the style's mean squared
    feature norm (the trace of its second moment), so scaling a layer's features by any constant
    leaves it unchanged, as for the Gram loss: 0 when the means and covariances equal the
    style's, 1 when the features are all zero.
    """
    import tensorflow as tf

    target = tf.cast(target, tf.float32)
    scale = tf.maximum(tf.linalg.trace(target[:1, :-1, :-1])[0], _TINY)  # E|f|^2
    return tf.reduce_sum(gaussian_w2(moments, target)) / scale


# --- the sliced Wasserstein style loss (Heitz et al. 2021) --------------------------------------
def feature_samples(features: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """A layer's features as a set of samples: (1, H, W, C) -> (1, N, C), N = H*W positions.

    With a mask, only the positions where it is at least 1/2 (at least its largest value, where
    that is below 1/2), since a sorted distribution has no weights.
    """
    import tensorflow as tf

    features = tf.cast(features, tf.float32)
    samples = tf.reshape(features, [1, -1, features.shape[-1]])  # (1, H, W, C) -> (1, H*W, C)
    if mask is None:
        return samples
    weights = tf.reshape(tf.cast(mask, tf.float32), [-1])  # (H*W,)
    return tf.boolean_mask(samples, weights >= tf.minimum(0.5, tf.reduce_max(weights)), axis=1)


def sliced_wasserstein(samples: tf.Tensor, target: tf.Tensor, directions=None) -> tf.Tensor:
    """The squared sliced 2-Wasserstein distance, relative: the mean over random unit directions
    of the mean squared difference between the sorted projections of the two sets, divided by
    the target's mean squared projection. 0 for the same distribution; 1 for all-zero features.

    Heitz et al. 2021 draw C new directions (C: channels) at every step, as here by default: an
    op-seeded draw, so a rerun in a new process draws the same. With different set sizes the
    target's sorted projections are read at the image's quantiles. Departure: divided by the
    target's mean squared projection, so it is scale-free like the other style losses.

    Args:
        samples: (1, N, C) from `feature_samples`.
        target: (1, M, C), the same for the style image.
        directions: (C, K) unit vectors; default C new random ones.

    Returns:
        A scalar.
    """
    import tensorflow as tf

    channels = samples.shape[-1]
    if directions is None:
        directions = tf.random.normal((channels, channels), seed=20210615)
        directions /= tf.norm(directions, axis=0, keepdims=True)
    mine = tf.sort(samples[0] @ directions, axis=0)  # (N, K), each direction's sorted values
    theirs = tf.sort(tf.cast(target[0], tf.float32) @ directions, axis=0)  # (M, K)
    count, target_count = tf.shape(mine)[0], tf.shape(theirs)[0]
    quantiles = (tf.range(count, dtype=tf.float32) + 0.5) / tf.cast(count, tf.float32)
    rows = tf.cast(quantiles * tf.cast(target_count, tf.float32), tf.int32)  # (N,) in [0, M)
    theirs = tf.gather(theirs, rows)  # (N, K): the target read at the image's quantiles
    scale = tf.maximum(tf.reduce_mean(tf.square(theirs)), _TINY)
    return tf.reduce_mean(tf.square(mine - theirs)) / scale
