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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `nst` (also used to document the options)."""
    from nst_helpers.settings import INITS, Settings

    d = Settings.__dataclass_fields__
    parser = argparse.ArgumentParser(
        prog="nst",
        description="Neural style transfer: repaint CONTENT in the style of STYLE (Gatys et al.).",
        epilog="Offline? Use a local weights file: --arch vgg16 --weights path/to/vgg16.weights.h5",
    )
    parser.add_argument("content", help="the photo to repaint")
    parser.add_argument("style", help="the painting whose style to use")
    parser.add_argument(
        "-o",
        "--output",
        default="stylized.png",
        help="output image, .png/.jpg/.webp (default: %(default)s)",
    )
    parser.add_argument(
        "--arch",
        default=d["arch"].default,
        choices=["vgg16", "vgg19"],
        help="network (default: %(default)s)",
    )
    parser.add_argument(
        "--weights",
        default=os.environ.get("NST_WEIGHTS", "imagenet"),
        help="'imagenet' (downloads once), a Keras include_top=False weights file, "
        "or 'none' (random, for testing); default: $NST_WEIGHTS or imagenet",
    )
    parser.add_argument(
        "--max-dim",
        "--size",
        dest="max_dim",
        type=int,
        default=d["max_dim"].default,
        help="long side in pixels (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=d["steps"].default,
        help="optimisation steps (default: %(default)s)",
    )
    parser.add_argument(
        "--content-weight",
        type=float,
        default=d["content_weight"].default,
        help="alpha, weight of the content loss (default: %(default)s)",
    )
    parser.add_argument(
        "--style-weight",
        type=float,
        default=d["style_weight"].default,
        help="beta, weight of the style loss (default: %(default)s)",
    )
    parser.add_argument(
        "--tv-weight",
        type=float,
        default=d["tv_weight"].default,
        help="weight of the total-variation loss (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=d["lr"].default,
        help="Adam learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--init",
        choices=INITS,
        default=d["init"].default,
        help="start image (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=d["seed"].default,
        help="seed for --init noise (default: %(default)s)",
    )
    parser.add_argument(
        "--style-scale",
        type=float,
        default=d["style_scale"].default,
        help="style image size relative to the output (default: %(default)s)",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also save a numbered snapshot every N steps (default: off)",
    )
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


def _run(args: argparse.Namespace) -> int:
    # Quiet TensorFlow's start-up logging before it is first imported (the CLI owns the process).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from nst_helpers.images import load_image, output_format, save_image
    from nst_helpers.optimize import NonFiniteLossError, Settings, stylize

    if args.save_every < 0:
        raise NSTError(
            f"--save-every must be 0 (off) or a positive number of steps, got {args.save_every}."
        )
    settings = Settings(
        arch=args.arch,
        weights=None if args.weights == "none" else args.weights,
        max_dim=args.max_dim,
        steps=args.steps,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        lr=args.lr,
        init=args.init,
        seed=args.seed,
        style_scale=args.style_scale,
        preview_every=args.save_every,
    )
    output = Path(args.output)
    output_format(output)
    _refuse_overwriting_inputs(output, [Path(args.content), Path(args.style)])
    content, style = load_image(args.content), load_image(args.style)
    from nst_helpers.images import ensure_writable_dir

    ensure_writable_dir(output.parent)

    callbacks = []
    if args.save_every:
        callbacks.append(_snapshot_saver(output, save_image))
    from nst_helpers.display import ProgressBar

    with ProgressBar(desc=output.name, disable=args.quiet) as bar:
        try:
            result = stylize(content, style, settings, callbacks=[bar, *callbacks])
        except NonFiniteLossError as err:
            bar.close()
            save_image(err.result.best_image, output)
            print(f"nst: error: {err} Saved it to {output}.", file=sys.stderr)
            return EXIT_NON_FINITE
    save_image(result.best_image, output)
    print(
        f"wrote {output} ({result.best_image.width}x{result.best_image.height}): {result.summary()}"
    )
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


def _snapshot_saver(output: Path, save_image):
    def save(event) -> None:
        if event.image is not None and event.step < event.steps:
            save_image(
                event.image, output.with_name(f"{output.stem}_{event.step:05d}{output.suffix}")
            )

    return save


if __name__ == "__main__":
    sys.exit(main())
