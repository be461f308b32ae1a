"""The sliced Wasserstein style loss (Heitz et al. 2021) against closed forms, and in runs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_helpers.core.losses import feature_samples, sliced_wasserstein
from nst_helpers.core.style_losses import style_loss


def samples(values) -> tf.Tensor:
    return tf.constant(np.asarray(values, np.float32)[None])  # (N, C) -> (1, N, C)


def test_in_one_dimension_it_is_the_squared_distance_of_the_quantiles():
    # A sample of N(0, 1) against itself moved by 3: every quantile 3 apart, so W2^2 = 9,
    # divided by the moved sample's mean square (about 1 + 9).
    normal = np.random.default_rng(0).standard_normal((8192, 1))
    value = sliced_wasserstein(samples(normal), samples(normal + 3.0), tf.ones((1, 1)))
    assert float(value) == pytest.approx(9.0 / np.mean((normal + 3.0) ** 2), rel=1e-5)


def test_zero_for_the_same_set_in_any_order_one_for_zero_features_and_scale_free():
    rng = np.random.default_rng(1)
    style, image = rng.random((400, 6)), rng.random((300, 6)) ** 2
    shuffled = style[rng.permutation(len(style))]
    assert float(sliced_wasserstein(samples(shuffled), samples(style))) == 0.0
    assert float(sliced_wasserstein(samples(np.zeros((50, 6))), samples(style))) == 1.0
    directions = tf.math.l2_normalize(tf.random.stateless_normal((6, 6), (1, 2)), axis=0)
    base = float(sliced_wasserstein(samples(image), samples(style), directions))
    scaled = sliced_wasserstein(samples(40 * image), samples(40 * style), directions)
    assert 0 < base < 1 and float(scaled) == pytest.approx(base, rel=1e-5)


def test_sets_of_different_sizes_from_one_distribution_are_close():
    rng = np.random.default_rng(2)
    few, many = rng.random((1000, 4)), rng.random((4000, 4))
    assert float(sliced_wasserstein(samples(few), samples(many))) < 0.01
    far = rng.random((1000, 4)) * 0.3
    assert float(sliced_wasserstein(samples(far), samples(many))) > 0.3


def test_new_directions_each_call_and_the_same_draws_in_every_process():
    rng = np.random.default_rng(3)
    a, b = samples(rng.random((200, 5))), samples(rng.random((200, 5)) ** 3)
    step = tf.function(lambda: sliced_wasserstein(a, b))
    first, second = float(step()), float(step())
    assert first != second  # a fresh draw each step, as Heitz et al.
    again = tf.function(lambda: sliced_wasserstein(a, b))
    assert float(again()) == first  # the op's seed: a new program draws the same sequence


def test_a_mask_keeps_the_positions_inside_it_and_gradients_flow_in_bfloat16():
    features = tf.random.stateless_uniform((1, 4, 6, 3), (4, 5))
    mask = np.zeros((1, 4, 6, 1), np.float32)
    mask[:, :, :2] = 1.0
    kept = feature_samples(features, tf.constant(mask))
    np.testing.assert_array_equal(kept[0], tf.reshape(features[:, :, :2], (-1, 3)))
    target = feature_samples(tf.random.stateless_uniform((1, 5, 5, 3), (6, 7)))
    image = tf.Variable(features)
    with tf.GradientTape() as tape:
        loss = style_loss({"a": tf.cast(image, tf.bfloat16)}, {"a": target}, kind="sliced")
    gradient = tape.gradient(loss, image).numpy()
    assert loss.dtype == tf.float32 and np.isfinite(float(loss)) and float(loss) > 0
    assert np.all(np.isfinite(gradient)) and np.any(gradient != 0)


@pytest.mark.slow
def test_a_sliced_run_lowers_its_loss_whole_and_tiled(small_pair, tiny_extractor, tiny_settings):
    from conftest import gradient_image
    from nst_helpers.api import plan_run, stylize
    from nst_helpers.runs.memory import estimate_memory

    settings = tiny_settings.replace(style_loss="sliced", steps=15, style_weight=100.0, lr=0.05)
    result = stylize(*small_pair, settings, extractor=tiny_extractor)
    style = result.history["style"]
    assert np.all(np.isfinite(style)) and np.mean(style[-3:]) < 0.7 * np.mean(style[:3])
    # tiled, with a style image larger than a tile: its chunks' samples pooled
    tiled = settings.replace(max_dim=96, tile_size=48, tile_overlap=8, tile_steps=3, steps=4)
    tiled = tiled.replace(memory_limit=estimate_memory(tiled, 48, 48) / 2**30 + 1e-3)
    content, painting = gradient_image(96, 72), gradient_image(128, 128, seed=1)
    assert plan_run(content, painting, tiled).tiles is not None
    done = stylize(content, painting, tiled, extractor=tiny_extractor)
    assert done.stopped == "finished" and np.isfinite(done.best_losses["style"])
