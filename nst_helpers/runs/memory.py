"""How much memory a run needs, estimated from its settings and image sizes before it starts.

What the machine has and what the process used are `nst_helpers.machine`.
"""

from __future__ import annotations

from collections.abc import Sequence

from nst_helpers import machine
from nst_helpers.core.style_losses import style_loss_named
from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import decode_memory
from nst_helpers.files.images import scaled_size
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import activation_count, resolve_precision

# Fitted to peak memory measured with benchmarks/bench.py (VGG16 and VGG19 at 256 to 1024 px,
# float32 and bfloat16, on a CPU with AVX-512) with a margin: the TensorFlow runtime and the
# weights, plus each layer output kept for the backward pass and its gradient, in float32-sized
# slots. TensorFlow's float32 kernels for CPUs without AVX-512 hold more: 17 to 21 bytes per
# activation at 256 to 768 px (VGG16, Adam and L-BFGS, AVX2: benchmarks/MEMORY_FIT.md).
_BASE_BYTES = 0.7 * 2**30
_BYTES_PER_ACTIVATION = {"float32": 2.8 * 4, "bfloat16": 2.1 * 4, "float16": 2.1 * 4}
_FLOAT32_BYTES_WITHOUT_AVX512 = 20.0
# A style image's pass through the network to its Gram matrices (forward only, every layer output
# held until the pass ends): fitted, with a margin, to the peaks of style_scale 8 and 16 runs
# (VGG19 at max_dim 64: style images of 512 and 1024 px; float32 and bfloat16).
_FORWARD_BYTES_PER_ACTIVATION = {"float32": 1.4 * 4, "bfloat16": 1.0 * 4, "float16": 1.0 * 4}
# A decoded input kept at full size for the run: 4 bytes per pixel for Pillow's RGB, and the run's
# peak measured 5.6 to 5.9 bytes per pixel higher with 48 and 144 Mpx PNG contents (VGG19, 512 px).
_HELD_BYTES_PER_PIXEL = 6
LBFGS_MEMORY = 10  # pairs of vectors L-BFGS keeps (scipy's maxcor)


def estimate_memory(
    settings: Settings,
    width: int,
    height: int,
    *,
    style_sizes: Sequence[tuple[int, int]] = (),
    decode_sizes: Sequence[tuple[int, int]] = (),
) -> int:
    """Estimates the peak memory in bytes of a run at the given final image size.

    `precision="auto"` is counted as what `resolve_precision` picks on this machine. The
    optimization and the style images' passes through the network come one after the other,
    so the larger of the two counts. Decoded input files stay in memory at full size during the
    run; decoding them comes first and needs more per pixel (`decoding.decode_memory`), so the
    peak is the larger of the decode and the run.

    Args:
        settings: The run's network, layers, precision, optimizer and style_scale.
        width: Final image width in pixels.
        height: Final image height in pixels.
        style_sizes: (width, height) of each style image, as loaded (or already at its working
            size: either gives the same); each is counted at its working size, long side
            max_dim * style_scale. Default: none counted.
        decode_sizes: (width, height) of each input file still to be decoded, at its full
            (header) size. Default: none counted (images already in memory).

    Returns:
        Bytes (an estimate with a safety margin; benchmarks/RESULTS.md has measured peaks).

    Example:
        >>> from nst_helpers.runs.settings import Settings
        >>> settings = Settings(max_dim=64, style_scale=16)  # the style image at 1024 px
        >>> plain = estimate_memory(settings, 64, 48)
        >>> estimate_memory(settings, 64, 48, style_sizes=[(64, 64)]) > plain + 2**30
        True
    """
    precision = resolve_precision(settings.precision)
    layers = settings.content_layers + settings.style_layers
    activations = activation_count(settings.arch, layers, height, width)
    per_activation = _BYTES_PER_ACTIVATION[precision]
    if precision == "float32" and not machine.cpu_has_avx512() and not machine.cpu_has_bf16():
        per_activation = _FLOAT32_BYTES_WITHOUT_AVX512
    optimize = activations * per_activation
    # what the style loss holds beyond the Gram loss's (its registry entry says)
    extra = style_loss_named(settings.style_loss).bytes_per_activation
    optimize += extra * activation_count(settings.arch, settings.style_layers, height, width)
    values = height * width * 3 * (4 / 3 if settings.pyramid else 1)  # 1 + 1/4 + ...
    if settings.optimizer == "lbfgs":  # float64 history pairs, iterate and gradient
        optimize += (2 * LBFGS_MEMORY + 4) * values * 8
    style_dim = max(1, round(settings.max_dim * settings.style_scale))
    style = max(
        (
            activation_count(settings.arch, layers, h, w)
            for w, h in (scaled_size(size, style_dim) for size in style_sizes)
        ),
        default=0,
    )
    forward = style * _FORWARD_BYTES_PER_ACTIVATION[precision]
    decode = sum(decode_memory(size) for size in decode_sizes)
    held = sum(size[0] * size[1] * _HELD_BYTES_PER_PIXEL for size in decode_sizes)
    return int(_BASE_BYTES + max(max(optimize, forward) + held, decode))


def check_memory(
    settings: Settings,
    width: int,
    height: int,
    available: int | None = None,
    *,
    style_sizes: Sequence[tuple[int, int]] = (),
    decode_sizes: Sequence[tuple[int, int]] = (),
) -> int:
    """Refuses a run that will not fit in memory, naming the largest size that does.

    Args:
        settings: The run's settings.
        width: Final image width in pixels.
        height: Final image height in pixels.
        available: Bytes available (default: `machine.available_memory()`; no check when unknown).
        style_sizes: The style images' sizes (see `estimate_memory`).
        decode_sizes: The input files' full sizes (see `estimate_memory`).

    Returns:
        The estimate, in bytes.

    Raises:
        NSTError: The estimate exceeds the available memory.
    """
    sizes = {"style_sizes": style_sizes, "decode_sizes": decode_sizes}
    needed = estimate_memory(settings, width, height, **sizes)
    available = machine.available_memory() if available is None else available
    if available is None or needed <= available:
        return needed

    def estimate_at(max_dim: int) -> int:  # the style images shrink with max_dim too
        size = scaled_size((width, height), max_dim)
        return estimate_memory(settings.replace(max_dim=max_dim), *size, **sizes)

    fits = settings.max_dim  # in steps of 32 px, then of 1 px below 64
    while fits > 1 and estimate_at(fits) > available:
        fits = fits - 32 if fits > 64 else fits - 1
    gib = 2**30
    run = (
        f"a {width}x{height} px run with {settings.arch.upper()} ({settings.precision}, "
        f"{settings.optimizer}) needs about {needed / gib:.1f} GiB of memory"
    )
    short = f"only {available / gib:.1f} GiB is available"
    if estimate_at(fits) > available and decode_sizes:  # the full-size inputs alone are too much
        decode = sum(decode_memory(size) for size in decode_sizes)
        raise NSTError(
            f"{run} (decoding the input files at full size takes {decode / gib:.1f} GiB), but "
            f"{short}. Downscale the input images with an image editor, or free some memory."
        )
    if estimate_at(fits) > available:
        raise NSTError(f"{run}, but {short}, too little at any size. Free some memory.")
    style = "a smaller style_scale (--style-scale), " if style_sizes else ""
    raise NSTError(
        f"{run}, but {short}. Use max_dim (--max-dim) {fits} or less, {style}precision "
        "bfloat16, or free some memory."
    )
