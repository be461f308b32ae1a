"""Tiled high resolution: the plan's arithmetic, the blending weights, the level's style targets,
and tiled runs on tiny images with a tiny memory limit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import gradient_image
from nst_helpers.errors import NSTError
from nst_helpers.runs.memory import estimate_memory
from nst_helpers.runs.settings import Settings
from nst_helpers.scale.tiles import (
    GIB,
    axis_starts,
    chunk_edges,
    plan_tiles,
    tile_grid,
    tile_weights,
)

CASES = [(100, 40, 10), (97, 32, 8), (33, 32, 8), (221, 100, 40), (64, 64, 16), (500, 48, 0)]


def texture(width: int = 96, height: int = 72) -> Image.Image:
    """A stationary pattern: every tile has about the same statistics as the whole image."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [0.5 + 0.3 * np.sin(x / 2.0), 0.5 + 0.3 * np.cos(y / 3.0)]
    array = np.stack([*channels, 0.5 + 0.2 * np.sin((x + y) / 4.0)], axis=-1)
    return Image.fromarray((array * 255).astype(np.uint8))


@pytest.mark.parametrize(("length", "tile", "overlap"), CASES)
def test_axis_starts_cover_the_axis_with_the_overlap_asked(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    shared = [starts[i] + size - starts[i + 1] for i in range(len(starts) - 1)]
    assert all(s >= overlap for s in shared)
    if len(starts) > 2:  # the fewest tiles: with one less, neighbors would share too little
        assert (length - size) / (len(starts) - 2) > tile - overlap


def test_tile_grid_covers_the_canvas():
    tiles = tile_grid((130, 70), 48, 12)
    covered = np.zeros((70, 130), bool)
    for t in tiles:
        assert (t.width, t.height) == (48, 48)
        covered[t.top : t.top + t.height, t.left : t.left + t.width] = True
    assert covered.all()
    assert len(tiles) == len(axis_starts(130, 48, 12)) * len(axis_starts(70, 48, 12))


@pytest.mark.parametrize(("length", "tile", "overlap"), CASES)
def test_blending_weights_sum_to_one(length, tile, overlap):
    size = (length, max(1, length // 2 + 3))
    tiles = tile_grid(size, tile, overlap)
    total = np.zeros(size[::-1])
    for t, weight in zip(tiles, tile_weights(size, tiles, overlap), strict=True):
        assert weight.shape == (t.height, t.width)
        assert weight.min() >= 0 and weight.max() <= 1
        total[t.top : t.top + t.height, t.left : t.left + t.width] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_blending_feathers_across_the_overlap():
    tiles = tile_grid((100, 40), 40, 10)
    weight = tile_weights((100, 40), tiles, 10)[0][0]  # first tile, along x
    assert weight[0] == 1 and weight[-1] < 0.05  # falls to about 0 at its inner edge
    middle = np.isclose(weight, 0.5, atol=0.1).nonzero()[0]
    assert middle.size and 30 <= middle.mean() < 40  # half way inside the shared pixels


def test_chunk_edges_partition_the_axis():
    assert chunk_edges(100, 40) == [0, 33, 67, 100]
    assert chunk_edges(40, 40) == [0, 40]


def small_settings(**changes) -> Settings:
    values = dict(arch="vgg16", weights=None, max_dim=96, steps=30, tile_size=48,
                  tile_overlap=16, tile_steps=30, content_layers=("block3_conv1",),
                  style_layers=("block1_conv1", "block2_conv1"), preview_every=0)  # fmt: skip
    return Settings(**{**values, **changes})


def test_plan_fits_the_limit_and_doubles_up_to_max_dim():
    settings = small_settings(max_dim=4096, tile_size=512, tile_overlap=64, precision="bfloat16")
    limit = 8 * GIB
    plan = plan_tiles(settings, (4096, 3072), limit)
    assert plan.peak <= limit
    sizes = [level.max_dim for level in plan.levels]
    assert sizes[-1] == 4096 and all(b == 2 * a for a, b in zip(sizes, sizes[1:], strict=False))
    base = plan.levels[0]
    assert not base.tiles and estimate_memory(settings, *base.size) <= limit
    assert estimate_memory(settings, *plan.levels[1].size) > limit  # the base is the largest
    assert plan.levels[-1].size == (4096, 3072) and plan.levels[-1].tiles
    assert len(plan.steps) == len(plan.units()) == 1 + sum(len(lv.tiles) for lv in plan.levels)
    assert "tiles of 512 px" in plan.describe() and plan.to_dict()["overlap"] == 64


def test_no_plan_when_the_whole_image_fits():
    settings = small_settings()
    assert plan_tiles(settings, (96, 72), None) is None
    assert plan_tiles(settings, (96, 72), 64 * GIB) is None


def test_a_tile_too_large_for_the_limit_is_refused_with_a_size_that_fits():
    settings = small_settings(max_dim=2048, tile_size=2048)
    with pytest.raises(NSTError, match=r"use tile_size \(--tile-size\) \d+ or less"):
        plan_tiles(settings, (2048, 2048), 2 * GIB)


def test_tile_overlap_must_be_less_than_half_the_tile():
    with pytest.raises(NSTError, match="less than half of tile_size"):
        small_settings(tile_overlap=24)
    with pytest.raises(NSTError, match="memory_limit must be greater than 0"):
        small_settings(memory_limit=0)


def test_level_style_targets_match_the_whole_style_image(tiny_extractor):
    from nst_helpers.core.objective import make_targets
    from nst_helpers.files.images import image_to_tensor, resize_image
    from nst_helpers.scale.tile_jobs import level_style_targets

    style = gradient_image(128, 128, seed=1)
    content = image_to_tensor(gradient_image(40, 40))
    _, whole = make_targets(tiny_extractor, content, image_to_tensor(resize_image(style, 96)))
    one_chunk = level_style_targets(tiny_extractor, [style], small_settings(tile_size=96), 96)
    chunks = level_style_targets(tiny_extractor, [style], small_settings(tile_size=48), 96)
    for name, gram in whole.items():
        np.testing.assert_allclose(one_chunk[name], gram, rtol=1e-5, atol=1e-6)
        # four 48 px chunks: only the network's zero padding at chunk edges differs
        np.testing.assert_allclose(chunks[name], gram, rtol=0.1, atol=0.02 * float(np.max(gram)))
    # never enlarged: at 192 px the targets are those of the style image at its own 128 px
    _, native = make_targets(tiny_extractor, content, image_to_tensor(style))
    capped = level_style_targets(tiny_extractor, [style], small_settings(tile_size=128), 192)
    for name, gram in native.items():
        np.testing.assert_allclose(capped[name], gram, rtol=1e-5, atol=1e-6)


def limit_for_tiles(**changes) -> float:
    """GiB that fit a 48 px tile but not the 96 px image (of `small_settings(**changes)`)."""
    settings = small_settings(**changes)
    limit = estimate_memory(settings, 48, 48) / GIB + 1e-3
    assert estimate_memory(settings, 96, 72) / GIB > limit
    return limit


@pytest.fixture(scope="module")
def tiled_run(tiny_extractor):
    """A tiled run of the 96 px texture with the events it sent."""
    from nst_helpers.api import stylize

    events = []
    settings = small_settings(memory_limit=limit_for_tiles())
    style = gradient_image(128, 128, seed=1)
    result = stylize(
        texture(), style, settings, extractor=tiny_extractor, callbacks=[events.append]
    )
    return result, events


@pytest.mark.slow
def test_tiled_run_is_close_to_the_whole_image_run(tiny_extractor, tiled_run):
    from nst_helpers.api import stylize

    tiled, events = tiled_run
    content, style = texture(), gradient_image(128, 128, seed=1)
    whole = stylize(content, style, small_settings(steps=60), extractor=tiny_extractor)
    plan = tiled.recipe["options"]["tile_plan"]
    assert [lv["tiles"] for lv in plan["levels"]] == [0, 6]
    assert tiled.best_image.size == whole.best_image.size == (96, 72)
    assert [e.step for e in events] == list(range(1, 30 + 6 * 30 + 1))
    assert {e.level for e in events} == {0, 1} and events[-1].steps == 210
    assert events[-1].image.shape == (72, 96, 3)  # the last event shows the whole canvas
    a, b, c = (
        np.asarray(x, np.float64) / 255 for x in (tiled.best_image, whole.best_image, content)
    )
    # Tolerance: the tiled image differs from the whole-image run by less than 3/4 of how far
    # that run moved away from the photo (measured: 0.061 against 0.113, a ratio of 0.54).
    # The style image (128 px) is larger than the run, so both use the same style targets.
    assert np.abs(a - b).mean() < 0.75 * np.abs(c - b).mean()
    assert tiled.stopped == "finished" and tiled.steps_done == 210


@pytest.mark.slow
def test_ctrl_c_in_a_tile_keeps_the_canvas_so_far(tiny_extractor, tiled_run):
    from nst_helpers.api import stylize

    def interrupt(event):
        if event.step == 75:  # in the second tile of the tiled level
            raise KeyboardInterrupt

    settings = small_settings(memory_limit=limit_for_tiles())
    result = stylize(texture(), gradient_image(128, 128, seed=1), settings,
                     extractor=tiny_extractor, callbacks=[interrupt])  # fmt: skip
    assert result.stopped == "interrupted" and result.steps_done == 75
    assert result.best_image.size == (96, 72)
    assert [lv["steps"] for lv in result.levels] == [30, 45]
    # The first tile finished: where it alone counts (the top-left corner) the image is the
    # uninterrupted run's.
    kept, finished = (np.asarray(r.best_image)[:12, :12] for r in (result, tiled_run[0]))
    np.testing.assert_array_equal(kept, finished)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_masked_tiled_run_keeps_the_photo_where_the_mask_is_black(tiny_extractor, optimizer):
    from nst_helpers.api import stylize

    mask = Image.new("L", (96, 72), 0)
    mask.paste(255, (56, 0, 96, 72))  # style on the right only: the left tiles are all black
    limit = limit_for_tiles(optimizer=optimizer)
    settings = small_settings(memory_limit=limit, style_weight=100.0, optimizer=optimizer)
    result = stylize(texture(), gradient_image(128, 128, seed=1), settings, mask=mask,
                     extractor=tiny_extractor)  # fmt: skip
    assert [lv["tiles"] for lv in result.recipe["options"]["tile_plan"]["levels"]] == [0, 6]
    assert result.recipe["options"]["mask"]["size"] == [96, 72]  # a rerun finds the mask
    assert result.stopped == "finished"
    steps = [lv["steps"] for lv in result.levels]
    assert steps[1] <= 4 * 30 and (optimizer == "lbfgs" or steps == [30, 120])  # 2 tiles skipped
    change = np.abs(np.asarray(result.best_image, float) - np.asarray(texture(), float))
    assert change[:, :48].max() <= 1  # black in the mask (the soft edge aside): the photo
    assert change[:, 64:].mean() > 5  # white: stylized


def test_a_tile_that_ends_early_on_a_worker_without_a_budget_is_finished(tiny_extractor):
    from nst_helpers.scale.tile_jobs import TileJob, level_style_targets, refine_tile
    from nst_helpers.scale.tiles import Tile

    settings = small_settings(optimizer="lbfgs", tile_steps=10)
    pixels = np.asarray(texture(48, 48), np.float32) / 255
    black = np.zeros((48, 48, 1), np.float32)  # zero gradient: L-BFGS ends on its own
    style = level_style_targets(tiny_extractor, [gradient_image(64, 64, seed=1)], settings, 48)
    job = TileJob(1, Tile(0, 0, 48, 48), pixels, pixels, style, black)
    outcome = refine_tile(tiny_extractor, job, settings)  # as a worker runs it: no Run given
    assert len(outcome.history["total"]) < 10 and outcome.stopped == "finished"


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_a_bad_worker_count_is_refused_before_any_work(monkeypatch, workers):
    import nst_helpers.core.optimize
    from nst_helpers.api import stylize

    monkeypatch.setattr(nst_helpers.core.optimize, "optimize_level", None)  # no level may run
    settings = small_settings(memory_limit=limit_for_tiles())
    with pytest.raises(NSTError, match=f"workers must be a positive whole number, got {workers}"):
        stylize(texture(), texture(), settings, ray="auto", workers=workers)


def test_level_steps_are_refused_for_a_tiled_run():
    from nst_helpers.api import stylize

    settings = small_settings(memory_limit=limit_for_tiles(), start_dim=48, level_steps=(5, 5, 5))
    with pytest.raises(
        NSTError,
        match=r"level_steps can't be combined with a tiled run yet \(its plan has levels of its "
        r"own\): use steps for the whole-image levels and tile_steps for each tile",
    ):
        stylize(texture(), texture(), settings)


def test_a_tiled_run_whose_budget_is_spent_starts_no_further_unit(tiny_extractor):
    from nst_helpers.api import stylize

    events = []
    settings = small_settings(memory_limit=limit_for_tiles(), time_budget=1e-6)
    result = stylize(texture(), gradient_image(128, 128, seed=1), settings,
                     extractor=tiny_extractor, callbacks=[events.append])  # fmt: skip
    assert result.stopped == "time budget"
    assert [lv["steps"] for lv in result.levels] == [1]  # the base's one step; no tile starts
    assert [e.step for e in events] == [1] and events[0].time_left <= 0 and events[0].eta >= 0
    assert result.best_image.size == (96, 72)  # the base, upsampled


@pytest.mark.slow
def test_a_tiled_run_ends_on_time_and_a_generous_budget_runs_the_plan(tiny_extractor):
    import time

    from nst_helpers.api import stylize

    style = gradient_image(128, 128, seed=1)
    limit = limit_for_tiles()
    endless = small_settings(memory_limit=limit, steps=10**5, tile_steps=10**5, time_budget=12.0)
    start = time.perf_counter()
    cut = stylize(texture(), style, endless, extractor=tiny_extractor)
    over = time.perf_counter() - start - 12.0
    assert over < 1.0  # a step of the last unit, its blend and the bookkeeping
    assert cut.stopped == "time budget"
    assert [lv["tiles"] for lv in cut.recipe["options"]["tile_plan"]["levels"]] == [0, 6]
    steps = [lv["steps"] for lv in cut.levels]
    assert len(steps) == 2 and steps[0] > 1 and steps[1] > 6  # each unit ran on in its share
    planned = stylize(texture(), style, small_settings(memory_limit=limit, time_budget=600.0),
                      extractor=tiny_extractor)  # fmt: skip
    assert planned.stopped == "finished" and planned.steps_done == 30 + 6 * 30  # the plan, no more


def test_cli_prints_the_tile_plan_and_the_recipe_records_it(tmp_path, capsys):
    from nst_helpers.cli.command import main
    from nst_helpers.runs.recipe import read_recipe

    content, style, output = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "out.png"
    texture().save(content)
    gradient_image(128, 128, seed=1).save(style)
    args = [str(content), str(style), "-o", str(output), "--arch", "vgg16", "--weights", "none",
            "--max-dim", "96", "--steps", "2", "--tile-steps", "2", "--tile-size", "48",
            "--tile-overlap", "16", "--memory-limit", f"{limit_for_tiles():.6f}",
            "--content-layers", "block3_conv1", "--style-layers",
            "block1_conv1,block2_conv1", "--preset", "tutorial"]  # fmt: skip

    assert main(args) == 0
    err = capsys.readouterr().err
    assert "tiled run: 96x72 px does not fit" in err and "6 tiles of 48 px, 12 steps" in err
    assert "fine:\n  level 0: " in err and "\\x0a" not in err  # the plan's lines, not escapes
    recipe = read_recipe(output)
    assert recipe["options"]["tile_plan"]["levels"][-1] == {
        "max_dim": 96,
        "size": [96, 72],
        "tiles": 6,
    }
    assert recipe["settings"]["tile_size"] == 48 and recipe["settings"]["tile_overlap"] == 16


def test_the_seam_figure_sees_a_seam_and_no_seam():
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from tiles import seam_figure

    tiles = tile_grid((200, 120), 64, 16)
    rng = np.random.default_rng(0)
    smooth = (rng.random((120, 200, 3)) * 40 + 100).astype(np.uint8)  # even noise everywhere
    figure = seam_figure(smooth, tiles, 16)
    assert abs(figure["tile_edges_ratio"] - 1) < 0.05
    assert abs(figure["overlap_middles_ratio"] - 1) < 0.05
    seamed = smooth.copy()
    for t in tiles[1:]:  # a step in brightness where every tile begins
        seamed[t.top :, t.left :] = np.clip(seamed[t.top :, t.left :].astype(int) + 30, 0, 255)
    assert seam_figure(seamed, tiles, 16)["tile_edges_ratio"] > 1.1
