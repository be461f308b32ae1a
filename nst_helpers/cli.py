"""The `nst` command: style transfer from the terminal, with a progress bar and clear errors.

`main` is one guarded entry point: every expected failure (bad input, Ctrl-C, SIGTERM, a closed
or full stdout, an unwritable output) ends as one line on stderr and an exit code, never a
traceback; a result made before a failure is kept (under a safe name if its own can't be
written). Every output is planned and checked against every input first (`nst_helpers.outputs`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from nst_helpers import __version__
from nst_helpers.errors import NSTError
from nst_helpers.terminal import Terminal, import_tensorflow_quietly, printable

EXIT_BAD_INPUT = 1
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a Unix tool killed by it reports
EXIT_TERMINATED = 143  # 128 + SIGTERM

# Options that set a Settings field: (flags, field, type, help). Their defaults come from Settings
# (or the preset), so the CLI and the API can never disagree.
SETTING_OPTIONS = [
    (("--arch",), "arch", str, "network: vgg16 or vgg19"),
    (("--max-dim", "--size"), "max_dim", int, "long side of the result in pixels"),
    (("--steps",), "steps", int, "optimization steps (L-BFGS: function evaluations)"),
    (("--content-weight",), "content_weight", float, "alpha, weight of the content loss"),
    (("--style-weight",), "style_weight", float, "beta, weight of the style loss"),
    (("--tv-weight",), "tv_weight", float, "weight of the total-variation loss"),
    (("--lr",), "lr", float, "Adam learning rate, in [0, 1] pixel units"),
    (("--beta-1",), "beta_1", float, "Adam momentum: 0.9, or the tutorial's 0.99 for 1000 steps"),
    (("--init",), "init", str, "start image: content or noise"),
    (("--seed",), "seed", int, "seed for --init noise"),
    (("--style-scale",), "style_scale", float, "style image size relative to the result"),
    (("--optimizer",), "optimizer", str, "adam (the tutorial's) or lbfgs"),
    (("--start-dim",), "start_dim", int, "coarse-to-fine: first level's size in pixels"),
    (("--precision",), "precision", str, "float32, bfloat16, float16 or auto"),
    (("--time-budget",), "time_budget", float, "seconds for the whole run"),
    (("--content-layers",), "content_layers", "names", "content layers, comma-separated"),
    (("--style-layers",), "style_layers", "names", "style layers, comma-separated"),
    (("--style-layer-weights",), "style_layer_weights", "numbers", "one weight per style layer"),
    (("--style-blend",), "style_blend", "numbers", "weights of several style images, e.g. 0.7,0.3"),
    (("--pooling",), "pooling", str, "max (as trained) or avg (smoother)"),
    (("--ema",), "ema", float, "moving average of the Adam iterates, e.g. 0.95 (0: off)"),
    (("--preserve-colors",), "preserve_colors", str, "none, luminance or histogram"),
    (("--pyramid",), "pyramid", "flag", "optimize the image at several scales: fewer steps"),
    (("--memory-limit",), "memory_limit", float, "GiB the run may use; larger runs go in tiles"),
    (("--tile-size",), "tile_size", int, "tiled runs: long side of a tile in pixels"),
    (("--tile-overlap",), "tile_overlap", int, "tiled runs: pixels neighboring tiles share"),
    (("--tile-steps",), "tile_steps", int, "tiled runs: steps of each tile"),
    (("--jit-compile",), "jit_compile", "flag", "compile each step with XLA (slower on CPUs)"),
]


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(value) for value in text.split(",") if value.strip())
    except ValueError:
        message = f"expected comma-separated numbers such as 0.7,0.3, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


_TYPES = {"names": _names, "numbers": _numbers}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nst` (also used to document the options)."""
    from nst_helpers.presets import CLI_PRESET, PRESETS
    from nst_helpers.settings import Settings

    defaults = Settings.preset(CLI_PRESET)
    parser = argparse.ArgumentParser(
        prog="nst",
        description="Neural style transfer: repaint CONTENT in the style of STYLE (Gatys et al.).",
        epilog="Offline? Use a local weights file: --arch vgg16 --weights path/to/vgg16.weights.h5",
    )
    parser.add_argument("content", nargs="?", help="the photo to repaint")
    parser.add_argument("style", nargs="*", help="the painting(s) whose style to use")
    parser.add_argument("-o", "--output", default="stylized.png", help="output image, .png/.jpg/"
                        ".webp; missing folders are created (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--weights",
        default=os.environ.get("NST_WEIGHTS", "imagenet"),
        help="'imagenet' (downloads once), a Keras include_top=False weights file, "
        "or 'none' (random, for testing); default: $NST_WEIGHTS or imagenet",
    )
    parser.add_argument("--preset", choices=PRESETS, help=f"a named bundle of the options below "
                        f"(default {CLI_PRESET}: L-BFGS on an image pyramid, bfloat16 if it helps, "
                        f"style weight {defaults.style_weight:g}; tutorial: the notebook's Adam "
                        "loop, a sweep's default)")  # fmt: skip
    for flags, name, kind, text in SETTING_OPTIONS:
        default = getattr(defaults, name)
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        if kind == "flag":  # --pyramid / --no-pyramid, so a preset's choice can be undone
            kwargs = {"action": argparse.BooleanOptionalAction}
            default = "on" if default else "off"
        else:
            kwargs = {"type": _TYPES.get(kind, kind)}
        help_text = f"{text} (default: {default})"
        parser.add_argument(*flags, dest=name, default=argparse.SUPPRESS, help=help_text, **kwargs)
    parser.add_argument("--mask", help="style only where this image is white; where it is "
                        "black the result stays the photo (soft edge); any optimizer")  # fmt: skip
    parser.add_argument(
        "--ray", metavar="auto|ADDRESS", help="a folder's images or a tiled run's tiles on Ray"
    )
    parser.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    parser.add_argument("--sweep", metavar="NAME=V1,V2,...", help="run one variant per value of "
                        "content-weight, style-weight or tv-weight as one batch; writes each "
                        "image and a labeled contact sheet")  # fmt: skip
    parser.add_argument("--save-every", type=int, default=0, metavar="N",
                        help="also save a snapshot every N steps (default: off)")  # fmt: skip
    parser.add_argument("--gif", metavar="PATH", help="save an animation of the optimization")
    parser.add_argument("--gif-every", type=int, default=10, metavar="N",
                        help="steps between GIF frames (default: %(default)s)")  # fmt: skip
    parser.add_argument("--recipe", metavar="PNG", help="print the recipe embedded in a result")
    parser.add_argument("--rerun", metavar="PNG", help="run again from a result's recipe")
    parser.add_argument("--trust-recipe-paths", action="store_true", help="with --rerun: also "
                        "read input and weights files outside the PNG's folder, where its recipe "
                        "says (only for a recipe you made or trust)")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


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
                from nst_helpers.recipe import read_recipe

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


def settings_from_args(args: argparse.Namespace):
    """The Settings for parsed arguments: the preset (or the default one), then the options."""
    from nst_helpers.presets import CLI_PRESET, SWEEP_PRESET
    from nst_helpers.settings import Settings

    given = {name: getattr(args, name) for _, name, _, _ in SETTING_OPTIONS if hasattr(args, name)}
    given["weights"] = None if args.weights == "none" else args.weights
    if args.save_every < 0:
        raise NSTError(
            f"--save-every must be 0 (off) or a positive number of steps, got {args.save_every}."
        )
    preset = args.preset or (SWEEP_PRESET if args.sweep else CLI_PRESET)
    return Settings.preset(preset, **given)


def _run(args: argparse.Namespace, term: Terminal) -> int:
    from nst_helpers import images
    from nst_helpers.outputs import check_outputs, lock_outputs, plan_outputs, variant_path

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
    steps = settings.max_steps()
    if args.save_every and not args.rerun:  # a tiled run takes its plan's steps: name them all
        from nst_helpers.tiles import plan_for

        import_tensorflow_quietly()  # the plan asks TensorFlow for a GPU
        tiled = plan_for(inputs[0], settings)
        steps = sum(tiled.steps) if tiled is not None else steps
    plan = plan_outputs(output, what="rerun output (-o)" if args.rerun else "output (-o)",
                        gif=gif, snapshot_every=args.save_every, steps=steps,
                        variants=variants)  # fmt: skip
    if settings.weights not in (None, "imagenet"):
        sources.append(("weights file", settings.weights))
    check_outputs(plan, sources)
    content = images.load_image(inputs[0])  # fail fast on a bad file, before TensorFlow
    sizes = (content.size, [images.load_image(path).size for path in inputs[1]])
    if inputs[2]:
        images.load_image(inputs[2])
    _prepare_folders(plan, args.quiet, term)
    with lock_outputs([path for _, path in plan.files]):
        import_tensorflow_quietly()
        if sweep is not None:
            return _run_sweep(args, settings, inputs, output, sweep, term)
        return _stylize_and_save(args, settings, inputs, sizes, output, term, recipe)


def _prepare_folders(plan, quiet: bool, term: Terminal) -> None:
    from nst_helpers.images import ensure_writable_dir
    from nst_helpers.outputs import remove_stale_temporaries

    for folder in plan.folders():
        ensure_writable_dir(folder)
        names = [path.name for _, path in plan.files if path.parent == folder]
        removed = remove_stale_temporaries(folder, names)
        if removed and not quiet:
            term.note(f"removed {removed} temporary file(s) an interrupted run left in '{folder}'.")


def _stylize_and_save(args, settings, inputs, sizes, output: Path, term, recipe=None) -> int:
    """Runs `stylize` with progress, snapshots and GIF; saves the best image with its recipe.

    `inputs` are the (content, styles, mask) files, `sizes` (content size, [style sizes]) as loaded;
    `recipe` replaces the run's own (a rerun keeps the original, so its file is the same).
    """
    from nst_helpers.display import ProgressBar
    from nst_helpers.optimize import stylize
    from nst_helpers.run import NonFiniteLossError
    from nst_helpers.tiles import memory_note

    content, styles, mask = inputs
    if not args.quiet:  # the memory estimate, or the tile plan when the whole image won't fit
        term.note(memory_note(content, settings, *sizes), prefix="")
    callbacks = [_snapshot_saver(output, args.save_every, term)] if args.save_every else []
    recorder = None
    if args.gif:
        from nst_helpers.animation import GifRecorder

        recorder = GifRecorder(every=args.gif_every)  # checks --gif-every is positive
        callbacks.append(recorder)
    every = [n for n in (args.save_every, args.gif_every if args.gif else 0) if n]
    settings = settings.replace(preview_every=math.gcd(*every) if every else 0)
    with ProgressBar(desc=printable(output.name), disable=args.quiet) as bar:
        try:
            result = stylize(content, styles, settings, mask=mask, callbacks=[bar, *callbacks],
                             ray=args.ray, workers=args.workers)  # fmt: skip
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
    from nst_helpers.sweep import parse_sweep

    if args.gif or args.save_every:
        raise NSTError(
            "--sweep writes one image per value and a contact sheet, without --gif or "
            "--save-every: drop those, or run the variants one by one."
        )
    name, values = parse_sweep(args.sweep)
    return name, name.replace("_", "-"), values


def _run_sweep(args, settings, inputs, output: Path, sweep_plan, term) -> int:
    from nst_helpers.animation import contact_sheet
    from nst_helpers.display import ProgressBar
    from nst_helpers.images import save_image
    from nst_helpers.outputs import variant_path
    from nst_helpers.sweep import sweep

    content, styles, mask = inputs
    name, label, values = sweep_plan
    with ProgressBar(desc=f"{printable(output.name)} sweep", disable=args.quiet) as bar:
        results = sweep(content, styles, settings, name, values, mask=mask, callbacks=[bar])
    labels = [f"{label} {value:g}" for value in values]
    for result, value in zip(results, values, strict=True):
        term.keep(result.save, variant_path(output, label, value))
    sheet = contact_sheet([r.best_image for r in results], labels)
    term.keep(lambda path: save_image(sheet, path), output)
    seconds = results[0].seconds["optimize"]
    count, steps = len(results), results[0].steps_done
    term.say(f"wrote {output} (contact sheet) and {count} images: {count} variants of {label} "
             f"in one batch, {steps} steps in {seconds:.1f} s")  # fmt: skip
    interrupted = results[0].stopped == "interrupted" or term.interrupted
    if not interrupted:
        return 0
    return EXIT_TERMINATED if term.terminated else EXIT_INTERRUPTED


def _snapshot_saver(output: Path, every: int, term: Terminal):
    from nst_helpers.images import save_image
    from nst_helpers.outputs import snapshot_path

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
    from nst_helpers.recipe import read_recipe
    from nst_helpers.rerun import check_inputs, rerun_inputs, settings_from_recipe

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
        settings = settings.replace(weights=os.fspath(paths["weights"]))
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
