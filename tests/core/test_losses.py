"""The losses against numpy references, hand-computed values and their scale invariance."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_helpers.core.losses import (
    TERMS,
    content_loss,
    gram_matrix,
    relative_squared_error,
    total_loss,
    tv_loss,
)
from nst_helpers.core.style_losses import style_loss


def random_features(shape=(1, 5, 6, 4), seed=0):
    return tf.constant(np.random.default_rng(seed).random(shape), dtype=tf.float32)


def test_gram_matrix_matches_numpy():
    features = random_features()
    flat = features.numpy().reshape(-1, 4)  # (1, H, W, C) -> (H*W, C)
    expected = flat.T @ flat / flat.shape[0]
    got = gram_matrix(features)
    assert got.shape == (1, 4, 4)
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    np.testing.assert_allclose(got[0], tf.transpose(got[0]), rtol=1e-6)  # symmetric


def test_gram_matrix_of_known_tensor():
    # Two positions with features (1, 2) and (3, 0): G = [[1+9, 2+0], [2+0, 4+0]] / 2.
    features = tf.constant([[[[1.0, 2.0], [3.0, 0.0]]]])
    np.testing.assert_allclose(gram_matrix(features)[0], [[5.0, 1.0], [1.0, 2.0]])


def test_gram_matrix_keeps_low_precision_inputs_finite():
    big = tf.cast(tf.fill((1, 64, 64, 8), 300.0), tf.float16)  # 300^2 * 4096 overflows float16
    gram = gram_matrix(big)
    assert gram.dtype == tf.float32
    np.testing.assert_allclose(gram.numpy(), 90000.0, rtol=1e-3)


def test_content_loss_values():
    target = {"c": tf.constant([[[[1.0, 2.0], [2.0, 0.0]]]])}  # squared norm 9
    assert float(content_loss(target, target)) == 0.0
    moved = {"c": target["c"] + tf.constant([[[[1.0, 0.0], [0.0, 2.0]]]])}  # squared error 5
    assert float(content_loss(moved, target)) == pytest.approx(5 / 9)
    zeros = {"c": tf.zeros_like(target["c"])}
    assert float(content_loss(zeros, target)) == pytest.approx(1.0)


def test_style_loss_weighted_mean_over_layers():
    features = {"a": random_features(seed=1), "b": random_features((1, 3, 3, 2), seed=2)}
    targets = {"a": gram_matrix(random_features(seed=3)), "b": gram_matrix(features["b"])}
    error_a = float(relative_squared_error(gram_matrix(features["a"]), targets["a"]))
    assert error_a > 0
    assert float(style_loss(features, targets)) == pytest.approx(error_a / 2, rel=1e-6)
    weighted = style_loss(features, targets, {"a": 3.0, "b": 1.0})
    assert float(weighted) == pytest.approx(3 * error_a / 4, rel=1e-6)


def test_losses_ignore_feature_scale():
    """Multiplying all features by a constant leaves content and style losses unchanged."""
    features = {"x": random_features(seed=4)}
    targets = {"x": random_features(seed=5)}
    grams = {"x": gram_matrix(targets["x"])}
    for scale in (1e-3, 7.0, 1e3):
        scaled = {"x": features["x"] * scale}
        scaled_target = {"x": targets["x"] * scale}
        np.testing.assert_allclose(
            content_loss(scaled, scaled_target), content_loss(features, targets), rtol=1e-4
        )
        np.testing.assert_allclose(
            style_loss(scaled, {"x": grams["x"] * scale**2}), style_loss(features, grams), rtol=1e-4
        )


def test_tv_loss_analytic_values():
    constant = tf.fill((1, 8, 8, 3), 0.3)
    assert float(tv_loss(constant)) == 0.0
    checker = np.indices((8, 8)).sum(axis=0) % 2  # every neighbour differs by 1
    image = tf.constant(np.repeat(checker[None, :, :, None], 3, axis=-1), dtype=tf.float32)
    # 7*8 vertical + 8*7 horizontal pairs per channel, each |difference| = 1, over 8*8*3 values.
    assert float(tv_loss(image)) == pytest.approx(2 * 7 * 8 * 3 / (8 * 8 * 3))


def test_tv_loss_is_tf_total_variation_per_value():
    image = random_features((1, 9, 11, 3), seed=6)
    expected = float(tf.image.total_variation(image)[0]) / (9 * 11 * 3)
    assert float(tv_loss(image)) == pytest.approx(expected, rel=1e-5)


def test_tv_loss_does_not_grow_with_size():
    noise = np.random.default_rng(0).random((1, 64, 64, 3)).astype(np.float32)
    big = np.tile(noise, (1, 2, 2, 1))  # same texture, four times the pixels
    assert float(tv_loss(big)) == pytest.approx(float(tv_loss(noise)), rel=0.05)


def test_total_loss_is_the_weighted_sum_of_every_term():
    losses = {"content": tf.constant(2.0), "style": tf.constant(3.0), "tv": tf.constant(5.0)}
    weights = {"content": 1.0, "style": 10.0, "tv": 0.5}
    assert float(total_loss(losses, weights)) == pytest.approx(2 + 30 + 2.5)
    assert set(TERMS) == set(weights)
    with pytest.raises(KeyError):  # a term without its weight is an error, not a silent 0
        total_loss(losses, {"content": 1.0, "style": 10.0})
