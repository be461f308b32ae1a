"""The VGG networks on paper: layer names, output shapes, sizes and precisions. No TensorFlow.

`Settings` checks its layer names here, the memory estimate counts activations here, and
`core.model` builds the real network from the same tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from nst_helpers import machine
from nst_helpers.errors import NSTError
from nst_helpers.files.images import scaled_size

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
    elsewhere, where low precision would be emulated and slow. On GPUs it gives "float32": float16
    becomes the choice there only once benchmarks/gpu_check.sh shows it matches float32 (whether
    that has run: benchmarks/README.md, "The GPU"); pass "float16" to try it.

    Raises:
        NSTError: Unknown precision (the message lists the valid ones).
    """
    if check_precision(precision) != "auto":
        return precision
    if machine.has_gpu():
        return "float32"  # float16 only once the GPU check shows it matches (see the docstring)
    return "bfloat16" if machine.cpu_has_bf16() else "float32"
