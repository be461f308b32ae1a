"""How much memory a run needs, how much the machine has, and how much the process used."""

from __future__ import annotations

import sys

from nst_helpers.errors import NSTError
from nst_helpers.images import scaled_size
from nst_helpers.model import activation_count, resolve_precision
from nst_helpers.settings import Settings

# Fitted to peak memory measured with benchmarks/bench.py (VGG16 and VGG19 at 256 to 1024 px,
# float32 and bfloat16) with a margin: the TensorFlow runtime and the weights, plus each layer
# output kept for the backward pass and its gradient, in float32-sized slots.
_BASE_BYTES = 0.7 * 2**30
_BYTES_PER_ACTIVATION = {"float32": 2.8 * 4, "bfloat16": 2.1 * 4, "float16": 2.1 * 4}
LBFGS_MEMORY = 10  # pairs of vectors L-BFGS keeps (scipy's maxcor)


def estimate_memory(settings: Settings, width: int, height: int) -> int:
    """Estimates the peak memory in bytes of a run at the given final image size.

    `precision="auto"` is counted as what `resolve_precision` picks on this machine.

    Args:
        settings: The run's network, layers, precision and optimizer.
        width: Final image width in pixels.
        height: Final image height in pixels.

    Returns:
        Bytes (an estimate with a safety margin; benchmarks/RESULTS.md has measured peaks).
    """
    precision = resolve_precision(settings.precision)
    layers = settings.content_layers + settings.style_layers
    activations = activation_count(settings.arch, layers, height, width)
    needed = _BASE_BYTES + activations * _BYTES_PER_ACTIVATION[precision]
    values = height * width * 3 * (4 / 3 if settings.pyramid else 1)  # scales 1 + 1/4 + 1/16 ...
    if settings.optimizer == "lbfgs":  # float64 history pairs, iterate and gradient
        needed += (2 * LBFGS_MEMORY + 4) * values * 8
    return int(needed)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(settings: Settings, width: int, height: int, available: int | None = None) -> int:
    """Refuses a run that will not fit in memory, naming the largest size that does.

    Args:
        settings: The run's settings.
        width: Final image width in pixels.
        height: Final image height in pixels.
        available: Bytes available (default: `available_memory()`; no check when unknown).

    Returns:
        The estimate, in bytes.

    Raises:
        NSTError: The estimate exceeds the available memory.
    """
    needed = estimate_memory(settings, width, height)
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return needed
    fits = settings.max_dim
    while fits > 32 and estimate_memory(settings, *scaled_size((width, height), fits)) > available:
        fits -= 32
    gib = 2**30
    raise NSTError(
        f"a {width}x{height} px run with {settings.arch.upper()} ({settings.precision}, "
        f"{settings.optimizer}) needs about {needed / gib:.1f} GiB of memory, but only "
        f"{available / gib:.1f} GiB is available. Use max_dim (--max-dim) {fits} or less, "
        "precision bfloat16, or free some memory."
    )


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB
