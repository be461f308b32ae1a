"""Keeping the content's colors: histogram matching and luminance-only transfer.

Gatys et al. (2017), "Controlling Perceptual Factors in Neural Style Transfer", section 5, give
two ways to keep the photo's colors while taking the painting's texture:

* ``"histogram"``: recolor the *style* image to the content's colors before optimizing
  (`match_histogram`).
* ``"luminance"``: transfer only the luminance and keep the content's color channels; here done
  after optimizing, on the result (`transfer_luminance`), optionally after matching the style's
  luminance statistics to the content's (`match_luminance`).

Colors use JPEG's full-range YCbCr (ITU-R BT.601), the same as Pillow's "YCbCr" mode: Y is the
luminance, Cb and Cr the color (chrominance). Everything here is numpy and Pillow, no TensorFlow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs

PRESERVE_COLORS = ("none", "luminance", "histogram")

# RGB (0..255) -> YCbCr (0..255) of JPEG/JFIF, full range; the inverse is computed, not rounded.
_RGB_TO_YCBCR = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])


def check_preserve_colors(value: object) -> str:
    """Returns the color-preservation mode `value` if it is one of `PRESERVE_COLORS`.

    Args:
        value: "none", "luminance" or "histogram" (any letter case).

    Returns:
        The mode in lower case.

    Raises:
        NSTError: `value` is not one of the modes.

    Example:
        >>> check_preserve_colors("Luminance")
        'luminance'
    """
    if isinstance(value, str) and value.strip().lower() in PRESERVE_COLORS:
        return value.strip().lower()
    raise NSTError(
        f"unknown preserve_colors {value!r}: choose one of {', '.join(PRESERVE_COLORS)} "
        "(none: the style's colors; luminance: keep the content's colors in the result; "
        "histogram: recolor the style image to the content's colors first)."
    )


def match_histogram(source: Image.Image, reference: Image.Image) -> Image.Image:
    """Recolors `source` so each RGB channel has the histogram of `reference`'s channel.

    Used by ``preserve_colors="histogram"``: the style image is recolored to the content's
    colors before optimizing, so the style loss asks for the photo's palette.

    Departure from the paper: Gatys et al. (2017) match colors with a linear map that gives the
    style the content's mean and covariance in RGB. We match each channel's whole distribution
    (its CDF) instead, which also matches skew and clipping, but ignores the correlation between
    channels.

    Each level of a channel is placed at the middle of its share of pixels (mid-rank quantile)
    and mapped to the reference value at the same quantile, interpolating between the
    reference's levels. So matching an image to itself (or to a tiling of itself) changes
    nothing, and a constant reference gives that color everywhere.

    Args:
        source: The image to recolor (any Pillow mode; transparency becomes white).
        reference: The image whose colors to take; its size may differ.

    Returns:
        An RGB image of `source`'s size.

    Raises:
        NSTError: `source` or `reference` is not a PIL image.

    Example:
        >>> style = Image.new("RGB", (8, 8), (200, 30, 30))
        >>> match_histogram(style, Image.new("RGB", (4, 2), (10, 90, 160))).getpixel((3, 3))
        (10, 90, 160)
    """
    src = np.asarray(_rgb(source, "source"))  # (H, W, 3) uint8
    ref = np.asarray(_rgb(reference, "reference"))  # (h, w, 3) uint8
    matched = np.stack([_match_channel(src[..., c], ref[..., c]) for c in range(3)], axis=-1)
    return Image.fromarray(matched)


def _match_channel(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Maps one uint8 channel onto another's histogram through a 256-entry lookup table."""
    source_q = _midrank_quantiles(source)  # (256,) for every level 0..255
    ref_counts = np.bincount(reference.ravel(), minlength=256)
    present = np.flatnonzero(ref_counts)  # the reference's levels, increasing
    ref_q = _midrank_quantiles(reference)[present]  # strictly increasing, as np.interp needs
    table = np.interp(source_q, ref_q, present.astype(np.float64))
    return np.rint(table).astype(np.uint8)[source]


def _midrank_quantiles(channel: np.ndarray) -> np.ndarray:
    """Quantile in (0, 1) of each level 0..255: the middle of the pixels at that level.

    The mid-rank (rather than the top of the level's share) keeps the mapping symmetric: a
    constant channel sits at the median of the reference, not at its maximum.
    """
    counts = np.bincount(channel.ravel(), minlength=256).astype(np.float64)
    return (np.cumsum(counts) - counts / 2.0) / channel.size


def transfer_luminance(result: Image.Image, content: Image.Image) -> Image.Image:
    """Keeps the result's luminance and puts back the content's colors.

    Used by ``preserve_colors="luminance"``, after optimizing. The output's Y channel (YCbCr) is
    the stylized result's, its Cb and Cr channels the content's, resized to the result's size.

    This is the common post-hoc variant of the paper's luminance-only transfer. Gatys et al.
    (2017) optimize the luminance channel alone and add the content's color afterwards; here the
    run is the ordinary one in color and only the colors of its result are replaced. The
    network then still sees color images, the kind of input VGG was trained on (a gray image
    repeated in three channels is not), no special run is needed, and the style's brushwork
    reaches the result through its brightness pattern.

    Where a bright or dark luminance meets a strong color, the combination lies outside the
    RGB cube and is clipped, so Y and CbCr then hold only approximately.

    Args:
        result: The stylized image.
        content: The content image whose colors to keep (any size; it is resized).

    Returns:
        An RGB image of `result`'s size.

    Raises:
        NSTError: `result` or `content` is not a PIL image.

    Example:
        >>> gray = Image.new("RGB", (4, 4), (120, 120, 120))
        >>> transfer_luminance(gray, Image.new("RGB", (8, 8), (150, 110, 100))).getpixel((0, 0))
        (149, 109, 99)
    """
    result = _rgb(result, "result")
    content = _rgb(content, "content")
    if content.size != result.size:
        content = content.resize(result.size, Image.Resampling.LANCZOS)
    ycbcr = _to_ycbcr(content)  # (H, W, 3): Y, Cb, Cr
    ycbcr[..., 0] = _to_ycbcr(result)[..., 0]
    return _from_ycbcr(ycbcr)


def match_luminance(style: Image.Image, content: Image.Image) -> Image.Image:
    """Gives the style image the content's luminance mean and standard deviation.

    The paper's suggestion for luminance-only transfer: before optimizing, the style's
    luminance is mapped linearly, ``Y' = (Y - mean_s) * std_c / std_s + mean_c``, so that a dark
    painting does not darken a bright photo. The style's color channels (Cb, Cr) are kept.
    A constant style (std 0) is only shifted to the content's mean.

    Args:
        style: The style image.
        content: The content image (any size).

    Returns:
        An RGB image of `style`'s size (values outside the RGB cube are clipped).

    Raises:
        NSTError: `style` or `content` is not a PIL image.

    Example:
        >>> dark = Image.new("RGB", (4, 4), (20, 20, 20))
        >>> match_luminance(dark, Image.new("RGB", (2, 2), (200, 200, 200))).getpixel((0, 0))
        (200, 200, 200)
    """
    ycbcr = _to_ycbcr(_rgb(style, "style"))
    content_y = _to_ycbcr(_rgb(content, "content"))[..., 0]
    y = ycbcr[..., 0]
    scale = content_y.std() / y.std() if y.std() > 0 else 1.0
    ycbcr[..., 0] = (y - y.mean()) * scale + content_y.mean()
    return _from_ycbcr(ycbcr)


def _rgb(img: object, what: str) -> Image.Image:
    """`img` as an RGB image, or an NSTError naming the argument."""
    if not isinstance(img, Image.Image):
        raise NSTError(
            f"the {what} image must be a PIL image, got {type(img).__name__}. Load files with "
            "nst_helpers.load_image and convert arrays with nst_helpers.tensor_to_image."
        )
    return imgs.to_rgb(img)


def _to_ycbcr(img: Image.Image) -> np.ndarray:
    """RGB image -> float64 (H, W, 3) array of Y, Cb, Cr in 0..255 (not rounded)."""
    rgb = np.asarray(img, dtype=np.float64)  # (H, W, 3)
    return rgb @ _RGB_TO_YCBCR.T + _CHROMA_OFFSET


def _from_ycbcr(ycbcr: np.ndarray) -> Image.Image:
    """Float (H, W, 3) Y, Cb, Cr -> RGB image, rounded once and clipped to the RGB cube."""
    rgb = (ycbcr - _CHROMA_OFFSET) @ _YCBCR_TO_RGB.T
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
