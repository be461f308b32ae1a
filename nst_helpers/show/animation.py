"""Watching it paint: an animated GIF of the optimization, and contact sheets of many results.

`GifRecorder` is a `stylize` callback: it keeps the images that events carry (every
`settings.preview_every` steps and at the last step), small, and writes them as a looping GIF.
`contact_sheet` lays out labeled thumbnails in a grid, e.g. one per value of a parameter sweep.
Both are numpy and Pillow only: no TensorFlow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from nst_helpers.checks import check_count, check_size
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs

if TYPE_CHECKING:  # only for the type hint: importing the loop would import TensorFlow
    from nst_helpers.runs.run import Event

# Browsers show GIF frames shorter than 20 ms for 100 ms, so shorter durations slow it down.
MIN_FRAME_MS = 20
_MIN_TILE = 32
_PAD = 4  # white margin around each thumbnail and its label, in pixels


class GifRecorder:
    """A `stylize` callback that collects frames and saves them as an animated GIF.

    Only events that carry an image give frames, so set `settings.preview_every` to `every`
    (or a divisor of it); the last step always carries the image. Frames are kept as small RGB
    images, at most `max_side` pixels on the long side, so a long run stays light.

    Args:
        every: Keep a frame every this many steps (and at the last step). Default 1: every
            image the events carry.
        max_side: Long side of the frames in pixels; larger images are scaled down (never up).
            Default 384.

    Raises:
        NSTError: `every` or `max_side` is not a positive whole number.

    Example::

        recorder = GifRecorder(every=10)
        result = stylize("cat.jpg", "swirl.jpg", preview_every=10,
                         callbacks=[recorder])
        recorder.save("out/painting.gif")
    """

    def __init__(self, every: int = 1, max_side: int = 384) -> None:
        self.every = check_count(every, "every", "steps")
        self.max_side = check_size(max_side, "max_side")
        self._frames: list[Image.Image] = []

    def __call__(self, event: Event) -> None:
        """Keeps the event's image as a frame if it has one and its step is due."""
        if event.image is None:
            return
        if event.step % self.every == 0 or event.step >= event.steps:
            self.add_frame(event.image)

    def add_frame(self, image) -> None:
        """Appends a frame, e.g. the final result after color preservation.

        Args:
            image: A PIL image, or an (H, W, 3) / (1, H, W, 3) array in [0, 1].
        """
        if not isinstance(image, Image.Image):
            image = imgs.tensor_to_image(image)
        image = imgs.to_rgb(image)
        if max(image.size) > self.max_side:
            image = imgs.resize_image(image, self.max_side)
        self._frames.append(image)

    @property
    def frames(self) -> list[Image.Image]:
        """The frames so far (a new list; the images are the recorder's own)."""
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def save(
        self, path: str | os.PathLike, duration_ms: int = 80, final_hold_ms: int = 1000
    ) -> Path:
        """Writes the frames as a looping animated GIF, atomically, creating missing folders.

        Frames of other sizes (earlier coarse-to-fine levels) are resized to the last frame's.
        Pillow merges identical consecutive frames into one shown for their summed time, so the
        file may hold fewer frames than `len(self)` while playing just as long.

        Args:
            path: Output file, ending in .gif.
            duration_ms: How long each frame shows, in milliseconds (at least 20; GIF keeps
                hundredths of a second, so it is rounded to 10 ms). Default 80.
            final_hold_ms: How long the last frame shows before the loop restarts (never less
                than `duration_ms`). Default 1000.

        Returns:
            The path written.

        Raises:
            NSTError: No frames were recorded, the suffix is not .gif, a duration is invalid, or
                the folder cannot be written.
        """
        path = Path(path)
        if path.suffix.lower() != ".gif":
            raise NSTError(f"can't write an animation to '{path}': use a file name ending in .gif.")
        durations = _durations(len(self._frames), duration_ms, final_hold_ms)
        if not self._frames:
            raise NSTError(
                "no frames to save: the recorder saw no event with an image. Pass it in "
                "stylize(..., callbacks=[recorder]) and set preview_every (e.g. to every)."
            )
        size = self._frames[-1].size
        frames = [
            f if f.size == size else f.resize(size, Image.Resampling.LANCZOS) for f in self._frames
        ]
        imgs.ensure_writable_dir(path.parent)
        with imgs.atomic_write(path) as handle:
            frames[0].save(
                handle,
                format="GIF",
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,  # repeat forever
            )
        return path


def _durations(count: int, duration_ms: object, final_hold_ms: object) -> list[int]:
    """Milliseconds per frame: `duration_ms` each, the last held for `final_hold_ms`."""
    for name, value, low in (
        ("duration_ms", duration_ms, MIN_FRAME_MS),
        ("final_hold_ms", final_hold_ms, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise NSTError(
                f"{name} must be a whole number of milliseconds >= {low}, got {value!r}"
                + (" (browsers slow shorter frames down to 100 ms)." if low else ".")
            )
    return [duration_ms] * (count - 1) + [max(duration_ms, final_hold_ms)] if count else []


def contact_sheet(
    images: Sequence,
    labels: Sequence[str],
    columns: int | None = None,
    tile: int = 256,
) -> Image.Image:
    """Lays out labeled thumbnails in a grid on white, left to right, then top to bottom.

    Each cell is `tile` pixels wide: the image, scaled (aspect ratio kept) to fit a `tile` x
    `tile` square less a 4 px margin and centered, then its label just below in Pillow's default
    font. The cells are as high as the tallest thumbnail needs (`tile` for square images, less
    for wide ones), so wide images leave no empty band above their labels. Lines of a label
    (split at "\\n") that are too wide are cut short with "...".

    Args:
        images: PIL images, or (H, W, 3) arrays in [0, 1]; sizes may differ.
        labels: One label per image (e.g. "style_weight=30"); "" for none.
        columns: Cells per row; default (None) about the square root of the count. More than
            the count gives one row.
        tile: Side of each image's square in pixels (at least 32). Default 256.

    Returns:
        An RGB image `columns * tile` wide and `rows * (image height + label band)` high, the
        image height being that of the tallest thumbnail plus its margins (at most `tile`).

    Raises:
        NSTError: No images, not one label per image, or `columns` or `tile` invalid.

    Example:
        >>> sheet = contact_sheet([Image.new("RGB", (40, 30))] * 3, ["a", "b", "c"], tile=64)
        >>> sheet.width
        128
    """
    thumbs, labels, columns = _check_sheet(images, labels, columns, tile)
    thumbs = [imgs.resize_image(t, tile - 2 * _PAD) for t in thumbs]  # fit the square, aspect kept
    high = max(thumb.height for thumb in thumbs) + 2 * _PAD  # the image part of every cell
    font = _font(tile)
    line_height = _line_height(font)
    band = max(label.count("\n") + 1 for label in labels) * line_height + 2 * _PAD
    rows = math.ceil(len(thumbs) / columns)
    sheet = Image.new("RGB", (columns * tile, rows * (high + band)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (thumb, label) in enumerate(zip(thumbs, labels, strict=True)):
        left, top = (index % columns) * tile, (index // columns) * (high + band)
        sheet.paste(thumb, (left + (tile - thumb.width) // 2, top + (high - thumb.height) // 2))
        for line_no, line in enumerate(label.split("\n")):
            text = _fit_text(draw, line, font, tile - 2 * _PAD)
            y = top + high + _PAD + line_no * line_height
            draw.text((left + _PAD, y), text, fill="black", font=font)
    return sheet


def _check_sheet(images, labels, columns, tile) -> tuple[list[Image.Image], list[str], int]:
    images, labels = list(images), [str(label) for label in labels]
    if not images:
        raise NSTError("contact_sheet needs at least one image; got none.")
    if len(labels) != len(images):
        raise NSTError(
            f"contact_sheet got {len(images)} images but {len(labels)} labels: give one label "
            'per image ("" for none).'
        )
    if columns is None:
        columns = math.ceil(math.sqrt(len(images)))
    columns = min(check_count(columns, "columns", "cells"), len(images))
    if check_size(tile, "tile") < _MIN_TILE:
        raise NSTError(f"tile must be at least {_MIN_TILE} pixels, got {tile}.")
    thumbs = [
        imgs.to_rgb(img) if isinstance(img, Image.Image) else imgs.tensor_to_image(img)
        for img in images
    ]
    return thumbs, labels, columns


def _font(tile: int):
    """Pillow's default font, sized to the tile where this Pillow can (10.1 and later)."""
    try:
        return ImageFont.load_default(size=max(10, tile // 20))
    except TypeError:  # Pillow < 10.1: one fixed-size bitmap font
        return ImageFont.load_default()


def _line_height(font) -> int:
    _, top, _, bottom = font.getbbox("Ag")
    return int(bottom - min(top, 0)) + 2


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """`text`, cut short with "..." if it is wider than `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."
