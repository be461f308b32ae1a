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
`read_recipe` reads it back, `check_inputs` tells whether the inputs are still the same files,
and `settings_from_recipe` rebuilds the `Settings` for a rerun.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from nst_helpers.errors import NSTError
from nst_helpers.settings import Settings

RECIPE_KEY = "nst_recipe"
RECIPE_VERSION = 1

_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_CHUNK = 1 << 20


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
    from nst_helpers import __version__

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


def describe_input(path: str | os.PathLike | Image.Image, what: str = "input") -> dict:
    """One input's entry: name, path as given, absolute path, sha256 and upright size.

    Args:
        path: The image file, or a PIL image held in memory.
        what: How error messages name the file (default "input").

    Returns:
        {"name", "path", "absolute", "sha256", "size": [width, height]}; the size is after the
        EXIF orientation, as `images.load_image` gives it. For an image in memory:
        {"name", "source": "memory", "sha256" of its mode, size and pixels, "size"}.

    Raises:
        NSTError: `path` is neither, or the file is missing, a folder, or not an image.
    """
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
    _check_file(path, what)
    return {
        "name": path.name,
        "path": os.fspath(path),
        "absolute": os.path.abspath(path),
        "sha256": file_sha256(path),
        "size": list(_upright_size(path, what)),
    }


def pixels_sha256(img: Image.Image) -> str:
    """The sha256 of an image's mode, size and pixel bytes (an image that is not a file)."""
    digest = hashlib.sha256(f"{img.mode} {img.width}x{img.height}\n".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as 64 hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise NSTError(f"{what} not found: '{path}'. Check the path and spelling.")
    if path.is_dir():
        raise NSTError(f"{what} '{path}' is a folder, not an image file. Give an image file.")


def _upright_size(path: Path, what: str) -> tuple[int, int]:
    """(width, height) as displayed: reads only the header, applies EXIF rotation."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise NSTError(
            f"{what} '{path}' is not an image Pillow can read. Use a JPEG, PNG, WebP, BMP, GIF "
            "or TIFF file."
        ) from None
    return (height, width) if orientation in _ROTATED_ORIENTATIONS else (width, height)


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
    except (TypeError, ValueError) as err:
        raise NSTError(
            f"the recipe can't be written as JSON ({err}); build it with make_recipe."
        ) from None
    return {RECIPE_KEY: text}


def read_recipe(path: str | os.PathLike) -> dict:
    """Reads the recipe embedded in a PNG written with `recipe_pnginfo`.

    Args:
        path: A PNG file.

    Returns:
        The recipe dict.

    Raises:
        NSTError: The file is missing, not a PNG, has no recipe, or its recipe is damaged.

    Example::

        read_recipe("out.png")["settings"]["steps"]
        # -> 300
    """
    path = Path(path)
    _check_file(path, "image")
    fmt, text = None, None
    try:
        with Image.open(path) as img:
            fmt = img.format
            if fmt == "PNG":
                # save_image writes text before the pixels, where opening already read it; text
                # after the pixels (other writers) needs `img.text`, which decodes the image.
                text = img.info.get(RECIPE_KEY)
                text = img.text.get(RECIPE_KEY) if text is None else text
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        if fmt == "PNG":
            raise NSTError(
                f"'{path}' could not be read: the PNG is truncated or corrupt, so its nst recipe "
                "is lost."
            ) from None
    if fmt != "PNG":
        raise NSTError(
            f"'{path}' is not a PNG, so it has no nst recipe: only PNGs written by nst carry one."
        )
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


def input_paths(recipe: dict, base_dir: str | os.PathLike | None = None) -> dict:
    """Where a recipe's input files are expected now.

    Args:
        recipe: A recipe from `make_recipe` or `read_recipe`.
        base_dir: None (default): the absolute paths recorded. A folder: the paths as given
            when the recipe was made, taken relative to it (paths given as absolute stay so).

    Returns:
        {"content": Path, "styles": [Path, ...], "mask": Path or None}; an input that was an
        image in memory has None for its path.

    Raises:
        NSTError: The recipe has no valid "inputs" section.
    """
    content, styles = _input_entries(recipe)
    mask = _mask_entry(recipe)
    return {
        "content": _locate(content, base_dir),
        "styles": [_locate(entry, base_dir) for entry in styles],
        "mask": None if mask is None else _locate(mask, base_dir),
    }


def _mask_entry(recipe: dict) -> dict | None:
    """The mask's input entry, recorded under options (as `describe_input` gives it), if any."""
    mask = (recipe.get("options") or {}).get("mask")
    return mask if isinstance(mask, dict) else None


def check_inputs(recipe: dict, base_dir: str | os.PathLike | None = None) -> list[str]:
    """Checks that a recipe's inputs still exist and have the same bytes (sha256).

    Args:
        recipe: A recipe from `make_recipe` or `read_recipe`.
        base_dir: Where to look for the inputs (see `input_paths`; default: the absolute paths
            recorded).

    Returns:
        One human-readable line per problem, naming the input and why; empty if all is well.

    Raises:
        NSTError: The recipe has no valid "inputs" section.

    Example::

        check_inputs(read_recipe("out.png"))
        # -> ["style image 1 'swirl.jpg' has changed since the recipe was made: ..."]
    """
    content, styles = _input_entries(recipe)
    named = [("content image", content)] + [
        (f"style image {i + 1}", entry) for i, entry in enumerate(styles)
    ]
    if _mask_entry(recipe) is not None:
        named.append(("mask", _mask_entry(recipe)))
    problems = []
    for what, entry in named:
        problem = _input_problem(what, entry, _locate(entry, base_dir))
        if problem:
            problems.append(problem)
    return problems


def _input_problem(what: str, entry: dict, path: Path | None) -> str | None:
    label = f"{what} '{entry['name']}'"
    if path is None:
        return (
            f"the {what} was an image held in memory, not a file (sha256 of its pixels "
            f"{entry['sha256'][:12]}...): save it to a file and run nst on that file."
        )
    if not path.exists():
        return f"{label} is missing: expected at '{path}'."
    if not path.is_file():
        return f"{label} is not a file any more: '{path}'."
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        return (
            f"{label} has changed since the recipe was made: '{path}' has sha256 "
            f"{digest[:12]}..., the recipe has {entry['sha256'][:12]}...."
        )
    return None


def _input_entries(recipe: dict) -> tuple[dict, list[dict]]:
    try:
        inputs = recipe["inputs"]
        content, styles = inputs["content"], list(inputs["styles"])
        for entry in [content, *styles]:
            keys = ("name", "sha256") if _in_memory(entry) else ("name", "path", "absolute")
            for key in (*keys, "sha256"):
                if not isinstance(entry[key], str):
                    raise TypeError(key)
    except (KeyError, TypeError, IndexError):
        raise NSTError(
            "the recipe has no valid 'inputs' (content and styles, each with name, path, "
            "absolute and sha256): read it with read_recipe or build it with make_recipe."
        ) from None
    return content, styles


def _in_memory(entry: dict) -> bool:
    return isinstance(entry, dict) and entry.get("source") == "memory"


def _locate(entry: dict, base_dir: str | os.PathLike | None) -> Path | None:
    """Where an input file is expected; None for an image that was held in memory."""
    if _in_memory(entry):
        return None
    if base_dir is None:
        return Path(entry["absolute"])
    return Path(base_dir) / entry["path"]


def settings_from_recipe(recipe: dict) -> Settings:
    """Rebuilds the `Settings` of a recipe (lists become tuples again), checked as usual.

    Settings missing from an older recipe take today's defaults.

    Args:
        recipe: A recipe from `make_recipe` or `read_recipe`.

    Returns:
        The settings; `settings_from_recipe(make_recipe(s, ...)) == s`.

    Raises:
        NSTError: The recipe has no settings, has settings this version does not know (it was
            made by a newer nst_helpers), or a value is invalid.

    Example:
        >>> settings_from_recipe({"settings": {"steps": 50, "arch": "vgg16"}}).steps
        50
    """
    stored = recipe.get("settings") if isinstance(recipe, dict) else None
    if not isinstance(stored, dict):
        raise NSTError(
            "the recipe has no 'settings' section: read it with read_recipe or build it with "
            "make_recipe."
        )
    known = {field.name for field in dataclasses.fields(Settings)}
    unknown = sorted(set(stored) - known)
    if unknown:
        library = recipe.get("library")
        version = library.get("version", "unknown") if isinstance(library, dict) else "unknown"
        raise NSTError(
            f"the recipe has settings this nst_helpers does not know: {', '.join(unknown)} "
            f"(it was made with nst_helpers {version}). Upgrade nst_helpers to rerun it."
        )
    # JSON has no tuples: every list-valued setting is a tuple field of Settings.
    values = {key: tuple(v) if isinstance(v, list) else v for key, v in stored.items()}
    return Settings(**values)
