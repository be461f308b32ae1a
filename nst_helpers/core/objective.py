"""What a run minimizes: the targets taken from the content and style images, every loss of the
image being optimized, and the optional mask that limits the style to a region."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageFilter

from nst_helpers.core import losses as L
from nst_helpers.core.model import FeatureExtractor
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import pools_before


def make_targets(
    extractor: FeatureExtractor, content, style, blend=None, style_loss: str = "gram"
) -> tuple[dict, dict]:
    """Computes the content targets (features) and style targets (Gram matrices).

    Args:
        extractor: The feature extractor.
        content: Content image tensor (1, H, W, 3) in [0, 1].
        style: Style image tensor (1, h, w, 3) in [0, 1], or a list of them; sizes may differ.
        blend: With several styles, the weight of each (summing to 1; default equal): the
            target is the weighted mix of their Gram matrices.
        style_loss: "gram", or "wasserstein": the targets are then the features' moments
            (`losses.style_statistics`).

    Returns:
        ({content layer: features}, {style layer: Gram matrix, or moments}).
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = blend or [1.0 / len(styles)] * len(styles)
    content_targets, _ = extractor(content)
    grams: dict = {}
    for weight, image in zip(blend, styles, strict=True):
        _, style_features = extractor(image)
        for name, features in style_features.items():
            statistics = L.style_statistics(features, style_loss)
            grams[name] = grams.get(name, 0.0) + weight * statistics
    return content_targets, grams


def compute_losses(
    extractor: FeatureExtractor,
    image,
    content_targets: Mapping,
    style_targets: Mapping,
    settings: Settings,
    masks: Mapping | None = None,
    *,
    weights=None,
    per_item: bool = False,
) -> dict:
    """Evaluates every loss of `image` (B, H, W, 3) in [0, 1]: {"content", "style", "tv", "total"}.

    Args:
        extractor: The feature extractor.
        image: The image (or batch of images) being optimized.
        content_targets: {layer: content-image features}, from `make_targets`.
        style_targets: {layer: style-image Gram matrix (or moments)}, from `make_targets`.
        settings: Supplies the loss and layer weights, and the style loss.
        masks: Optional {style layer: mask} from `layer_masks`, for style only inside a mask.
        weights: Optional (B, 3) content, style and TV weights, one row per image (a sweep);
            default: the settings' weights for every image.
        per_item: One value per image of the batch, shape (B,), instead of their sum.

    Returns:
        A dict of float32 tensors: scalars, or shape (B,) with `per_item`.
    """
    content_features, style_features = extractor(image)  # one network pass for the whole batch
    content = L.content_loss(content_features, content_targets, per_item=per_item)
    style_loss = L.wasserstein_style_loss if settings.style_loss == "wasserstein" else L.style_loss
    style = style_loss(
        style_features, style_targets, settings.layer_weights(), masks, per_item=per_item
    )
    tv = L.tv_loss(image, per_item=per_item)
    if weights is None:
        weights = (settings.content_weight, settings.style_weight, settings.tv_weight)
    else:  # (B, 3) -> three (B,) columns
        weights = (weights[:, 0], weights[:, 1], weights[:, 2])
    total = L.total_loss(content, style, tv, *weights)
    return {"content": content, "style": style, "tv": tv, "total": total}


def load_mask(mask, size: tuple[int, int], softness: float = 0.02):
    """Loads a mask image as a (1, H, W, 1) tensor in [0, 1] with a soft edge.

    Args:
        mask: Path or PIL image; white (255) marks where the style goes. Color masks are
            converted to gray; transparency counts as black.
        size: (width, height) of the image being optimized.
        softness: Gaussian blur radius as a fraction of the long side (the soft edge).

    Returns:
        A float32 tensor.

    Raises:
        NSTError: The mask cannot be read, or it is all black (no style anywhere).
    """
    import tensorflow as tf

    img = imgs.as_image(mask, "mask").convert("L").resize(size, Image.Resampling.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur(softness * max(size)))
    array = np.asarray(img, dtype=np.float32) / 255.0
    if array.max() < 0.5:
        raise NSTError(
            "the mask has no white area, so the style would go nowhere: paint white where the "
            "style should go and black where the photo should stay."
        )
    return tf.constant(array[np.newaxis, :, :, np.newaxis])


def layer_masks(mask, extractor: FeatureExtractor) -> dict:
    """The mask at each style layer's resolution (area-averaged), {layer: (1, h, w, 1)}."""
    import tensorflow as tf

    height, width = int(mask.shape[1]), int(mask.shape[2])
    masks = {}
    for name in extractor.style_layers:
        factor = 2 ** pools_before(extractor.arch, name)
        shape = (max(1, height // factor), max(1, width // factor))
        masks[name] = tf.image.resize(mask, shape, method="area")
    return masks


def check_level_sizes(extractor, settings: Settings, content_img, style_imgs) -> None:
    """Fails fast, before any work, if a level is too small for the network."""
    levels = settings.levels()  # the message names a size that works for the smallest level
    setting = "max_dim (--max-dim)"
    if len(levels) > 1:
        setting = "start_dim (--start-dim) and max_dim (--max-dim)"
    for size in levels:
        width, height = imgs.scaled_size(content_img.size, size)
        extractor.check_image_size(
            height, width, "content image", source_size=content_img.size, setting=setting
        )
        style_dim = max(1, round(size * settings.style_scale))
        for style_img in style_imgs:
            width, height = imgs.scaled_size(style_img.size, style_dim)
            extractor.check_image_size(
                height, width, "style image", source_size=style_img.size,
                scale=settings.style_scale, setting=setting,
            )  # fmt: skip
