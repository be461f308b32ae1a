"""The entry point: `stylize` plans a run once, then runs the whole image, or tiles when the whole
image won't fit in memory.

This is the one switch between `core` (a whole image) and `scale` (tiles). `plan_run` works out
everything a run needs to know before it starts, from inputs decoded once: the CLI makes the plan
to print the memory note and name its snapshot files, and hands the same plan to `stylize`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from nst_helpers import machine
from nst_helpers.checks import check_callbacks, check_count
from nst_helpers.core.model import FeatureExtractor
from nst_helpers.core.objective import check_level_sizes
from nst_helpers.core.optimize import matching_extractor, optimize_levels
from nst_helpers.errors import NSTError
from nst_helpers.files.images import Loaded, load, scaled_size
from nst_helpers.runs import color
from nst_helpers.runs.memory import check_memory, estimate_memory
from nst_helpers.runs.recipe import describe_input, make_recipe
from nst_helpers.runs.run import Event, Result, Run
from nst_helpers.runs.settings import Settings, as_settings
from nst_helpers.runs.vgg import resolve_precision
from nst_helpers.scale.tiled_run import TileRun, stylize_tiled
from nst_helpers.scale.tiles import TilePlan, memory_limit, plan_tiles


@dataclass(frozen=True)
class RunPlan:
    """A run worked out once, before it starts.

    Attributes:
        settings: The run's settings.
        content, styles, mask: The inputs, each decoded once (`files.images.Loaded`).
        size: The result's (width, height).
        levels: The coarse-to-fine sizes of a whole-image run.
        precision: The compute dtype ("auto" resolved on this machine).
        memory: Estimated peak bytes of a whole-image run.
        tiles: The tile plan when the whole image won't fit the memory limit, else None.
    """

    settings: Settings
    content: Loaded
    styles: list[Loaded]
    mask: Loaded | None
    size: tuple[int, int]
    levels: list[int]
    precision: str
    memory: int
    tiles: TilePlan | None

    @property
    def final_size(self) -> tuple[int, int]:
        """The result's (width, height): the tile plan's last level, or `size`."""
        return self.tiles.levels[-1].size if self.tiles else self.size

    @property
    def mask_image(self):
        """The mask as a PIL image, or None."""
        return None if self.mask is None else self.mask.image

    @property
    def base_settings(self) -> Settings:
        """The settings of the whole-image part: a tiled run's is its base level."""
        if self.tiles is None:
            return self.settings
        base = [level.max_dim for level in self.tiles.levels if not level.tiles][-1]
        return self.settings.replace(max_dim=base, level_steps=None)

    @property
    def steps(self) -> int:
        """The most steps the run takes (a tiled run: every unit's steps)."""
        return sum(self.tiles.steps) if self.tiles else self.settings.max_steps()

    def describe(self) -> str:
        """What the CLI says before a run: the memory estimate, or the tile plan."""
        if self.tiles is not None:
            return self.tiles.describe()
        s, free = self.settings, machine.available_memory()
        return (
            f"{self.size[0]}x{self.size[1]} px, {s.arch.upper()}, {s.optimizer}"
            + (" on an image pyramid" if s.pyramid else "")
            + f", levels {self.levels}: needs about {self.memory / 2**30:.1f} GiB of memory"
            + (f" ({free / 2**30:.1f} GiB available)" if free else "")
        )


def plan_run(
    content,
    style,
    settings: Settings | None = None,
    *,
    mask=None,
    has_gpu: bool | None = None,
) -> RunPlan:
    """Decodes the inputs once and works out the run's sizes, precision, memory and tiles.

    Args:
        content, style, mask: As for `stylize` (paths, PIL images or `Loaded` images).
        settings: The run's settings (default `Settings()`).
        has_gpu: Whether a GPU runs it (default: ask TensorFlow); a GPU's memory is
            TensorFlow's to manage, so no tiles are planned for it unless `memory_limit` is set.

    Returns:
        The plan.

    Raises:
        NSTError: An input can't be read, no style is given, or not even tiles fit the limit.
    """
    settings = as_settings(settings)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NSTError("no style image given: pass at least one.")
    content = load(content, "content")
    styles = [load(s, "style") for s in styles]
    mask = None if mask is None else load(mask, "mask")
    if has_gpu is None:
        has_gpu = settings.memory_limit is None and machine.has_gpu()
    size = scaled_size(content.image.size, settings.max_dim)
    style_sizes = [s.image.size for s in styles]
    return RunPlan(
        settings=settings,
        content=content,
        styles=styles,
        mask=mask,
        size=size,
        levels=settings.levels(),
        precision=resolve_precision(settings.precision),
        memory=estimate_memory(settings, *size, style_sizes=style_sizes),
        tiles=plan_tiles(settings, content.image.size, memory_limit(settings, has_gpu)),
    )


def stylize(
    content,
    style,
    settings: Settings | None = None,
    *,
    mask=None,
    extractor: FeatureExtractor | None = None,
    callbacks: Iterable[Callable[[Event], None]] = (),
    ray: str | None = None,
    workers: int | None = None,
    plan: RunPlan | None = None,
    **changes,
) -> Result:
    """Runs neural style transfer: optimizes an image while the network stays frozen.

    Press Ctrl-C (or interrupt the kernel) to stop early: the run ends cleanly and the result
    holds the best image so far.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them mixed by
            `settings.style_blend`.
        settings: The run's settings (default `Settings()`).
        mask: Optional mask image (path or PIL): style only where it is white, the photo kept
            where it is black, with a soft edge, for every optimizer: the style loss compares
            the white area's statistics (Gatys et al. 2017), and the image is the photo plus
            the mask times the change (see `ImageVariables`), so black stays the photo.
        extractor: A prebuilt extractor to reuse (it must match the settings' network, layers and
            precision).
        callbacks: Functions called with an `Event` after every step.
        ray, workers: A tiled run's tiles on Ray ("auto" or an address), on `workers` actors.
        plan: The run's `RunPlan` from `plan_run`, when the caller has made one (the CLI does:
            its inputs are then not decoded again).
        **changes: Settings fields to override, e.g. `steps=100, style_weight=30`.

    Returns:
        A Result; `result.save("out.png")` writes the best image with its recipe.

    Raises:
        NSTError: Bad input; `NonFiniteLossError` (holding the result so far) if the loss diverges.

    Example::

        result = stylize("photo.jpg", "painting.jpg", arch="vgg16", steps=100)
        result.save("out.png")
    """
    settings = as_settings(settings)
    if changes:
        settings = settings.replace(**changes)
    if workers is not None:  # a bad --workers fails now, not after a tiled run's base level
        check_count(workers, "workers")
    callbacks = check_callbacks(callbacks)
    if plan is not None and not isinstance(plan, RunPlan):
        raise NSTError(f"plan must be a RunPlan from plan_run(...), got {type(plan).__name__}.")
    if plan is None or plan.settings != settings:
        plan = plan_run(content, style, settings, mask=mask)
    started = time.perf_counter()
    if plan.tiles is not None:  # too large for memory whole: coarse to fine, in tiles
        run = TileRun(settings, callbacks, started, plan.tiles, mask=plan.mask_image)
    else:
        run = Run(settings, callbacks, started)
    inputs, recipe, extractor = _set_up(plan, extractor)
    if plan.tiles is not None:
        image = stylize_tiled(run, extractor, inputs, ray=ray, workers=workers)
    else:
        levels = zip(settings.levels(), run.level_steps, strict=True)
        image = optimize_levels(run, extractor, inputs, levels)
    recolor = None
    if settings.preserve_colors == "luminance":  # the result's luminance, the photo's colors
        recolor = partial(color.transfer_luminance, content=inputs[0])
    return run.result(image, plan.final_size, recipe, recolor)


def _set_up(plan: RunPlan, extractor: FeatureExtractor | None) -> tuple[tuple, dict, object]:
    """What every run does before its first step: the recipe, the style recolored to the photo
    (`preserve_colors="histogram"`), the memory and size checks, and the extractor. Returns
    ((content, styles, mask) images, recipe, extractor)."""
    settings = plan.settings
    content, styles = plan.content.image, [s.image for s in plan.styles]
    extra = {} if plan.mask is None else {"mask": describe_input(plan.mask, "mask")}
    if plan.tiles is not None:
        extra["tile_plan"] = plan.tiles.to_dict()
    recipe = make_recipe(settings, plan.content, plan.styles, extra)
    if settings.preserve_colors == "histogram":  # Gatys et al. 2017: recolor the style first
        styles = [color.match_histogram(s, content) for s in styles]
    settings.blend_weights(len(styles))  # checks the count early
    if plan.tiles is None and not machine.has_gpu():  # a GPU's memory is TensorFlow's to manage
        check_memory(settings, *plan.size, style_sizes=[s.size for s in styles])
    extractor = matching_extractor(extractor, settings)
    check_level_sizes(extractor, plan.base_settings, content, styles)
    return (content, styles, plan.mask_image), recipe, extractor
