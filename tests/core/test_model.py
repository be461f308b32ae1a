"""The VGG feature extractor: layer names, shapes, truncation, freezing, weight errors, and the
image size each layer needs (named so it works on the first try)."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_helpers.api import stylize
from nst_helpers.core.model import FeatureExtractor, build_extractor
from nst_helpers.errors import NSTError
from nst_helpers.files.images import scaled_size
from nst_helpers.runs.vgg import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    layer_names,
    min_input_size,
)


def test_layer_names_match_keras():
    for arch, constructor in (
        ("vgg16", keras.applications.VGG16),
        ("vgg19", keras.applications.VGG19),
    ):
        vgg = constructor(include_top=False, weights=None)
        assert layer_names(arch) == [layer.name for layer in vgg.layers[1:]]


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_extractor_shapes_and_names(arch):
    extractor = build_extractor(arch, weights=None)
    content, style = extractor(tf.random.uniform((1, 64, 48, 3)))
    assert list(content) == list(DEFAULT_CONTENT_LAYERS)
    assert list(style) == list(DEFAULT_STYLE_LAYERS)
    assert content["block4_conv2"].shape == (1, 8, 6, 512)
    expected = {
        "block1_conv1": (1, 64, 48, 64),
        "block2_conv1": (1, 32, 24, 128),
        "block3_conv1": (1, 16, 12, 256),
        "block4_conv1": (1, 8, 6, 512),
        "block5_conv1": (1, 4, 3, 512),
    }
    assert {name: tuple(f.shape) for name, f in style.items()} == expected
    assert all(float(tf.reduce_min(f)) >= 0 for f in style.values())  # outputs include the ReLU


def test_network_stops_at_the_deepest_needed_layer():
    extractor = build_extractor(
        "vgg19",
        None,
        content_layers=["block2_conv2"],
        style_layers=["block1_conv1", "block3_conv4"],
    )
    names = [layer.name for layer in extractor.model.layers]
    assert names[-1] == "block3_conv4"
    assert not any(name.startswith(("block4", "block5")) for name in names)
    assert extractor.min_size == 4  # two poolings before block3


def test_network_is_frozen_and_gradients_reach_the_image(tiny_extractor):
    assert tiny_extractor.model.trainable_weights == []
    image = tf.Variable(tf.random.uniform((1, 32, 32, 3), seed=1))
    with tf.GradientTape() as tape:
        _, style = tiny_extractor(image)
        loss = tf.add_n([tf.reduce_mean(f) for f in style.values()])
    grad = tape.gradient(loss, image)
    assert float(tf.reduce_sum(tf.abs(grad))) > 0
    assert all(not layer.trainable for layer in tiny_extractor.model.layers)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(NSTError, match="unknown architecture 'vgg11': choose one of vgg16, vgg19"):
        build_extractor("vgg11", None)
    with pytest.raises(
        NSTError,
        match=r"unknown style layer 'conv1_1' for VGG16: choose from "
        r"block1_conv1, block1_conv2",
    ):
        build_extractor("vgg16", None, style_layers=["conv1_1"])
    with pytest.raises(NSTError, match="unknown content layer 'block5_conv4' for VGG16"):
        build_extractor("vgg16", None, content_layers=["block5_conv4"])
    with pytest.raises(NSTError, match="no style layers given: choose at least one"):
        build_extractor("vgg16", None, style_layers=[])


def test_too_small_image_says_what_size_works(tiny_extractor):
    extractor = build_extractor("vgg16", None)  # default layers reach block5: 4 poolings
    assert extractor.min_size == 16 == min_input_size("vgg16", ["block5_conv1"])
    extractor.check_image_size(16, 40)
    with pytest.raises(
        NSTError,
        match=r"the content image is 40x10 px, too small for VGG16: "
        r"reaching layer block5_conv1 halves the image 4 times, so each side needs "
        r"at least 16 px. Use a max_dim \(--max-dim\) of at least 62 for this aspect ratio",
    ):  # 62 px long: 10 * 62 / 40 = 15.5, which rounds to 16 (64 is more than needed)
        extractor.check_image_size(10, 40, "content image")


@pytest.mark.parametrize("scale", [1.0, 0.37, 3.0])
@pytest.mark.parametrize(
    "source", [(10, 10000), (10000, 10), (3, 7001), (1, 65536), (17, 1000), (999, 1000), (7, 9)]
)
def test_the_suggested_max_dim_works_on_the_first_try(source, scale):
    # The way stylize sizes an image at a max_dim: long side round(max_dim * scale), then
    # scaled_size's rounding. The number the message names must pass, and one less must not;
    # past the largest max_dim Settings accepts, the message says that no max_dim will do.
    from nst_helpers.checks import MAX_SIDE

    extractor = FeatureExtractor(None, "vgg16", None, ("block4_conv2",), ("block5_conv1",))

    def check(max_dim: int) -> None:
        width, height = scaled_size(source, max(1, round(max_dim * scale)))
        extractor.check_image_size(height, width, "style image", source_size=source, scale=scale)

    with pytest.raises(NSTError) as err:
        check(4)
    message = str(err.value)
    named = re.search(r"of at least (\d+) for this aspect ratio|it would take (\d+)\)", message)
    suggested = int(named.group(1) or named.group(2))
    too_large = max(suggested, round(suggested * scale)) > MAX_SIDE
    assert ("No max_dim (--max-dim) up to 16384 px is enough" in message) == too_large
    check(suggested)  # passes
    with pytest.raises(NSTError):
        check(suggested - 1)


def test_missing_weights_file(tmp_path):
    with pytest.raises(NSTError, match="weights file '.*nope.h5' can't be used \\(no such file\\)"):
        build_extractor("vgg16", tmp_path / "nope.h5")
    with pytest.raises(NSTError, match="can't be used \\(it is a folder\\)"):
        build_extractor("vgg16", tmp_path)


def test_weights_file_of_another_network(tmp_path):
    path = tmp_path / "vgg19.weights.h5"
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    # told from the file's layer names before any network is built, naming both flags
    with pytest.raises(NSTError, match=r"holds VGG19 weights, not VGG16: use --arch vgg19 with "
                       r"this --weights file \(API: arch='vgg19'\)"):  # fmt: skip
        build_extractor("vgg16", path)
    random = build_extractor("vgg19", path)  # the matching network loads it
    assert random.weights == str(path)


def test_imagenet_without_internet_says_how_to_use_a_local_file(monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):  # what urlopen raises without a network
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(
        NSTError,
        match=r"could not download the ImageNet weights for VGG19 .*"
        r"pass a local Keras weights file and the network it is for: "
        r"CLI --arch vgg16 --weights PATH for a VGG16 file",
    ):
        build_extractor("vgg19", "imagenet")


def test_same_input_same_features(tiny_extractor):
    image = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    first, _ = tiny_extractor(image)
    second, _ = tiny_extractor(image.copy())
    np.testing.assert_array_equal(first["block3_conv1"], second["block3_conv1"])


def test_a_thin_image_is_told_a_max_dim_that_works_on_the_first_try(
    tmp_path, tiny_extractor, tiny_settings
):
    from conftest import gradient_image

    thin, style = tmp_path / "thin.png", tmp_path / "style.png"
    gradient_image(10, 10000).save(thin)  # the 10x10000 px image
    gradient_image(36, 36, seed=1).save(style)
    settings = tiny_settings.replace(steps=1, style_scale=0.01)  # keeps the style image small
    with pytest.raises(NSTError, match=r"Use a max_dim \(--max-dim\) of at least (\d+) ") as err:
        stylize(thin, style, settings, extractor=tiny_extractor)
    suggested = int(err.value.args[0].split("of at least ")[1].split()[0])
    assert suggested == 3500  # 10 * 3500 / 10000 = 3.5 rounds to 4, the network's minimum
    result = stylize(thin, style, settings, extractor=tiny_extractor, max_dim=suggested)
    assert result.image.size == (4, 3500)
