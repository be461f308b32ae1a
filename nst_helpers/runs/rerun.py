"""Running a result again from its recipe: where its input files are now, whether they are still
the same bytes, and the `Settings` it was made with.

A recipe may come from a PNG someone shared, so `rerun_inputs` reads only files in the PNG's
folder unless the caller trusts it; a recipe can name files but never makes nst write anywhere
or run code.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import file_sha256
from nst_helpers.runs.settings import OLDER_NAMES, Settings


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


def check_inputs(
    recipe: dict, base_dir: str | os.PathLike | None = None, paths: dict | None = None
) -> list[str]:
    """Checks that a recipe's inputs still exist and have the same bytes (sha256).

    Args:
        recipe: A recipe from `make_recipe` or `read_recipe`.
        base_dir: Where to look for the inputs (see `input_paths`; default: the absolute paths
            recorded).
        paths: Where the inputs are, as `input_paths` or `rerun_inputs` give them (overrides
            `base_dir`).

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
    paths = paths or input_paths(recipe, base_dir)
    located = [paths["content"], *paths["styles"]] + ([paths["mask"]] if paths["mask"] else [])
    problems = []
    for (what, entry), path in zip(named, located, strict=True):
        problem = _input_problem(what, entry, path)
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
    if not _exists(path):
        return f"{label} is missing: expected at '{path}'."
    if not path.is_file():
        return f"{label} is not a file any more: '{path}'."
    if file_sha256(path) != entry["sha256"]:
        # (the file's own hash is not shown: a recipe must not make nst reveal a file's digest)
        return (
            f"{label} has changed since the recipe was made: '{path}' does not have the sha256 "
            f"the recipe records ({entry['sha256'][:12]}...)."
        )
    return None


def rerun_inputs(recipe: dict, png: str | os.PathLike, trust_paths: bool = False) -> dict:
    """Where a rerun reads a recipe's files: beside its PNG, or where recorded if trusted.

    A recipe travels with a PNG someone may have shared, so by default it can only point at
    files in the PNG's folder (or below it), compared after resolving links: for each input,
    the file of that name beside the PNG, then the path recorded taken relative to the PNG's
    folder. With `trust_paths` (a recipe you made yourself) the absolute path recorded comes
    first, then those.

    Args:
        recipe: A recipe from `read_recipe`.
        png: The PNG the recipe came from.
        trust_paths: Also read files outside the PNG's folder, where the recipe says.

    Returns:
        {"content", "styles", "mask", "weights"}: as `input_paths`, plus the weights file
        (or the recipe's "imagenet"/None).

    Raises:
        NSTError: Without `trust_paths`, an input is not in the PNG's folder (the message names
            it and the fix), or the recipe has no valid inputs.
    """
    folder = Path(png).parent
    content, styles = _input_entries(recipe)
    mask = _mask_entry(recipe)
    outside: list[str] = []

    def find(entry: dict | None) -> Path | None:
        if entry is None or _in_memory(entry):
            return None
        candidates = [folder / Path(entry["name"]).name]
        if not Path(entry["path"]).is_absolute():
            candidates.append(folder / entry["path"])
        if trust_paths:
            return next((p for p in [Path(entry["absolute"]), *candidates] if _exists(p)),
                        Path(entry["absolute"]))  # fmt: skip
        for path in candidates:
            if _inside(path, folder) and _exists(path):
                return path
        outside.append(entry["absolute"])
        return Path(entry["absolute"])

    paths = {
        "content": find(content),
        "styles": [find(entry) for entry in styles],
        "mask": find(mask),
        "weights": _find_weights(recipe, folder, trust_paths, outside),
    }
    if outside:
        shown = ", ".join(f"'{path}'" for path in outside[:3])
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        raise NSTError(
            f"the recipe in '{png}' names files outside its folder ({shown}{more}), and nst "
            "reads those only for a recipe you trust: if you made it, rerun with "
            f"--trust-recipe-paths (API: trust_paths=True); else put the files beside "
            f"'{Path(png).name}'."
        )
    return paths


def _find_weights(recipe: dict, folder: Path, trust: bool, outside: list[str]):
    settings = recipe.get("settings") or {}
    weights = settings.get("weights_file") or settings.get("weights")  # (its older name)
    if not isinstance(weights, str) or weights == "imagenet":
        return weights
    candidates = [folder / Path(weights).name]
    if not Path(weights).is_absolute():
        candidates.append(folder / weights)
    if trust:
        return next((p for p in [Path(weights), *candidates] if _exists(p)), Path(weights))
    for path in candidates:
        if _inside(path, folder) and _exists(path):
            return path
    outside.append(weights)
    return Path(weights)


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path`, links resolved, is in `folder` or below it."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a NUL byte or an unreadable folder
        return False


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
    known = {field.name for field in dataclasses.fields(Settings)} | set(OLDER_NAMES)
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
