"""From a decoded Pillow image of any mode to upright RGB pixels, and what decoding can cost.

`images.load_image` opens files; this module holds the parts that must survive hostile input:
every color mode converted without clipping, the EXIF orientation applied even when the EXIF
block is damaged, the memory a decode needs (known from the header, before decoding), and one
NSTError naming the real cause for each way a file can fail to open or decode.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from nst_helpers import machine
from nst_helpers.errors import NSTError, first_line

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_BAND_VALUES = 2**20  # values per band when 16-bit and float images are scaled to 8 bits

# Peak bytes per pixel of `load_image` decoding and converting one image, beyond what the
# process held before: the largest measured over the color modes, rounded up, so that
# `check_decode_memory` refuses an image before a decode that would run out of memory (the
# measurements: benchmarks/README.md, "Why the defaults are what they are").
DECODE_BYTES_PER_PIXEL = 10


def to_rgb(img: Image.Image) -> Image.Image:
    """Converts a Pillow image of any mode to 8-bit RGB without clipping or black backgrounds.

    Args:
        img: An image in any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F, ...).

    Returns:
        A new RGB image. Transparent areas become white; 16-bit and float images are scaled
        into 0..255 rather than clipped.

    Raises:
        NSTError: Pillow has no conversion from the image's mode to RGB (e.g. BGR;24).
    """
    mode = img.mode
    try:
        if mode in _SIXTEEN_BIT_MODES or mode == "F":
            return Image.fromarray(_high_depth_to_uint8(img)).convert("RGB")
        if mode == "P" or mode == "PA":
            img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
        if img.mode in _ALPHA_MODES:
            if img.mode not in ("RGBA", "LA"):  # premultiplied (RGBa, La) or PA: straight
                img = img.convert("LA" if img.mode == "La" else "RGBA")
            # Pasted onto white through its alpha: no whole-image RGBA copies.
            white = Image.new("RGB", img.size, (255, 255, 255))
            white.paste(img, mask=img.getchannel("A"))
            return white
        return img.convert("RGB")
    except ValueError as err:  # e.g. "conversion from BGR;24 to RGB not supported"
        raise NSTError(
            f"can't convert an image in color mode {mode} to RGB ({first_line(err)}): save it "
            "as RGB with an image editor first."
        ) from None


def _high_depth_to_uint8(img: Image.Image) -> np.ndarray:
    """Scales a 16-bit integer or float grayscale image into a uint8 array.

    Integer images are taken as 16-bit (0..65535) unless every value fits in 8 bits; float
    images as 0..1 unless they exceed 1. NaN becomes 0, infinities the ends of the range. Works
    in bands of rows, so the float64 copy stays small however large the image is.
    """
    width, height = img.size
    rows = max(1, _BAND_VALUES // width)
    bands = [(top, min(top + rows, height)) for top in range(0, height, rows)]

    def band(top: int, bottom: int) -> np.ndarray:
        return np.asarray(img.crop((0, top, width, bottom)), dtype=np.float64)

    peak = 0.0
    for top, bottom in bands:
        values = band(top, bottom)
        peak = max(peak, float(values[np.isfinite(values)].max(initial=0)))
    if img.mode == "F" and peak <= 1.0:
        scale = 255.0
    else:
        scale = 255.0 / (255.0 if peak <= 255 else 65535.0)
    out = np.empty((height, width), dtype=np.uint8)
    for top, bottom in bands:
        values = np.nan_to_num(band(top, bottom), nan=0.0, posinf=np.inf, neginf=-np.inf)
        out[top:bottom] = np.clip(np.rint(values * scale), 0, 255)
    return out


def turns_sideways(img: Image.Image) -> bool:
    """Whether the EXIF orientation swaps width and height (False if the EXIF is damaged)."""
    try:
        return img.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
    except Exception:  # a damaged EXIF block: see apply_orientation
        return False


def apply_orientation(img: Image.Image) -> None:
    """Applies the EXIF orientation in place; a damaged EXIF block leaves the pixels as stored.

    `ImageOps.exif_transpose` raises struct.error, TypeError or AttributeError on some damaged
    EXIF blocks in files whose pixels Pillow decodes fine: those pixels are worth keeping. (It
    turns the pixels before it rewrites the EXIF, where most of these errors arise.)
    """
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except MemoryError:
        raise
    except Exception:  # see the docstring
        pass


def decode_memory(size: tuple[int, int]) -> int:
    """Peak bytes `load_image` needs to decode and convert an image of `size` (width, height).

    Example:
        >>> decode_memory((100, 50))  # DECODE_BYTES_PER_PIXEL per pixel
        50000
    """
    return int(size[0]) * int(size[1]) * DECODE_BYTES_PER_PIXEL


def check_decode_memory(path: Path, size: tuple[int, int]) -> None:
    """Refuses, from the header's size alone, an image too large to decode in free memory.

    Raises:
        NSTError: `decode_memory(size)` exceeds `machine.available_memory()`.
    """
    needed = decode_memory(size)
    available = machine.available_memory()
    if available is not None and needed > available:
        raise NSTError(
            f"'{path}' is {size[0]}x{size[1]} px: decoding it needs about "
            f"{needed / 2**30:.1f} GiB of memory, but only {available / 2**30:.1f} GiB is "
            "available. Downscale it with an image editor, or free some memory."
        )


def check_image_file(path: Path, what: str | None = None) -> None:
    """Raises the NSTError for a path that can't be an image file: missing, a folder, or not a
    regular file (a pipe or device, which reading could block forever). `what` names the file
    in the message ("content image"; default: none)."""
    named = f"{what} " if what else ""
    if not path.exists():
        raise NSTError(f"{what or 'image file'} not found: '{path}'. Check the path and spelling.")
    if path.is_dir():
        raise NSTError(
            f"{named}'{path}' is a folder, not an image file. Give the path of an image file."
        )
    if not path.is_file():
        raise NSTError(
            f"{named}'{path}' is not a regular file (a pipe, device or socket): save the image "
            "to a file and give that file's path."
        )


def unreadable(path: Path, err: BaseException) -> NSTError:
    """The one-line NSTError for a file that could not be opened or decoded, naming why."""
    if isinstance(err, PermissionError):
        return NSTError(
            f"can't read '{path}': permission denied. Give yourself read access "
            f"(chmod u+r '{path}') or copy the file to a folder you own."
        )
    if isinstance(err, Image.DecompressionBombError):
        return NSTError(
            f"'{path}' is too large to open safely ({first_line(err)}). Downscale it with an "
            "image editor, or if you trust the file raise PIL.Image.MAX_IMAGE_PIXELS before "
            "loading it."
        )
    if isinstance(err, MemoryError):
        return NSTError(
            f"'{path}' is too large to decode in the memory available. Downscale it with an "
            "image editor, or free some memory."
        )
    if isinstance(err, UnidentifiedImageError):
        return NSTError(
            f"'{path}' is not an image Pillow can read. Use JPEG, PNG, WebP, BMP, GIF or TIFF file."
        )
    if _is_system_error(err):  # the operating system's (opening, or an I/O error reading)
        return NSTError(
            f"can't read '{path}' ({err.strerror}). Check the file and the disk it is on, or "
            "copy it somewhere else."
        )
    if _is_text_limit(err):
        return NSTError(
            f"'{path}' holds more text (metadata) than Pillow reads safely ({first_line(err)}). "
            "If you trust the file, raise PIL.PngImagePlugin.MAX_TEXT_CHUNK and MAX_TEXT_MEMORY "
            "before reading it, or re-export it without its text chunks."
        )
    return NSTError(
        f"'{path}' could not be decoded ({first_line(err)}): the file is truncated or corrupt. "
        "Re-download or re-export it."
    )


def is_damage(err: BaseException) -> bool:
    """Whether an error opening or decoding a file means its content is truncated or corrupt
    (rather than unreadable, not an image, or over a size, memory or text limit)."""
    limits = (MemoryError, Image.DecompressionBombError, UnidentifiedImageError)
    return not (isinstance(err, limits) or _is_system_error(err) or _is_text_limit(err))


def _is_system_error(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno is not None and bool(err.strerror)


def _is_text_limit(err: BaseException) -> bool:
    # PngImagePlugin's ValueErrors name the limit: MAX_TEXT_CHUNK or MAX_TEXT_MEMORY.
    return isinstance(err, ValueError) and "MAX_TEXT" in str(err)


def pixels_sha256(img: Image.Image) -> str:
    """The sha256 of an image's mode, size and pixel bytes (an image that is not a file)."""
    digest = hashlib.sha256(f"{img.mode} {img.width}x{img.height}\n".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as 64 hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):  # 1 MiB at a time
            digest.update(chunk)
    return digest.hexdigest()


def upright_size(path: Path, what: str) -> tuple[int, int]:
    """(width, height) as displayed: reads only the header, applies EXIF rotation."""
    try:
        with open(path, "rb") as handle, Image.open(handle) as img:
            width, height = img.size
            sideways = turns_sideways(img)  # as load_image turns it (a damaged EXIF: not at all)
    except UnidentifiedImageError:
        raise NSTError(
            f"{what} '{path}' is not an image Pillow can read. Use a JPEG, PNG, WebP, BMP, GIF "
            "or TIFF file."
        ) from None
    except Exception as err:  # Pillow raises many types on damaged files
        raise NSTError(f"{what}: {unreadable(path, err)}") from None
    return (height, width) if sideways else (width, height)
