"""What a run minimizes: the targets taken from the content and style images, every loss of the
image being optimized, and the optional mask that limits the style to a region."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
from PIL import Image, ImageFilter

from nst_helpers.core import losses as L
from nst_helpers.core.model import FeatureExtractor
from nst_helpers.core.style_losses import style_loss, style_targets
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import pools_before


def make_targets(
    extractor: FeatureExtractor, content, style, blend=None, style_loss: str = "gram"
) -> tuple[dict, dict]:
    """Computes the content targets (features) and style targets (e.g. Gram matrices).

    Args:
        extractor: The feature extractor.
        content: Content image tensor (1, H, W, 3) in [0, 1].
        style: Style image tensor (1, h, w, 3) in [0, 1], or a list of them; sizes may differ.
        blend: With several styles, the weight of each (default equal): the target is the
            weighted mix of their statistics.
        style_loss: The registered style loss whose statistic the style targets are
            (`core.style_losses`).

    Returns:
        ({content layer: features}, {style layer: statistic}).
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = blend or [1.0] * len(styles)
    content_targets, _ = extractor(content)
    parts = [(weight, extractor(image)[1]) for weight, image in zip(blend, styles, strict=True)]
    return content_targets, style_targets(style_loss, parts)


def compute_losses(
    extractor: FeatureExtractor,
    image,
    content_targets: Mapping,
    style_targets: Mapping,
    settings: Settings,
    masks: Mapping | None = None,
) -> dict:
    """Evaluates every loss of `image` (1, H, W, 3) in [0, 1]: {"content", "style", "tv", "total"}.

    Args:
        extractor: The feature extractor.
        image: The image being optimized.
        content_targets: {layer: content-image features}, from `make_targets`.
        style_targets: {layer: style-image statistic}, from `make_targets`.
        settings: Supplies the loss and layer weights, and the style loss.
        masks: Optional {style layer: mask} from `layer_masks`, for style only inside a mask.

    Returns:
        A dict of float32 scalars, one per term of `losses.TERMS` and their weighted "total".
    """
    content_features, style_features = extractor(image)  # one pass through the network
    losses = {
        "content": L.content_loss(content_features, content_targets),
        "style": style_loss(
            style_features, style_targets, settings.layer_weights(), masks, settings.style_loss
        ),  # fmt: skip
        "tv": L.tv_loss(image),
    }
    losses["total"] = L.total_loss(losses, settings.loss_weights())
    return losses


def image_objective(
    extractor: FeatureExtractor,
    settings: Settings,
    content,
    content_targets: Mapping,
    style_targets: Mapping,
    pixel_mask=None,
) -> tuple[Callable, tuple | None]:
    """What to minimize for one image (a whole level's, or a tile's): its loss function, and
    with a mask what the mask keeps, (mask, photo), for `ImageVariables`.

    Args:
        extractor: The feature extractor.
        settings: The run's settings (loss and layer weights, style loss).
        content: The photo at the image's size, (1, H, W, 3) in [0, 1].
        content_targets, style_targets: From `make_targets` (a tile: its photo's features and
            the level's style targets).
        pixel_mask: (1, H, W, 1) in [0, 1] from `load_mask`, or None: the style only where it
            is white (masked statistics), and the photo kept where it is black.
    """
    masks, keep = None, None
    if pixel_mask is not None:
        masks, keep = layer_masks(pixel_mask, extractor), (pixel_mask, content)
    loss_fn = partial(compute_losses, extractor, content_targets=content_targets,
                      style_targets=style_targets, settings=settings, masks=masks)  # fmt: skip
    return loss_fn, keep


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
