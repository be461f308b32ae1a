"""The frozen VGG feature extractor: a Keras functional model from image to named layer outputs.

The layer tables it is built from (names, shapes, sizes) are `nst_helpers.runs.vgg`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from nst_helpers.checks import MAX_SIDE
from nst_helpers.errors import NSTError
from nst_helpers.files.images import vgg_preprocess
from nst_helpers.runs.vgg import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    check_arch,
    check_layers,
    layer_names,
    min_input_size,
    pools_before,
    resolve_precision,
    smallest_dim,
)


@dataclass
class FeatureExtractor:
    """A frozen VGG network that maps RGB images in [0, 1] to content and style features.

    Build it with `build_extractor`. Calling it returns two dicts, `{layer: features}` for the
    content and the style layers, each feature tensor of shape (batch, h, w, channels).

    Attributes:
        model: The Keras functional model, from caffe-preprocessed input to a dict of outputs.
        arch: "vgg16" or "vgg19".
        weights: What the weights came from: "imagenet", a file path, or None (random).
        content_layers: Names of the content layers.
        style_layers: Names of the style layers.
    """

    model: object
    arch: str
    weights: str | None
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    precision: str = "float32"
    pooling: str = "max"

    def __call__(self, image) -> tuple[dict, dict]:
        """Returns (content_features, style_features) for images of shape (B, H, W, 3) in [0, 1]."""
        outputs = self.model(vgg_preprocess(image))
        content = {name: outputs[name] for name in self.content_layers}
        style = {name: outputs[name] for name in self.style_layers}
        return content, style

    @property
    def min_size(self) -> int:
        """The smallest image side, in pixels, that reaches every chosen layer."""
        return min_input_size(self.arch, self.content_layers + self.style_layers)

    def check_image_size(
        self,
        height: int,
        width: int,
        what: str = "image",
        *,
        source_size: tuple[int, int] | None = None,
        scale: float = 1.0,
        setting: str = "max_dim (--max-dim)",
    ) -> None:
        """Raises an NSTError naming a size that works if an image is too small for the network.

        The image (`what`) enters at `height` x `width`, resized from `source_size` (default: the
        same) to a long side of `round(scale * setting)`; the message names the smallest
        `setting` that works (`smallest_dim`)."""
        need = self.min_size
        if min(height, width) >= need:
            return
        deepest = max(self.content_layers + self.style_layers, key=layer_names(self.arch).index)
        works = smallest_dim(source_size or (width, height), need, scale)
        fix = f"Use a {setting} of at least {works} for this aspect ratio, or use shallower layers."
        if max(works, round(works * scale)) > MAX_SIDE:  # past what Settings accepts
            fix = (
                f"No {setting} up to {MAX_SIDE} px is enough for this aspect ratio (it would take "
                f"{works}): crop the image to a less elongated shape, or use shallower layers."
            )
        raise NSTError(
            f"the {what} is {width}x{height} px, too small for {self.arch.upper()}: reaching layer "
            f"{deepest} halves the image {pools_before(self.arch, deepest)} times, so each side "
            f"needs at least {need} px. {fix}"
        )


def build_extractor(
    arch: str = "vgg19",
    weights: str | os.PathLike | None = "imagenet",
    content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
    style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
    precision: str = "float32",
    pooling: str = "max",
) -> FeatureExtractor:
    """Builds a frozen VGG feature extractor with the Keras functional API.

    The Keras model ends at the deepest layer needed: layers after it are never computed.

    Args:
        arch: "vgg16" or "vgg19" (default "vgg19", as in Gatys et al.).
        weights: "imagenet" (default; Keras downloads them once), the path of a Keras
            `include_top=False` weights file, or None for random weights (tests only).
        content_layers: Content layer names (default ("block4_conv2",)).
        style_layers: Style layer names (default block1_conv1 ... block5_conv1).
        precision: Compute dtype of the convolutions: "float32", "bfloat16", "float16" or
            "auto" (`resolve_precision`). Weights stay float32 (Keras mixed precision); the
            outputs are then low-precision, and the losses cast them back to float32.
        pooling: "max" (as trained) or "avg". Gatys et al. found average pooling gives smoother
            results; each average pool is followed by a constant rescale so activations keep the
            size the next layers were trained on (the paper rescales the weights instead),
            measured once on a fixed smooth-noise image.

    Returns:
        A FeatureExtractor.

    Raises:
        NSTError: Unknown architecture or layer, a weights file that is missing or belongs to
            another network, or "imagenet" weights that cannot be downloaded.

    Example::

        extractor = build_extractor("vgg16", weights=None)
        content, style = extractor(tf.zeros((1, 64, 64, 3)))
    """
    import keras

    arch = check_arch(arch)
    content_layers = check_layers(arch, content_layers, "content")
    style_layers = check_layers(arch, style_layers, "style")
    precision = resolve_precision(precision)
    from nst_helpers.core.weights import load_vgg

    vgg = load_vgg(arch, weights, precision)
    vgg.trainable = False
    wanted = list(dict.fromkeys(content_layers + style_layers))
    if pooling == "avg":
        model = _average_pooling_model(vgg, wanted)
    else:
        outputs = {name: vgg.get_layer(name).output for name in wanted}
        # Passing `vgg.input` (not `[vgg.input]`) keeps Keras 3 from warning about input structure.
        model = keras.Model(vgg.input, outputs, name=f"{arch}_features")
    model.trainable = False
    label = None if weights is None else str(weights)
    return FeatureExtractor(model, arch, label, content_layers, style_layers, precision, pooling)


def pooling_calibration_image():
    """The fixed smooth-noise image (1, 128, 128, 3) in [0, 1] on which average pooling's
    rescale is measured: it stands in for a photo's statistics."""
    import tensorflow as tf

    noise = tf.random.stateless_uniform((1, 16, 16, 3), seed=(0, 0))
    return tf.clip_by_value(tf.image.resize(noise, (128, 128), "bicubic"), 0.0, 1.0)


def _average_pooling_model(vgg, wanted: list[str]):
    """Rebuilds VGG's graph up to the deepest wanted layer with rescaled average pooling."""
    import keras
    import tensorflow as tf

    probe = vgg_preprocess(pooling_calibration_image())
    inputs = keras.Input((None, None, 3))
    x, tensors = inputs, {}
    last = max(layer_names_index(vgg, name) for name in wanted)
    for layer in vgg.layers[1 : last + 1]:
        if isinstance(layer, keras.layers.MaxPooling2D):
            average = tf.nn.avg_pool2d(probe, 2, 2, "VALID")
            scale = float(tf.reduce_mean(tf.nn.max_pool2d(probe, 2, 2, "VALID"))) / max(
                float(tf.reduce_mean(average)), 1e-12
            )
            x = keras.layers.AveragePooling2D(2, name=f"{layer.name}_avg")(x)
            x = keras.layers.Rescaling(scale, name=layer.name)(x)
            probe = average * scale
        else:
            x, probe = layer(x), layer(probe)
        tensors[layer.name] = x
    return keras.Model(inputs, {name: tensors[name] for name in wanted}, name="vgg_avg_features")


def layer_names_index(vgg, name: str) -> int:
    """The index of layer `name` in a Keras model's layer list."""
    return [layer.name for layer in vgg.layers].index(name)
