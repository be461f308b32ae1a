"""Generate the bundled style images deterministically (numpy + Pillow, no network).

Run ``python images/make_styles.py`` to (re)write ``images/style/<name>.jpg``. Every style
uses a fixed seed, so re-running the script reproduces the same pictures.

The styles are painting-like textures made for neural style transfer: colorful, with
structure at several scales, so that the transferred style is clearly visible.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

STYLE_DIR = Path(__file__).resolve().parent / "style"
SIZE = 512
JPEG_QUALITY = 90

Color = tuple[int, int, int]


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, size: int, octaves: Sequence[int]) -> np.ndarray:
    """Return fractal value noise in [0, 1] of shape (size, size).

    Args:
        rng: Random generator to draw from.
        size: Side of the square output in pixels.
        octaves: Grid resolutions to sum; coarse grids give large blobs, fine grids detail.
    """
    total = np.zeros((size, size), np.float32)
    for i, cells in enumerate(octaves):
        grid = rng.random((cells, cells), dtype=np.float32)
        layer = Image.fromarray(grid).resize((size, size), Image.BICUBIC)
        total += np.asarray(layer) / (i + 1)
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def gradient_lookup(values: np.ndarray, palette: Sequence[Color]) -> np.ndarray:
    """Map values in [0, 1] to colors by linear interpolation along a palette.

    Args:
        values: Array of any shape with entries in [0, 1].
        palette: Colors placed evenly from 0 to 1.

    Returns:
        Float array of shape ``values.shape + (3,)`` with RGB in 0..255.
    """
    stops = np.linspace(0.0, 1.0, len(palette))
    colors = np.asarray(palette, np.float32)
    return np.stack([np.interp(values, stops, colors[:, c]) for c in range(3)], axis=-1)


def jitter(color: np.ndarray, rng: np.random.Generator, amount: float) -> Color:
    """Return ``color`` with random brightness and hue noise, clipped to a valid RGB tuple."""
    shifted = color * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, amount * 60, 3)
    return tuple(int(v) for v in np.clip(shifted, 0, 255))


def to_image(array: np.ndarray) -> Image.Image:
    """Convert a float RGB array in 0..255 to a Pillow image."""
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def canvas_grain(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Overlay a fine canvas-like grain so flat areas still carry texture."""
    size = image.size[0]
    grain = smooth_noise(rng, size, (size // 2, size // 4)) - 0.5
    array = np.asarray(image, np.float32) * (1 + strength * grain[..., None])
    return to_image(array)


def draw_stroke(
    draw: ImageDraw.ImageDraw,
    center: tuple[float, float],
    angle: float,
    length: float,
    width: int,
    color: Color,
) -> None:
    """Draw one straight brush stroke with rounded ends."""
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    x, y = center
    draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=color, width=width)
    r = width / 2
    for px, py in ((x - dx, y - dy), (x + dx, y + dy)):
        draw.ellipse([px - r, py - r, px + r, py + r], fill=color)


# --------------------------------------------------------------------------------------
# Styles
# --------------------------------------------------------------------------------------


BRUSH_PALETTE: list[Color] = [
    (30, 50, 120),
    (60, 120, 170),
    (150, 140, 200),
    (90, 160, 120),
    (230, 200, 110),
    (245, 150, 70),
    (225, 110, 120),
    (250, 225, 170),
]


def make_brush(size: int = SIZE, seed: int = 1) -> Image.Image:
    """Impressionist texture: layers of short oriented strokes in a warm/cool palette.

    Args:
        size: Side of the square image in pixels.
        seed: Random seed.
    """
    rng = np.random.default_rng(seed)
    scale = size / SIZE
    hue = smooth_noise(rng, size, (3, 6, 12))
    flow = smooth_noise(rng, size, (3, 5)) * 2.5 * np.pi
    base = gradient_lookup(hue, BRUSH_PALETTE)
    image = to_image(base).filter(ImageFilter.GaussianBlur(8 * scale))
    draw = ImageDraw.Draw(image)
    for length, width, count in ((34, 11, 1800), (20, 6, 4500), (11, 3, 7000)):
        n = int(count * scale * scale)
        xs, ys = rng.uniform(0, size, n), rng.uniform(0, size, n)
        for x, y in zip(xs, ys, strict=True):
            i, j = min(int(y), size - 1), min(int(x), size - 1)
            angle = flow[i, j] + rng.normal(0, 0.25)
            mixed = gradient_lookup(np.clip(hue[i, j] + rng.normal(0, 0.09), 0, 1), BRUSH_PALETTE)
            color = jitter(mixed, rng, 0.15)
            draw_stroke(draw, (x, y), angle, length * scale, max(1, round(width * scale)), color)
    return canvas_grain(image, rng, 0.25)


GLASS_PALETTE: list[Color] = [
    (20, 60, 170),
    (30, 110, 200),
    (170, 20, 40),
    (220, 60, 30),
    (240, 180, 30),
    (20, 130, 70),
    (110, 40, 150),
    (240, 230, 190),
]


def voronoi(points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label each pixel with its nearest point.

    Args:
        points: Array (n, 2) of x, y positions.
        size: Side of the square grid.

    Returns:
        The label map, the distance to the nearest point and the gap between the nearest and
        second-nearest distances (small near cell borders).
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    best = np.full((size, size), np.inf, np.float32)
    second = np.full((size, size), np.inf, np.float32)
    labels = np.zeros((size, size), np.int32)
    for k, (px, py) in enumerate(points):
        d = np.hypot(xs - px, ys - py)
        closer = d < best
        second = np.where(closer, best, np.minimum(second, d))
        labels = np.where(closer, k, labels)
        best = np.where(closer, d, best)
    return labels, best, second - best


def spaced_points(rng: np.random.Generator, size: int, n: int, min_gap: float) -> np.ndarray:
    """Draw up to ``n`` points, denser towards the centre like a rose window, never too close.

    Points closer than ``min_gap`` to an earlier one are dropped, so no cell is a sliver.
    """
    radius = np.sqrt(rng.random(4 * n)) * 0.75 * size
    theta = rng.uniform(0, 2 * np.pi, 4 * n)
    candidates = np.stack([np.cos(theta), np.sin(theta)], 1) * radius[:, None] + size / 2
    candidates = np.concatenate([candidates, rng.uniform(0, size, (n, 2))])
    rng.shuffle(candidates)
    kept: list[np.ndarray] = []
    for point in candidates:
        if len(kept) == n:
            break
        if not kept or np.min(np.hypot(*(np.asarray(kept) - point).T)) >= min_gap:
            kept.append(point)
    return np.asarray(kept)


def make_mosaic(size: int = SIZE, seed: int = 2) -> Image.Image:
    """Stained glass: Voronoi cells of jewel colors, shaded glass and dark lead lines.

    Args:
        size: Side of the square image in pixels.
        seed: Random seed.
    """
    rng = np.random.default_rng(seed)
    scale = size / SIZE
    points = spaced_points(rng, size, n=330, min_gap=12 * scale)
    labels, dist, gap = voronoi(points, size)
    colors = np.asarray(GLASS_PALETTE, np.float32)[rng.integers(0, len(GLASS_PALETTE), len(points))]
    colors *= rng.uniform(0.75, 1.15, (len(points), 1))
    cell_size = np.sqrt(size * size / len(points))
    glow = np.clip(1.25 - 0.5 * dist / cell_size, 0.7, 1.25)
    streaks = smooth_noise(rng, size, (4, 24, 96))
    glass = colors[labels] * glow[..., None] * (0.75 + 0.5 * streaks[..., None])
    lead = np.clip((gap - 2.5 * scale) / (1.5 * scale), 0, 1)[..., None]
    image = glass * lead + np.array([25, 22, 20], np.float32) * (1 - lead)
    return canvas_grain(to_image(image).filter(ImageFilter.SMOOTH), rng, 0.2)


SWIRL_PALETTE: list[Color] = [
    (12, 25, 80),
    (25, 60, 140),
    (50, 110, 190),
    (110, 170, 220),
    (190, 215, 230),
    (240, 220, 120),
    (245, 190, 40),
]


def swirl_field(size: int, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple]]:
    """Return a flow-angle field made of a gentle wave plus a few vortices.

    Returns:
        The angle at every pixel and the vortex list ``(x, y, radius, spin)``.
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    vx = np.ones_like(xs)
    vy = 0.6 * np.sin(xs / size * 3 * np.pi + ys / size * 2 * np.pi)
    vortices = []
    for _ in range(5):
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        radius = rng.uniform(0.08, 0.18) * size
        spin = rng.choice([-1.0, 1.0]) * rng.uniform(2.5, 4.0)
        dx, dy = xs - cx, ys - cy
        weight = spin * np.exp(-(dx * dx + dy * dy) / (2 * radius * radius)) / radius
        vx += -dy * weight
        vy += dx * weight
        vortices.append((cx, cy, radius, spin))
    return np.arctan2(vy, vx), vortices


def trace(angle: np.ndarray, start: tuple[float, float], steps: int, step: float) -> list:
    """Follow the flow field from ``start`` and return the visited points."""
    size = angle.shape[0]
    x, y = start
    path = [(x, y)]
    for _ in range(steps):
        a = angle[min(max(int(y), 0), size - 1), min(max(int(x), 0), size - 1)]
        x, y = x + step * np.cos(a), y + step * np.sin(a)
        if not (0 <= x < size and 0 <= y < size):
            break
        path.append((x, y))
    return path


def make_swirl(size: int = SIZE, seed: int = 3) -> Image.Image:
    """Starry-night-like swirls: flowing blue strokes around glowing yellow stars.

    Args:
        size: Side of the square image in pixels.
        seed: Random seed.
    """
    rng = np.random.default_rng(seed)
    scale = size / SIZE
    angle, vortices = swirl_field(size, rng)
    tone = smooth_noise(rng, size, (3, 7)) * 0.75
    base = gradient_lookup(tone, SWIRL_PALETTE)
    image = to_image(base).filter(ImageFilter.GaussianBlur(6 * scale))
    draw = ImageDraw.Draw(image)
    for steps, width, count in ((16, 7, 1400), (10, 4, 3200)):
        n = int(count * scale * scale)
        for x, y in rng.uniform(0, size, (n, 2)):
            path = trace(angle, (x, y), steps, 2.5 * scale)
            if len(path) < 3:
                continue
            shade = min(tone[int(y), int(x)] + rng.normal(0, 0.18), 1.0)
            color = jitter(gradient_lookup(np.asarray(max(shade, 0.0)), SWIRL_PALETTE), rng, 0.1)
            draw.line(path, fill=color, width=max(1, round(width * scale)), joint="curve")
    draw_stars(draw, vortices, rng, scale)
    return canvas_grain(image, rng, 0.2)


def draw_stars(
    draw: ImageDraw.ImageDraw, vortices: list[tuple], rng: np.random.Generator, scale: float
) -> None:
    """Paint glowing stars: a bright core inside rings of short yellow strokes."""
    centres = [(cx, cy) for cx, cy, _, _ in vortices[:2]]
    for x, y in rng.uniform(40, 472, (40, 2)) * scale:
        if len(centres) < 7 and min(np.hypot(x - cx, y - cy) for cx, cy in centres) > 90 * scale:
            centres.append((x, y))
    rings = [(225, 175, 45), (245, 205, 70), (250, 230, 130), (255, 248, 210)]
    width = max(1, round(4 * scale))
    for k, (cx, cy) in enumerate(centres):
        outer = (38 if k < 2 else rng.uniform(12, 22)) * scale
        core = outer * 0.45
        for i, color in enumerate(rings):
            r = core * (1 - i / len(rings))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        for i, color in enumerate(rings[:3]):
            r = outer - i * (outer - core) / 3
            count = int(2 * np.pi * r / (5 * scale)) + 6
            for t in np.linspace(0, 2 * np.pi, count, endpoint=False):
                a = t + rng.normal(0, 0.05)
                x, y = cx + r * np.cos(a), cy + r * np.sin(a)
                draw_stroke(
                    draw,
                    (x, y),
                    a + np.pi / 2,
                    9 * scale,
                    width,
                    jitter(np.asarray(color, np.float32), rng, 0.06),
                )


CUBIST_PALETTE: list[Color] = [
    (215, 165, 85),
    (170, 105, 50),
    (105, 75, 55),
    (215, 205, 180),
    (80, 110, 140),
    (180, 50, 40),
    (35, 65, 110),
    (240, 205, 110),
    (60, 120, 90),
]


def make_cubist(size: int = SIZE, seed: int = 4) -> Image.Image:
    """Bold geometric abstraction: facets cut by straight lines, shaded, with dark edges.

    Args:
        size: Side of the square image in pixels.
        seed: Random seed.
    """
    rng = np.random.default_rng(seed)
    scale = size / SIZE
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    code = np.zeros((size, size), np.int64)
    edge = np.full((size, size), np.inf, np.float32)
    for _ in range(16):
        a = rng.uniform(0, np.pi)
        px, py = rng.uniform(0.1, 0.9, 2)
        side = np.cos(a) * (xs - px) + np.sin(a) * (ys - py)
        code = code * 2 + (side > 0)
        edge = np.minimum(edge, np.abs(side) * size)
    _, region = np.unique(code, return_inverse=True)
    region = region.reshape(size, size)
    n = region.max() + 1
    colors = np.asarray(CUBIST_PALETTE, np.float32)[rng.integers(0, len(CUBIST_PALETTE), n)]
    tilt = rng.uniform(0, 2 * np.pi, n)
    # Each facet is lit from its own direction, as if seen from several viewpoints at once.
    shade = 1 + 0.7 * (np.cos(tilt)[region] * (xs - 0.5) + np.sin(tilt)[region] * (ys - 0.5))
    painted = hatch(to_image(colors[region] * shade[..., None]), tilt[region], rng)
    line = np.clip((edge - 1.5 * scale) / (1.5 * scale), 0, 1)[..., None]
    picture = to_image(np.asarray(painted, np.float32) * (0.15 + 0.85 * line))
    draw_circles(ImageDraw.Draw(picture), rng, size)
    return canvas_grain(picture, rng, 0.3)


def hatch(image: Image.Image, angle: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Cover an image with short parallel strokes in lighter and darker shades of itself.

    Args:
        image: Picture to paint over (modified in place).
        angle: Stroke direction at every pixel.
        rng: Random generator.

    Returns:
        The hatched picture.
    """
    size = image.size[0]
    scale = size / SIZE
    pixels = np.asarray(image, np.float32)
    draw = ImageDraw.Draw(image)
    for x, y in rng.uniform(0, size, (int(6000 * scale * scale), 2)):
        i, j = int(y), int(x)
        color = jitter(pixels[i, j], rng, 0.12)
        draw_stroke(draw, (x, y), angle[i, j], 14 * scale, max(1, round(3 * scale)), color)
    # Strokes that spill into a neighbouring facet differ strongly from it: undo those.
    painted = np.asarray(image, np.float32)
    spilled = np.abs(painted - pixels).sum(axis=-1, keepdims=True) > 90
    return to_image(np.where(spilled, pixels, painted))


def draw_circles(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """Add a few bold concentric circles and arcs with dark outlines."""
    outline = (30, 25, 20)
    width = max(1, round(size / 170))
    centres: list[np.ndarray] = []
    for centre in rng.uniform(0.1, 0.9, (30, 2)) * size:
        if len(centres) == 5 or any(np.hypot(*(centre - c)) < 0.25 * size for c in centres):
            continue
        centres.append(centre)
        cx, cy = centre
        r = rng.uniform(0.03, 0.09) * size
        if rng.random() < 0.7:
            for k in range(3, 0, -1):
                color = CUBIST_PALETTE[int(rng.integers(0, len(CUBIST_PALETTE)))]
                rk = r * k / 3
                draw.ellipse(
                    [cx - rk, cy - rk, cx + rk, cy + rk], fill=color, outline=outline, width=width
                )
        else:
            start = float(rng.uniform(0, 360))
            box = [cx - 2 * r, cy - 2 * r, cx + 2 * r, cy + 2 * r]
            draw.arc(box, start, start + 200, fill=outline, width=2 * width)


STYLES: dict[str, Callable[..., Image.Image]] = {
    "brush": make_brush,
    "mosaic": make_mosaic,
    "swirl": make_swirl,
    "cubist": make_cubist,
}


def generate(out_dir: Path, size: int = SIZE, names: Sequence[str] | None = None) -> list[Path]:
    """Render the styles and save them as JPEG files.

    Args:
        out_dir: Folder to write ``<name>.jpg`` into; created when missing.
        size: Side of the square images in pixels.
        names: Styles to render; all of ``STYLES`` when None.

    Returns:
        The paths written, in the order of ``names``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or STYLES:
        path = out_dir / f"{name}.jpg"
        STYLES[name](size=size).save(path, quality=JPEG_QUALITY, optimize=True)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write every style (or those named on the command line) into ``images/style/``."""
    names = list(argv if argv is not None else sys.argv[1:]) or None
    for path in generate(STYLE_DIR, names=names):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
