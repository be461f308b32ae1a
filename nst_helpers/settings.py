"""The settings of a run: one checked dataclass shared by the API, the CLI and the notebook."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np

from nst_helpers import images as imgs
from nst_helpers.errors import NSTError
from nst_helpers.model import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, check_arch, check_layers

INITS = ("content", "noise")


@dataclass
class Settings:
    """Every choice of a style-transfer run, with defaults that work for VGG16 and VGG19.

    The loss weights are dimensionless (see `nst_helpers.losses`), so they keep their meaning for
    any network, weights file and image size.

    Attributes:
        arch: "vgg16" or "vgg19".
        weights: "imagenet", a weights file path, or None (random; for tests).
        max_dim: Long side of the result in pixels.
        steps: Number of optimisation steps.
        content_weight: alpha, the weight of the content loss.
        style_weight: beta, the weight of the style loss.
        tv_weight: Weight of the total-variation loss (smoothness).
        lr: Adam's learning rate, in units of the [0, 1] pixel range.
        init: Start from the "content" image or from uniform "noise".
        seed: Seed for the noise start.
        style_scale: Long side of the style image relative to the result's (1.0: same size).
        content_layers: Content layer names.
        style_layers: Style layer names.
        style_layer_weights: Relative weight of each style layer (default: equal).
        preview_every: Steps between events that carry the current image (0: only the last).
    """

    arch: str = "vgg19"
    weights: str | None = "imagenet"
    max_dim: int = 512
    steps: int = 300
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    lr: float = 0.02
    init: str = "content"
    seed: int = 0
    style_scale: float = 1.0
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    preview_every: int = 50

    def __post_init__(self) -> None:
        self.arch = check_arch(self.arch)
        if self.weights is not None:
            self.weights = os.fspath(self.weights)
        imgs.check_size(self.max_dim, "max_dim")
        _check_count(self.steps, "steps")
        for name in ("content_weight", "style_weight", "tv_weight"):
            _check_weight(getattr(self, name), name)
        if self.content_weight == self.style_weight == 0:
            raise NSTError("content_weight and style_weight are both 0: nothing to optimise.")
        _check_positive(self.lr, "lr")
        _check_positive(self.style_scale, "style_scale")
        if self.init not in INITS:
            raise NSTError(f"unknown init {self.init!r}: choose one of {', '.join(INITS)}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise NSTError(f"seed must be a whole number, got {self.seed!r}.")
        self.content_layers = check_layers(self.arch, self.content_layers, "content")
        self.style_layers = check_layers(self.arch, self.style_layers, "style")
        if self.style_layer_weights is not None:
            self.style_layer_weights = tuple(float(w) for w in self.style_layer_weights)
            if len(self.style_layer_weights) != len(self.style_layers):
                raise NSTError(
                    f"style_layer_weights has {len(self.style_layer_weights)} values but there "
                    f"are {len(self.style_layers)} style layers: give one weight per layer."
                )
            for weight in self.style_layer_weights:
                _check_weight(weight, "each style layer weight")
            if sum(self.style_layer_weights) == 0:
                raise NSTError("style_layer_weights are all 0: give at least one positive weight.")
        if isinstance(self.preview_every, bool) or not isinstance(self.preview_every, int):
            raise NSTError(
                f"preview_every must be a whole number of steps, got {self.preview_every!r}."
            )
        if self.preview_every < 0:
            raise NSTError(f"preview_every must be 0 (off) or positive, got {self.preview_every}.")

    def replace(self, **changes) -> Settings:
        """Returns a copy with some fields changed (and checked)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The settings as plain JSON-friendly values."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in vars(self).items()}

    def layer_weights(self) -> dict[str, float]:
        """{style layer: weight}, equal weights unless `style_layer_weights` is set."""
        weights = self.style_layer_weights or (1.0,) * len(self.style_layers)
        return dict(zip(self.style_layers, weights, strict=True))


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise NSTError(f"{name} must be a positive whole number, got {value!r}.")
    return int(value)


def _check_weight(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise NSTError(f"{name} must be a number, got {value!r}.")
    if not math.isfinite(value) or value < 0:
        raise NSTError(f"{name} must be a finite number >= 0, got {value!r}.")


def _check_positive(value: object, name: str) -> None:
    _check_weight(value, name)
    if value == 0:
        raise NSTError(f"{name} must be greater than 0, got {value!r}.")
