"""The `nst` command: style transfer from the terminal, with a progress bar and clear errors."""

from __future__ import annotations

import argparse
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
    (("--init",), "init", str, "start image: content or noise"),
    (("--seed",), "seed", int, "seed for --init noise"),
    (("--style-scale",), "style_scale", float, "style image size relative to the result"),
    (("--optimizer",), "optimizer", str, "adam (the tutorial's) or lbfgs"),
    (("--start-dim",), "start_dim", int, "coarse-to-fine: first level's size in pixels"),
    (("--precision",), "precision", str, "float32, bfloat16, float16 or auto"),
    (("--time-budget",), "time_budget", float, "seconds for the whole run"),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nst` (also used to document the options)."""
    from nst_helpers.settings import PRESETS, Settings

    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="nst",
        description="Neural style transfer: repaint CONTENT in the style of STYLE (Gatys et al.).",
        epilog="Offline? Use a local weights file: --arch vgg16 --weights path/to/vgg16.weights.h5",
    )
    parser.add_argument("content", help="the photo to repaint")
    parser.add_argument("style", help="the painting whose style to use")
    parser.add_argument("-o", "--output", default="stylized.png", help="output image, .png/.jpg/"
                        ".webp; missing folders are created (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--weights",
        default=os.environ.get("NST_WEIGHTS", "imagenet"),
        help="'imagenet' (downloads once), a Keras include_top=False weights file, "
        "or 'none' (random, for testing); default: $NST_WEIGHTS or imagenet",
    )
    parser.add_argument("--preset", choices=PRESETS, help="a named bundle of the options below "
                        "(fast: L-BFGS, coarse-to-fine, low precision where it helps)")  # fmt: skip
    for flags, name, kind, text in SETTING_OPTIONS:
        default = getattr(defaults, name)
        parser.add_argument(*flags, dest=name, type=kind, default=argparse.SUPPRESS,
                            help=f"{text} (default: {default})")  # fmt: skip
    parser.add_argument("--save-every", type=int, default=0, metavar="N",
                        help="also save a snapshot every N steps (default: off)")  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs `nst`; returns the exit code (0 success, 1 bad input, 3 diverged, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except NSTError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


def settings_from_args(args: argparse.Namespace):
    """The Settings for parsed arguments: the preset (if any), then the options given."""
    from nst_helpers.settings import Settings

    given = {name: getattr(args, name) for _, name, _, _ in SETTING_OPTIONS if hasattr(args, name)}
    given["weights"] = None if args.weights == "none" else args.weights
    given["preview_every"] = args.save_every
    if args.save_every < 0:
        raise NSTError(
            f"--save-every must be 0 (off) or a positive number of steps, got {args.save_every}."
        )
    return Settings.preset(args.preset, **given) if args.preset else Settings(**given)


def _run(args: argparse.Namespace) -> int:
    # Quiet TensorFlow's start-up logging before it is first imported (the CLI owns the process).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nst_helpers import images

    settings = settings_from_args(args)
    output = Path(args.output)
    images.output_format(output)
    _refuse_overwriting_inputs(output, [Path(args.content), Path(args.style)])
    content, style = images.load_image(args.content), images.load_image(args.style)
    images.ensure_writable_dir(output.parent)

    from nst_helpers.display import ProgressBar
    from nst_helpers.optimize import NonFiniteLossError, available_memory, estimate_memory, stylize

    width, height = images.scaled_size(content.size, settings.max_dim)
    if not args.quiet:
        free = available_memory()
        print(
            f"{width}x{height} px, {settings.arch.upper()}, {settings.optimizer}, "
            f"levels {settings.levels()}: needs about "
            f"{estimate_memory(settings, width, height) / 2**30:.1f} GiB of memory"
            + (f" ({free / 2**30:.1f} GiB available)" if free else ""),
            file=sys.stderr,
        )
    callbacks = [_snapshot_saver(output)] if args.save_every else []
    with ProgressBar(desc=output.name, disable=args.quiet) as bar:
        try:
            result = stylize(content, style, settings, callbacks=[bar, *callbacks])
        except NonFiniteLossError as err:
            bar.close()
            images.save_image(err.result.best_image, output)
            print(f"nst: error: {err} Saved it to {output}.", file=sys.stderr)
            return EXIT_NON_FINITE
    images.save_image(result.best_image, output)
    size = f"{result.best_image.width}x{result.best_image.height}"
    print(f"wrote {output} ({size}): {result.summary()}")
    if result.stopped == "interrupted":
        print("nst: interrupted; the best image so far was saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


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


def _snapshot_saver(output: Path):
    from nst_helpers.images import save_image

    def save(event) -> None:
        if event.image is not None and event.step < event.steps:
            name = f"{output.stem}_{event.step:05d}{output.suffix}"
            save_image(event.image, output.with_name(name))

    return save


if __name__ == "__main__":
    sys.exit(main())
