"""Print size in tiles, and a folder on Ray: what `nst --max-dim 4096` and `--ray` cost here.

    python benchmarks/tiles.py --part ray      # 8 small images, in-process and 1 or 2 workers
    python benchmarks/tiles.py --part hires    # 4096 px from a bundled pair in 8 GiB (~13 min)
    python benchmarks/tiles.py --render        # TILES.md again from tiles.json, running nothing

Writes benchmarks/tiles.json; benchmarks/TILES.md is rendered from it alone. The hires part
also saves a full-resolution crop across a tile corner (tiles_corner_crop.jpg) and the 1024 px
whole-image result upscaled x4 beside the tiled crop (tiles_side_by_side.jpg). `--smoke` runs
both parts on tiny images with random weights (for the tests), writing into `--folder`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))
import report  # noqa: E402

JSON, MARKDOWN = "tiles.json", "TILES.md"
WEIGHTS = os.environ.get(
    "NST_TEST_WEIGHTS",
    str(ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"),
)
CONTENT, STYLE = ROOT / "images" / "content" / "cat.jpg", ROOT / "images" / "style" / "swirl.jpg"
CROP = 384  # px of the crops, at full resolution
BAND = 2  # px each side of a line counted as "on the tile borders"


def settings_for(part: str, smoke: bool):
    from nst_helpers.runs.settings import Settings

    if smoke:
        tiny = {"arch": "vgg16", "weights": None, "content_layers": ("block3_conv1",),
                "style_layers": ("block1_conv1", "block2_conv1"), "preview_every": 0}  # fmt: skip
        if part == "hires":
            from nst_helpers.runs.memory import estimate_memory

            settings = Settings(**tiny, max_dim=192, steps=4, tile_steps=2, tile_size=64,
                                tile_overlap=16)  # fmt: skip
            fits_a_tile = estimate_memory(settings, 64, 64) + 4 * 192 * 128 * 12  # + canvases
            return settings.replace(memory_limit=fits_a_tile / 2**30 + 1e-3)
        return Settings(**tiny, max_dim=32, steps=4)
    real = {"arch": "vgg16", "weights": WEIGHTS, "precision": "bfloat16", "preview_every": 0}
    if part == "hires":
        # About 13 min on an idle 2-core CPU (TILES.md): few steps per tile, large tiles
        # (fewer tiles, so less overlap to compute twice).
        return Settings(**real, max_dim=4096, steps=30, tile_steps=6, tile_size=768,
                        tile_overlap=64, memory_limit=8.0)  # fmt: skip
    return Settings(**real, max_dim=128, steps=30)


# ---------------------------------------------------------------------------------------------
# 4096 px in tiles
# ---------------------------------------------------------------------------------------------
def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """|grad| of the gray image in [0, 1], (H - 1, W - 1), from forward differences."""
    gray = np.asarray(image, np.float64).mean(axis=-1) / 255.0
    dx, dy = np.diff(gray, axis=1)[:-1, :], np.diff(gray, axis=0)[:, :-1]
    return np.hypot(dx, dy)


def seam_figure(image: np.ndarray, tiles, overlap: int) -> dict:
    """Mean gradient magnitude on the tile borders (where a tile's pixels end, and the middle of
    each overlap, where the blend is half and half) against everywhere else."""
    magnitude = gradient_magnitude(image)
    height, width = magnitude.shape
    edges, middles = np.zeros((height, width), bool), np.zeros((height, width), bool)
    for t in tiles:
        half = overlap // 2
        for x, mask in ((t.left, edges), (t.left + t.width, edges), (t.left + half, middles),
                        (t.left + t.width - half, middles)):  # fmt: skip
            if 0 < x < width:
                mask[:, max(0, x - BAND) : x + BAND] = True
        for y, mask in ((t.top, edges), (t.top + t.height, edges), (t.top + half, middles),
                        (t.top + t.height - half, middles)):  # fmt: skip
            if 0 < y < height:
                mask[max(0, y - BAND) : y + BAND, :] = True
    elsewhere = magnitude[~(edges | middles)].mean()
    return {
        "tile_edges_ratio": float(magnitude[edges].mean() / elsewhere),
        "overlap_middles_ratio": float(magnitude[middles].mean() / elsewhere),
        "elsewhere_gradient": float(elsewhere),
        "band_px": 2 * BAND,
    }


def hires(smoke: bool, folder: Path) -> dict:
    from nst_helpers.api import plan_run, stylize
    from nst_helpers.show.animation import contact_sheet

    settings = settings_for("hires", smoke)
    plan = plan_run(CONTENT, STYLE, settings).tiles
    print(plan.describe(), flush=True)
    base = []

    def keep_base(event) -> None:  # the whole image at the base size, before any tile
        if event.image is not None and not base:
            base.append(event.image)

    settings = settings.replace(preview_every=plan.steps[0])
    started = time.perf_counter()
    result = stylize(CONTENT, STYLE, settings, callbacks=[keep_base])
    seconds = time.perf_counter() - started
    image = np.asarray(result.best_image)
    final = plan.levels[-1]
    tiles = final.tiles
    seams = seam_figure(image, tiles, plan.overlap)
    columns = sorted({t.left for t in tiles})
    rows = sorted({t.top for t in tiles})
    x, y = columns[len(columns) // 2], rows[len(rows) // 2]  # an interior tile's corner
    crop = max(16, min(CROP, final.size[1] // 2))
    box = (x - crop // 2, y - crop // 2, x + crop // 2, y + crop // 2)
    tiled_crop = result.best_image.crop(box)
    tiled_crop.save(folder / "tiles_corner_crop.jpg", quality=90)
    peak = result.peak_memory  # before the comparison run below
    # The same pair as one whole image at a quarter of the size (same steps), and the tiled
    # run's own base, both upscaled to the full size: the same crop of each.
    small = settings.max_dim // 4
    quarter = stylize(CONTENT, STYLE, settings.replace(max_dim=small, preview_every=0))
    base_image = Image.fromarray(np.rint(base[0] * 255).astype(np.uint8))
    crops, labels = [], []
    for img, dim in ((quarter.best_image, small), (base_image, plan.levels[0].max_dim)):
        crops.append(img.resize(final.size, Image.Resampling.LANCZOS).crop(box))
        labels.append(f"{dim} px whole, upscaled x{final.max_dim // dim}")
    crops.append(tiled_crop)
    labels.append(f"{final.max_dim} px, tiled")
    contact_sheet(crops, labels, columns=len(crops), tile=crop + 8).convert("RGB").save(
        folder / "tiles_side_by_side.jpg", quality=90
    )
    detail = {
        label: float(gradient_magnitude(np.asarray(crop)).mean())
        for crop, label in zip(crops, labels, strict=True)
    }
    return {
        "content": CONTENT.name,
        "style": STYLE.name,
        "size_px": list(final.size),
        "settings": {
            k: settings.to_dict()[k]
            for k in (
                "arch",
                "precision",
                "steps",
                "tile_steps",
                "tile_size",
                "tile_overlap",
                "memory_limit",
                "lr",
            )
        },  # fmt: skip
        "plan": plan.to_dict(),
        "plan_text": plan.describe(),
        "estimated_minutes": None if plan.seconds is None else round(plan.seconds / 60, 1),
        "seconds": round(seconds, 1),
        "peak_memory_gib": round(peak / 2**30, 2),
        "steps_done": result.steps_done,
        "levels": result.levels,
        "seams": seams,
        "crop": {"box": list(box), "detail": detail},
    }


# ---------------------------------------------------------------------------------------------
# A folder on Ray
# ---------------------------------------------------------------------------------------------
def ray_folder(smoke: bool) -> dict:
    import ray

    from nst_helpers.folder import stylize_folder

    settings = settings_for("ray", smoke)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for path in sorted((ROOT / "images" / "content").glob("*.jpg")):
            img = Image.open(path).convert("RGB")
            img.save(photos / f"{path.stem}.png")
            img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / f"{path.stem}_flip.png")
        count = len(list(photos.iterdir()))
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        try:
            for name, address, workers in (("in-process", None, None), ("Ray, 1 worker", "auto", 1),
                                           ("Ray, 2 workers", "auto", 2)):  # fmt: skip
                started = time.perf_counter()
                summary = stylize_folder(photos, STYLE, Path(tmp) / name.replace(" ", "_"),
                                         settings, ray=address, workers=workers,
                                         report=lambda line: None)  # fmt: skip
                seconds = time.perf_counter() - started
                assert len(summary.done) == count, summary.failed
                rows.append({"how": name, "images": count, "seconds": round(seconds, 1),
                             "images_per_minute": round(60 * count / seconds, 2)})  # fmt: skip
                print(rows[-1], flush=True)
        finally:
            ray.shutdown()
    return {"max_dim": settings.max_dim, "steps": settings.steps, "arch": settings.arch,
            "precision": settings.precision, "cpus": os.cpu_count(), "rows": rows}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------
def render(data: dict) -> str:
    lines = ["# Tiles and Ray", "", f"Written by benchmarks/tiles.py from {JSON}.", ""]
    if "hires" in data:
        h = data["hires"]
        seams = h["seams"]
        lines += [
            f"## {h['size_px'][0]}x{h['size_px'][1]} px in tiles ({h['content']} in the style of "
            f"{h['style']})",
            "",
            f"Measured {report.measured_line(h['measured'])}.",
            "",
            "```",
            h["plan_text"],
            "```",
            "",
            report.table(
                ["measurement", "result"],
                [
                    [
                        "time",
                        f"{h['seconds'] / 60:.1f} min (plan's estimate "
                        f"{report.number(h['estimated_minutes'], '.1f', 'none')} min)",
                    ],
                    [
                        "peak memory (process)",
                        f"{h['peak_memory_gib']:.2f} GiB "
                        f"(limit {h['settings']['memory_limit']:.3g} GiB)",
                    ],
                    ["steps", f"{h['steps_done']}"],
                    ["gradient on tile edges / elsewhere", f"{seams['tile_edges_ratio']:.3f}"],
                    ["gradient mid-overlap / elsewhere", f"{seams['overlap_middles_ratio']:.3f}"],
                    *[
                        [f"mean gradient of the crop: {label}", f"{value:.4f}"]
                        for label, value in h["crop"]["detail"].items()
                    ],
                ],
            ),  # fmt: skip
            "",
            f"Seam figure: mean gradient magnitude in {seams['band_px']} px bands on the tile "
            "borders against everywhere else (within 10 % of 1: no visible seams). Crop across a "
            "tile corner at full resolution: `tiles_corner_crop.jpg`; the same crop of whole-image "
            "runs at a quarter of the size and at the base size, upscaled, beside it: "
            "`tiles_side_by_side.jpg`.",
            "",
        ]
    if "hires_before" in data:
        lines += _before_after(data["hires_before"], data["hires"])
    if "ray" in data:
        r = data["ray"]
        lines += [
            f"## A folder of {r['rows'][0]['images']} images on Ray",
            "",
            f"Measured {report.measured_line(r['measured'])}: {r['max_dim']} px, {r['steps']} "
            f"steps, {r['arch']} {r['precision']}, a local Ray with {r['cpus']} CPUs; times "
            "include starting the workers (each imports TensorFlow and builds the network once).",
            "",
            report.table(
                ["how", "seconds", "images/min"],
                [
                    [row["how"], f"{row['seconds']:.1f}", f"{row['images_per_minute']:.2f}"]
                    for row in r["rows"]
                ],
            ),  # fmt: skip
            "",
        ]
    return "\n".join(lines)


def _before_after(before: dict, after: dict) -> list[str]:
    """The same plan measured with earlier code (a stored run) and with this code."""
    rows = [
        [f"{run['measured']['date']}, {run.get('code', 'this code')}",
         f"{run['seconds'] / 60:.1f} min",
         *(f"{level['seconds'] / 60:.1f} min" for level in run["levels"]),
         f"{report.number(run['estimated_minutes'], '.1f', 'none')} min",
         f"{run['peak_memory_gib']:.2f} GiB",
         run.get("note", "")]
        for run in (before, after)
    ]  # fmt: skip
    return [
        "### Before and after: the same plan and settings",
        "",
        report.table(
            ["run", "time", "whole-image level", "tiled level", "plan's estimate", "peak", "note"],
            rows,
        ),  # fmt: skip
        "",
        "The runs are days apart, on a machine shared with other work the first time: the "
        "difference is mostly the machine's load, not the code. The code's own share, side by "
        "side in one process: [archive/TILE_TRACE.md](archive/TILE_TRACE.md).",
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("hires", "ray", "all"), default="all")
    parser.add_argument("--smoke", action="store_true", help="tiny images, random weights")
    parser.add_argument("--render", action="store_true", help="only rebuild the markdown")
    parser.add_argument("--folder", type=Path, default=BENCHMARKS, help="where results go")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    path = args.folder / JSON
    data = report.load(path) if args.render or path.is_file() else {}
    if not args.render:
        data["about"] = report.about("tiles.py", MARKDOWN)
        for part in ("ray", "hires") if args.part == "all" else (args.part,):
            started = time.time()
            data[part] = ray_folder(args.smoke) if part == "ray" else hires(args.smoke, args.folder)
            data[part]["measured"] = report.measured(started)
            report.save(data, path)
    report.write_text(args.folder / MARKDOWN, render(data))
    print(f"wrote {path} and {args.folder / MARKDOWN}")


if __name__ == "__main__":
    main()
