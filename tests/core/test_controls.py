"""Artists' controls: several styles, masks, average pooling, moving average, sweeps."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import gradient_image
from nst_helpers.api import stylize
from nst_helpers.core.losses import gram_matrix
from nst_helpers.core.model import build_extractor
from nst_helpers.core.objective import layer_masks, load_mask, make_targets
from nst_helpers.errors import NSTError
from nst_helpers.files.images import image_to_tensor
from nst_helpers.runs.settings import Settings
from nst_helpers.sweeps import parse_sweep, sweep


def test_masked_gram_is_the_gram_of_the_region():
    features = tf.random.uniform((1, 4, 6, 3), seed=2)
    mask = np.zeros((1, 4, 6, 1), np.float32)
    mask[:, :, :3] = 1.0  # left half
    region = tf.reshape(features[:, :, :3, :], (-1, 3))  # (1, 4, 3, C) -> (12, C)
    expected = tf.matmul(region, region, transpose_a=True) / 12.0
    np.testing.assert_allclose(gram_matrix(features, mask)[0], expected, rtol=1e-5)
    np.testing.assert_allclose(
        gram_matrix(features, np.ones_like(mask)), gram_matrix(features), rtol=1e-5
    )


def test_blended_targets_mix_the_grams(tiny_extractor):
    a, b = (image_to_tensor(gradient_image(32, 32, seed=s)) for s in (3, 4))
    content = image_to_tensor(gradient_image(32, 32, seed=5))
    _, only_a = make_targets(tiny_extractor, content, a)
    _, only_b = make_targets(tiny_extractor, content, b)
    _, mixed = make_targets(tiny_extractor, content, [a, b], [0.7, 0.3])
    for name in mixed:
        np.testing.assert_allclose(
            mixed[name], 0.7 * only_a[name] + 0.3 * only_b[name], rtol=1e-4, atol=1e-6
        )


def test_blend_weights_move_the_result_between_styles(small_pair, tiny_extractor, tiny_settings):
    content, _ = small_pair
    red = Image.new("RGB", (32, 32), (230, 30, 30))
    blue = Image.new("RGB", (32, 32), (30, 30, 230))
    settings = tiny_settings.replace(steps=25, style_weight=1000.0, lr=0.05)
    redness = []
    for blend in ((0.9, 0.1), (0.1, 0.9)):
        result = stylize(
            content, [red, blue], settings.replace(style_blend=blend), extractor=tiny_extractor
        )
        pixels = np.asarray(result.best_image, dtype=float)
        redness.append(pixels[..., 0].mean() - pixels[..., 2].mean())
    assert redness[0] > redness[1] + 10


def test_blend_count_must_match(small_pair, tiny_extractor, tiny_settings):
    with pytest.raises(NSTError, match="style_blend has 3 weights but 2 style images were given"):
        stylize(
            small_pair[0],
            list(small_pair),
            tiny_settings.replace(style_blend=(1, 1, 1)),
            extractor=tiny_extractor,
        )


def test_mask_keeps_style_inside(small_pair, tiny_extractor, tiny_settings):
    content, _ = small_pair
    style = Image.new("RGB", (32, 32), (20, 200, 40))
    mask = Image.new("L", (32, 24), 0)
    mask.paste(255, (16, 0, 32, 24))  # style on the right half only
    settings = tiny_settings.replace(steps=25, style_weight=1000.0, lr=0.05)
    result = stylize(content, style, settings, mask=mask, extractor=tiny_extractor)
    start = np.asarray(content.resize((32, 24)), dtype=float)
    change = np.abs(np.asarray(result.best_image, dtype=float) - start).mean(axis=(0, 2))
    assert change[20:].mean() > 3 * change[:12].mean()  # the right half moved, the left stayed


def test_mask_errors_and_layer_sizes(tiny_extractor):
    with pytest.raises(NSTError, match="the mask has no white area"):
        load_mask(Image.new("L", (8, 8), 0), (8, 8))
    mask = load_mask(Image.new("L", (40, 30), 255), (40, 30))
    assert mask.shape == (1, 30, 40, 1)
    shapes = {name: tuple(m.shape) for name, m in layer_masks(mask, tiny_extractor).items()}
    assert shapes == {"block1_conv1": (1, 30, 40, 1), "block2_conv1": (1, 15, 20, 1)}


def test_average_pooling_network(small_pair):
    extractor = build_extractor(
        "vgg16", None, ("block3_conv1",), ("block1_conv1", "block2_conv1"), pooling="avg"
    )
    names = [layer.name for layer in extractor.model.layers]
    assert "block1_pool_avg" in names and not any(
        "MaxPooling" in type(layer).__name__ for layer in extractor.model.layers
    )
    content, style = extractor(tf.random.uniform((1, 32, 32, 3)))
    assert content["block3_conv1"].shape == (1, 8, 8, 256)
    settings = Settings(
        arch="vgg16",
        weights=None,
        max_dim=32,
        steps=3,
        pooling="avg",
        content_layers=("block3_conv1",),
        style_layers=("block1_conv1", "block2_conv1"),
    )
    result = stylize(*small_pair, settings, extractor=extractor)
    assert result.steps_done == 3
    with pytest.raises(NSTError, match="unknown pooling 'min': choose one of max, avg"):
        Settings(pooling="min")


def test_moving_average_is_the_warmed_up_average_of_the_iterates(
    small_pair, tiny_extractor, tiny_settings
):
    from nst_helpers.files.images import prepare_images

    settings = tiny_settings.replace(steps=20, lr=0.1, style_weight=100.0, preview_every=1)
    plain = stylize(*small_pair, settings, extractor=tiny_extractor)
    iterates = []
    averaged = stylize(
        *small_pair,
        settings.replace(ema=0.9),
        extractor=tiny_extractor,
        callbacks=[lambda event: iterates.append(event.image)],
    )
    assert not np.array_equal(np.asarray(plain.best_image), np.asarray(averaged.best_image))
    # The definition: start from the start image; after step k, with rate min(decay,
    # (1 + k) / (10 + k)), average <- rate * average + (1 - rate) * image after step k.
    average = np.asarray(prepare_images(*small_pair, settings)[0], np.float64) / 255.0
    for k, image in enumerate(iterates, start=1):
        rate = min(0.9, (1 + k) / (10 + k))
        average = rate * average + (1 - rate) * image
    assert len(iterates) == 20
    np.testing.assert_allclose(np.asarray(averaged.best_image) / 255.0, average, atol=0.6 / 255)
    with pytest.raises(NSTError, match="ema must be below 1"):
        Settings(ema=1.0)


def test_average_pooling_is_rescaled_to_max_poolings_mean():
    from nst_helpers.core.model import pooling_calibration_image
    from nst_helpers.files.images import vgg_preprocess

    convs = ("block1_conv2", "block2_conv2", "block3_conv3")
    pools = ("block1_pool", "block2_pool", "block3_pool")
    extractor = build_extractor("vgg16", None, ("block4_conv1",), convs + pools, pooling="avg")
    outputs = extractor.model(vgg_preprocess(pooling_calibration_image()))
    for conv, pool in zip(convs, pools, strict=True):
        # The definition: on the calibration image, each rescaled average pool has the mean
        # that max pooling would give on the same input.
        want = float(tf.reduce_mean(tf.nn.max_pool2d(outputs[conv], 2, 2, "VALID")))
        have = float(tf.reduce_mean(outputs[pool]))
        assert have == pytest.approx(want, rel=1e-4)
        plain = float(tf.reduce_mean(tf.nn.avg_pool2d(outputs[conv], 2, 2, "VALID")))
        assert abs(plain - want) > 1e-3 * want  # without the rescale the means differ


def test_sweep_matches_separate_runs(small_pair, tiny_extractor, tiny_settings):
    settings = tiny_settings.replace(steps=6)
    swept = sweep(*small_pair, settings, "style_weight", [1.0, 50.0], extractor=tiny_extractor)
    assert [r.settings["style_weight"] for r in swept] == [1.0, 50.0]
    assert [r.recipe["settings"] for r in swept] == [r.settings for r in swept]  # each its own
    for result, weight in zip(swept, (1.0, 50.0), strict=True):
        alone = stylize(
            *small_pair, settings.replace(style_weight=weight), extractor=tiny_extractor
        )
        np.testing.assert_allclose(result.history["total"], alone.history["total"], rtol=2e-3)
    assert swept[1].history["style"][-1] < swept[0].history["style"][-1]


def test_a_masked_sweep_matches_separate_masked_runs(small_pair, tiny_extractor, tiny_settings):
    content, style = small_pair
    mask = Image.new("L", (32, 24), 0)
    mask.paste(255, (16, 0, 32, 24))  # style on the right half only
    settings = tiny_settings.replace(steps=6, lr=0.05)
    swept = sweep(content, style, settings, "style_weight", [1.0, 1000.0], mask=mask,
                  extractor=tiny_extractor)  # fmt: skip
    from nst_helpers.files.images import prepare_images

    start = np.asarray(prepare_images(content, style, settings)[0], dtype=float)  # the photo
    for result, weight in zip(swept, (1.0, 1000.0), strict=True):
        alone = stylize(content, style, settings.replace(style_weight=weight), mask=mask,
                        extractor=tiny_extractor)  # fmt: skip
        np.testing.assert_allclose(result.history["total"], alone.history["total"], rtol=2e-3)
        # a rerun of a variant finds the mask
        assert result.recipe["options"]["mask"] == alone.recipe["options"]["mask"]
        left = np.asarray(result.best_image, dtype=float)[:, :12]  # (the edge is blended)
        assert np.abs(left - start[:, :12]).max() <= 1  # black in the mask: still the photo
    assert swept[1].history["style"][-1] < swept[0].history["style"][-1]


def test_parse_sweep():
    assert parse_sweep("style-weight=1e-1,1,10") == ("style_weight", [0.1, 1.0, 10.0])
    assert parse_sweep("tv_weight=0,2") == ("tv_weight", [0.0, 2.0])
    with pytest.raises(
        NSTError,
        match="write NAME=V1,V2,... with NAME one of content-weight, style-weight, tv-weight",
    ):
        parse_sweep("lr=1,2")
    with pytest.raises(NSTError, match="must be numbers"):
        parse_sweep("style-weight=a,b")
    with pytest.raises(NSTError, match="at least two values"):
        parse_sweep("style-weight=3")


def test_a_sweep_runs_any_settings_lbfgs_and_the_pyramid_too(small_pair, tiny_extractor,
                                                            tiny_settings):  # fmt: skip
    settings = tiny_settings.replace(optimizer="lbfgs", pyramid=True, steps=3)
    swept = sweep(*small_pair, settings, "tv_weight", [0.5, 2.0], extractor=tiny_extractor)
    assert [r.settings["tv_weight"] for r in swept] == [0.5, 2.0]
    assert all(r.settings["optimizer"] == "lbfgs" and r.steps_done == 3 for r in swept)


def chroma(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("YCbCr"), dtype=float)[..., 1:]


def test_preserve_colors_luminance_keeps_the_photo_colors(
    small_pair, tiny_extractor, tiny_settings
):
    content, _ = small_pair
    style = Image.new("RGB", (32, 32), (20, 200, 40))
    settings = tiny_settings.replace(steps=15, style_weight=1000.0, lr=0.05)
    plain = stylize(content, style, settings, extractor=tiny_extractor)
    kept = stylize(
        content, style, settings.replace(preserve_colors="luminance"), extractor=tiny_extractor
    )
    photo = chroma(content.resize(kept.best_image.size))
    # Equal up to rounding and the clipping of colors that fall outside RGB (measured 2.3).
    assert np.abs(chroma(kept.best_image) - photo).mean() < 4.0
    assert (
        np.abs(chroma(plain.best_image) - photo).mean()
        > 4 * np.abs(chroma(kept.best_image) - photo).mean()
    )


def test_preserve_colors_histogram_recolors_the_style(small_pair, tiny_extractor, tiny_settings):
    content, _ = small_pair
    style = Image.new("RGB", (32, 32), (20, 200, 40)).rotate(0)
    settings = tiny_settings.replace(steps=15, style_weight=1000.0, lr=0.05)
    plain = stylize(content, style, settings, extractor=tiny_extractor)
    matched = stylize(
        content, style, settings.replace(preserve_colors="histogram"), extractor=tiny_extractor
    )
    photo_mean = np.asarray(content, dtype=float).mean(axis=(0, 1))
    distance = [
        np.abs(np.asarray(r.best_image, dtype=float).mean(axis=(0, 1)) - photo_mean).sum()
        for r in (plain, matched)
    ]
    assert distance[1] < 0.5 * distance[0]  # the result's colors follow the photo, not the green
