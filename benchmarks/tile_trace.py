"""Tiles that trace once: a tiled level's time with one traced step for all its tiles (the
library's way) against a new trace for every tile (the way before), side by side in one process.

    python benchmarks/tile_trace.py            # 2048 px in 768 px tiles, 3 runs each (~11 min)
    python benchmarks/tile_trace.py --render   # TILE_TRACE.md again from tile_trace.json

The settings are benchmarks/tiles.py's 4096 px run's (VGG16 bfloat16, 768 px tiles, 6 steps a
tile) at 2048 px, with a memory limit that puts the 2048 px level in tiles; the base level gets
few steps, since only the tiled level is compared. The two ways alternate, each from a cleared
program cache, with the same network. `--smoke` runs it on tiny images with random weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
import report  # noqa: E402
import tiles  # noqa: E402
from tiles import CONTENT, STYLE, WEIGHTS  # noqa: E402

JSON, MARKDOWN = "tile_trace.json", "TILE_TRACE.md"
WAYS = ("one trace per level", "a trace per tile")


def settings_for(smoke: bool):
    from nst_helpers.runs.settings import Settings

    if smoke:  # tiles.py's tiny tiled run
        return tiles.settings_for("hires", smoke=True)
    return Settings(arch="vgg16", weights=WEIGHTS, precision="bfloat16", preview_every=0,
                    max_dim=2048, steps=5, tile_steps=6, tile_size=768, tile_overlap=64,
                    memory_limit=3.0)  # fmt: skip


def tiled_level(settings, extractor, way: str) -> dict:
    """One run; the tiled level's seconds, and each tile's."""
    from nst_helpers.api import stylize
    from nst_helpers.scale import tile_jobs

    real = tile_jobs.tile_program

    def traced_per_tile(extractor, job, settings):
        extractor.traced.clear()  # as before: every tile builds and traces its own step
        return real(extractor, job, settings)

    extractor.traced.clear()
    tile_jobs.tile_program = traced_per_tile if way == WAYS[1] else real
    try:
        result = stylize(CONTENT, STYLE, settings, extractor=extractor)
    finally:
        tile_jobs.tile_program = real
    level = result.levels[-1]
    assert level["tiles"] > 1, "the plan put no level in tiles: lower memory_limit"
    seconds = result.seconds["optimize"]
    return {"way": way, "seconds": round(level["seconds"], 2), "tiles": level["tiles"],
            "steps": level["steps"], "optimize_seconds": round(seconds, 2)}  # fmt: skip


def measure(smoke: bool, repeats: int) -> dict:
    from nst_helpers.api import plan_run
    from nst_helpers.core.optimize import matching_extractor

    settings = settings_for(smoke)
    plan = plan_run(CONTENT, STYLE, settings).tiles
    print(plan.describe(), flush=True)
    extractor = matching_extractor(None, settings)
    runs = []
    for _ in range(repeats):
        for way in WAYS:
            runs.append(tiled_level(settings, extractor, way))
            print(runs[-1], flush=True)
    medians = {
        way: statistics.median(r["seconds"] for r in runs if r["way"] == way) for way in WAYS
    }
    return {
        "settings": {
            k: settings.to_dict()[k]
            for k in (
                "arch",
                "precision",
                "max_dim",
                "steps",
                "tile_steps",
                "tile_size",
                "tile_overlap",
                "memory_limit",
            )
        },  # fmt: skip
        "plan_text": plan.describe(),
        "runs": runs,
        "median_seconds": medians,
        "speedup": round(medians[WAYS[1]] / medians[WAYS[0]], 3),
    }


def render(data: dict) -> str:
    m = data["median_seconds"]
    tiles = data["runs"][0]["tiles"]
    rows = [
        [way, str(sum(r["way"] == way for r in data["runs"])), f"{m[way]:.1f}",
         f"{m[way] / tiles:.2f}",
         ", ".join(f"{r['seconds']:.1f}" for r in data["runs"] if r["way"] == way)]
        for way in WAYS
    ]  # fmt: skip
    return "\n".join([
        "# Tiles that trace once",
        "",
        f"Written by benchmarks/tile_trace.py from {JSON}. Measured "
        f"{report.measured_line(data['measured'])}. The tiled level of one run, its tiles "
        "sharing one traced step (the library's way) or each tracing its own (the way before), "
        "alternating in one process with the same network:",
        "",
        "```",
        data["plan_text"],
        "```",
        "",
        report.table(["way", "runs", "tiled level, s (median)", "s per tile", "each run, s"],
                     rows),
        "",
        f"A trace per tile takes **{data['speedup']:.2f}x** the time of one trace per level.",
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny images, random weights")
    parser.add_argument("--render", action="store_true", help="only rebuild the markdown")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each way")
    parser.add_argument("--folder", type=Path, default=BENCHMARKS, help="where results go")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    measuring = None if args.render else lambda: measure(args.smoke, args.repeats)
    report.measure_or_load(args.folder, "tile_trace.py", (JSON, MARKDOWN), render, measuring)


if __name__ == "__main__":
    main()
