"""Image files in and out: loading any common format, resizing, tensors, VGG preprocessing.

Images travel through the library in one of three forms:

* a Pillow ``Image`` (files, display),
* a float32 tensor of shape ``(1, H, W, 3)`` with RGB values in ``[0, 1]`` (what we optimize),
* the VGG "caffe" input: BGR, 0..255, ImageNet mean subtracted (what the network sees).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from nst_helpers.checks import check_path, check_size
from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import (
    apply_orientation,
    check_decode_memory,
    check_image_file,
    to_rgb,
    turns_sideways,
    unreadable,
)

# ImageNet channel means in BGR order, as in Keras' `vgg16/vgg19.preprocess_input` (caffe mode).
VGG_MEAN_BGR = (103.939, 116.779, 123.68)

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

_REDUCING_GAP = 3  # shrink by whole factors to 3x the target size, then filter (see resize_image)
TEMP_MARKER = ".nst-"  # in the names of atomic_write's temporary files: ".NAME.nst-PID-XXXX.tmp"


def load_image(path: str | os.PathLike, max_dim: int | None = None) -> Image.Image:
    """Opens an image file as an RGB Pillow image, upright, optionally resized.

    Applies the EXIF orientation (a damaged EXIF block is ignored: the pixels are kept as
    stored), reads only the first frame of animations, composites transparency onto white, and
    scales 16-bit images down to 8 bits (instead of clipping them). The header is read first:
    an image too large to decode in the memory available is refused before decoding. With
    `max_dim`, a JPEG much larger than that is decoded at 1/2, 1/4 or 1/8 size (Pillow's
    `draft`), still at least three times `max_dim`, which cuts the decode's memory.

    Args:
        path: An image file Pillow can read (JPEG, PNG, WebP, BMP, GIF, TIFF...).
        max_dim: If given, the long side is resized to this many pixels (see `resize_image`).

    Returns:
        An RGB image.

    Raises:
        NSTError: The file is missing, is a directory, can't be read (permissions), is not an
            image, is truncated or corrupt, is larger than Pillow's decompression-bomb limit, or
            needs more memory to decode than is available. No other exception escapes.

    Example::

        img = load_image("images/content/chelsea.jpg", max_dim=256)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise NSTError(
            f"load_image needs the path of an image file, got {type(path).__name__}: pass a "
            "str or pathlib.Path (a PIL image needs no loading)."
        )
    path = Path(path)
    check_image_file(path)
    return _decode(path, max_dim)


def _decode(path: Path, max_dim: int | None) -> Image.Image:
    """The first frame of `path`, upright, in RGB, resized for `max_dim`; failures: NSTError."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; its errors are told apart)
    except OSError as err:
        raise unreadable(path, err) from None
    try:
        with handle, warnings.catch_warnings():
            # Pillow warns between its pixel limit and twice that; we refuse at twice, like Pillow.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on damaged metadata
            img = Image.open(handle)  # reads the header only
            if img.tell() != 0:  # the first frame of a GIF or multi-page TIFF (as opened)
                img.seek(0)
            stored = img.size
            if max_dim is not None:  # a JPEG is then decoded at a reduced size (no-op otherwise)
                width, height = scaled_size(stored, max_dim)
                img.draft(None, (width * _REDUCING_GAP, height * _REDUCING_GAP))
            check_decode_memory(path, img.size)
            img.load()
            if turns_sideways(img):
                stored = stored[::-1]
            apply_orientation(img)
            try:
                rgb = to_rgb(img)
            except NSTError as err:  # a mode without a conversion to RGB
                raise NSTError(f"'{path}': {err}") from None
    except NSTError:
        raise
    except Exception as err:  # Pillow's decoders raise many types on damaged files
        raise unreadable(path, err) from None
    if max_dim is None:
        return rgb
    # The size the whole image would be resized to, whatever size `draft` decoded it at.
    size = scaled_size(stored, max_dim)
    if size == rgb.size:
        return rgb
    return rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=float(_REDUCING_GAP))


def resize_image(img: Image.Image, max_dim: int) -> Image.Image:
    """Resizes so the long side is `max_dim` pixels, keeping the aspect ratio, with antialiasing.

    Small images are enlarged too, so `max_dim` always sets the working resolution.

    Args:
        img: The image.
        max_dim: Target length of the long side, in pixels (a positive integer).

    Returns:
        The resized image (the same object if it already has that size).

    Raises:
        NSTError: `max_dim` is not a positive integer.
    """
    size = scaled_size(img.size, max_dim)
    if size == img.size:
        return img
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=float(_REDUCING_GAP))


def scaled_size(size: tuple[int, int], max_dim: int) -> tuple[int, int]:
    """The (width, height) that `resize_image` gives an image of `size` for `max_dim`."""
    check_size(max_dim, "max_dim")
    scale = max_dim / max(size)
    return tuple(max(1, round(side * scale)) for side in size)


def as_image(source, what: str) -> Image.Image:
    """Returns an RGB PIL image from a path or a PIL image (of any mode).

    Raises:
        NSTError: `source` is neither, or the file can't be loaded (see `load_image`).
    """
    if isinstance(source, Loaded):
        return source.image
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if isinstance(source, (str, os.PathLike)):
        return load_image(source)
    kind = type(source).__name__
    raise NSTError(f"the {what} image must be a file path or a PIL image, got {kind}.")


@dataclass(frozen=True)
class Loaded:
    """An input image decoded once, with what it was decoded from (a file path, or the PIL
    image given, of any mode).

    A run's plan loads each input once and hands these on, so the later steps (sizes, the tile
    plan, the run, the recipe) neither decode the file again nor forget where it came from.
    """

    image: Image.Image
    source: object = None

    @property
    def path(self) -> Path | None:
        """The file it came from (None for an image in memory)."""
        return Path(self.source) if isinstance(self.source, (str, os.PathLike)) else None


def load(source, what: str) -> Loaded:
    """Decodes `source` (a path, a PIL image, or an already `Loaded` one) once, as RGB.

    Raises:
        NSTError: As for `as_image`.
    """
    if isinstance(source, Loaded):
        return source
    return Loaded(as_image(source, what), source)


def prepare_images(content, style, settings, max_dim: int | None = None) -> tuple:
    """Loads (if paths) and resizes: content to `max_dim`, style to `style_scale` times that.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them.
        settings: A `Settings`; supplies `max_dim` and `style_scale`.
        max_dim: Overrides `settings.max_dim` (for coarse-to-fine levels).

    Returns:
        (content, style) as RGB PIL images; style is a list when a list was given.
    """

    def working(source, what: str, dim: int) -> Image.Image:
        # An RGB image is resized as it is: no full-size copy (4 bytes a pixel) at every level.
        if not (isinstance(source, Image.Image) and source.mode == "RGB"):
            source = as_image(source, what)
        return resize_image(source, dim)

    max_dim = max_dim or settings.max_dim
    content = working(content, "content", max_dim)
    style_dim = max(1, round(max_dim * settings.style_scale))
    if isinstance(style, (list, tuple)):
        return content, [working(s, "style", style_dim) for s in style]
    return content, working(style, "style", style_dim)


def image_to_tensor(img: Image.Image):
    """Converts an RGB Pillow image to a float32 tensor of shape (1, H, W, 3) in [0, 1]."""
    import tensorflow as tf

    array = np.asarray(to_rgb(img), dtype=np.float32) / 255.0  # (H, W, 3)
    return tf.convert_to_tensor(array[np.newaxis])  # (H, W, 3) -> (1, H, W, 3)


def tensor_to_image(tensor) -> Image.Image:
    """Converts a (1, H, W, 3) or (H, W, 3) tensor or array in [0, 1] to an RGB Pillow image.

    Values outside [0, 1] are clipped.
    """
    array = np.asarray(tensor, dtype=np.float32)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise NSTError(f"expected one image, got a batch of {array.shape[0]}; index it first.")
        array = array[0]  # (1, H, W, 3) -> (H, W, 3)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise NSTError(f"expected an RGB image of shape (H, W, 3), got shape {array.shape}.")
    return Image.fromarray(np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8))


def vgg_preprocess(image):
    """Maps RGB images in [0, 1] to VGG's caffe input: BGR, 0..255, ImageNet mean subtracted.

    The same transform as `keras.applications.vgg16.preprocess_input(255 * image)`, written in
    TensorFlow ops so it is differentiable and never modifies the caller's array (Keras'
    version overwrites numpy inputs in place).

    Args:
        image: Tensor or array of shape (..., 3), RGB in [0, 1].

    Returns:
        A float32 tensor of the same shape.
    """
    import tensorflow as tf

    image = tf.convert_to_tensor(image, dtype=tf.float32)
    bgr = image[..., ::-1] * 255.0  # RGB -> BGR, [0, 1] -> [0, 255]
    return bgr - tf.constant(VGG_MEAN_BGR, dtype=tf.float32)


def vgg_deprocess(features):
    """Inverts `vgg_preprocess`: caffe-mode BGR input back to RGB in [0, 1] (not clipped)."""
    import tensorflow as tf

    bgr = tf.convert_to_tensor(features, dtype=tf.float32) + tf.constant(VGG_MEAN_BGR)
    return bgr[..., ::-1] / 255.0


def save_image(img, path: str | os.PathLike, pnginfo: dict[str, str] | None = None) -> Path:
    """Saves an image atomically, creating missing parent folders.

    The image is written to a temporary file beside `path` and then renamed over it, so a crash
    or Ctrl-C never leaves a half-written file.

    Args:
        img: A Pillow image, or a tensor/array accepted by `tensor_to_image`.
        path: Output file; the suffix picks the format (.png, .jpg, .jpeg, .webp).
        pnginfo: Text fields to embed in a PNG (ignored for other formats).

    Returns:
        The path written.

    Raises:
        NSTError: Not a path, an unknown suffix, or the folder cannot be created or written.
    """
    path = Path(check_path(path, "path"))
    fmt = output_format(path)
    if not isinstance(img, Image.Image):
        img = tensor_to_image(img)
    ensure_writable_dir(path.parent)
    options: dict = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and pnginfo:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in pnginfo.items():
            info.add_itxt(key, value)
        options["pnginfo"] = info
    with atomic_write(path) as handle:
        img.save(handle, format=fmt, **options)
    return path


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Opens a temporary file beside `path` for writing and renames it over `path` on success.

    A crash, an exception or Ctrl-C inside the block leaves `path` as it was and no temporary
    file behind (a SIGKILL can leave one: `outputs.remove_stale_temporaries` clears those).
    The file gets the permissions the umask gives new files (0644 with umask 022), not
    mkstemp's 0600. The folder must exist.

    Example::

        with atomic_write("out.bin") as handle:
            handle.write(b"data")
    """
    path = Path(path)
    # The name marks the file as ours and names its writer, so a later run can remove what a
    # killed one left (see outputs.remove_stale_temporaries); the name is cut to stay short.
    prefix = f".{path.name[:40]}{TEMP_MARKER}{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (no race)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_format(path: str | os.PathLike) -> str:
    """Returns the Pillow format name for an output path's suffix, or raises an NSTError."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise NSTError(
            f"can't tell the output format from '{path}': use a file name ending in "
            f"{', '.join(SAVE_FORMATS)}."
        )
    return SAVE_FORMATS[suffix]


def ensure_writable_dir(folder: str | os.PathLike) -> Path:
    """Creates `folder` if needed and checks that files can be written in it.

    Raises:
        NSTError: The folder cannot be created, is a file, or is not writable.
    """
    folder = Path(folder) if str(folder) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except (FileExistsError, NotADirectoryError):
        raise NSTError(f"can't write into '{folder}': part of that path is a file.") from None
    except OSError as err:
        raise NSTError(
            f"can't write into '{folder}' ({err.strerror}). Choose a folder you can write to."
        ) from None
    return folder
