"""The tiled run: the whole image at the plan's base size, then each larger level refined tile by
tile from the upsampled canvas (the plan and the blending are `nst_helpers.tiles`).

Every tile of a level aims at the same style: the style image's Gram matrices are computed once
per level, from the style image at that level's size (so brush strokes keep their size relative
to the whole picture) but never enlarged beyond its own size, in chunks that fit memory, each
weighted by its share of the positions.
The content target of a tile is the content image's matching tile; with a mask, the tile's style
counts only inside the mask's matching tile and the photo stays where that is black. The tiles
of a level start from the same upsampled canvas and do not depend on each other, so they may run
anywhere (`nst_helpers.distributed` runs them on Ray); in-process they run one after the other
through the library's loop (`optimize.optimize_image`) with step-by-step events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from nst_helpers import color
from nst_helpers import images as imgs
from nst_helpers import losses as L
from nst_helpers.errors import NSTError
from nst_helpers.memory import peak_memory
from nst_helpers.run import Event, NonFiniteLossError, Result, Run
from nst_helpers.settings import LOSS_NAMES, Settings
from nst_helpers.tiles import Tile, TilePlan, chunk_edges, tile_weights


@dataclass
class TileJob:
    """One tile to refine: its unit index in the plan, its box, start and content pixels
    ((h, w, 3) float32 in [0, 1]), the level's style targets ({layer: (1, C, C)}) and the
    mask's tile ((h, w, 1) in [0, 1]; None: style everywhere)."""

    unit: int
    tile: Tile
    start: np.ndarray
    content: np.ndarray
    style_targets: dict
    mask: np.ndarray | None = None


@dataclass
class TileOutcome:
    """A refined tile: its best pixels, losses, and (when run remotely) its history."""

    unit: int
    best: np.ndarray
    best_losses: dict
    history: dict | None
    stopped: str
    error: str | None


def level_style_targets(extractor, style_imgs, settings: Settings, dim: int) -> dict:
    """The style Gram targets of a level whose long side is `dim`, in chunks of `tile_size`:
    the style image at `dim * style_scale`, but no larger than it is.

    The Gram matrix is an average over positions, so the whole image's is the mean of its
    chunks' weighted by their positions (up to the network's padding at chunk edges).
    """
    import tensorflow as tf

    blend = settings.blend_weights(len(style_imgs))
    targets: dict = {}
    for weight, style in zip(blend, style_imgs, strict=True):
        # Departure from "the style at the level's size": never beyond the style image's own
        # size. Enlarged, it has no texture at the finest scale and could only teach blur; at
        # its own size its strokes come out finer than at the base, as a print should show.
        style_dim = min(max(1, round(dim * settings.style_scale)), max(style.size))
        array = np.asarray(imgs.resize_image(style, style_dim), dtype=np.float32) / 255.0
        sums: dict = {}
        counts: dict = {}
        rows = chunk_edges(array.shape[0], settings.tile_size)
        cols = chunk_edges(array.shape[1], settings.tile_size)
        for top, bottom in zip(rows[:-1], rows[1:], strict=True):
            for left, right in zip(cols[:-1], cols[1:], strict=True):
                _, features = extractor(tf.constant(array[None, top:bottom, left:right]))
                for name, value in features.items():
                    positions = float(value.shape[1] * value.shape[2])
                    sums[name] = sums.get(name, 0.0) + positions * L.gram_matrix(value)
                    counts[name] = counts.get(name, 0.0) + positions
        for name in sums:
            targets[name] = targets.get(name, 0.0) + weight * sums[name] / counts[name]
    return {name: np.asarray(value) for name, value in targets.items()}


def refine_tile(extractor, settings: Settings, job: TileJob, run: Run | None = None) -> TileOutcome:
    """Runs `tile_steps` steps of the library's loop on one tile; returns its best pixels.

    With `run` (in-process) the steps go into that run's history and events; without it (on a
    worker) the tile keeps its own history and returns it.
    """
    import tensorflow as tf

    from nst_helpers.objective import compute_losses, layer_masks
    from nst_helpers.optimize import optimize_image

    remote = run is None
    if remote:
        run = Run(settings, [], time.perf_counter())
    content = tf.constant(job.content[None])
    content_targets, _ = extractor(content)
    style_targets = {name: tf.constant(value) for name, value in job.style_targets.items()}
    masks, keep = None, None
    if job.mask is not None:  # as in a whole-image run: masked Grams, the photo kept outside
        pixel_mask = tf.constant(job.mask[None])
        masks, keep = layer_masks(pixel_mask, extractor), (pixel_mask, content)

    def loss_fn(image):
        return compute_losses(
            extractor, image, content_targets, style_targets, settings, masks, per_item=True
        )

    run.begin_level(
        0 if remote else job.unit, max(job.tile.width, job.tile.height), settings.tile_steps
    )
    final = optimize_image(run, loss_fn, tf.constant(job.start[None]), keep)
    run.end_level()
    best = run.level_best if run.level_best is not None else np.asarray(final)
    return TileOutcome(
        job.unit,
        np.asarray(best[0], dtype=np.float32),
        dict(run.best_losses[0]),
        run.history[0] if remote else None,
        run.stopped,
        run.error,
    )


class TileRun(Run):
    """A `Run` over a whole plan: each whole-image level and each tile is one of its levels.

    Events count steps over the whole plan; their `level` is the plan's level, and their image
    is the canvas so far with the current tile in place.
    """

    def __init__(self, settings: Settings, callbacks: list, started: float, plan: TilePlan):
        super().__init__(settings, callbacks, started)
        self.plan = plan
        self.units = plan.units()
        self.level_steps = list(plan.steps)
        self.total_steps = sum(self.level_steps)
        self.canvas: np.ndarray | None = None  # (H, W, 3) of the level being refined
        self.unit_losses: dict[int, dict] = {}

    def _deadline(self, level: int) -> float:
        return float("inf")  # time budgets are refused for tiled runs

    def _emit(self, values: dict, current: Callable) -> None:
        if not self.callbacks:
            return
        done, every = self.done, self.settings.preview_every
        preview = done == self.total_steps or bool(every and done % every == 0)
        image = self._preview(current) if preview else None
        elapsed = time.perf_counter() - self.loop_start
        event = Event(done, self.total_steps, values, elapsed, image, self.units[self.level][0])
        for callback in self.callbacks:
            callback(event)

    def _preview(self, current: Callable) -> np.ndarray:
        array = np.asarray(current())[0]
        tile = self.units[self.level][1]
        if tile is None or self.canvas is None:
            return array
        canvas = self.canvas.copy()
        canvas[tile.top : tile.top + tile.height, tile.left : tile.left + tile.width] = array
        return canvas

    def merge(self, outcome: TileOutcome) -> None:
        """Books a tile refined elsewhere: its history, and one event at its last step."""
        for name in LOSS_NAMES:
            self.history[0][name].extend(outcome.history[name])
        self.level, self.level_done = outcome.unit, len(outcome.history["total"])
        self.levels.append({"max_dim": self.settings.tile_size, "steps": self.level_done})
        if outcome.error:
            self.stopped, self.error = outcome.stopped, outcome.error
        if self.history[0]["total"]:
            last = {name: self.history[0][name][-1] for name in LOSS_NAMES}
            self._emit(last, lambda: outcome.best[None])


def stylize_tiled(
    content,
    style,
    settings: Settings,
    plan: TilePlan,
    *,
    mask=None,
    extractor=None,
    callbacks: Iterable[Callable[[Event], None]] = (),
    ray: str | None = None,
    workers: int | None = None,
) -> Result:
    """Runs `plan` (see `tiles.plan_tiles`); `stylize` calls it when the image is too large.

    Args:
        content, style, settings, mask, extractor, callbacks: As for `stylize`.
        plan: The tile plan.
        ray: None (in-process), "auto" (a local Ray) or a Ray cluster address: the tiles of a
            level then run as Ray tasks (`nst_helpers.distributed`).
        workers: Ray actors to start (default: one per CPU of the cluster).

    Returns:
        A Result whose `levels` describe the plan; its losses are the mean over the last
        level's tiles. Ctrl-C keeps the canvas so far.
    """
    from nst_helpers.objective import check_level_sizes
    from nst_helpers.optimize import matching_extractor, optimize_level
    from nst_helpers.recipe import describe_input, make_recipe

    started = time.perf_counter()
    if settings.time_budget is not None:
        raise NSTError(
            "time_budget can't be combined with a tiled run yet: use steps and tile_steps."
        )
    if settings.level_steps is not None:  # they name the untiled run's levels, not the plan's
        raise NSTError(
            "level_steps can't be combined with a tiled run yet (its plan has levels of its "
            "own): use steps for the whole-image levels and tile_steps for each tile."
        )
    content_img = imgs.as_image(content, "content")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    style_imgs = [imgs.as_image(s, "style") for s in styles]
    extra = {"tile_plan": plan.to_dict()}
    if mask is not None:
        extra["mask"] = describe_input(mask, "mask")
    recipe = make_recipe(settings, content, styles, extra)
    mask_img = None if mask is None else imgs.as_image(mask, "mask")
    if settings.preserve_colors == "histogram":
        style_imgs = [color.match_histogram(s, content_img) for s in style_imgs]
    extractor = matching_extractor(extractor, settings)
    base_dim = [lv.max_dim for lv in plan.levels if not lv.tiles][-1]
    base = settings.replace(max_dim=base_dim, level_steps=None)
    check_level_sizes(extractor, base, content_img, style_imgs)
    run = TileRun(settings, list(callbacks), started, plan)
    weights = [[settings.content_weight, settings.style_weight, settings.tv_weight]]
    image = None
    whole = [i for i, lv in enumerate(plan.levels) if not lv.tiles]
    for index in whole:
        level = plan.levels[index]
        image = optimize_level(run, extractor, (content_img, style_imgs, mask_img), weights,
                               image, index, level.max_dim, plan.steps[index])  # fmt: skip
        run.unit_losses[index] = dict(run.best_losses[0])
        if run.stopped != "finished":
            break
    canvas = np.asarray(run.level_best if run.level_best is not None else image)[0]
    pool = None
    try:
        if ray is not None and run.stopped == "finished":
            from nst_helpers.distributed import Workers

            pool = Workers(settings, ray, workers)
        for index in range(len(whole), len(plan.levels)):
            if run.stopped != "finished":
                break
            canvas = _refine_level(
                run, extractor, (content_img, style_imgs, mask_img), index, canvas, pool
            )
    finally:
        if pool is not None:
            pool.close()
    return _result(run, canvas, content_img, settings, recipe)


def _refine_level(run: TileRun, extractor, inputs, index, canvas, pool):
    """One tiled level: upsample the canvas, refine every tile, blend them back. `inputs` are
    the (content, styles, mask or None) images."""
    from nst_helpers.objective import load_mask

    content_img, style_imgs, mask_img = inputs
    plan, settings = run.plan, run.settings
    level = plan.levels[index]
    width, height = level.size
    content = np.asarray(imgs.resize_image(content_img, level.max_dim), dtype=np.float32) / 255.0
    start = _upsample(canvas, (height, width))  # (H, W, 3)
    if settings.init == "content":  # put back the photo's detail finer than the last level's
        previous = plan.levels[index - 1].size
        start += content - _upsample(_upsample(content, previous[::-1]), (height, width))
    start = np.clip(start, 0.0, 1.0)
    style_targets = level_style_targets(extractor, style_imgs, settings, level.max_dim)
    mask = None if mask_img is None else np.asarray(load_mask(mask_img, (width, height)))[0]
    first = sum(len(lv.tiles) or 1 for lv in plan.levels[:index])
    jobs = []
    for i, t in enumerate(level.tiles):
        tile_mask = None if mask is None else mask[_box(t)]
        jobs.append(
            TileJob(first + i, t, start[_box(t)], content[_box(t)], style_targets, tile_mask)
        )
    run.canvas = result = start.copy()  # tiles land in it as they finish: start + w (tile - start)
    blend = tile_weights(level.size, level.tiles, plan.overlap)

    def land(outcome: TileOutcome) -> None:
        i = outcome.unit - first
        box = _box(level.tiles[i])
        result[box] += blend[i][..., None] * (outcome.best - jobs[i].start)
        run.unit_losses[outcome.unit] = outcome.best_losses

    try:
        if pool is None:
            _quiet_retracing()
            for job in jobs:
                land(refine_tile(extractor, settings, job, run))
                if run.stopped != "finished":
                    break
        else:
            pool.map("refine", jobs, lambda outcome: (run.merge(outcome), land(outcome)))
    except KeyboardInterrupt:  # from a Ray wait: keep the tiles that came back
        run.stopped = "interrupted"
    np.clip(result, 0.0, 1.0, out=result)
    return result


class _NoRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_retracing() -> None:
    """Each tile traces its own step (it is the library's loop, run once per tile), which
    TensorFlow would warn about after five tiles: hide that one expected warning."""
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(isinstance(f, _NoRetracingWarning) for f in logger.filters):
        logger.addFilter(_NoRetracingWarning())


def _upsample(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An (h, w, 3) array resized to (height, width), bicubic (not clipped)."""
    import tensorflow as tf

    return np.array(tf.image.resize(array[None], shape, "bicubic"))[0]


def _box(tile: Tile) -> tuple[slice, slice]:
    return slice(tile.top, tile.top + tile.height), slice(tile.left, tile.left + tile.width)


def _result(run: TileRun, canvas, content_img, settings: Settings, recipe: dict) -> Result:
    """The Result of a tiled run, at the final size (a stopped run's canvas is upsampled)."""
    from nst_helpers.run import at_size

    final_size = run.plan.levels[-1].size
    image = at_size(canvas, final_size)
    if settings.preserve_colors == "luminance":
        image = color.transfer_luminance(image, content_img)
    last = [u for u, (lv, _) in enumerate(run.units) if lv == run.units[run.level][0]]
    losses = [run.unit_losses[u] for u in last if u in run.unit_losses] or [
        dict.fromkeys(LOSS_NAMES, float("nan"))
    ]
    mean = {name: float(np.mean([b[name] for b in losses])) for name in LOSS_NAMES}
    seconds = time.perf_counter() - (run.loop_start or run.started)
    result = Result(
        image=image,
        best_image=image,
        best_step=max(run.done - 1, 0),
        best_loss=mean["total"],
        best_losses=mean,
        history=run.history[0],
        seconds={
            "setup": run.setup_seconds,
            "optimize": seconds,
            "per_step": seconds / max(run.done, 1),
        },
        settings=settings.to_dict(),
        stopped=run.stopped,
        steps_done=run.done,
        levels=_level_summaries(run),
        peak_memory=peak_memory(),
        recipe=recipe,
    )
    if run.error:
        raise NonFiniteLossError(run.error, [result])
    return result


def _level_summaries(run: TileRun) -> list[dict]:
    """One {"max_dim", "size", "tiles", "steps", "seconds"} per plan level that ran."""
    summaries = []
    for unit, booked in enumerate(run.levels):
        index = run.units[unit][0]
        if not summaries or summaries[-1]["index"] != index:
            level = run.plan.levels[index]
            summaries.append({"index": index, "max_dim": level.max_dim, "size": list(level.size),
                              "tiles": len(level.tiles), "steps": 0, "seconds": 0.0})  # fmt: skip
        summaries[-1]["steps"] += booked["steps"]
        summaries[-1]["seconds"] += booked.get("seconds", 0.0)
    for summary in summaries:
        del summary["index"]
    return summaries
