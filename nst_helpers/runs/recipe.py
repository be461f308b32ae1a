"""Every result carries its recipe: the settings and inputs that made it, embedded in the PNG.

A recipe is a plain JSON-friendly dict::

    {
      "recipe_version": 1,
      "library": {"name": "nst_helpers", "version": "0.1.0"},
      "settings": {...},                 # Settings.to_dict()
      "inputs": {
        "content": {"name", "path", "absolute", "sha256", "size": [width, height]},
        "styles": [{...}, ...],
      },                                 # an image held in memory (not a file) is recorded
                                         # as {"name", "source": "memory", "sha256" of its
                                         # pixels, "size"}
      "options": {...},                  # extras: preserve_colors, style_blend, mask, output...
      "created": "2026-01-31T12:00:00+00:00",
    }

`recipe_pnginfo` turns it into the PNG text field "nst_recipe" that `Result.save` embeds (every
saved result goes through it: API, notebook and CLI);
`read_recipe` reads it back; `nst_helpers.runs.rerun` finds its inputs again, tells whether they are
still the same files, and rebuilds the `Settings` for a rerun.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, PngImagePlugin

from nst_helpers.checks import check_path
from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import (
    check_decode_memory,
    check_image_file,
    file_sha256,
    is_damage,
    pixels_sha256,
    unreadable,
    upright_size,
)
from nst_helpers.files.images import Loaded
from nst_helpers.runs.settings import Settings

RECIPE_KEY = "nst_recipe"
RECIPE_VERSION = 1

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the first 8 bytes of every PNG file


def make_recipe(
    settings: Settings,
    content_path: str | os.PathLike | Image.Image,
    style_paths: list[str | os.PathLike | Image.Image],
    extra: dict | None = None,
) -> dict:
    """Describes a run: library version, settings, input files (with sha256), options and time.

    Args:
        settings: The run's settings.
        content_path: The content image file (or a PIL image held in memory, recorded by a hash
            of its pixels).
        style_paths: The style image files or images (a single one is taken as a list of one).
        extra: Other options of the run, stored under "options" (e.g. {"preserve_colors":
            "luminance", "output": "out.png"}). Paths and tuples become strings and lists.
            Default None: no options.

    Returns:
        A dict that `json.dumps` accepts (see the module docstring for its layout).

    Raises:
        NSTError: An input is neither a path nor a PIL image, is missing or not an image, no
            style is given, or an extra value cannot be written as JSON.

    Example::

        recipe = make_recipe(Settings(), "cat.jpg", ["swirl.jpg"])
        recipe["inputs"]["content"]["sha256"][:8]
        # -> '3f9a0c1e'
    """
    from nst_helpers._version import __version__

    if isinstance(style_paths, (str, os.PathLike, Image.Image)):
        style_paths = [style_paths]
    style_paths = list(style_paths)
    if not style_paths:
        raise NSTError("a recipe needs at least one style image path; got none.")
    return {
        "recipe_version": RECIPE_VERSION,
        "library": {"name": "nst_helpers", "version": __version__},
        "settings": _jsonable(settings.to_dict(), "settings"),
        "inputs": {
            "content": describe_input(content_path, "content image"),
            "styles": [
                describe_input(path, f"style image {i + 1}") for i, path in enumerate(style_paths)
            ],
        },
        "options": _jsonable(dict(extra or {}), "extra"),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def describe_input(path: str | os.PathLike | Image.Image | Loaded, what: str = "input") -> dict:
    """One input's entry: name, path as given, absolute path, sha256 and upright size.

    Args:
        path: The image file, a PIL image held in memory, or either as `Loaded`.
        what: How error messages name the file (default "input").

    Returns:
        {"name", "path", "absolute", "sha256", "size": [width, height]}; the size is after the
        EXIF orientation, as `images.load_image` gives it. For an image in memory:
        {"name", "source": "memory", "sha256" of its mode, size and pixels, "size"}.

    Raises:
        NSTError: `path` is neither, or the file is missing, a folder, or not an image.
    """
    size = None
    if isinstance(path, Loaded):  # decoded once by the run's plan: its file, and its size as
        size = path.image.size  # decoded (a PNG's EXIF can't be read without its pixels)
        path = path.source if path.path is None else path.path
    if isinstance(path, Image.Image):
        return {
            "name": "image in memory",
            "source": "memory",
            "sha256": pixels_sha256(path),
            "size": list(path.size),
        }
    if not isinstance(path, (str, os.PathLike)):
        raise NSTError(
            f"a recipe records image files or PIL images: the {what} must be one of those, got "
            f"{type(path).__name__}."
        )
    path = Path(path)
    check_image_file(path, what)
    return {
        "name": path.name,
        "path": os.fspath(path),
        "absolute": os.path.abspath(path),
        "sha256": file_sha256(path),
        "size": list(size or upright_size(path, what)),
    }


def _jsonable(value, where: str):
    """`value` with paths as strings, tuples as lists and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalar or array
        return _jsonable(value.tolist(), where)
    if isinstance(value, float) and not math.isfinite(value):
        raise NSTError(f"can't store {where} = {value!r} in a recipe: JSON has no NaN or inf.")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise NSTError(
        f"can't store {where} = {value!r} ({type(value).__name__}) in a recipe: use a string, "
        "number, bool, None, path, or a list or dict of those."
    )


def recipe_pnginfo(recipe: dict) -> dict[str, str]:
    """The PNG text field that carries `recipe`, for `save_image(..., pnginfo=...)`.

    Args:
        recipe: A recipe from `make_recipe`.

    Returns:
        {"nst_recipe": the recipe as JSON text}.

    Raises:
        NSTError: The recipe holds a value JSON cannot store.

    Example:
        >>> recipe_pnginfo({"recipe_version": 1})
        {'nst_recipe': '{"recipe_version": 1}'}
    """
    try:
        text = json.dumps(recipe, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that is not valid UTF-8 (kept by Python as surrogates): escape it as
        # \udcXX, which reads back as the same name, so a rerun finds the same file.
        text = json.dumps(recipe, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise NSTError(
            f"the recipe can't be written as JSON ({err}); build it with make_recipe."
        ) from None
    return {RECIPE_KEY: text}


def read_recipe(path: str | os.PathLike) -> dict:
    """Reads the recipe embedded in a PNG written with `recipe_pnginfo`, without its pixels.

    Args:
        path: A PNG file.

    Returns:
        The recipe dict.

    Raises:
        NSTError: The file is missing, unreadable, not a PNG, truncated, over Pillow's text
            limits, has no recipe, or its recipe is damaged; the message says which.

    Example::

        read_recipe("out.png")["settings"]["steps"]
        # -> 300
    """
    path = Path(check_path(path, "path"))
    check_image_file(path, "image")
    try:
        with open(path, "rb") as handle:
            if handle.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
                raise NSTError(
                    f"'{path}' is not a PNG, so it has no nst recipe: only PNGs written by nst "
                    "carry one."
                )
            handle.seek(0)
            # The PNG plugin reads the chunks before the pixels, not the pixels, so it needs no
            # decompression-bomb check (Image.open's); Pillow's text limits still hold.
            img = PngImagePlugin.PngImageFile(handle)
            text = img.info.get(RECIPE_KEY)
            if text is None:  # text after the pixels (other writers) needs `img.text`: a decode
                if img.width * img.height > 2 * (Image.MAX_IMAGE_PIXELS or math.inf):
                    raise Image.DecompressionBombError(
                        f"no nst recipe before the pixels, and {img.width}x{img.height} px are "
                        "too many to decode to look after them"
                    )
                check_decode_memory(path, img.size)
                text = img.text.get(RECIPE_KEY)
    except NSTError:
        raise
    except Exception as err:  # Pillow raises many types on damaged files
        if not is_damage(err):
            raise unreadable(path, err) from None
        raise NSTError(
            f"'{path}' could not be read: the PNG is truncated or corrupt, so its nst recipe is "
            "lost."
        ) from None
    if text is None:
        raise NSTError(f"'{path}' has no nst recipe: only PNGs written by nst carry one.")
    try:
        recipe = json.loads(text)
    except json.JSONDecodeError:
        recipe = None
    if not isinstance(recipe, dict):
        raise NSTError(
            f"the nst recipe in '{path}' is damaged (not a JSON object); it can't be used."
        )
    return recipe
