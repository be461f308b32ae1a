"""What the optimizer changes: plain pixels or an image pyramid, and the photo kept by a mask."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nst_helpers.core.pyramid import ImageVariables, pyramid_depth


def start(seed=0, shape=(1, 20, 28, 3)):
    return tf.constant(np.random.default_rng(seed).random(shape), tf.float32)


def test_a_pyramid_starts_as_its_image_and_its_vector_round_trips():
    variables = ImageVariables(start(), pyramid=True)
    assert len(variables.variables) == pyramid_depth(20, 28) == 2
    np.testing.assert_array_equal(variables.image(), start())  # the coarse scales start at 0
    vector = np.random.default_rng(1).random(variables.flat().shape)
    variables.assign(vector)
    np.testing.assert_array_equal(variables.flat(), vector.astype(np.float32))
    assert float(tf.reduce_max(tf.abs(variables.image() - start()))) > 0.1  # the scales count


def test_a_mask_keeps_the_photo_where_it_is_black():
    mask = np.zeros((1, 20, 28, 1), np.float32)
    mask[:, :, 14:] = 1.0
    photo = start(2)
    variables = ImageVariables(start(3), pyramid=False, keep=(mask, photo))
    image = variables.image().numpy()
    np.testing.assert_array_equal(image[:, :, :14], photo.numpy()[:, :, :14])
    np.testing.assert_allclose(image[:, :, 14:], start(3).numpy()[:, :, 14:], atol=1e-6)
