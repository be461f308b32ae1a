"""One tile's work, wherever it runs: the job, the library's loop refining it, and its outcome;
and the style targets that every tile of a level shares.

Each tile traces its own step: sharing one traced step among a level's tiles saved too little
for the machinery it took (benchmarks/archive/TILE_TRACE.md).

A job carries pixels, not files, so it runs the same in-process (`tiled_run`) and on a Ray
worker (`distributed`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nst_helpers.core.style_losses import style_targets
from nst_helpers.files import images as imgs
from nst_helpers.runs.run import Run
from nst_helpers.runs.settings import Settings
from nst_helpers.scale.tiles import Tile, chunk_edges


@dataclass
class TileJob:
    """One tile to refine: its unit index in the plan, its box, start and content pixels
    ((h, w, 3) float32 in [0, 1]), the level's style targets ({layer: statistic}) and the
    mask's tile ((h, w, 1) in [0, 1]; None: style everywhere)."""

    unit: int
    tile: Tile
    start: np.ndarray
    content: np.ndarray
    style_targets: dict
    mask: np.ndarray | None = None
    seconds: float | None = None  # on a worker under a time budget: the tile's share of it


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
    """The style targets (each layer's statistic) of a level whose long side is `dim`, in chunks
    of `tile_size`: the style image at `dim * style_scale`, but no larger than it is.

    The chunks and the style images count with their positions times their blend weight
    (`style_losses.style_targets`): for a statistic that is an average over positions, the
    whole image's (up to the network's padding at chunk edges).
    """
    import tensorflow as tf

    parts = []
    for weight, style in zip(settings.blend_weights(len(style_imgs)), style_imgs, strict=True):
        # Departure from "the style at the level's size": never beyond the style image's own
        # size. Enlarged, it has no texture at the finest scale and could only teach blur; at
        # its own size its strokes come out finer than at the base, as a print should show.
        style_dim = min(max(1, round(dim * settings.style_scale)), max(style.size))
        array = np.asarray(imgs.resize_image(style, style_dim), dtype=np.float32) / 255.0
        rows = chunk_edges(array.shape[0], settings.tile_size)
        cols = chunk_edges(array.shape[1], settings.tile_size)
        chunks = [(top, bottom, left, right)
                  for top, bottom in zip(rows[:-1], rows[1:], strict=True)
                  for left, right in zip(cols[:-1], cols[1:], strict=True)]  # fmt: skip
        for top, bottom, left, right in chunks:
            _, features = extractor(tf.constant(array[None, top:bottom, left:right]))
            parts.append((weight * (bottom - top) * (right - left) / array[..., 0].size, features))
    targets = style_targets(settings.style_loss, parts)
    return {name: np.asarray(value) for name, value in targets.items()}


def refine_tile(extractor, job: TileJob, settings: Settings, run: Run | None = None) -> TileOutcome:
    """Runs at most `tile_steps` steps of the library's loop on one tile; its best pixels.

    With `run` (in-process) the steps go into that run's history and events; without it (on a
    worker) the tile keeps its own history and returns it.
    """
    import tensorflow as tf

    from nst_helpers.core.objective import image_objective
    from nst_helpers.core.optimize import ImageOptimizer

    remote = run is None
    if remote:  # its own bookkeeping; a budget arrives as the job's seconds
        run = Run(settings.replace(time_budget=None))
    content = tf.constant(job.content[None])  # (1, h, w, 3)
    content_targets, _ = extractor(content)
    pixel_mask = None if job.mask is None else tf.constant(job.mask[None])
    loss_fn, keep = image_objective(
        extractor, settings, content, content_targets, job.style_targets, pixel_mask
    )
    run.begin_level(0 if remote else job.unit, max(job.tile.width, job.tile.height),
                    settings.tile_steps, job.seconds)  # fmt: skip
    final = ImageOptimizer(settings, loss_fn, tf.constant(job.start[None]), keep).run(run)
    run.end_level()
    cut = job.seconds is not None and time.perf_counter() >= run.level_deadline
    if remote and run.level_done < settings.tile_steps and cut:
        run.stop("time budget")  # cut short by its share of the budget
    best = run.level_best if run.level_best is not None else np.asarray(final)
    return TileOutcome(
        job.unit,
        np.asarray(best[0], dtype=np.float32),
        dict(run.best_losses),
        run.history if remote else None,
        "finished" if run.running else run.status,
        run.error,
    )
