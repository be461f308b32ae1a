"""Checks of single values, shared by every module: each raises an NSTError that names the fix."""

from __future__ import annotations

import math
import os

import numpy as np

from nst_helpers.errors import NSTError

# Bounds that keep a run's plan finite and its images allocatable: no image side (result, coarse
# level or style image) above MAX_SIDE pixels (a 16384 px run needs far more memory than any one
# machine has), at most MAX_LEVELS coarse-to-fine levels, and a seed that fits TensorFlow's int64.
MAX_SIDE = 16384
MAX_LEVELS = 12
SEED_RANGE = (-(2**63), 2**63 - 1)


def check_count(value: object, name: str, unit: str | None = None) -> int:
    """Returns `value` as an int if it is a positive whole number, else raises an NSTError.

    Args:
        value: The value to check.
        name: How the message names it, e.g. "steps".
        unit: What it counts, e.g. "pixels" (the message then says "a positive whole number of
            pixels").

    Example:
        >>> check_count(3, "steps")
        3
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        what = f"a positive whole number of {unit}" if unit else "a positive whole number"
        raise NSTError(f"{name} must be {what}, got {value!r}.")
    return int(value)


def check_size(value: object, name: str = "max_dim") -> int:
    """A size in pixels: a positive whole number."""
    return check_count(value, name, "pixels")


def check_weight(value: object, name: str) -> None:
    """A finite number >= 0 (loss and blend weights)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise NSTError(f"{name} must be a number, got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise NSTError(f"{name} must be a finite number >= 0, got {value!r}.")


def check_positive(value: object, name: str) -> None:
    """A finite number > 0."""
    check_weight(value, name)
    if value == 0:
        raise NSTError(f"{name} must be greater than 0, got {value!r}.")


def check_decay(value: object, name: str, hint: str) -> None:
    """A decay rate: a number in [0, 1); `hint` names typical values for the message."""
    check_weight(value, name)
    if value >= 1:
        raise NSTError(f"{name} must be below 1 ({hint}), got {value}.")


def check_tiles(memory_limit: object, tile_size: object, overlap: object, steps: object) -> None:
    """A tiled run's settings: memory_limit (GiB, or None), tile_size, tile_overlap, tile_steps."""
    if memory_limit is not None:
        check_positive(memory_limit, "memory_limit")
    check_size(tile_size, "tile_size")
    check_count(steps, "tile_steps")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)):
        raise NSTError(f"tile_overlap must be a whole number of pixels, got {overlap!r}.")
    if not 0 <= overlap < tile_size / 2:
        raise NSTError(
            f"tile_overlap must be at least 0 and less than half of tile_size ({tile_size} px), "
            f"got {overlap}: e.g. --tile-overlap {tile_size // 8}."
        )


def check_side(value: object, name: str) -> int:
    """A size in pixels: a positive whole number up to MAX_SIDE."""
    check_size(value, name)
    if value > MAX_SIDE:
        raise NSTError(
            f"{name} must be at most {MAX_SIDE} pixels (far more than fits in memory), got "
            f"{value}: use a smaller {name}."
        )
    return int(value)


def check_sequence(value: object, name: str, example: str) -> list:
    """`value` as a list if it is a list, tuple or array (not a string), else an NSTError."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise NSTError(f"{name} must be a list of numbers such as {example}, got {value!r}.")
    return list(value)


def check_numbers(value: object, name: str, each: str | None = None) -> tuple[float, ...]:
    """A tuple of finite numbers >= 0 from a list, tuple or array (`each` names one in messages)."""
    numbers = check_sequence(value, name, "(0.7, 0.3)")
    for number in numbers:
        check_weight(number, each or f"each of {name}")
    return tuple(float(number) for number in numbers)


def check_path(value: object, name: str) -> os.PathLike | str:
    """`value` if it is a file path (a str or an os.PathLike), else an NSTError naming the fix.

    Example:
        >>> check_path("out.png", "output")
        'out.png'
    """
    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise NSTError(
            f"{name} must be a file path (a str or a pathlib.Path), got {type(value).__name__}: "
            f"pass e.g. {name}='out.png'."
        )
    return value


def check_callbacks(callbacks: object) -> list:
    """`callbacks` as a list of callables (each called with an Event), else an NSTError."""
    try:
        found = list(callbacks)
    except TypeError:
        found = None
    if found is None or not all(callable(c) for c in found):
        raise NSTError(
            f"callbacks must be a list of functions (each called with an Event), got "
            f"{callbacks!r}: pass e.g. callbacks=[print]."
        )
    return found
