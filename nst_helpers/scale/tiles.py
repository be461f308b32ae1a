"""Tiled high resolution: the plan of a run too large for memory, and how its tiles blend.

When the whole image at `max_dim` does not fit the memory limit, the run goes coarse to fine:
the whole image at the largest size of the ladder max_dim, max_dim/2, max_dim/4 ... that fits
(the base), then each larger level upsamples the canvas and refines it in overlapping square
tiles of `tile_size` pixels. Each tile's weight ramps from 0 to 1 across the middle of its
overlap with a neighbor, so the weights of all tiles sum to one at every pixel: blending is a
weighted mean, with no seam where one tile ends. The tiled run itself is
`nst_helpers.scale.tiled_run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nst_helpers import machine
from nst_helpers.errors import NSTError
from nst_helpers.files.images import scaled_size
from nst_helpers.runs.memory import estimate_memory
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import resolve_precision

GIB = 2**30
# Seconds per optimization step and megapixel on the 2-core CPU of benchmarks/RESULTS.md (its
# 1024 px rows: s/step over 1.05 MP), for the plan's time estimate only; checked against a
# 4096 px run in benchmarks/TILES.md. A GPU is far faster.
_SECONDS_PER_MEGAPIXEL_STEP = {
    ("vgg16", "float32"): 7.65,
    ("vgg16", "bfloat16"): 4.22,
    ("vgg19", "float32"): 8.78,
    ("vgg19", "bfloat16"): 4.94,
}
_CANVASES = 4  # float32 full-size arrays a tiled run holds: canvas, its upsampled start, content,
# and the image being saved


@dataclass(frozen=True)
class Tile:
    """One tile of a level: its box in the level's canvas, in pixels."""

    left: int
    top: int
    width: int
    height: int


@dataclass
class Level:
    """One level of a plan: its long side, (width, height), and its tiles (none: whole image)."""

    max_dim: int
    size: tuple[int, int]
    tiles: list[Tile] = field(default_factory=list)


@dataclass
class TilePlan:
    """The levels of a tiled run, its steps, and its estimated peak memory and time.

    Attributes:
        levels: The whole-image levels of the base (its coarse-to-fine levels, if any), then
            one tiled `Level` per doubling up to `max_dim`.
        tile_size: Long side of a tile.
        overlap: Pixels neighboring tiles share at least.
        steps: Steps of each unit of work: one per whole-image level, then one per tile.
        peak: Estimated peak memory in bytes.
        limit: The memory limit in bytes the plan fits.
        seconds: Estimated time on the CPU of benchmarks/RESULTS.md (None when unknown).
    """

    levels: list[Level]
    tile_size: int
    overlap: int
    steps: list[int]
    peak: int
    limit: int
    seconds: float | None

    def units(self) -> list[tuple[int, Tile | None]]:
        """(level index, tile or None for a whole-image level), in the order they run."""
        units: list[tuple[int, Tile | None]] = []
        for index, level in enumerate(self.levels):
            units.extend([(index, tile) for tile in level.tiles] or [(index, None)])
        return units

    def describe(self) -> str:
        """The plan in a few lines, as the CLI prints it."""
        lines = [
            f"tiled run: {self.levels[-1].size[0]}x{self.levels[-1].size[1]} px does not fit "
            f"{self.limit / GIB:.1f} GiB whole, so it runs coarse to fine:"
        ]
        units = self.units()
        for index, level in enumerate(self.levels):
            steps = sum(n for (i, _), n in zip(units, self.steps, strict=True) if i == index)
            what = f"{len(level.tiles)} tiles of {self.tile_size} px" if level.tiles else "whole"
            lines.append(
                f"  level {index}: {level.size[0]}x{level.size[1]} px, {what}, {steps} steps"
            )
        time = f", about {self.seconds / 60:.0f} min on a 2-core CPU" if self.seconds else ""
        lines.append(f"  estimated peak {self.peak / GIB:.1f} GiB{time}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The plan as JSON-friendly values (what the recipe records)."""
        return {
            "levels": [
                {"max_dim": lv.max_dim, "size": list(lv.size), "tiles": len(lv.tiles)}
                for lv in self.levels
            ],
            "tile_size": self.tile_size,
            "overlap": self.overlap,
            "steps": sum(self.steps),
            "peak_gib": round(self.peak / GIB, 2),
        }


def memory_limit(settings: Settings, has_gpu: bool = False) -> int | None:
    """The bytes a run may use: `settings.memory_limit`, else the RAM available (None on a GPU,
    whose memory TensorFlow manages, or where unknown)."""
    if settings.memory_limit is not None:
        return int(settings.memory_limit * GIB)
    return None if has_gpu else machine.available_memory()


def plan_tiles(
    settings: Settings, content_size: tuple[int, int], limit: int | None
) -> TilePlan | None:
    """Plans a tiled run, or returns None when the whole image fits `limit` bytes.

    Args:
        settings: The run's settings (`max_dim`, `tile_size`, `tile_overlap`, `tile_steps`).
        content_size: The content image's (width, height).
        limit: Bytes the run may use (None: no limit, so no tiles).

    Returns:
        The plan, or None.

    Raises:
        NSTError: Not even the smallest base or one tile fits the limit.
    """
    final = scaled_size(content_size, settings.max_dim)
    if limit is None or estimate_memory(settings, *final) <= limit:
        return None
    canvases = _CANVASES * final[0] * final[1] * 3 * 4
    tile = settings.tile_size
    tile_peak = estimate_memory(settings, tile, tile) + canvases
    if tile_peak > limit:
        fits = tile
        while fits > 64 and estimate_memory(settings, fits, fits) + canvases > limit:
            fits -= 32
        raise NSTError(
            f"a {tile} px tile of a {final[0]}x{final[1]} px run needs about "
            f"{tile_peak / GIB:.1f} GiB, more than the {limit / GIB:.1f} GiB limit: use "
            f"tile_size (--tile-size) {fits} or less, precision bfloat16, or a higher memory_limit."
        )
    dims = [settings.max_dim]  # the ladder down from max_dim until the whole image fits
    while estimate_memory(settings, *scaled_size(content_size, dims[-1])) > limit:
        dims.append(math.ceil(dims[-1] / 2))
        if dims[-1] < 32:
            raise NSTError(
                f"even a {dims[-2]} px image does not fit the {limit / GIB:.1f} GiB limit: raise "
                "memory_limit (--memory-limit) or free some memory."
            )
    base = settings.replace(max_dim=dims[-1], level_steps=None)
    levels = [Level(dim, scaled_size(content_size, dim)) for dim in base.levels()]
    steps = base.steps_per_level()
    for dim in reversed(dims[:-1]):
        size = scaled_size(content_size, dim)
        tiles = tile_grid(size, tile, settings.tile_overlap)
        levels.append(Level(dim, size, tiles))
        steps += [settings.tile_steps] * len(tiles)
    peak = max(estimate_memory(base, *levels[len(base.levels()) - 1].size) + canvases, tile_peak)
    return TilePlan(
        levels, tile, settings.tile_overlap, steps, peak, limit, _seconds(settings, levels, steps)
    )


def _seconds(settings: Settings, levels: list[Level], steps: list[int]) -> float | None:
    rate = _SECONDS_PER_MEGAPIXEL_STEP.get((settings.arch, resolve_precision(settings.precision)))
    if rate is None:
        return None
    pixels = [
        w * h for lv in levels for w, h in ([(t.width, t.height) for t in lv.tiles] or [lv.size])
    ]
    return rate * sum(n * p for n, p in zip(steps, pixels, strict=True)) / 1e6


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of `tile` pixels start along an axis of `length`, evenly spread so that
    neighbors share at least `overlap` pixels and the last tile ends at the edge."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    # Even spacing (length - tile) / (count - 1) <= tile - overlap; rounding keeps it so.
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_grid(size: tuple[int, int], tile: int, overlap: int) -> list[Tile]:
    """The tiles covering a (width, height) canvas, row by row."""
    width, height = size
    tile_w, tile_h = min(tile, width), min(tile, height)
    return [
        Tile(left, top, tile_w, tile_h)
        for top in axis_starts(height, tile, overlap)
        for left in axis_starts(width, tile, overlap)
    ]


def axis_weights(starts: list[int], tile: int, overlap: int) -> list[np.ndarray]:
    """Each tile's blending weight along one axis; at every pixel they sum to one.

    Between two neighbors the weight ramps (a raised cosine) over `overlap` pixels centered in
    the pixels they share, or over less where tiles crowd closer (so ramps never cross).
    """
    gaps = np.diff(starts)
    ramp = min(overlap, int(gaps.min())) if len(starts) > 1 else 0
    pixels = np.arange(tile) + 0.5
    weights = []
    for i, start in enumerate(starts):
        weight = np.ones(tile)
        if i > 0:  # rising over the overlap with the previous tile
            weight *= _rise(start + pixels, (start + starts[i - 1] + tile) / 2, ramp)
        if i < len(starts) - 1:  # falling over the overlap with the next tile
            weight *= 1.0 - _rise(start + pixels, (starts[i + 1] + start + tile) / 2, ramp)
        weights.append(weight)
    return weights


def _rise(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """0 before `center - width/2`, 1 after `center + width/2`, a raised cosine between."""
    if width == 0:
        return (x >= center).astype(float)
    t = np.clip((x - center) / width + 0.5, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def tile_weights(size: tuple[int, int], tiles: list[Tile], overlap: int) -> list[np.ndarray]:
    """Each tile's (height, width) blending weights; over the canvas they sum to one."""
    width, height = size
    tile_w, tile_h = tiles[0].width, tiles[0].height
    lefts = sorted({t.left for t in tiles})
    tops = sorted({t.top for t in tiles})
    along_x = dict(zip(lefts, axis_weights(lefts, tile_w, overlap), strict=True))
    along_y = dict(zip(tops, axis_weights(tops, tile_h, overlap), strict=True))
    return [along_y[t.top][:, None] * along_x[t.left][None, :] for t in tiles]


def chunk_edges(length: int, tile: int) -> list[int]:
    """Edges of the fewest equal chunks of at most `tile` pixels that partition an axis."""
    count = math.ceil(length / tile)
    return [round(i * length / count) for i in range(count + 1)]
