"""A batch of variants: runs whose settings differ only in their loss weights, optimized together
(the network runs once per step for all of them), and trade-off sweeps built on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from nst_helpers import machine
from nst_helpers.core.model import FeatureExtractor
from nst_helpers.core.objective import check_level_sizes
from nst_helpers.core.optimize import matching_extractor, optimize_level
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.runs import color
from nst_helpers.runs.memory import check_memory
from nst_helpers.runs.recipe import describe_input, make_recipe
from nst_helpers.runs.run import Event, NonFiniteLossError, Result, Run
from nst_helpers.runs.settings import Settings, as_settings


def stylize_variants(
    content,
    style,
    variants: Sequence[Settings],
    *,
    mask=None,
    extractor: FeatureExtractor | None = None,
    callbacks: Iterable[Callable[[Event], None]] = (),
) -> list[Result]:
    """Runs `stylize` for settings that differ only in their loss weights, as one batch.

    Each variant has its own image and its own losses; the network runs once per step for all
    of them. One variant is an ordinary run. Arguments as for `stylize`; `callbacks` see the
    first variant's losses. Returns one Result per variant, in order.
    """
    variants = [as_settings(v) for v in variants]
    if not variants:
        raise NSTError("stylize_variants needs at least one Settings; got none.")
    settings = variants[0]
    same = {k: getattr(settings, k) for k in ("content_weight", "style_weight", "tv_weight")}
    if any(v.replace(**same) != settings for v in variants):  # one run serves them all
        raise NSTError("the variants of one batch may differ only in their loss weights.")
    started = time.perf_counter()
    content_img = imgs.as_image(content, "content")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NSTError("no style image given: pass at least one.")
    style_imgs = [imgs.as_image(s, "style") for s in styles]
    extra = {} if mask is None else {"mask": describe_input(mask, "mask")}
    recipe = make_recipe(settings, content, styles, extra)  # inputs hashed once, not per variant
    recipes = [{**recipe, "settings": v.to_dict()} for v in variants]
    if settings.preserve_colors == "histogram":  # Gatys et al. 2017: recolor the style first
        style_imgs = [color.match_histogram(s, content_img) for s in style_imgs]
    settings.blend_weights(len(style_imgs))  # checks the count early
    mask_img = None if mask is None else imgs.as_image(mask, "mask")
    if not machine.has_gpu():  # GPU memory is TensorFlow's to manage; check the machine's RAM first
        size = imgs.scaled_size(content_img.size, settings.max_dim)
        styles_at = [s.size for s in style_imgs]
        check_memory(settings, *size, style_sizes=styles_at, batch=len(variants))
    extractor = matching_extractor(extractor, settings)
    check_level_sizes(extractor, settings, content_img, style_imgs)

    run = Run(settings, list(callbacks), started, batch=len(variants))
    weights = [[v.content_weight, v.style_weight, v.tv_weight] for v in variants]
    image = None
    inputs = (content_img, style_imgs, mask_img)
    for level, (size, steps) in enumerate(zip(settings.levels(), run.level_steps, strict=True)):
        try:
            image = optimize_level(run, extractor, inputs, weights, image, level, size, steps)
        except KeyboardInterrupt:  # while a level is set up: keep the last level's image
            if image is None:
                raise
            run.stopped = "interrupted"
        if run.stopped != "finished":
            break
    final_size = imgs.scaled_size(content_img.size, settings.max_dim)
    try:
        results = run.results(image, final_size, list(variants))
    except NonFiniteLossError as err:
        for result, recipe in zip(err.results, recipes, strict=True):
            result.recipe = recipe
        raise
    for result, recipe in zip(results, recipes, strict=True):
        result.recipe = recipe
        if settings.preserve_colors == "luminance":  # the result's luminance, the photo's colors
            result.image = color.transfer_luminance(result.image, content_img)
            result.best_image = color.transfer_luminance(result.best_image, content_img)
    return results


SWEEPABLE = ("content_weight", "style_weight", "tv_weight")


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """Parses "style-weight=0.1,1,10" into ("style_weight", [0.1, 1.0, 10.0]).

    Raises:
        NSTError: Not of the form NAME=V1,V2,..., an unknown name, or a bad number.
    """
    name, sep, values = text.partition("=")
    field = name.strip().replace("-", "_")
    accepted = ", ".join(n.replace("_", "-") for n in SWEEPABLE)
    if not sep or field not in SWEEPABLE:
        raise NSTError(
            f"can't read the sweep {text!r}: write NAME=V1,V2,... with NAME one of {accepted}, "
            "e.g. style-weight=1,10,100."
        )
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise NSTError(f"the sweep values in {text!r} must be numbers, e.g. 1,10,100.") from None
    if len(numbers) < 2:
        raise NSTError(f"a sweep needs at least two values, got {text!r}.")
    return field, numbers


def sweep(
    content,
    style,
    settings: Settings,
    name: str,
    values: Sequence[float],
    *,
    mask=None,
    extractor=None,
    callbacks: Iterable[Callable[[Event], None]] = (),
) -> list[Result]:
    """Runs one variant per value of a loss weight, all in one batch (Adam, one size).

    Every variant has its own image and its own loss; summing them and taking one Adam step on
    the batch is the same as separate runs (the losses do not interact and Adam scales each
    pixel on its own), but the network runs once per step for all of them. It is the same run
    as `stylize` (`stylize_variants`): the best image, a NaN stop and Ctrl-C work the same.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them.
        settings: The shared settings (Adam at `max_dim`; coarse-to-fine and L-BFGS are not
            used here).
        name: "content_weight", "style_weight" or "tv_weight".
        values: The weight of each variant.
        mask: Style only where this image is white, as in `stylize`; every variant shares it.
        extractor: A prebuilt extractor to reuse.
        callbacks: Called with an Event per step; its losses are those of the first variant.

    Returns:
        One Result per value, in order.

    Raises:
        NSTError: Bad name or values, or settings that ask for L-BFGS or coarse-to-fine;
            `NonFiniteLossError` (its `results` one per variant) if a loss diverges.
    """
    if name not in SWEEPABLE:
        raise NSTError(f"can't sweep {name!r}: choose one of {', '.join(SWEEPABLE)}.")
    if settings.optimizer != "adam" or len(settings.levels()) > 1 or settings.pyramid:
        raise NSTError(
            "a sweep runs Adam on plain pixels at one size: drop the lbfgs optimizer, start_dim "
            "and pyramid (--optimizer, --start-dim, --pyramid, --preset fast) to sweep."
        )
    variants = [settings.replace(**{name: float(v)}) for v in values]  # checks each value
    return stylize_variants(
        content, style, variants, mask=mask, extractor=extractor, callbacks=callbacks
    )
