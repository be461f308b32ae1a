"""The `nst` command: style transfer from the terminal, with a progress bar and clear errors.

`main` is one guarded entry point: every expected failure (bad input, Ctrl-C, SIGTERM, a closed
or full stdout, an unwritable output) ends as one line on stderr and an exit code, never a
traceback; a result made before a failure is kept (under a safe name if its own can't be
written). Every output is planned and checked against every input first
(`nst_helpers.files.outputs`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

from nst_helpers.cli.options import SETTING_OPTIONS, build_parser, settings_from_args
from nst_helpers.cli.terminal import Terminal, import_tensorflow_quietly, printable
from nst_helpers.errors import NSTError

EXIT_BAD_INPUT = 1
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a Unix tool killed by it reports
EXIT_TERMINATED = 143  # 128 + SIGTERM


def main(argv: list[str] | None = None) -> int:
    """Runs `nst`; returns the exit code (see the README's table: 0 done, 1 bad input, 2 usage,
    3 diverged, 130 Ctrl-C, 141 closed output pipe, 143 SIGTERM)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.recipe or args.rerun) and not (args.content and args.style):
        parser.error("the following arguments are required: content, style")
    with Terminal() as term:
        try:
            if args.recipe:
                from nst_helpers.runs.recipe import read_recipe

                # (json.dumps escapes every control character and non-ASCII letter in names)
                term.say(json.dumps(read_recipe(args.recipe), indent=2))
                return term.exit_code(0)
            return term.exit_code(_run(args, term))
        except NSTError as err:
            term.error(str(err))
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:  # outside the loop (which stops on it and keeps its image)
            if term.written:
                term.error(f"interrupted after writing {', '.join(map(str, term.written))}.")
            else:
                term.error("interrupted before the result was saved: nothing was written.")
            return EXIT_TERMINATED if term.terminated else EXIT_INTERRUPTED
        except BrokenPipeError:
            term.close_stdout()
            return EXIT_BROKEN_PIPE
        except MemoryError:
            term.error("out of memory: use a smaller --max-dim or --style-scale, or free memory.")
            return EXIT_BAD_INPUT
        except OSError as err:  # e.g. a name too long or a disk full while writing
            where = f": '{os.fsdecode(err.filename)}'" if err.filename else ""
            term.error(f"{err.strerror or err}{where}. Check the path, its length and the free "
                       "space.")  # fmt: skip
            return EXIT_BAD_INPUT


def _run(args: argparse.Namespace, term: Terminal) -> int:
    from nst_helpers.files import images
    from nst_helpers.files.outputs import check_outputs, lock_outputs, plan_outputs, variant_path

    if args.rerun:
        settings, inputs, recipe, output, sources = _rerun_plan(args)
    else:
        settings = settings_from_args(args)
        if Path(args.content).is_dir():  # a folder of photos: nst photos/ painting.jpg -o out/
            from nst_helpers.folder import run_folder

            import_tensorflow_quietly()
            return run_folder(args, settings, term)
        output, recipe = Path(args.output), None
        inputs = (args.content, args.style, args.mask)
        sources = [("content image", args.content)]
        sources += [("style image", path) for path in args.style]
        sources += [("mask", args.mask)] if args.mask else []
    images.output_format(output)
    gif = Path(args.gif) if args.gif else None
    if gif is not None and gif.suffix.lower() != ".gif":
        raise NSTError(f"--gif needs a file name ending in .gif, got '{args.gif}'.")
    variants, sweep = [], None
    if args.sweep:
        sweep = _sweep_plan(args)
        variants = [variant_path(output, sweep[1], value) for value in sweep[2]]

    def outputs(steps: int):
        return plan_outputs(output, what="rerun output (-o)" if args.rerun else "output (-o)",
                            gif=gif, snapshot_every=args.save_every, steps=steps,
                            variants=variants)  # fmt: skip

    plan = outputs(settings.max_steps())
    if settings.weights_file not in (None, "imagenet"):
        sources.append(("weights file", settings.weights_file))
    check_outputs(plan, sources)
    loaded = _load_inputs(inputs)  # each file decoded once, here: a bad one fails before TF
    run_plan = None
    if sweep is None:
        import_tensorflow_quietly()  # before the package imports it; the plan asks it for a GPU
        from nst_helpers.api import plan_run

        run_plan = plan_run(loaded[0], loaded[1], settings, mask=loaded[2])
        if args.save_every and not args.rerun and run_plan.tiles is not None:  # name them all
            plan = outputs(run_plan.steps)
            check_outputs(plan, sources)
    _prepare_folders(plan, args.quiet, term)
    with lock_outputs([path for _, path in plan.files]):
        import_tensorflow_quietly()
        if sweep is not None:
            return _run_sweep(args, settings, loaded, output, sweep, term)
        return _stylize_and_save(args, run_plan, output, term, recipe)


def _load_inputs(inputs: tuple) -> tuple:
    """The (content, styles, mask) files, each decoded once (`files.images.Loaded`)."""
    from nst_helpers.files.images import load

    content, styles, mask = inputs
    mask = None if mask is None else load(mask, "mask")
    return load(content, "content"), [load(path, "style") for path in styles], mask


def _prepare_folders(plan, quiet: bool, term: Terminal) -> None:
    from nst_helpers.files.images import ensure_writable_dir
    from nst_helpers.files.outputs import remove_stale_temporaries

    for folder in plan.folders():
        ensure_writable_dir(folder)
        names = [path.name for _, path in plan.files if path.parent == folder]
        removed = remove_stale_temporaries(folder, names)
        if removed and not quiet:
            term.note(f"removed {removed} temporary file(s) an interrupted run left in '{folder}'.")


def _stylize_and_save(args, run_plan, output: Path, term, recipe=None) -> int:
    """Runs `stylize` on the run's plan with progress, snapshots and GIF; saves the best image
    with its recipe (`recipe` replaces the run's own: a rerun keeps the original, so its file
    is the same)."""
    from nst_helpers.api import stylize
    from nst_helpers.runs.run import NonFiniteLossError
    from nst_helpers.show.display import ProgressBar

    if not args.quiet:  # the memory estimate, or the tile plan when the whole image won't fit
        term.note(run_plan.describe(), prefix="", newlines=True)
    callbacks = [_snapshot_saver(output, args.save_every, term)] if args.save_every else []
    recorder = None
    if args.gif:
        from nst_helpers.show.animation import GifRecorder

        recorder = GifRecorder(every=args.gif_every)  # checks --gif-every is positive
        callbacks.append(recorder)
    every = [n for n in (args.save_every, args.gif_every if args.gif else 0) if n]
    settings = run_plan.settings.replace(preview_every=math.gcd(*every) if every else 0)
    run_plan = dataclasses.replace(run_plan, settings=settings)  # previews don't change the plan
    with ProgressBar(desc=printable(output.name), disable=args.quiet) as bar:
        try:
            result = stylize(run_plan.content, run_plan.styles, settings, mask=run_plan.mask,
                             callbacks=[bar, *callbacks], ray=args.ray, workers=args.workers,
                             plan=run_plan)  # fmt: skip
        except NonFiniteLossError as err:
            bar.close()
            kept = err.result
            where = term.keep(lambda path: kept.save(path, recipe), output)
            term.error(f"{err} Saved it to {where}.")
            return EXIT_NON_FINITE
    term.keep(lambda path: result.save(path, recipe), output)
    if recorder is not None:
        recorder.add_frame(result.best_image)  # the final look, after color preservation
        term.keep(recorder.save, Path(args.gif))
    size = f"{result.best_image.width}x{result.best_image.height}"
    term.say(f"wrote {output} ({size}): {result.summary()}")
    if result.stopped == "interrupted" or term.interrupted:
        term.error("interrupted; the best image so far was saved.")
        return EXIT_TERMINATED if term.terminated else EXIT_INTERRUPTED
    return 0


def _sweep_plan(args) -> tuple:
    from nst_helpers.sweeps import parse_sweep

    if args.gif or args.save_every:
        raise NSTError(
            "--sweep writes one image per value and a contact sheet, without --gif or "
            "--save-every: drop those, or run the variants one by one."
        )
    name, values = parse_sweep(args.sweep)
    return name, name.replace("_", "-"), values


def _run_sweep(args, settings, inputs, output: Path, sweep_plan, term) -> int:
    from nst_helpers.files.images import save_image
    from nst_helpers.files.outputs import variant_path
    from nst_helpers.show.animation import contact_sheet
    from nst_helpers.show.display import ProgressBar
    from nst_helpers.sweeps import sweep

    content, styles, mask = inputs
    name, label, values = sweep_plan
    with ProgressBar(desc=f"{printable(output.name)} sweep", disable=args.quiet) as bar:
        results = sweep(content, styles, settings, name, values, mask=mask, callbacks=[bar])
    stopped_early = len(results) < len(values)  # Ctrl-C or SIGTERM between two runs
    values = values[: len(results)]
    labels = [f"{label} {value:g}" for value in values]
    for result, value in zip(results, values, strict=True):
        term.keep(result.save, variant_path(output, label, value))
    sheet = contact_sheet([r.best_image for r in results], labels)
    term.keep(lambda path: save_image(sheet, path), output)
    seconds = sum(r.seconds["optimize"] for r in results)
    steps = sum(r.steps_done for r in results)
    term.say(f"wrote {output} (contact sheet) and {len(results)} images: {len(results)} variants "
             f"of {label}, {steps} steps in {seconds:.1f} s")  # fmt: skip
    interrupted = results[-1].stopped == "interrupted" or term.interrupted or stopped_early
    if not interrupted:
        return 0
    return EXIT_TERMINATED if term.terminated else EXIT_INTERRUPTED


def _snapshot_saver(output: Path, every: int, term: Terminal):
    from nst_helpers.files.images import save_image
    from nst_helpers.files.outputs import snapshot_path

    failed = []

    def save(event) -> None:
        if failed or event.image is None or event.step % every or event.step >= event.steps:
            return
        path = snapshot_path(output, event.step)
        try:
            save_image(event.image, path)
        except (OSError, NSTError) as err:  # a snapshot must never cost the run
            failed.append(path)
            term.note(f"could not write the snapshot '{path}' ({_reason(err)}); the run goes "
                      "on without snapshots.")  # fmt: skip

    return save


def _reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err)


def _rerun_plan(args: argparse.Namespace):
    """The settings, inputs, recipe, output and input list of `nst --rerun PNG`."""
    from nst_helpers.runs.recipe import read_recipe
    from nst_helpers.runs.rerun import check_inputs, rerun_inputs, settings_from_recipe

    given = [flags[0] for flags, name, _, _ in SETTING_OPTIONS if hasattr(args, name)]
    given += ["CONTENT/STYLE"] if args.content or args.style else []
    given += ["--preset"] if args.preset else []
    given += ["--sweep"] if args.sweep else []
    if given:
        raise NSTError(
            f"--rerun takes its images and settings from the recipe, so {', '.join(given)} "
            "can't be changed: drop them (or run nst with the recipe's inputs and new options)."
        )
    source = Path(args.rerun)
    recipe = read_recipe(source)
    paths = rerun_inputs(recipe, source, trust_paths=args.trust_recipe_paths)
    problems = check_inputs(recipe, paths=paths)
    if problems:
        raise NSTError(f"can't rerun '{args.rerun}': {' '.join(problems)}")
    settings = settings_from_recipe(recipe)
    if paths["weights"] not in (None, "imagenet"):
        settings = settings.replace(weights_file=os.fspath(paths["weights"]))
    output = source.with_name(f"{source.stem}_rerun.png") if args.output == "stylized.png" else (
        Path(args.output))  # fmt: skip
    inputs = (paths["content"], paths["styles"], paths["mask"])
    sources = [("recipe PNG (--rerun)", source), ("content image", paths["content"])]
    sources += [("style image", path) for path in paths["styles"]]
    sources += [("mask", paths["mask"])] if paths["mask"] else []
    # The same recipe goes into the new file: same inputs and settings give the same bytes. A
    # folder run's interrupted image is marked so; its rerun runs to the end, so drops the mark.
    recipe = {key: value for key, value in recipe.items() if key != "stopped"}
    return settings, inputs, recipe, output, sources


if __name__ == "__main__":
    sys.exit(main())
