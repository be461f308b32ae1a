"""The tiled run: the whole image at the plan's base size, then each larger level refined tile by
tile from the upsampled canvas (the plan and the blending are `nst_helpers.scale.tiles`, one tile's
work `nst_helpers.scale.tile_jobs`).

Every tile of a level aims at the same style: the style image's statistics (the style loss's:
`core.style_losses`) are computed once per level, from the style image at that level's size (so
brush strokes keep their size relative to the whole picture) but never enlarged beyond its own
size, in chunks that fit memory, each weighted by its share of the positions.
The content target of a tile is the content image's matching tile; with a mask, the tile's style
counts only inside the mask's matching tile and the photo stays where that is black. The tiles
of a level start from the same upsampled canvas and do not depend on each other, so they may run
anywhere (`nst_helpers.scale.distributed` runs them on Ray); in-process they run one after the other
through the library's loop (`optimize.ImageOptimizer`) with step-by-step events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from functools import partial

import numpy as np

from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.runs.run import Run
from nst_helpers.runs.settings import LOSS_NAMES, Settings
from nst_helpers.scale.tile_jobs import TileJob, TileOutcome, level_style_targets, refine_tile
from nst_helpers.scale.tiles import Tile, TilePlan, tile_weights


class TileRun(Run):
    """A `Run` over a whole plan: each whole-image level and each tile is one of its levels.

    Events count steps over the whole plan; their `level` is the plan's level, and their image
    is the canvas so far with the current tile in place. Under a time budget each unit (a
    whole-image level or a tile) gets the share of the time left that its steps x pixels are of
    the plan's still to run, and takes at most its planned steps; once the budget is spent, no
    unit starts. Tiles all black in `mask` do not run at all (they stay the photo).
    """

    def __init__(self, settings: Settings, callbacks: Iterable, started: float, plan: TilePlan,
                 mask=None):  # fmt: skip
        if settings.level_steps is not None:  # they name the untiled run's levels, not the plan's
            raise NSTError(
                "level_steps can't be combined with a tiled run yet (its plan has levels of its "
                "own): use steps for the whole-image levels and tile_steps for each tile."
            )
        super().__init__(settings, callbacks, started)
        self.plan = plan
        self.units = plan.units()
        self.level_masks = {} if mask is None else _level_masks(plan, mask)
        self.skipped = _black_tiles(plan, self.level_masks)
        self.level_steps = list(plan.steps)
        self.total_steps = sum(n for u, n in enumerate(plan.steps) if u not in self.skipped)
        self.canvas: np.ndarray | None = None  # (H, W, 3) of the level being refined
        self.unit_losses: dict[int, dict] = {}
        self.costs = [  # steps x pixels of each unit, what its share of a time budget goes by
            0 if unit in self.skipped else steps * math.prod(_unit_size(plan, index, tile))
            for unit, (steps, (index, tile)) in enumerate(zip(plan.steps, self.units, strict=True))
        ]

    def show_canvas(self, canvas: np.ndarray) -> None:
        """The (H, W, 3) canvas of the level being refined, that previews show."""
        self.canvas = canvas

    def keep_losses(self, unit: int, losses: dict) -> None:
        """The best losses of a unit (the result's are the mean over its last level's)."""
        self.unit_losses[unit] = losses

    def budget_spent(self) -> bool:
        """Whether a time budget is set and spent (then no further unit starts)."""
        left = self.time_left()
        return left is not None and left <= 0

    def end_level(self) -> None:
        super().end_level()
        self.levels[-1]["unit"] = self.level
        if self.units[self.level][1] is None:  # a whole-image level: its losses are the result's
            self.keep_losses(self.level, dict(self.best_losses))

    def _step_limit(self) -> int:
        return self.level_planned  # a budget only ends a unit sooner

    def _preview_due(self) -> bool:
        every = self.settings.preview_every
        return self.done == self.total_steps or bool(every and self.done % every == 0)

    def _event_level(self) -> int:
        return self.units[self.level][0]  # the plan's level of this unit

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
            self.history[name].extend(outcome.history[name])
        self.level, self.level_done = outcome.unit, len(outcome.history["total"])
        self.levels.append(
            {"max_dim": self.settings.tile_size, "steps": self.level_done, "unit": outcome.unit}
        )
        if outcome.error and self.running:
            self.stop(outcome.stopped)
            self.error = outcome.error
        if self.history["total"]:
            last = {name: self.history[name][-1] for name in LOSS_NAMES}
            self._emit(last, lambda: outcome.best[None])

    def best(self, image) -> tuple[np.ndarray, int, dict]:
        """The canvas, the last step, and the mean losses of the last level's tiles."""
        last = [u for u, (lv, _) in enumerate(self.units) if lv == self.units[self.level][0]]
        losses = [self.unit_losses[u] for u in last if u in self.unit_losses] or [
            dict.fromkeys(LOSS_NAMES, float("nan"))
        ]
        mean = {name: float(np.mean([b[name] for b in losses])) for name in LOSS_NAMES}
        return np.asarray(image)[0], max(self.done - 1, 0), mean

    def summaries(self) -> list[dict]:
        """One {"max_dim", "size", "tiles", "steps", "seconds"} per plan level that ran."""
        summaries = []
        for booked in self.levels:
            index = self.units[booked["unit"]][0]
            if not summaries or summaries[-1]["index"] != index:
                level = self.plan.levels[index]
                summaries.append({"index": index, "max_dim": level.max_dim,
                                  "size": list(level.size), "tiles": len(level.tiles),
                                  "steps": 0, "seconds": 0.0})  # fmt: skip
            summaries[-1]["steps"] += booked["steps"]
            summaries[-1]["seconds"] += booked.get("seconds", 0.0)
        for summary in summaries:
            del summary["index"]
        return summaries


def stylize_tiled(run: TileRun, extractor, inputs, *, ray: str | None = None,
                  workers: int | None = None) -> np.ndarray:  # fmt: skip
    """Runs `run.plan` (see `tiles.plan_tiles`); `stylize` calls it when the image is too large.

    Args:
        run: The run, made with the plan (and the mask).
        extractor: The feature extractor.
        inputs: The content, style and mask images (PIL; the mask None for none).
        ray: None (in-process), "auto" (a local Ray) or a Ray cluster address: the tiles of a
            level then run as Ray tasks (`nst_helpers.scale.distributed`).
        workers: Ray actors to start (default: one per CPU of the cluster).

    Returns:
        The canvas reached, (1, H, W, 3); `run.result` makes the Result, whose losses are the mean
        over the last level's tiles. Ctrl-C keeps the canvas so far.
    """
    from nst_helpers.core.optimize import optimize_levels

    plan = run.plan
    content_img, style_imgs, _ = inputs
    whole = [i for i, lv in enumerate(plan.levels) if not lv.tiles]
    levels = [(plan.levels[i].max_dim, plan.steps[i]) for i in whole]
    image = optimize_levels(run, extractor, inputs, levels)
    canvas = np.asarray(run.level_best if run.level_best is not None else image)[0]
    pool = None
    to_run = len(run.units) - len(whole) - len(run.skipped)
    try:
        if ray is not None and run.running and to_run and not run.budget_spent():
            from nst_helpers.scale.distributed import Workers

            pool = Workers(run.settings, ray, workers)
        for index in range(len(whole), len(plan.levels)):
            if not run.running or run.budget_spent():
                break
            canvas = _refine_level(
                run, extractor, (content_img, style_imgs, run.level_masks.get(index)), index,
                canvas, pool,
            )  # fmt: skip
    finally:
        if pool is not None:
            pool.close()
    if run.running and run.done < run.total_steps and run.budget_spent():
        run.stop("time budget")  # units were cut short or never started
    return canvas[None]


def _level_masks(plan: TilePlan, mask_img) -> dict[int, np.ndarray]:
    """The mask at each tiled level's size, (H, W, 1) in [0, 1], {level index: mask}."""
    from nst_helpers.core.objective import load_mask

    return {
        index: np.asarray(load_mask(mask_img, level.size))[0]
        for index, level in enumerate(plan.levels)
        if level.tiles
    }


def _black_tiles(plan: TilePlan, level_masks: dict) -> frozenset[int]:
    """The units of tiles whose part of the mask is black (below 1/255): they stay the photo."""
    black = set()
    for unit, (index, tile) in enumerate(plan.units()):
        if index in level_masks and level_masks[index][_box(tile)].max() < 1 / 255:
            black.add(unit)
    return frozenset(black)


def _unit_size(plan: TilePlan, index: int, tile: Tile | None) -> tuple[int, int]:
    return (tile.width, tile.height) if tile else plan.levels[index].size


def _refine_level(run: TileRun, extractor, inputs, index, canvas, pool):
    """One tiled level: upsample the canvas, refine every tile, blend them back. `inputs` are
    the content and style images and the level's mask ((H, W, 1) or None)."""
    content_img, style_imgs, mask = inputs
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
    first = sum(len(lv.tiles) or 1 for lv in plan.levels[:index])
    jobs = []
    for i, t in enumerate(level.tiles):
        tile_mask = None if mask is None else mask[_box(t)]
        jobs.append(
            TileJob(first + i, t, start[_box(t)], content[_box(t)], style_targets, tile_mask)
        )
    result = start.copy()  # tiles land in it as they finish: start + w (tile - start)
    run.show_canvas(result)
    blend = tile_weights(level.size, level.tiles, plan.overlap)

    def land(outcome: TileOutcome) -> None:
        i = outcome.unit - first
        box = _box(level.tiles[i])
        result[box] += blend[i][..., None] * (outcome.best - jobs[i].start)
        if outcome.best_losses is not None:
            run.keep_losses(outcome.unit, outcome.best_losses)

    for job in jobs:  # a tile black in the mask is the photo's tile, without a step
        if job.unit in run.skipped:
            land(TileOutcome(job.unit, job.content, None, None, "finished", None))
    jobs_to_run = [job for job in jobs if job.unit not in run.skipped]
    try:
        if pool is None:
            for job in jobs_to_run:
                if run.budget_spent():
                    break
                land(refine_tile(extractor, job, settings, run))
                if not run.running:
                    break
        elif jobs_to_run:
            give = _budget_shares(run, jobs_to_run, len(pool.actors))
            refine = partial(refine_tile, settings=settings)
            pool.map(refine, jobs_to_run, lambda outcome: (run.merge(outcome), land(outcome)),
                     on_submit=give)  # fmt: skip
    except KeyboardInterrupt:  # from a Ray wait: keep the tiles that came back
        run.stop("interrupted")
    np.clip(result, 0.0, 1.0, out=result)
    return result


def _budget_shares(run: TileRun, jobs: list[TileJob], workers: int) -> Callable | None:
    """Under a time budget, what gives each Ray job its seconds as it goes to a worker: the
    level's time still left divided by the rounds of `workers` still to come."""
    if run.settings.time_budget is None:
        return None
    level_end = time.perf_counter() + run.seconds_for(jobs[0].unit, jobs[-1].unit)
    sent = []

    def give(job: TileJob) -> None:
        rounds = math.ceil((len(jobs) - len(sent)) / workers)
        job.seconds = max(0.0, level_end - time.perf_counter()) / rounds
        sent.append(job.unit)

    return give


def _upsample(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An (h, w, 3) array resized to (height, width), bicubic (not clipped)."""
    import tensorflow as tf

    return np.array(tf.image.resize(array[None], shape, "bicubic"))[0]


def _box(tile: Tile) -> tuple[slice, slice]:
    return slice(tile.top, tile.top + tile.height), slice(tile.left, tile.left + tile.width)
