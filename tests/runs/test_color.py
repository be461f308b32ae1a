"""Keeping the content's colors: histogram matching, luminance transfer, luminance matching."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import gradient_image
from nst_helpers.errors import NSTError
from nst_helpers.runs.color import (
    PRESERVE_COLORS,
    check_preserve_colors,
    match_histogram,
    match_luminance,
    transfer_luminance,
)


def array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def ycbcr(img: Image.Image) -> np.ndarray:
    """Pillow's own YCbCr conversion: an independent reference for ours."""
    return array(img.convert("YCbCr"))


def muted_image(width: int, height: int, seed: int, spread: float = 40.0) -> Image.Image:
    """Mid-gray with small color variations, so any luminance can be combined with its colors
    without leaving the RGB cube (no clipping)."""
    rng = np.random.default_rng(seed)
    values = 128 + spread * (rng.random((height, width, 3)) - 0.5)
    return Image.fromarray(np.rint(values).astype(np.uint8))


def mid_range(img: Image.Image) -> Image.Image:
    """The image squeezed into 60..190, away from black and white."""
    return Image.fromarray(np.rint(60 + array(img) * 130 / 255).astype(np.uint8))


# --- match_histogram ------------------------------------------------------------------------------
def test_matching_an_image_to_itself_is_the_identity():
    img = gradient_image(40, 30)
    assert np.array_equal(np.asarray(match_histogram(img, img)), np.asarray(img))


def test_matching_to_a_tiling_of_itself_is_the_identity():
    img = gradient_image(20, 15, seed=2)
    tiled = Image.fromarray(np.tile(np.asarray(img), (3, 2, 1)))  # same histogram
    assert tiled.size == (40, 45)
    assert np.array_equal(np.asarray(match_histogram(img, tiled)), np.asarray(img))


def test_matching_to_a_constant_image_gives_its_color():
    matched = match_histogram(gradient_image(40, 30), Image.new("RGB", (3, 5), (12, 200, 77)))
    assert matched.size == (40, 30) and matched.mode == "RGB"
    assert np.all(np.asarray(matched) == (12, 200, 77))


def test_matching_to_an_increasing_remap_recovers_the_remap():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 128, size=(12, 16, 3), dtype=np.uint8)
    remapped = 2 * source + 1  # strictly increasing in each level: same quantiles
    shuffled = rng.permutation(remapped.reshape(-1, 3)).reshape(24, 8, 3)  # other shape, order
    matched = match_histogram(Image.fromarray(source), Image.fromarray(shuffled))
    assert np.array_equal(np.asarray(matched), remapped)


def test_matched_channels_have_the_reference_statistics():
    source = gradient_image(64, 48, seed=0)
    rng = np.random.default_rng(5)
    reference = rng.beta([2.0, 5.0, 0.7], [5.0, 2.0, 0.7], size=(50, 70, 3)) * 255  # skewed
    reference = np.rint(reference).astype(np.uint8)
    matched = array(match_histogram(source, Image.fromarray(reference)))
    assert not np.allclose(array(source).mean(axis=(0, 1)), reference.mean(axis=(0, 1)), atol=10)
    for c in range(3):
        got, want = matched[..., c], reference[..., c].astype(np.float64)
        assert got.mean() == pytest.approx(want.mean(), abs=1.5)
        assert got.std() == pytest.approx(want.std(), abs=1.5)
        for q in (5, 25, 50, 75, 95):
            assert np.percentile(got, q) == pytest.approx(np.percentile(want, q), abs=3)


def test_match_histogram_takes_any_mode_and_leaves_inputs_alone():
    source = Image.new("L", (6, 4), 90)
    reference = gradient_image(10, 10).convert("RGBA")
    before = np.asarray(reference).copy()
    matched = match_histogram(source, reference)
    assert matched.mode == "RGB" and matched.size == (6, 4)
    assert source.mode == "L" and np.array_equal(np.asarray(reference), before)


# --- transfer_luminance ---------------------------------------------------------------------------
def test_transfer_keeps_result_luminance_and_content_colors():
    result = mid_range(gradient_image(40, 30, seed=3))
    content = muted_image(40, 30, seed=4)
    out = transfer_luminance(result, content)
    assert out.size == (40, 30) and out.mode == "RGB"
    got = ycbcr(out)
    # Within the rounding of our 8-bit output and of Pillow's integer conversion.
    np.testing.assert_allclose(got[..., 0], ycbcr(result)[..., 0], atol=1.5)
    np.testing.assert_allclose(got[..., 1:], ycbcr(content)[..., 1:], atol=1.5)


def test_transfer_resizes_the_content_to_the_result():
    result = mid_range(gradient_image(30, 20, seed=1))
    content = Image.new("RGB", (90, 200), (150, 120, 110))  # other size and aspect
    out = transfer_luminance(result, content)
    assert out.size == (30, 20)
    want = ycbcr(Image.new("RGB", (1, 1), (150, 120, 110)))[0, 0, 1:]
    np.testing.assert_allclose(ycbcr(out)[..., 1:], np.broadcast_to(want, (20, 30, 2)), atol=1.5)


def test_transfer_from_an_image_to_itself_is_the_identity():
    img = gradient_image(25, 17, seed=6)
    np.testing.assert_allclose(array(transfer_luminance(img, img)), array(img), atol=1)


def test_gray_content_makes_a_gray_result():
    out = array(transfer_luminance(gradient_image(20, 10), Image.new("L", (5, 5), 77)))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1)


# --- match_luminance ------------------------------------------------------------------------------
def test_match_luminance_gives_the_content_mean_and_std_and_keeps_style_colors():
    style = muted_image(30, 30, seed=7, spread=30.0)  # luminance about 128 +- 6
    content = mid_range(gradient_image(40, 20, seed=8))  # wider luminance spread
    out = match_luminance(style, content)
    assert out.size == (30, 30)
    y, content_y = ycbcr(out)[..., 0], ycbcr(content)[..., 0]
    assert y.mean() == pytest.approx(content_y.mean(), abs=0.5)
    assert y.std() == pytest.approx(content_y.std(), rel=0.03)
    np.testing.assert_allclose(ycbcr(out)[..., 1:], ycbcr(style)[..., 1:], atol=1.5)


def test_match_luminance_of_a_constant_style_shifts_it_to_the_content_mean():
    content = gradient_image(20, 20).convert("L")
    out = array(match_luminance(Image.new("RGB", (4, 4), (30, 30, 30)), content))
    assert np.all(out == round(array(content).mean()))


def test_match_luminance_to_itself_is_the_identity():
    img = gradient_image(16, 12, seed=9)
    np.testing.assert_allclose(array(match_luminance(img, img)), array(img), atol=1)


# --- checks and errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", PRESERVE_COLORS)
def test_every_mode_is_accepted(value):
    assert check_preserve_colors(value) == value
    assert check_preserve_colors(f" {value.upper()} ") == value


@pytest.mark.parametrize("value", ["sepia", "", None, 1])
def test_unknown_mode_names_the_choices(value):
    with pytest.raises(NSTError, match=r"unknown preserve_colors .*none, luminance, histogram"):
        check_preserve_colors(value)


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda img, arr: match_histogram(arr, img), "source"),
        (lambda img, arr: match_histogram(img, arr), "reference"),
        (lambda img, arr: transfer_luminance(arr, img), "result"),
        (lambda img, arr: transfer_luminance(img, "content.jpg"), "content"),
        (lambda img, arr: match_luminance(arr, img), "style"),
    ],
)
def test_non_images_are_refused_with_the_fix(call, what):
    img, arr = Image.new("RGB", (4, 4)), np.zeros((4, 4, 3))
    with pytest.raises(NSTError, match=f"the {what} image must be a PIL image, got .*load_image"):
        call(img, arr)
