"""A folder of photos in one style: every image into an output folder, resumable.

`stylize_folder("photos/", "painting.jpg", "out/")` writes out/<name>.png for every image in
photos/, each with its recipe. An image whose output already exists with a matching recipe (the
same settings and the same input files, by sha256) is skipped, so a stopped batch resumes where
it was. A file that can't be read is reported in one line and the batch goes on; the summary
counts what was done, skipped and failed. With `ray` the images run as Ray tasks
(`nst_helpers.scale.distributed`), the same `stylize_job` as in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nst_helpers.checks import check_callbacks, check_path
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.files.outputs import resolved_path
from nst_helpers.runs.settings import Settings, as_settings

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class FolderSummary:
    """What a folder run did: outputs written, skipped (already done), and failed (with why)."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def line(self) -> str:
        """One line: "3 done, 1 skipped, 1 failed in 12.0 s" (and "interrupted")."""
        text = (
            f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
            f"in {self.seconds:.1f} s"
        )
        return text + (" (interrupted: run it again to resume)" if self.interrupted else "")


@dataclass
class ImageJob:
    """One image of a folder: its index, the loaded content and style images, the settings."""

    index: int
    content: object  # PIL image
    styles: list
    settings: Settings


def stylize_job(extractor, job: ImageJob, callbacks: Iterable[Callable] = ()):
    """Stylizes one image; returns (job index, Result, None), or (index, None, the error
    message) if it failed."""
    from nst_helpers.api import stylize
    from nst_helpers.runs.run import NonFiniteLossError

    try:
        result = stylize(job.content, job.styles, job.settings, extractor=extractor,
                         callbacks=callbacks)  # fmt: skip
    except (NonFiniteLossError, NSTError) as err:
        return job.index, None, str(err)
    return job.index, result, None


def folder_images(folder: str | os.PathLike) -> list[Path]:
    """The image files in a folder (by suffix, not hidden), sorted by name.

    Raises:
        NSTError: The folder is missing or holds no image files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NSTError(f"'{folder}' is not a folder: give a folder of images or one image file.")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".")
    )
    if not files:
        raise NSTError(
            f"'{folder}' holds no image files ({', '.join(PHOTO_SUFFIXES)}): check the folder."
        )
    return files


def recipe_matches(output: Path, recipe: dict) -> bool:
    """Whether `output` exists with a recipe of the same settings and input files (sha256),
    from a run that was not interrupted."""
    from nst_helpers.runs.recipe import read_recipe
    from nst_helpers.runs.settings import with_current_names

    if not output.is_file():
        return False
    try:
        stored = read_recipe(output)
    except NSTError:
        return False

    def key(r: dict) -> tuple:
        inputs = r.get("inputs", {})
        shas = [inputs.get("content", {}).get("sha256")]
        shas += [s.get("sha256") for s in inputs.get("styles", [])]
        settings = r.get("settings")
        if isinstance(settings, dict):  # a 0.1.0 recipe's older names count as today's
            with contextlib.suppress(NSTError):
                settings = with_current_names(settings)
        return json.dumps(settings, sort_keys=True), shas, r.get("stopped")

    return key(stored) == key(json.loads(json.dumps(recipe)))


def stylize_folder(
    folder: str | os.PathLike,
    style,
    output_dir: str | os.PathLike,
    settings: Settings | None = None,
    *,
    extractor=None,
    ray: str | None = None,
    workers: int | None = None,
    report: Callable[[str], None] | None = None,
    callbacks: Iterable[Callable] = (),
) -> FolderSummary:
    """Stylizes every image of `folder` into `output_dir`/<name>.png, skipping those done.

    Args:
        folder: The folder of photos.
        style: The style image file(s).
        output_dir: Where to write (created if missing); never one of the inputs.
        settings: The settings for every image (default `Settings()`).
        extractor: A prebuilt extractor for in-process runs.
        ray: None (in-process), "auto" (a local Ray) or a Ray cluster address.
        workers: Ray actors (default: one per CPU).
        report: Called with one line per image (default: print to stderr).
        callbacks: Event callbacks for in-process runs (e.g. a progress bar).

    Returns:
        The summary (done, skipped, failed).

    Raises:
        NSTError: The folder has no images, a style image is bad, or the output folder can't
            be written.
    """
    from nst_helpers.runs.recipe import make_recipe

    started = time.perf_counter()
    settings = as_settings(settings)
    check_path(folder, "folder")
    check_path(output_dir, "output_dir")
    callbacks = check_callbacks(callbacks)
    report = report or (lambda line: print(line, file=sys.stderr))
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    style_imgs = [imgs.load_image(path) for path in styles]  # a bad style stops the batch
    output_dir = imgs.ensure_writable_dir(output_dir)
    summary = FolderSummary()
    pending = []  # (job, output, recipe)
    photos = folder_images(folder)
    inputs = {resolved_path(Path(p)) for p in [*photos, *styles]}  # after links: never overwritten
    planned: set[Path] = set()
    for path in photos:
        output = output_dir / f"{path.stem}.png"
        target = resolved_path(output)
        if target in inputs or target in planned:  # an input, or another photo's output
            why = "an input" if target in inputs else "another photo's output"
            summary.failed.append((path, f"its output {output} would overwrite {why}"))
            report(f"failed {path}: its output {output} would overwrite {why}; use another "
                   "output folder (-o) or rename the photo.")  # fmt: skip
            continue
        planned.add(target)
        try:
            recipe = make_recipe(settings, path, styles, {"output": os.fspath(output)})
            if recipe_matches(output, recipe):
                summary.skipped.append(path)
                report(f"skipped {path}: {output} is done")
                continue
            content = imgs.load_image(path)
        except NSTError as err:
            summary.failed.append((path, str(err)))
            report(f"failed {path}: {err}")
            continue
        pending.append((ImageJob(len(pending), content, style_imgs, settings), output, recipe))

    def land(outcome) -> None:
        index, result, error = outcome
        _, output, recipe = pending[index]
        if error is not None:
            summary.failed.append((Path(recipe["inputs"]["content"]["path"]), error))
            report(f"failed {recipe['inputs']['content']['path']}: {error}")
            return
        if result.stopped == "interrupted":  # keep its best image, marked: the next run redoes it
            summary.interrupted = True
            _keep_interrupted(result, output, recipe, report)
            raise KeyboardInterrupt
        recipe["options"].update((result.recipe or {}).get("options", {}))  # e.g. the tile plan
        try:
            result.save(output, recipe)
        except (OSError, NSTError) as err:  # this photo fails; the batch goes on
            summary.failed.append((Path(recipe["inputs"]["content"]["path"]), str(err)))
            report(f"failed {recipe['inputs']['content']['path']}: can't write {output} ({err})")
            return
        summary.done.append(output)
        report(f"done {recipe['inputs']['content']['path']} -> {output}: {result.summary()}")

    try:
        if ray is None:
            from nst_helpers.core.optimize import matching_extractor

            extractor = matching_extractor(extractor, settings) if pending else None
            for job, _, _ in pending:
                land(stylize_job(extractor, job, callbacks))
        elif pending:
            from nst_helpers.scale.distributed import Workers

            with Workers(settings, ray, workers) as pool:
                pool.map(stylize_job, [job for job, _, _ in pending], land)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - started
    return summary


def _keep_interrupted(result, output: Path, recipe: dict, report: Callable[[str], None]) -> None:
    """Saves an interrupted image's best result, its recipe marked "stopped", so the next run
    redoes it; never over a finished output (an earlier run's), nor before its first step."""
    from nst_helpers.runs.recipe import read_recipe

    photo = recipe["inputs"]["content"]["path"]
    if result.steps_done == 0:
        return
    if output.exists():
        try:
            finished = "stopped" not in read_recipe(output)
        except NSTError:  # no recipe of ours: someone's file, never overwritten half done
            finished = True
        if finished:
            report(f"interrupted {photo}: not saved, {output} holds an earlier result; run again")
            return
    try:
        result.save(output, {**recipe, "stopped": "interrupted"})
        report(f"interrupted {photo}: its best image so far is in {output}; run again to finish it")
    except (OSError, NSTError) as err:
        report(f"interrupted {photo}: can't write {output} ({err})")


def run_folder(args, settings: Settings, term) -> int:
    """`nst photos/ painting.jpg -o out/`: the CLI's folder run (`term`: its `Terminal`);
    returns the exit code (0 all done or skipped, 1 some failed, 130 interrupted)."""
    output = Path(args.output)
    if args.output == "stylized.png" or output.suffix.lower() in imgs.SAVE_FORMATS:
        raise NSTError(
            f"'{args.content}' is a folder, not an image file: to stylize every image in it, "
            f"-o must name an output folder, e.g. -o out/ (got {args.output!r})."
        )
    for option in ("mask", "sweep", "gif", "save_every"):
        if getattr(args, option, None):
            raise NSTError(
                f"--{option.replace('_', '-')} can't be combined with a folder of photos yet: "
                "run those images one by one."
            )
    if Path(args.content).resolve() == output.resolve():
        raise NSTError("the output folder is the photo folder: choose another folder with -o.")
    report = (lambda line: None) if args.quiet else (lambda line: term.note(line, prefix=""))
    summary = stylize_folder(args.content, args.style, output, settings.replace(preview_every=0),
                             ray=args.ray, workers=args.workers, report=report)  # fmt: skip
    term.say(f"{output}: {summary.line()}")
    if summary.interrupted:
        return 143 if term.terminated else 130  # SIGTERM or Ctrl-C, as for one image
    return 1 if summary.failed else 0
