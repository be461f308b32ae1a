"""A second network's judgement of style-transfer results, for benchmarks only (never optimized
against).

The judge is a second VGG16, the trunk of the HED edge detector (../shared/weights/README.md).
It is not independent of the network runs optimize against in every sense: it is the same
architecture, fine-tuned from the same ImageNet VGG16 for edge detection. But its weights are
not the ones any run optimizes, so a result cannot score well by exploiting them. Its distances
are relative, so they do not depend on the judge's activation scale:

    style   = mean over block1_conv1 ... block5_conv1 of ||G(result) - G(style)||_F / ||G(style)||_F
    content = ||F(result) - F(content)||_F / ||F(content)||_F   at block4_conv2
    style_w2 = mean over the same layers of sqrt(W2^2 / E|f_style|^2), the Gaussian
               2-Wasserstein distance of the features (nst_helpers.core.losses.gaussian_w2)

with G the Gram matrix averaged over positions (nst_helpers.gram_matrix), and the content and
style images resized to the result's size first. Two style distances, so that neither style loss
a run can use (gram, wasserstein) is judged only by itself. Lower is better for all; content and
style trade off, so a result beats another only if it is at or below it on both (`at_or_below`,
Pareto, on the Gram style distance as in the stored time-to-quality runs).

`Judge.other_families` adds distances from families no run optimizes (`distances.py`): sliced
Wasserstein and nearest-neighbour style distances, a self-similarity content distance and a
chroma histogram distance, on the same judge network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HED_WEIGHTS = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "weights"
    / "vgg16_hed_bsds500_notop.weights.h5"
)
CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


def relative_distance(value, target) -> float:
    """||value - target||_F / ||target||_F (0 when equal; invariant to scaling both)."""
    import tensorflow as tf

    value, target = tf.cast(value, tf.float64), tf.cast(target, tf.float64)
    return float(tf.norm(value - target) / tf.maximum(tf.norm(target), 1e-300))


def w2_distance(moments, target) -> float:
    """sqrt(W2^2 / E|f_target|^2) of two layers' moments (0 when equal; scale-free)."""
    import tensorflow as tf

    from nst_helpers.core.losses import gaussian_w2

    moments, target = tf.cast(moments, tf.float64), tf.cast(target, tf.float64)
    squared = float(gaussian_w2(moments, target)[0])  # float64: W2^2 is a difference of traces
    return (max(squared, 0.0) / max(float(tf.linalg.trace(target[0, :-1, :-1])), 1e-300)) ** 0.5


@dataclass(frozen=True)
class Scores:
    """The judge's two distances of one image (lower is better)."""

    content: float
    style: float
    style_w2: float | None = None  # None in scores stored before the W2 distance existed

    def at_or_below(self, other: Scores) -> bool:
        """Whether this image is at least as good as `other` on both distances (Pareto)."""
        return self.content <= other.content and self.style <= other.style


class Judge:
    """Scores images against one content and one style image, resized to the images' size.

    Args:
        weights: The judge's weights file (default: the HED VGG16 beside the repository); None
            for random weights (tests of the mechanics only).
    """

    def __init__(self, weights: str | os.PathLike | None = HED_WEIGHTS):
        from nst_helpers import build_extractor

        self.extractor = build_extractor(
            "vgg16", None if weights is None else os.fspath(weights), (CONTENT_LAYER,), STYLE_LAYERS
        )
        self._targets: dict = {}

    def _features(self, pil):
        import nst_helpers as nst
        from nst_helpers.core.losses import gaussian_moments

        content, style = self.extractor(nst.image_to_tensor(pil))
        grams = {name: nst.gram_matrix(features) for name, features in style.items()}
        moments = {name: gaussian_moments(f) for name, f in style.items()}
        return content[CONTENT_LAYER], (grams, moments)

    def _targets_at(self, content, style, size: tuple[int, int]):
        from nst_helpers.files.decoding import pixels_sha256

        key = (pixels_sha256(content), pixels_sha256(style), size)
        if key not in self._targets:
            resized = [_resized(img, size) for img in (content, style)]
            self._targets[key] = (self._features(resized[0])[0], self._features(resized[1])[1])
        return self._targets[key]

    def score(self, image, content, style) -> Scores:
        """The distances of `image` (PIL image, or (H, W, 3) array in [0, 1]) to the content
        and style images (PIL images, resized to `image`'s size)."""
        import nst_helpers as nst

        pil = image if hasattr(image, "mode") else nst.tensor_to_image(image)
        content_target, (style_grams, style_moments) = self._targets_at(content, style, pil.size)
        features, (grams, moments) = self._features(pil)
        style_distance = sum(
            relative_distance(grams[name], style_grams[name]) for name in STYLE_LAYERS
        ) / len(STYLE_LAYERS)
        w2 = sum(w2_distance(moments[name], style_moments[name]) for name in STYLE_LAYERS)
        return Scores(
            relative_distance(features, content_target), style_distance, w2 / len(STYLE_LAYERS)
        )

    def other_families(self, image, content, style) -> dict[str, float]:
        """The distances from other families (`distances.py`), each averaged over the style
        layers where it is a style distance (lower is better):

        {"style_sw", "style_nn" (the result's features found in the style), "style_nn_back"
        (the style's found in the result), "content_self_similarity" (block3_conv1 on a grid of
        at most 32 x 32 cells), "chroma" (Hellinger, CIELAB a/b)}.
        """
        import distances as D
        import numpy as np
        import tensorflow as tf

        import nst_helpers as nst

        pil = image if hasattr(image, "mode") else nst.tensor_to_image(image)
        photo, painting = (_resized(img, pil.size) for img in (content, style))
        _, mine = self.extractor(nst.image_to_tensor(pil))
        _, theirs = self.extractor(nst.image_to_tensor(painting))
        _, photos = self.extractor(nst.image_to_tensor(photo))
        scores = {"style_sw": 0.0, "style_nn": 0.0, "style_nn_back": 0.0}
        for name in STYLE_LAYERS:
            a, b = D.sample_positions(mine[name]), D.sample_positions(theirs[name])
            directions = D.unit_directions(a.shape[1])
            scores["style_sw"] += D.sliced_wasserstein(a, b, directions) / len(STYLE_LAYERS)
            scores["style_nn"] += D.nearest_neighbor(a, b) / len(STYLE_LAYERS)
            scores["style_nn_back"] += D.nearest_neighbor(b, a) / len(STYLE_LAYERS)
        layer = "block3_conv1"
        height, width = mine[layer].shape[1:3]
        grid = (max(1, min(32, height)), max(1, min(32, width)))
        cells = [tf.image.resize(f[layer], grid, "area")[0] for f in (mine, photos)]  # (h, w, C)
        scores["content_self_similarity"] = D.self_similarity(*(np.asarray(c) for c in cells))
        rgb = [np.asarray(img, np.float64) / 255.0 for img in (pil, painting)]
        scores["chroma"] = D.chroma_hellinger(*rgb)
        return scores


def _resized(image, size: tuple[int, int]):
    """The library's resize (nst_helpers.files.images.resize_image), so the photo scores 0."""
    from PIL import Image

    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
