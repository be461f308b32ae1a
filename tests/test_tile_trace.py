"""Tiles that trace once: the tiles of a level share one traced step (`tile_jobs.TileProgram`),
and a tile run in a reused program comes out as it would in a program of its own."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_tiles import limit_for_tiles, small_settings, texture

from conftest import ROOT, gradient_image
from nst_helpers.scale.tile_jobs import TileJob, level_style_targets, refine_tile
from nst_helpers.scale.tiles import Tile


def count_traces(monkeypatch) -> list:
    """Counts the tile programs' calls of compute_losses: each is one trace of a tile's step
    (a traced step runs the graph, not the Python function)."""
    from nst_helpers.core import objective

    calls = []
    real = objective.compute_losses
    monkeypatch.setattr(
        objective, "compute_losses", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    return calls


@pytest.mark.parametrize(("optimizer", "pyramid"), [("adam", False), ("lbfgs", True)])
def test_the_tiles_of_a_run_trace_their_step_once(tiny_extractor, monkeypatch, optimizer, pyramid):
    from nst_helpers.api import stylize

    tiny_extractor.traced.clear()
    traces = count_traces(monkeypatch)
    changes = dict(optimizer=optimizer, pyramid=pyramid, steps=4, tile_steps=3)
    settings = small_settings(memory_limit=limit_for_tiles(**changes), **changes)
    result = stylize(texture(), gradient_image(128, 128, seed=1), settings,
                     extractor=tiny_extractor)  # fmt: skip
    assert [lv["tiles"] for lv in result.recipe["options"]["tile_plan"]["levels"]] == [0, 6]
    assert result.levels[1]["steps"] >= 6  # every tile took steps
    assert len(traces) == 1, "the tiles traced their step more than once"
    # A second run with the same settings and tile shape reuses the program: no new trace.
    stylize(texture(), gradient_image(128, 128, seed=2), settings, extractor=tiny_extractor)
    assert len(traces) == 1


def job(seed: int, mask: bool, settings, extractor) -> TileJob:
    """A tile whose every input depends on `seed`: start, photo, style targets and mask."""
    pixels = np.asarray(gradient_image(48, 48, seed=seed), np.float32) / 255
    photo = np.roll(np.asarray(texture(48, 48), np.float32) / 255, 7 * seed, axis=1)
    style = level_style_targets(extractor, [gradient_image(64, 64, seed=seed + 7)], settings, 48)
    ramp = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(48, 48, 1)
    keep = np.roll(ramp, 11 * seed, axis=0) if mask else None
    return TileJob(seed, Tile(0, 0, 48, 48), pixels, photo, style, keep)


WAYS = [("adam", False, 0.9), ("adam", True, 0.0), ("lbfgs", True, 0.0)]


@pytest.mark.parametrize(("optimizer", "pyramid", "ema"), WAYS)
@pytest.mark.parametrize("mask", [False, True])
def test_a_tile_in_a_reused_program_comes_out_as_in_a_new_one(
    tiny_extractor, optimizer, pyramid, ema, mask
):
    """The second tile, run after the first in the same program, against the second tile run
    alone: the optimizer's state, the image, the targets and the mask are all reset."""
    settings = small_settings(optimizer=optimizer, pyramid=pyramid, ema=ema, tile_steps=5)
    first, second = (job(seed, mask, settings, tiny_extractor) for seed in (3, 4))
    tiny_extractor.traced.clear()
    refine_tile(tiny_extractor, first, settings)
    reused = refine_tile(tiny_extractor, second, settings)
    tiny_extractor.traced.clear()
    alone = refine_tile(tiny_extractor, second, settings)
    assert len(alone.history["total"]) == 5
    np.testing.assert_allclose(reused.history["total"], alone.history["total"], rtol=1e-5)
    np.testing.assert_allclose(reused.best, alone.best, atol=1e-5)
    # And the reuse did change something: the first tile's result is not the second's.
    assert np.abs(refine_tile(tiny_extractor, first, settings).best - alone.best).max() > 0.01


def test_the_benchmark_compares_both_ways_and_renders_its_page_from_json(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import tile_trace

    tile_trace.main(["--smoke", "--repeats", "1", "--folder", str(tmp_path)])
    data = tile_trace.report.load(tmp_path / "tile_trace.json")
    assert [run["way"] for run in data["runs"]] == list(tile_trace.WAYS)
    assert {run["tiles"] for run in data["runs"]} == {12}  # the same plan both ways
    assert data["speedup"] == pytest.approx(
        data["median_seconds"][tile_trace.WAYS[1]] / data["median_seconds"][tile_trace.WAYS[0]],
        abs=1e-3,
    )
    page = (tmp_path / "TILE_TRACE.md").read_text()
    assert page == tile_trace.render(data) and f"**{data['speedup']:.2f}x**" in page
    # The committed page is the committed JSON's.
    committed = ROOT / "benchmarks"
    stored = tile_trace.report.load(committed / "tile_trace.json")
    assert (committed / "TILE_TRACE.md").read_text() == tile_trace.render(stored)
