"""Checks of single values, shared by every module: each raises an NSTError that names the fix."""

from __future__ import annotations

import math

import numpy as np

from nst_helpers.errors import NSTError


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
