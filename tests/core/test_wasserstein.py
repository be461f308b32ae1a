"""The Wasserstein-2 style loss against closed forms, scipy's matrix square root, and a real run."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from conftest import CONTENT, STYLE
from nst_helpers.core.losses import gaussian_moments, gaussian_w2, gram_matrix
from nst_helpers.core.style_losses import style_loss
from nst_helpers.errors import NSTError
from nst_helpers.runs.settings import Settings


def gaussian_features(mean, cov, n=4096, seed=0) -> tf.Tensor:
    """(1, n, 1, C) features whose sample mean and covariance are exactly `mean` and `cov`."""
    rng = np.random.default_rng(seed)
    mean, cov = np.asarray(mean, float), np.atleast_2d(np.asarray(cov, float))
    raw = rng.standard_normal((n, len(mean)))
    raw -= raw.mean(axis=0)
    white = raw @ np.linalg.inv(np.linalg.cholesky(raw.T @ raw / n)).T  # covariance exactly I
    samples = mean + white @ np.linalg.cholesky(cov).T
    return tf.constant(samples[None, :, None, :], tf.float64)


def reference_w2(mean1, cov1, mean2, cov2) -> float:
    """W2^2 of two Gaussians, with scipy's matrix square root (the oracle)."""
    root = scipy.linalg.sqrtm(cov2)
    cross = scipy.linalg.sqrtm(root @ cov1 @ root)
    return float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2 - 2 * np.real(cross)))


def w2_of(features, target_features) -> float:
    return float(gaussian_w2(gaussian_moments(features), gaussian_moments(target_features))[0])


def wasserstein_style_loss(features, targets, layer_weights=None, masks=None):
    return style_loss(features, targets, layer_weights, masks, kind="wasserstein")


def test_w2_of_one_dimensional_gaussians_is_the_closed_form():
    # In one dimension W2^2 = (m1 - m2)^2 + (s1 - s2)^2: N(1, 2^2) to N(4, 0.5^2) is 9 + 2.25.
    value = w2_of(gaussian_features([1.0], [[4.0]]), gaussian_features([4.0], [[0.25]], seed=1))
    assert value == pytest.approx(11.25, rel=1e-4)


def test_w2_of_commuting_covariances_is_the_sum_over_axes():
    # Diagonal covariances: W2^2 = |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 9.0, 0.25]), np.array([4.0, 1.0, 0.25])
    value = w2_of(
        gaussian_features([0.0, 1.0, 2.0], np.diag(a)),
        gaussian_features([1.0, 1.0, 0.0], np.diag(b), seed=1),
    )
    expected = 1 + 4 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert value == pytest.approx(expected, rel=1e-4)


def test_w2_matches_scipy_sqrtm_for_general_covariances():
    rng = np.random.default_rng(3)
    channels = 6
    a, b = rng.standard_normal((2, channels, channels))
    cov1, cov2 = a @ a.T + 0.1 * np.eye(channels), b @ b.T + 0.1 * np.eye(channels)
    mean1, mean2 = rng.standard_normal((2, channels))
    value = w2_of(gaussian_features(mean1, cov1), gaussian_features(mean2, cov2, seed=1))
    assert value == pytest.approx(reference_w2(mean1, cov1, mean2, cov2), rel=1e-3)


def test_w2_is_zero_for_the_same_statistics_and_symmetric():
    features = tf.random.stateless_uniform((1, 9, 7, 5), seed=(1, 2))
    other = tf.random.stateless_uniform((1, 8, 8, 5), seed=(3, 4)) ** 2
    assert w2_of(features, features) == pytest.approx(0.0, abs=1e-4)
    assert w2_of(features, other) == pytest.approx(w2_of(other, features), rel=1e-3)


def test_wasserstein_loss_is_one_for_zero_features_and_scale_free():
    style = {"a": tf.random.stateless_uniform((1, 8, 8, 4), seed=(5, 6))}
    image = {"a": tf.random.stateless_uniform((1, 6, 10, 4), seed=(7, 8))}
    targets = {"a": gaussian_moments(style["a"])}
    zero = wasserstein_style_loss({"a": tf.zeros((1, 6, 6, 4))}, targets)
    assert float(zero) == pytest.approx(1.0, rel=1e-5)
    base = float(wasserstein_style_loss(image, targets))
    scaled_targets = {"a": gaussian_moments(100.0 * style["a"])}
    scaled = float(wasserstein_style_loss({"a": 100.0 * image["a"]}, scaled_targets))
    assert 0 < base < 1
    assert scaled == pytest.approx(base, rel=1e-3)


def test_wasserstein_loss_weighs_layers_and_masks():
    style = {
        name: tf.random.stateless_uniform((1, 8, 8, 3), seed=(i, 1)) for i, name in enumerate("ab")
    }
    targets = {name: gaussian_moments(f) for name, f in style.items()}
    image = {
        name: tf.random.stateless_uniform((1, 8, 8, 3), seed=(9, i)) for i, name in enumerate("ab")
    }
    each = {n: float(wasserstein_style_loss({n: image[n]}, {n: targets[n]})) for n in "ab"}
    weighted = float(wasserstein_style_loss(image, targets, {"a": 3.0, "b": 1.0}))
    assert weighted == pytest.approx((3 * each["a"] + each["b"]) / 4, rel=1e-5)
    # A mask that keeps only the left half: the loss of the masked region equals the loss of
    # that half cut out.
    mask = tf.concat([tf.ones((1, 8, 4, 1)), tf.zeros((1, 8, 4, 1))], axis=2)
    left = {n: f[:, :, :4] for n, f in image.items()}
    masked = wasserstein_style_loss(image, targets, masks={"a": mask, "b": mask})
    assert float(masked) == pytest.approx(float(wasserstein_style_loss(left, targets)), rel=1e-4)


def test_w2_is_never_negative_on_flat_features():
    # A grey photo and a grey painting: every covariance 0, where rounding used to go below 0.
    flat = tf.fill((1, 16, 16, 8), 0.37)
    targets = {"a": gaussian_moments(tf.fill((1, 12, 12, 8), 0.37))}
    assert float(wasserstein_style_loss({"a": flat}, targets)) >= 0.0
    assert float(gaussian_w2(gaussian_moments(flat), targets["a"])[0]) >= 0.0


def test_wasserstein_loss_works_in_bfloat16_with_finite_gradients():
    style = tf.random.stateless_uniform((1, 12, 12, 8), seed=(1, 1))
    targets = {"a": gaussian_moments(tf.cast(style, tf.bfloat16))}
    assert targets["a"].dtype == tf.float32  # moments kept in float32
    # Rank-deficient features (4 positions, 8 channels) give repeated zero eigenvalues.
    image = tf.Variable(tf.random.stateless_uniform((1, 2, 2, 8), seed=(2, 2)))
    with tf.GradientTape() as tape:
        loss = wasserstein_style_loss({"a": tf.cast(image, tf.bfloat16)}, targets)
    gradient = tape.gradient(loss, image)
    assert loss.dtype == tf.float32
    assert np.isfinite(float(loss)) and float(loss) > 0
    assert np.all(np.isfinite(gradient.numpy())) and np.any(gradient.numpy() != 0)


def test_wasserstein_differs_from_gram_where_the_mean_differs():
    # Same second moment, different mean and covariance: the Gram loss sees nothing, W2 does.
    samples = np.array([[1.0, 1.0], [-1.0, -1.0]])  # mean 0, E[f f^T] = [[1, 1], [1, 1]]
    shifted = np.array([[1.0, 1.0], [1.0, 1.0]])  # mean (1, 1), the same E[f f^T]
    a = {"a": tf.constant(samples[None, :, None, :], tf.float32)}
    b = {"a": tf.constant(shifted[None, :, None, :], tf.float32)}
    gram_targets = {"a": gram_matrix(b["a"])}
    w2_targets = {"a": gaussian_moments(b["a"])}
    assert float(style_loss(a, gram_targets)) == pytest.approx(0.0, abs=1e-7)
    assert float(wasserstein_style_loss(a, w2_targets)) > 0.1


def test_style_loss_setting_names_the_choices():
    assert Settings(weights=None, style_loss="wasserstein").style_loss == "wasserstein"
    with pytest.raises(
        NSTError, match=r"unknown style_loss 'w2': choose one of gram, wasserstein,"
    ):
        Settings(weights=None, style_loss="w2")


@pytest.mark.real_weights
@pytest.mark.slow
def test_real_run_with_the_wasserstein_loss_lowers_it(vgg16_real, weights_path):
    from nst_helpers.api import stylize

    settings = Settings(
        arch="vgg16", weights=str(weights_path), max_dim=96, steps=30, style_loss="wasserstein"
    )
    result = stylize(CONTENT, STYLE, settings, extractor=vgg16_real)
    style = result.history["style"]
    assert np.all(np.isfinite(style))
    assert style[-1] < 0.5 * style[0]
    assert result.history["content"][-1] < 1.0
