"""The settings of a run: one checked dataclass shared by the API, the CLI and the notebook."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
from dataclasses import dataclass

import numpy as np

from nst_helpers.checks import (
    MAX_LEVELS,
    MAX_SIDE,
    SEED_RANGE,
    check_count,
    check_decay,
    check_numbers,
    check_positive,
    check_sequence,
    check_side,
    check_tiles,
    check_weight,
)
from nst_helpers.core.losses import TERMS
from nst_helpers.core.style_losses import style_loss_named
from nst_helpers.errors import NSTError
from nst_helpers.runs.color import check_preserve_colors
from nst_helpers.runs.presets import PRESETS
from nst_helpers.runs.vgg import (
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    POOLINGS,
    check_arch,
    check_layers,
    check_precision,
)

INITS = ("content", "noise")
LOSS_NAMES = (*TERMS, "total")  # what every run reports, in this order
OLDER_NAMES = {"weights": "weights_file"}  # settings renamed since 0.1.0, still accepted
OPTIMIZERS = ("adam", "lbfgs")


@dataclass
class Settings:
    """Every choice of a style-transfer run, with defaults that work for VGG16 and VGG19.

    The loss weights are dimensionless (see `nst_helpers.core.losses`), so they keep their meaning
    for any network, weights file and image size.

    Attributes:
        arch: "vgg16" or "vgg19".
        weights_file: "imagenet", a weights file path, or None (random; for tests). The older
            name `weights` is accepted too.
        max_dim: Long side of the result in pixels.
        steps: Number of optimization steps.
        content_weight: alpha, the weight of the content loss.
        style_weight: beta, the weight of the style loss.
        tv_weight: Weight of the total-variation loss (smoothness).
        lr: Adam's learning rate, in units of the [0, 1] pixel range (with `pyramid`, per
            scale, so a pixel can move up to about 3x `lr` per step).
        beta_1: Adam's momentum, the decay of its running mean of gradients: Keras' 0.9, or the
            TensorFlow tutorial's 0.99 (slower at first, lower after 1000 steps:
            benchmarks/LONG_RUNS.md).
        init: Start from the "content" image or from uniform "noise".
        seed: Seed for the noise start.
        style_scale: Long side of the style image relative to the result's (1.0: same size).
        content_layers: Content layer names.
        style_layers: Style layer names.
        style_layer_weights: Relative weight of each style layer (default: equal).
        preview_every: Steps between events that carry the current image (0: only the last).
        optimizer: "adam" (what the tutorial teaches) or "lbfgs" (scipy's L-BFGS-B, with box
            bounds on plain pixels; each function evaluation counts as a step).
        start_dim: Coarse-to-fine: if set below `max_dim`, optimize first at this size, then
            upsample and continue at sizes growing by `level_ratio` up to `max_dim`.
        level_ratio: Growth of the size from one coarse-to-fine level to the next.
        level_steps: Steps per level (coarse to fine); default: `steps` split so that each level
            costs about the same time.
        precision: "float32"; "bfloat16" (fast on CPUs with AVX512-BF16/AMX); "float16" (GPUs);
            or "auto" (`vgg.resolve_precision`: bfloat16 where the CPU has it, else float32).
            Gram matrices and losses stay float32.
        time_budget: Seconds for the whole run; levels then run until their share of the time
            is spent, and `steps` is only an upper bound (a tiled run: each level and tile its
            share, and at most its planned steps).
        style_blend: With several style images, the weight of each in the mix of their Gram
            matrices (normalized to sum to 1; default: equal).
        pooling: "max" (as trained) or "avg" (Gatys et al.: smoother, rescaled to keep the
            activations' size).
        preserve_colors: "none" (the style's colors), "luminance" (keep the photo's colors in
            the result) or "histogram" (recolor the style image to the photo's first).
        ema: Decay of an exponential moving average of the Adam iterates (0: off). The result
            is then the average.
        pyramid: Optimize the image as a pyramid of scales at 1, 1/2, 1/4 ... of its size
            (Kolkin et al. 2019) instead of as pixels: the broad layout settles in far fewer
            steps. With L-BFGS (the fast preset) or Adam.
        style_loss: The name of a style loss in `nst_helpers.core.style_losses.STYLE_LOSSES`,
            which says what each is; "gram" (the paper's: Gram matrices) by default.
        jit_compile: Compile each step with XLA (`tf.function(jit_compile=True)`). Off by
            default, since on CPUs it makes the step slower (benchmarks/RESULTS.md).
        memory_limit: GiB the run may use (default: what the machine has available); a run
            that needs more goes coarse to fine in tiles (`nst_helpers.scale.tiles`).
        tile_size: Long side in pixels of the square tiles of a tiled run.
        tile_overlap: Pixels neighboring tiles share and blend (under half of `tile_size`).
        tile_steps: Optimization steps of each tile (the base level gets `steps`).
    """

    arch: str = "vgg19"
    weights_file: str | None = "imagenet"
    max_dim: int = 512
    steps: int = 300
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    lr: float = 0.02
    beta_1: float = 0.9
    init: str = "content"
    seed: int = 0
    style_scale: float = 1.0
    content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    preview_every: int = 50
    optimizer: str = "adam"
    start_dim: int | None = None
    level_ratio: float = 2**0.5
    level_steps: tuple[int, ...] | None = None
    precision: str = "float32"
    time_budget: float | None = None
    style_blend: tuple[float, ...] | None = None
    pooling: str = "max"
    ema: float = 0.0
    preserve_colors: str = "none"
    pyramid: bool = False
    style_loss: str = "gram"
    jit_compile: bool = False
    memory_limit: float | None = None
    tile_size: int = 512
    tile_overlap: int = 64
    tile_steps: int = 40

    @classmethod
    def preset(cls, name: str, **changes) -> Settings:
        """Settings from a named preset ("fast", "tutorial"), with `changes` applied on top."""
        if name not in PRESETS:
            raise NSTError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}.")
        return cls(**{**PRESETS[name], **changes})

    def __post_init__(self) -> None:
        self.arch = check_arch(self.arch)
        if self.weights_file is not None:
            if not isinstance(self.weights_file, (str, os.PathLike)):
                raise NSTError(
                    "weights_file (or its older name weights) must be 'imagenet', the path of a "
                    f"weights file, or None (random), got {self.weights_file!r}."
                )
            self.weights_file = os.fspath(self.weights_file)
        check_side(self.max_dim, "max_dim")
        check_count(self.steps, "steps")
        for term in TERMS:
            check_weight(getattr(self, f"{term}_weight"), f"{term}_weight")
        if self.content_weight == self.style_weight == 0:
            raise NSTError("content_weight and style_weight are both 0: nothing to optimize.")
        check_positive(self.lr, "lr")
        check_decay(self.beta_1, "beta_1", "0.9 is Keras' default, 0.99 the TensorFlow tutorial's")
        check_positive(self.style_scale, "style_scale")
        style_side = round(self.max_dim * self.style_scale)
        if style_side > MAX_SIDE:
            raise NSTError(
                f"style_scale {self.style_scale:g} makes the style image {style_side} px on its "
                f"long side (max_dim {self.max_dim} x {self.style_scale:g}); at most {MAX_SIDE} px "
                f"is allowed: use a style_scale of at most {MAX_SIDE / self.max_dim:g}."
            )
        if self.init not in INITS:
            raise NSTError(f"unknown init {self.init!r}: choose one of {', '.join(INITS)}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise NSTError(f"seed must be a whole number, got {self.seed!r}.")
        if not SEED_RANGE[0] <= self.seed <= SEED_RANGE[1]:
            raise NSTError(
                f"seed must be between -2**63 and 2**63 - 1 (TensorFlow's int64), got {self.seed}: "
                "use a smaller number."
            )
        self.seed = int(self.seed)
        self.content_layers = check_layers(self.arch, self.content_layers, "content")
        self.style_layers = check_layers(self.arch, self.style_layers, "style")
        if self.style_layer_weights is not None:
            self.style_layer_weights = check_numbers(
                self.style_layer_weights, "style_layer_weights", "each style layer weight"
            )
            if len(self.style_layer_weights) != len(self.style_layers):
                raise NSTError(
                    f"style_layer_weights has {len(self.style_layer_weights)} values but there "
                    f"are {len(self.style_layers)} style layers: give one weight per layer."
                )
            if sum(self.style_layer_weights) == 0:
                raise NSTError("style_layer_weights are all 0: give at least one positive weight.")
        if isinstance(self.preview_every, bool) or not isinstance(self.preview_every, int):
            raise NSTError(
                f"preview_every must be a whole number of steps, got {self.preview_every!r}."
            )
        if self.preview_every < 0:
            raise NSTError(f"preview_every must be 0 (off) or positive, got {self.preview_every}.")

        self._check_speed_options()

    def _check_speed_options(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise NSTError(
                f"unknown optimizer {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}."
            )
        check_precision(self.precision)
        if self.start_dim is not None:
            check_side(self.start_dim, "start_dim")
        check_positive(self.level_ratio, "level_ratio")
        if self.level_ratio <= 1:
            raise NSTError(f"level_ratio must be greater than 1, got {self.level_ratio!r}.")
        self.levels()  # a plan of at most MAX_LEVELS levels, or a message naming the fix
        if self.level_steps is not None:
            steps = check_sequence(self.level_steps, "level_steps", "(50, 100)")
            self.level_steps = tuple(check_count(n, "each of level_steps") for n in steps)
            if len(self.level_steps) != len(self.levels()):
                raise NSTError(
                    f"level_steps has {len(self.level_steps)} values but the run has "
                    f"{len(self.levels())} levels ({', '.join(map(str, self.levels()))} px): "
                    "give one step count per level."
                )
        if self.time_budget is not None:
            check_positive(self.time_budget, "time_budget")
        self._check_style_options()

    def _check_style_options(self) -> None:
        if self.style_blend is not None:
            self.style_blend = check_numbers(
                self.style_blend, "style_blend", "each style_blend weight"
            )
            if sum(self.style_blend) == 0:
                raise NSTError("style_blend weights are all 0: give at least one positive weight.")
        if self.pooling not in POOLINGS:
            raise NSTError(
                f"unknown pooling {self.pooling!r}: choose one of {', '.join(POOLINGS)}."
            )
        style_loss_named(self.style_loss)  # a registered one, or the message names them
        self.preserve_colors = check_preserve_colors(self.preserve_colors)
        if not isinstance(self.pyramid, (bool, np.bool_)):
            raise NSTError(f"pyramid must be True or False, got {self.pyramid!r}.")
        self.pyramid = bool(self.pyramid)
        if not isinstance(self.jit_compile, (bool, np.bool_)):
            raise NSTError(f"jit_compile must be True or False, got {self.jit_compile!r}.")
        self.jit_compile = bool(self.jit_compile)
        check_decay(self.ema, "ema", "0 turns it off; 0.9-0.99 is typical")
        check_tiles(self.memory_limit, self.tile_size, self.tile_overlap, self.tile_steps)

    def blend_weights(self, styles: int) -> list[float]:
        """The normalized weight of each of `styles` style images (checks the count)."""
        weights = self.style_blend or (1.0,) * styles
        if len(weights) != styles:
            raise NSTError(
                f"style_blend has {len(weights)} weights but {styles} style images were given: "
                "give one weight per style image, e.g. --style-blend 0.7,0.3."
            )
        return [w / sum(weights) for w in weights]

    def levels(self) -> list[int]:
        """The long side of each coarse-to-fine level, ending at `max_dim` (one level if off).

        Raises:
            NSTError: `start_dim` and `level_ratio` would need more than `MAX_LEVELS` levels
                (the message names a start_dim and a level_ratio that fit).
        """
        if self.start_dim is None or self.start_dim >= self.max_dim:
            return [self.max_dim]
        sizes = _level_sizes(self.start_dim, self.max_dim, self.level_ratio)
        if sizes is None:
            start, ratio = self.start_dim, self.level_ratio
            while _level_sizes(start, self.max_dim, self.level_ratio) is None:
                start = max(start + 1, round(start * 1.1))
            while _level_sizes(self.start_dim, self.max_dim, ratio) is None:
                ratio = round(ratio + 0.01, 2)
            raise NSTError(
                f"start_dim {self.start_dim} with level_ratio {self.level_ratio:g} needs more than "
                f"{MAX_LEVELS} coarse-to-fine levels to reach max_dim {self.max_dim}, and at most "
                f"{MAX_LEVELS} are allowed: use a start_dim (--start-dim) of at least {start}, "
                f"or a level_ratio of at least {ratio:g}."
            )
        return sizes

    def steps_per_level(self) -> list[int]:
        """Steps for each level: `level_steps`, or `steps` split between the levels.

        The final size decides the result, so it gets half of `steps`; the coarse levels, which
        only prepare a good start, share the other half equally. One level gets all the steps.
        """
        if self.level_steps is not None:
            return list(self.level_steps)
        coarse = len(self.levels()) - 1
        if coarse == 0:
            return [self.steps]
        final = max(1, self.steps - self.steps // 2)
        each = max(1, (self.steps - final) // coarse)
        return [each] * coarse + [final]

    def max_steps(self) -> int:
        """The most steps the run may take: the levels' steps, or under a time budget, where
        each level may go on up to `steps` until its share of the time is spent, `steps` on
        every level."""
        if self.time_budget is None:
            return sum(self.steps_per_level())
        return self.steps * len(self.levels())

    def replace(self, **changes) -> Settings:
        """Returns a copy with some fields changed (and checked)."""
        return dataclasses.replace(self, **with_current_names(changes))

    def to_dict(self) -> dict:
        """The settings as plain JSON-friendly values."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in vars(self).items()}

    @property
    def weights(self) -> str | None:
        """The older name of `weights_file`, kept for code and recipes that use it."""
        return self.weights_file

    def loss_weights(self) -> dict[str, float]:
        """{term: weight} of the total loss, for every term in `core.losses.TERMS`."""
        return {term: getattr(self, f"{term}_weight") for term in TERMS}

    def layer_weights(self) -> dict[str, float]:
        """{style layer: weight}, equal weights unless `style_layer_weights` is set."""
        weights = self.style_layer_weights or (1.0,) * len(self.style_layers)
        return dict(zip(self.style_layers, weights, strict=True))


def _level_sizes(start: int, end: int, ratio: float) -> list[int] | None:
    """The coarse-to-fine sizes from `start` to `end`, or None if more than MAX_LEVELS."""
    sizes = [start]
    # Grow by level_ratio (at least 1 px) while the last jump to `end` stays at least 15%.
    while sizes[-1] * ratio * 1.15 <= end:
        if len(sizes) == MAX_LEVELS - 1:
            return None
        sizes.append(max(sizes[-1] + 1, round(sizes[-1] * ratio)))
    return [*sizes, end]


_FIELDS = [field.name for field in dataclasses.fields(Settings)]
_generated_init = Settings.__init__


@functools.wraps(_generated_init)
def _checked_init(self, *args, **kwargs) -> None:
    # The dataclass's own __init__ raises a bare TypeError for a misspelled name; name the fix.
    kwargs = with_current_names(kwargs)
    for name in kwargs:
        if name not in _FIELDS:
            close = difflib.get_close_matches(name, _FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise NSTError(
                f"Settings has no setting {name!r}{hint} Choose from {', '.join(_FIELDS)}."
            )
    if len(args) > len(_FIELDS):
        raise NSTError(
            f"Settings takes at most {len(_FIELDS)} values, got {len(args)}: name them, e.g. "
            "Settings(steps=100)."
        )
    _generated_init(self, *args, **kwargs)


Settings.__init__ = _checked_init


def with_current_names(values: dict) -> dict:
    """`values` with each older setting name (`OLDER_NAMES`) given its current one.

    Raises:
        NSTError: Both a name and its older name are given.
    """
    values = dict(values)
    for older, current in OLDER_NAMES.items():
        if older in values:
            if current in values:
                raise NSTError(f"give {current} or its older name {older}, not both.")
            values[current] = values.pop(older)
    return values


def as_settings(settings: object) -> Settings:
    """`settings` if it is a Settings (None gives the defaults), else an NSTError naming the fix."""
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, str):
        hint = f"Settings.preset({settings!r})" if settings in PRESETS else "Settings(...)"
        raise NSTError(f"settings must be a Settings, got the string {settings!r}: pass {hint}.")
    if isinstance(settings, dict):
        raise NSTError("settings must be a Settings, got a dict: pass Settings(**that_dict).")
    raise NSTError(
        f"settings must be a Settings, got {type(settings).__name__}: pass Settings(...) or None."
    )
