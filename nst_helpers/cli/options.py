"""The `nst` command's options: every Settings field as a flag, its default read from Settings
(or the CLI's preset), so the CLI and the API can never disagree."""

from __future__ import annotations

import argparse
import os

from nst_helpers._version import __version__
from nst_helpers.errors import NSTError

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
    (("--style-loss",), "style_loss", str, "the style loss, one of:"),  # + the registry's list
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
    from nst_helpers.core.style_losses import STYLE_LOSSES
    from nst_helpers.runs.presets import CLI_PRESET, PRESETS
    from nst_helpers.runs.settings import Settings

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
        "--weights-file",
        "--weights",
        dest="weights",
        default=os.environ.get("NST_WEIGHTS", "imagenet"),
        help="'imagenet' (downloads once), a Keras include_top=False weights file, "
        "or 'none' (random, for testing); default: $NST_WEIGHTS or imagenet",
    )
    parser.add_argument("--preset", choices=PRESETS, help=f"a named bundle of the options below "
                        f"(default {CLI_PRESET}: L-BFGS on an image pyramid, bfloat16 if it helps, "
                        f"style weight {defaults.style_weight:g}; tutorial: the notebook's Adam "
                        "loop)")  # fmt: skip
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
        if name == "style_loss":  # the choices and what each is, from the registry
            help_text = (
                f"{text} "
                + "; ".join(f"{loss.name}: {loss.summary}" for loss in STYLE_LOSSES.values())
                + f" (default: {default})"
            )
        parser.add_argument(*flags, dest=name, default=argparse.SUPPRESS, help=help_text, **kwargs)
    parser.add_argument("--mask", help="style only where this image is white; where it is "
                        "black the result stays the photo (soft edge); any optimizer")  # fmt: skip
    parser.add_argument(
        "--ray", metavar="auto|ADDRESS", help="a folder's images or a tiled run's tiles on Ray"
    )
    parser.add_argument("--workers", type=int, help="Ray workers (default: one per CPU)")
    parser.add_argument("--sweep", metavar="NAME=V1,V2,...", help="run one variant per value of "
                        "content-weight, style-weight or tv-weight; writes each image and a "
                        "labeled contact sheet")  # fmt: skip
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


def settings_from_args(args: argparse.Namespace):
    """The Settings for parsed arguments: the preset (or the default one), then the options."""
    from nst_helpers.runs.presets import CLI_PRESET
    from nst_helpers.runs.settings import Settings

    given = {name: getattr(args, name) for _, name, _, _ in SETTING_OPTIONS if hasattr(args, name)}
    given["weights_file"] = None if args.weights == "none" else args.weights
    if args.save_every < 0:
        raise NSTError(
            f"--save-every must be 0 (off) or a positive number of steps, got {args.save_every}."
        )
    return Settings.preset(args.preset or CLI_PRESET, **given)
