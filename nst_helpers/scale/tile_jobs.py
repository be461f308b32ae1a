"""One tile's work, wherever it runs: the job, the library's loop refining it, and its outcome;
and the style targets that every tile of a level shares.

A job carries pixels, not files, so it runs the same in-process (`tiled_run`) and on a Ray
worker (`distributed`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nst_helpers.core import losses as L
from nst_helpers.files import images as imgs
from nst_helpers.runs.run import Run
from nst_helpers.runs.settings import Settings
from nst_helpers.scale.tiles import Tile, chunk_edges


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
    """The style targets (Gram matrices, or moments) of a level whose long side is `dim`, in
    chunks of `tile_size`: the style image at `dim * style_scale`, but no larger than it is.

    Both are averages over positions, so the whole image's is the mean of its chunks' weighted
    by their positions (up to the network's padding at chunk edges).
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
                    statistics = L.style_statistics(value, settings.style_loss)
                    sums[name] = sums.get(name, 0.0) + positions * statistics
                    counts[name] = counts.get(name, 0.0) + positions
        for name in sums:
            targets[name] = targets.get(name, 0.0) + weight * sums[name] / counts[name]
    return {name: np.asarray(value) for name, value in targets.items()}


class TileProgram:
    """What the tiles of one shape share in a process: variables for a tile's inputs (its photo,
    the photo's features, the level's style targets, its mask) and the optimizer whose step reads
    them. The step is traced for the first tile only; each later tile is `load`ed into it."""

    def __init__(self, extractor, job: TileJob, settings: Settings):
        import tensorflow as tf

        from nst_helpers.core.objective import compute_losses, layer_masks
        from nst_helpers.core.optimize import ImageOptimizer

        self.extractor = extractor
        content, start = tf.constant(job.content[None]), tf.constant(job.start[None])
        features, _ = extractor(content)
        self.content_targets = _variables(features)
        self.style_targets = _variables(job.style_targets)
        self.masks, keep = None, None
        if job.mask is not None:  # as in a whole-image run: masked Grams, the photo kept outside
            pixel_mask = tf.constant(job.mask[None])
            self.masks, keep = _variables(layer_masks(pixel_mask, extractor)), (pixel_mask, content)

        def loss_fn(image):
            return compute_losses(
                extractor, image, self.content_targets, self.style_targets, settings, self.masks,
                per_item=True,
            )  # fmt: skip

        self.optimizer = ImageOptimizer(settings, loss_fn, start, keep)

    def load(self, job: TileJob) -> None:
        """Puts another tile of the same shape (and mask or not) into the variables."""
        import tensorflow as tf

        from nst_helpers.core.objective import layer_masks

        content = tf.constant(job.content[None])
        features, _ = self.extractor(content)
        _assign(self.content_targets, features)
        _assign(self.style_targets, job.style_targets)
        keep = None
        if job.mask is not None:
            pixel_mask = tf.constant(job.mask[None])
            _assign(self.masks, layer_masks(pixel_mask, self.extractor))
            keep = (pixel_mask, content)
        self.optimizer.reset(tf.constant(job.start[None]), keep)


def tile_program(extractor, job: TileJob, settings: Settings) -> TileProgram:
    """The extractor's program for tiles like `job` with these settings, loaded with `job`: the
    one kept from the last tile where it fits (one per extractor), else a new one, kept. So two
    tiled runs must not share one extractor at the same time (threads); Ray workers each have
    their own."""
    key = (repr(settings), job.start.shape, job.mask is not None)
    kept = extractor.traced.get("tile")
    if kept is not None and kept[0] == key:
        kept[1].load(job)
        return kept[1]
    program = TileProgram(extractor, job, settings)
    extractor.traced["tile"] = (key, program)
    return program


def _variables(tensors: dict) -> dict:
    import tensorflow as tf

    return {name: tf.Variable(value, trainable=False) for name, value in tensors.items()}


def _assign(variables: dict, tensors: dict) -> None:
    for name, variable in variables.items():
        variable.assign(tensors[name])


def refine_tile(extractor, job: TileJob, settings: Settings, run: Run | None = None) -> TileOutcome:
    """Runs at most `tile_steps` steps of the library's loop on one tile; its best pixels.

    With `run` (in-process) the steps go into that run's history and events; without it (on a
    worker) the tile keeps its own history and returns it. Tiles of one shape share one traced
    step (`tile_program`).
    """
    remote = run is None
    if remote:  # its own bookkeeping; a budget arrives as the job's seconds
        run = Run(settings.replace(time_budget=None), [], time.perf_counter())
    program = tile_program(extractor, job, settings)
    run.begin_level(
        0 if remote else job.unit, max(job.tile.width, job.tile.height), settings.tile_steps
    )
    if job.seconds is not None:
        run.level_deadline = time.perf_counter() + job.seconds
    final = program.optimizer.run(run)
    run.end_level()
    cut = job.seconds is not None and time.perf_counter() >= run.level_deadline
    if remote and run.stopped == "finished" and run.level_done < settings.tile_steps and cut:
        run.stopped = "time budget"  # cut short by its share of the budget
    best = run.level_best if run.level_best is not None else np.asarray(final)
    return TileOutcome(
        job.unit,
        np.asarray(best[0], dtype=np.float32),
        dict(run.best_losses[0]),
        run.history[0] if remote else None,
        run.stopped,
        run.error,
    )
