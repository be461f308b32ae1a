"""The frozen VGG feature extractor: a Keras functional model from image to named layer outputs."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nst_helpers.errors import NSTError
from nst_helpers.images import scaled_size, vgg_preprocess

ARCHITECTURES = ("vgg16", "vgg19")
POOLINGS = ("max", "avg")

# Gatys et al. (2016) use conv4_2 for content and conv1_1..conv5_1 for style. Keras' `blockX_convY`
# outputs already include the ReLU, so they are the paper's reluX_Y. (The TensorFlow tutorial
# uses block5_conv2 for content; block4_conv2 keeps more of the photo's structure.)
DEFAULT_CONTENT_LAYERS = ("block4_conv2",)
DEFAULT_STYLE_LAYERS = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block4_conv1",
    "block5_conv1",
)

# Convolutions per block: VGG16 has 2-2-3-3-3, VGG19 has 2-2-4-4-4; both have these channels.
_CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_CHANNELS_PER_BLOCK = (64, 128, 256, 512, 512)


def layer_names(arch: str) -> list[str]:
    """Lists the convolution and pooling layer names of a VGG network, input to output.

    Args:
        arch: "vgg16" or "vgg19".

    Returns:
        Names such as "block1_conv1", ..., "block5_pool".

    Raises:
        NSTError: Unknown architecture.

    Example:
        >>> layer_names("vgg16")[:3]
        ['block1_conv1', 'block1_conv2', 'block1_pool']
    """
    arch = check_arch(arch)
    names = []
    for block, convs in enumerate(_CONVS_PER_BLOCK[arch], start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)]
        names.append(f"block{block}_pool")
    return names


def check_arch(arch: str) -> str:
    """Returns the normalized architecture name, or raises an NSTError listing the valid ones."""
    name = str(arch).lower()
    if name not in ARCHITECTURES:
        raise NSTError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}.")
    return name


def check_layers(arch: str, layers: Sequence[str], role: str = "style") -> tuple[str, ...]:
    """Checks that each layer exists in the network.

    Args:
        arch: "vgg16" or "vgg19".
        layers: Layer names such as "block4_conv2".
        role: "content" or "style", used in the error message.

    Returns:
        The layer names as a tuple.

    Raises:
        NSTError: A name is unknown (the message lists the valid names), or `layers` is empty.
    """
    if isinstance(layers, str):
        layers = (layers,)
    valid = layer_names(arch)
    if not isinstance(layers, (list, tuple)):
        raise NSTError(
            f"{role}_layers must be a layer name or a list of names such as "
            f"('{DEFAULT_CONTENT_LAYERS[0]}',), got {layers!r}: choose from {', '.join(valid)}."
        )
    layers = tuple(layers)
    if not layers:
        raise NSTError(f"no {role} layers given: choose at least one of {', '.join(valid)}.")
    for name in layers:
        if name not in valid:
            raise NSTError(
                f"unknown {role} layer {name!r} for {arch.upper()}: choose from {', '.join(valid)}."
            )
    return layers


def pools_before(arch: str, layer: str) -> int:
    """Counts the 2x2 pooling layers between the input and `layer` (inclusive)."""
    names = layer_names(arch)
    return sum(1 for name in names[: names.index(layer) + 1] if name.endswith("_pool"))


def layer_shapes(
    arch: str, layers: Sequence[str], height: int, width: int
) -> Iterator[tuple[str, int, int, int]]:
    """Yields (name, height, width, channels) of each layer's output, from the input to the
    deepest of `layers`: 3x3 convolutions keep the size, 2x2 poolings halve it (rounding down).

    Example:
        >>> list(layer_shapes("vgg16", ["block1_pool"], 10, 10))[1:]
        [('block1_conv2', 10, 10, 64), ('block1_pool', 5, 5, 64)]
    """
    names = layer_names(arch)
    deepest = max(names.index(layer) for layer in layers)
    for name in names[: deepest + 1]:
        if name.endswith("_pool"):
            height, width = height // 2, width // 2
        yield name, height, width, _CHANNELS_PER_BLOCK[int(name[5]) - 1]


def activation_count(arch: str, layers: Sequence[str], height: int, width: int) -> int:
    """Counts the values in every layer output up to the deepest of `layers` (for memory use).

    Example:
        >>> activation_count("vgg16", ["block1_conv1"], 10, 10)  # 64 channels at 10x10
        6400
    """
    return sum(h * w * channels for _, h, w, channels in layer_shapes(arch, layers, height, width))


def conv_flops(arch: str, layers: Sequence[str], height: int, width: int) -> int:
    """Counts the FLOPs of the forward 3x3 convolutions up to the deepest of `layers`: each
    output value costs 9 * input channels multiply-adds, 2 FLOPs each (poolings, ReLUs: none).

    Example:
        >>> conv_flops("vgg16", ["block1_conv1"], 10, 10) == 2 * 9 * 3 * 64 * 10 * 10
        True
    """
    flops, channels = 0, 3  # RGB in
    for name, h, w, out in layer_shapes(arch, layers, height, width):
        if "_conv" in name:
            flops += 2 * 9 * channels * out * h * w
        channels = out
    return flops


def min_input_size(arch: str, layers: Sequence[str]) -> int:
    """Returns the smallest image side (pixels) that still gives every layer a 1x1 feature map.

    Each pooling layer halves the size (rounding down), so a layer after k poolings needs 2**k.
    """
    return 2 ** max(pools_before(arch, layer) for layer in layers)


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
        from nst_helpers.settings import MAX_SIDE  # settings imports this module

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


def smallest_dim(source_size: tuple[int, int], need: int, scale: float = 1.0) -> int:
    """The smallest max_dim resizing `source_size` (`images.scaled_size`'s rounding) to both
    sides >= `need` px, with a long side of `max(1, round(max_dim * scale))`.

    >>> smallest_dim((10, 10000), 16)  # 10 * 15500 / 10000 = 15.5 rounds to 16
    15500
    """

    def works(max_dim: int) -> bool:
        return min(scaled_size(source_size, max(1, round(max_dim * scale)))) >= need

    low, high = 0, 1  # never works(low); works(high) once found
    while not works(high):
        low, high = high, high * 2
    while high - low > 1:  # the short side never shrinks as max_dim grows: bisect
        middle = (low + high) // 2
        low, high = (low, middle) if works(middle) else (middle, high)
    return high


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
    from nst_helpers.weights import load_vgg

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


PRECISIONS = ("float32", "bfloat16", "float16", "auto")


def check_precision(precision: str) -> str:
    """Returns `precision` if it is one of PRECISIONS, else raises an NSTError listing them."""
    if precision not in PRECISIONS:
        raise NSTError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    return precision


def resolve_precision(precision: str = "auto") -> str:
    """Turns "auto" into the fastest supported compute dtype here; checks the others.

    "auto" gives "bfloat16" on CPUs with native bfloat16 arithmetic (the avx512_bf16 or amx_bf16
    flags: Intel Cooper Lake/Sapphire Rapids and later, AMD Zen 4 and later), and "float32"
    elsewhere, where low precision would be emulated and slow. On GPUs it stays "float32" until
    a GPU run has shown float16 to match it (benchmarks/gpu_check.sh; none was measured yet):
    pass "float16" to try it.

    Raises:
        NSTError: Unknown precision (the message lists the valid ones).
    """
    if check_precision(precision) != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "float32"  # float16 is not yet measured to match float32 on a GPU
    return "bfloat16" if cpu_has_bf16() else "float32"


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU does bfloat16 arithmetic natively (the avx512_bf16 or amx_bf16 flag).

    Args:
        cpuinfo: The text of /proc/cpuinfo (default: read it; False where it can't be read,
            e.g. not Linux, to stay safe with float32).

    Example:
        >>> cpu_has_bf16("flags : fpu sse2 avx512f avx512_bf16")
        True
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as info:
                cpuinfo = info.read()
        except OSError:
            return False
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    return any(flag in flags.partition(":")[2].split() for flag in ("avx512_bf16", "amx_bf16"))
