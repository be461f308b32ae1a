"""The `nst` command: style transfer from the terminal, with a progress bar and clear errors."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from nst_helpers import __version__
from nst_helpers.errors import NSTError

EXIT_BAD_INPUT = 1
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130

# Options that set a Settings field: (flags, field, type, help). Their defaults come from Settings
# (or the preset), so the CLI and the API can never disagree.
SETTING_OPTIONS = [
    (("--arch",), "arch", str, "network: vgg16 or vgg19"),
    (("--max-dim", "--size"), "max_dim", int, "long side of the result in pixels"),
    (("--steps",), "steps", int, "optimisation steps (L-BFGS: function evaluations)"),
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
    (("--pyramid",), "pyramid", "flag", "optimise the image at several scales: fewer steps"),
]


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(value) for value in text.split(",") if value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.7,0.3, got {text!r}"
        ) from None


_TYPES = {"names": _names, "numbers": _numbers}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nst` (also used to document the options)."""
    from nst_helpers.settings import PRESETS, Settings

    defaults = Settings()
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
    parser.add_argument("--preset", choices=PRESETS, help="a named bundle of the options below "
                        "(fast: L-BFGS on an image pyramid, bfloat16 if it helps)")  # fmt: skip
    for flags, name, kind, text in SETTING_OPTIONS:
        default = getattr(defaults, name)
        if isinstance(default, tuple):
            default = ",".join(map(str, default))
        if kind == "flag":  # --pyramid / --no-pyramid, so a preset's choice can be undone
            kwargs = {"action": argparse.BooleanOptionalAction}
            default = "on" if default else "off"
        else:
            kwargs = {"type": _TYPES.get(kind, kind)}
        parser.add_argument(
            *flags,
            dest=name,
            default=argparse.SUPPRESS,
            help=f"{text} (default: {default})",
            **kwargs,
        )
    parser.add_argument("--mask", help="style only where this image is white (soft edge)")
    parser.add_argument("--sweep", metavar="NAME=V1,V2,...", help="run one variant per value of "
                        "content-weight, style-weight or tv-weight as one batch; writes each "
                        "image and a labelled contact sheet")  # fmt: skip
    parser.add_argument("--save-every", type=int, default=0, metavar="N",
                        help="also save a snapshot every N steps (default: off)")  # fmt: skip
    parser.add_argument("--gif", metavar="PATH", help="save an animation of the optimisation")
    parser.add_argument("--gif-every", type=int, default=10, metavar="N",
                        help="steps between GIF frames (default: %(default)s)")  # fmt: skip
    parser.add_argument("--recipe", metavar="PNG", help="print the recipe embedded in a result")
    parser.add_argument("--rerun", metavar="PNG", help="run again from a result's recipe")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs `nst`; returns the exit code (0 success, 1 bad input, 3 diverged, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.recipe or args.rerun) and not (args.content and args.style):
        parser.error("the following arguments are required: content, style")
    try:
        if args.recipe:
            return _print_recipe(args.recipe)
        return _run(args)
    except NSTError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def settings_from_args(args: argparse.Namespace):
    """The Settings for parsed arguments: the preset (if any), then the options given."""
    from nst_helpers.settings import Settings

    given = {name: getattr(args, name) for _, name, _, _ in SETTING_OPTIONS if hasattr(args, name)}
    given["weights"] = None if args.weights == "none" else args.weights
    if args.save_every < 0:
        raise NSTError(
            f"--save-every must be 0 (off) or a positive number of steps, got {args.save_every}."
        )
    return Settings.preset(args.preset, **given) if args.preset else Settings(**given)


def _run(args: argparse.Namespace) -> int:
    # Quiet TensorFlow's start-up logging before it is first imported (the CLI owns the process).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nst_helpers import images

    if args.rerun:
        return _rerun(args)
    settings = settings_from_args(args)
    output = Path(args.output)
    images.output_format(output)
    files = [args.content, *args.style] + ([args.mask] if args.mask else [])
    _refuse_overwriting_inputs(output, [Path(path) for path in files])
    content = images.load_image(args.content)  # fail fast on a bad file, before TensorFlow
    for path in files[1:]:
        images.load_image(path)
    images.ensure_writable_dir(output.parent)
    inputs = (args.content, args.style, args.mask)
    if args.sweep:
        return _run_sweep(args, settings, inputs, output)
    return _stylize_and_save(args, settings, inputs, content.size, output)


def _stylize_and_save(args, settings, inputs, size, output: Path, recipe=None) -> int:
    """Runs `stylize` with progress, snapshots and GIF; saves the best image with its recipe.

    `inputs` are the (content, styles, mask) files, `size` the content image's (width, height);
    `recipe` replaces the run's own (a rerun keeps the original, so its file is the same).
    """
    from nst_helpers.display import ProgressBar
    from nst_helpers.images import scaled_size
    from nst_helpers.memory import available_memory, estimate_memory
    from nst_helpers.optimize import stylize
    from nst_helpers.run import NonFiniteLossError

    content, styles, mask = inputs
    width, height = scaled_size(size, settings.max_dim)
    if not args.quiet:
        free = available_memory()
        print(
            f"{width}x{height} px, {settings.arch.upper()}, {settings.optimizer}"
            + (" on an image pyramid" if settings.pyramid else "")
            + f", levels {settings.levels()}: needs about "
            f"{estimate_memory(settings, width, height) / 2**30:.1f} GiB of memory"
            + (f" ({free / 2**30:.1f} GiB available)" if free else ""),
            file=sys.stderr,
        )
    callbacks = [_snapshot_saver(output, args.save_every)] if args.save_every else []
    recorder = None
    if args.gif:
        from nst_helpers.animation import GifRecorder

        if not str(args.gif).lower().endswith(".gif"):
            raise NSTError(f"--gif needs a file name ending in .gif, got '{args.gif}'.")
        recorder = GifRecorder(every=args.gif_every)  # checks --gif-every is positive
        callbacks.append(recorder)
    every = [n for n in (args.save_every, args.gif_every if args.gif else 0) if n]
    settings = settings.replace(preview_every=math.gcd(*every) if every else 0)
    with ProgressBar(desc=output.name, disable=args.quiet) as bar:
        try:
            result = stylize(content, styles, settings, mask=mask, callbacks=[bar, *callbacks])
        except NonFiniteLossError as err:
            bar.close()
            err.result.save(output, recipe)
            print(f"nst: error: {err} Saved it to {output}.", file=sys.stderr)
            return EXIT_NON_FINITE
    result.save(output, recipe)
    if recorder is not None:
        recorder.add_frame(result.best_image)  # the final look, after color preservation
        recorder.save(args.gif)
    size = f"{result.best_image.width}x{result.best_image.height}"
    print(f"wrote {output} ({size}): {result.summary()}")
    if result.stopped == "interrupted":
        print("nst: interrupted; the best image so far was saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run_sweep(args, settings, inputs, output: Path) -> int:
    from nst_helpers.animation import contact_sheet
    from nst_helpers.display import ProgressBar
    from nst_helpers.images import save_image
    from nst_helpers.sweep import parse_sweep, sweep

    content, styles, mask = inputs
    if mask:
        raise NSTError(
            "--sweep and --mask can't be combined yet: run the masked variants one by one."
        )
    name, values = parse_sweep(args.sweep)
    label = name.replace("_", "-")
    with ProgressBar(desc=f"{output.name} sweep", disable=args.quiet) as bar:
        results = sweep(content, styles, settings, name, values, callbacks=[bar])
    labels = [f"{label} {value:g}" for value in values]
    for result, value in zip(results, values, strict=True):
        result.save(output.with_name(f"{output.stem}_{label}_{value:g}{output.suffix}"))
    save_image(contact_sheet([r.best_image for r in results], labels), output)
    seconds = results[0].seconds["optimize"]
    print(f"wrote {output} (contact sheet) and {len(results)} images: {len(results)} variants of "
          f"{label} in one batch, {results[0].steps_done} steps in {seconds:.1f} s")  # fmt: skip
    return EXIT_INTERRUPTED if results[0].stopped == "interrupted" else 0


def _refuse_overwriting_inputs(output: Path, inputs: list[Path]) -> None:
    for source in inputs:
        same = output.resolve() == source.resolve()
        if not same and output.exists() and source.exists():
            same = os.path.samefile(output, source)
        if same:
            raise NSTError(
                f"the output '{output}' is the input image '{source}': refusing to overwrite it. "
                "Choose another output name with -o."
            )


def _snapshot_saver(output: Path, every: int):
    from nst_helpers.images import save_image

    def save(event) -> None:
        if event.image is not None and event.step % every == 0 and event.step < event.steps:
            name = f"{output.stem}_{event.step:05d}{output.suffix}"
            save_image(event.image, output.with_name(name))

    return save


def _print_recipe(path: str) -> int:
    from nst_helpers.recipe import read_recipe

    print(json.dumps(read_recipe(path), indent=2))
    return 0


def _rerun(args: argparse.Namespace) -> int:
    """Runs again from the recipe in a result PNG, refusing if an input changed."""
    from nst_helpers import images
    from nst_helpers.recipe import check_inputs, input_paths, read_recipe, settings_from_recipe

    recipe = read_recipe(args.rerun)
    problems = check_inputs(recipe)
    if problems:
        raise NSTError(f"can't rerun '{args.rerun}': {' '.join(problems)}")
    settings = settings_from_recipe(recipe)
    paths = input_paths(recipe)
    source = Path(args.rerun)
    output = source.with_name(f"{source.stem}_rerun.png") if args.output == "stylized.png" else (
        Path(args.output))  # fmt: skip
    images.output_format(output)
    inputs = [source, paths["content"], *paths["styles"]]
    _refuse_overwriting_inputs(output, inputs + ([paths["mask"]] if paths["mask"] else []))
    content = images.load_image(paths["content"])
    for path in [*paths["styles"], *([paths["mask"]] if paths["mask"] else [])]:
        images.load_image(path)
    images.ensure_writable_dir(output.parent)
    inputs = (paths["content"], paths["styles"], paths["mask"])
    # The same recipe goes into the new file: same inputs and settings give the same bytes.
    return _stylize_and_save(args, settings, inputs, content.size, output, recipe)


if __name__ == "__main__":
    sys.exit(main())
