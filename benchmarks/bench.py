"""Speed and memory benchmark: how much sooner the library's modes reach the tutorial loop's loss.

Run from the repository root:

    python benchmarks/bench.py --setting quick   # 384 px, 300 plain steps: a few minutes
    python benchmarks/bench.py --setting full    # 512 px, 1000 plain steps: the headline numbers

It prints two tables and writes them to benchmarks/RESULTS.md (and the side-by-side image
benchmarks/side_by_side_<setting>.png):

1. Time to quality. The plain tutorial loop (Adam, lr 0.02, beta_1 0.99, at the full size,
   content init, clipped) runs N steps; its loss after N steps is the target. Each library mode
   then runs on the same pair, network, weights and objective until its image, evaluated at the
   full size in float32, reaches that loss. Evaluation time is not counted; all modes run side by
   side in one process on the same machine.
   A mode that has not reached the target after a quarter of the plain loop's time is stopped
   and reported without a time (it is then less than 4x faster).
2. Speed. Seconds per step at 256, 512 and 1024 px for VGG16 and VGG19 (random weights are fine
   for timing), float32 and bfloat16, the achieved GFLOP/s and each configuration's peak memory
   (each in its own process, so the peak is its own).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"
CONTENT = ROOT / "images" / "content" / "cat.jpg"
STYLE = ROOT / "images" / "style" / "swirl.jpg"
SETTINGS = {
    "smoke": {"max_dim": 128, "plain_steps": 30, "start_dim": 64},  # checks the script runs
    "quick": {"max_dim": 384, "plain_steps": 300, "start_dim": 192},
    "full": {"max_dim": 512, "plain_steps": 1000, "start_dim": 256},
}


# ---------------------------------------------------------------------------------------------
# 1. Time to quality
# ---------------------------------------------------------------------------------------------
def plain_tutorial_loop(content, style, settings, extractor):
    """The TensorFlow tutorial's loop on our objective: Adam(0.02, beta_1=0.99), clip, N steps.

    The tutorial's epsilon=0.1 is negligible next to its raw, huge gradients; our losses are
    scale-free with small gradients, so the equivalent (Adam invariant to the loss scale) is a
    tiny epsilon. Returns (losses per step, seconds per step cumulated, final image array).
    """
    import keras
    import tensorflow as tf

    from nst_helpers.images import image_to_tensor
    from nst_helpers.optimize import adam_step, compute_losses, make_targets, prepare_images

    content_img, style_img = prepare_images(content, style, settings)
    content_t = image_to_tensor(content_img)
    targets = make_targets(extractor, content_t, image_to_tensor(style_img))
    image = tf.Variable(content_t)
    optimizer = keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-8)

    @tf.function
    def step():
        return adam_step(
            image, optimizer, lambda x: compute_losses(extractor, x, *targets, settings)
        )

    losses, times, start = [], [], time.perf_counter()
    for _ in range(settings.steps):
        losses.append(float(step()["total"]))
        times.append(time.perf_counter() - start)
    final = compute_losses(extractor, image, *targets, settings)  # the image after N steps
    return losses, times, float(final["total"]), image.numpy()[0]


class TargetWatch:
    """A `stylize` callback: evaluates preview images at full size in float32, off the clock,
    and stops the run (as Ctrl-C would) once the target loss is reached."""

    def __init__(self, evaluate, target: float, final_level: int, give_up: float = math.inf):
        self.evaluate = evaluate
        self.give_up = give_up  # seconds: stop a mode that is clearly not going to win
        self.target = target
        self.final_level = final_level
        self.eval_seconds = 0.0
        self.reached: tuple[float, int, float] | None = None  # (seconds, step, loss)
        self.image = None
        self.trace: list[tuple[float, float]] = []
        self.steps: list[int] = []  # the step of each evaluation in `trace`

    def __call__(self, event) -> None:
        if event.elapsed - self.eval_seconds > self.give_up:
            raise KeyboardInterrupt
        if event.image is None or event.level != self.final_level or self.reached:
            return
        clock = event.elapsed - self.eval_seconds  # the run's own time, without evaluations
        tick = time.perf_counter()
        loss = self.evaluate(event.image)
        self.eval_seconds += time.perf_counter() - tick
        self.trace.append((clock, loss))
        self.steps.append(event.step)
        if loss <= self.target:
            self.reached = (clock, event.step, loss)
            self.image = event.image
            raise KeyboardInterrupt  # stop the run cleanly; stylize returns what it has


PREVIEW_EVERY = 10  # steps between full-size float32 evaluations of a mode (off the clock)


def modes(setting: dict) -> dict[str, dict]:
    """The library's modes, as Settings changes (same objective: layers and loss weights)."""
    lbfgs = {"optimizer": "lbfgs", "steps": setting["plain_steps"]}
    return {
        "lbfgs": lbfgs,
        "lbfgs + pyramid": {**lbfgs, "pyramid": True},
        "lbfgs + pyramid + coarse-to-fine + bfloat16": {
            **lbfgs,
            "pyramid": True,
            "start_dim": setting["start_dim"],
            "level_steps": _level_steps(setting),
            "precision": "bfloat16",
        },
        "preset fast (lbfgs + pyramid + auto precision, as a user runs it)": {"preset": "fast"},
    }


def _level_steps(setting: dict) -> tuple[int, ...]:
    from nst_helpers.settings import Settings

    levels = Settings(max_dim=setting["max_dim"], start_dim=setting["start_dim"]).levels()
    # A fixed budget at each cheap coarse level, and an open one at the final size.
    return (*[50] * (len(levels) - 1), setting["plain_steps"])


def full_size_judge(settings) -> tuple:
    """(float32 extractor, evaluate): `evaluate(array)` is the total loss of an (H, W, 3) image
    in [0, 1] at the full size in float32, the yardstick every mode is measured with."""
    import numpy as np

    from nst_helpers.images import image_to_tensor
    from nst_helpers.model import build_extractor
    from nst_helpers.optimize import compute_losses, make_targets, prepare_images

    fp32 = build_extractor("vgg16", settings.weights)
    content_img, style_img = prepare_images(CONTENT, STYLE, settings)
    targets = make_targets(fp32, image_to_tensor(content_img), image_to_tensor(style_img))

    def evaluate(array) -> float:
        return float(compute_losses(fp32, array[np.newaxis], *targets, settings)["total"])

    return fp32, evaluate


def time_to_quality(setting_name: str, weights: str) -> tuple[list[dict], dict]:
    import numpy as np

    from nst_helpers.images import tensor_to_image
    from nst_helpers.optimize import stylize
    from nst_helpers.settings import Settings

    setting = SETTINGS[setting_name]
    base = Settings(
        arch="vgg16", weights=weights, max_dim=setting["max_dim"], steps=setting["plain_steps"]
    )
    fp32, evaluate = full_size_judge(base)

    print(f"plain tutorial loop: {base.steps} steps at {base.max_dim} px ...", flush=True)
    losses, times, target, plain_image = plain_tutorial_loop(CONTENT, STYLE, base, fp32)
    plain_seconds = times[-1]
    checkpoints = (plain_seconds / 15, plain_seconds / 4)

    # losses[i] is the loss of the image step i started from: the image of time times[i - 1].
    reached_at = list(zip([0.0, *times[:-1]], losses, strict=True))

    def plain_time_to(loss: float) -> float:
        """Seconds the plain loop took to first reach `loss` (inf: not within its N steps)."""
        return next((t for t, value in reached_at if value <= loss), math.inf)

    rows = [
        {
            "mode": "plain tutorial loop (Adam 0.02, beta_1 0.99)",
            "steps": base.steps,
            "seconds": plain_seconds,
            "loss": target,
            "ratio": 1.0,
            **_at_checkpoints(reached_at, checkpoints, plain_time_to, plain_seconds),
        }
    ]
    images = {"plain": plain_image}
    for name, changes in modes(setting).items():
        preset = changes.pop("preset", None)
        settings = (
            Settings.preset(preset, **base_fields(base), **changes)
            if preset
            else base.replace(**changes)
        )
        extractor = fp32 if settings.precision == "float32" else None
        watch = TargetWatch(evaluate, target, len(settings.levels()) - 1, plain_seconds / 4)
        settings = settings.replace(preview_every=PREVIEW_EVERY)
        print(f"{name}: levels {settings.levels()} ...", flush=True)
        result = stylize(CONTENT, STYLE, settings, extractor=extractor, callbacks=[watch])
        reached = watch.reached
        best = evaluate(np.asarray(result.best_image, dtype=np.float32) / 255.0)
        watch.trace.append((result.seconds["optimise"] - watch.eval_seconds, best))
        rows.append(
            {
                "mode": name,
                "steps": reached[1] if reached else result.steps_done,
                "seconds": reached[0] if reached else float("nan"),
                "loss": reached[2] if reached else best,
                "ratio": plain_seconds / reached[0] if reached else float("nan"),
                **_at_checkpoints(watch.trace, checkpoints, plain_time_to, plain_seconds),
            }
        )
        print(rows[-1], flush=True)
        if name.startswith("preset fast"):
            images["fast"] = watch.image if watch.image is not None else np.asarray(
                result.best_image, dtype=np.float32) / 255.0  # fmt: skip
            seconds = result.seconds["optimise"]
            images["fast_label"] = (
                "preset fast, at the same loss"
                if watch.image is not None
                else f"preset fast, {result.steps_done} steps, {seconds:.0f} s"
            )
    _side_by_side(images, setting_name, tensor_to_image)
    return rows, {"target": target, "plain_seconds": plain_seconds}


def _at_checkpoints(trace, checkpoints, plain_time_to, plain_seconds: float) -> dict:
    """For each checkpoint time T: the lowest loss reached by T (from (seconds, loss) pairs),
    the plain loop's time to that same loss, and their ratio (the speed-up at equal loss)."""
    out = {}
    for i, limit in enumerate(checkpoints):
        seen = [loss for seconds, loss in trace if seconds <= limit]
        if not seen:  # no full-size evaluation yet (e.g. still at a coarse level)
            out.update({f"loss_{i}": "not evaluated yet", f"plain_{i}": "", f"speedup_{i}": ""})
            continue
        loss = min(seen)
        plain = plain_time_to(loss)
        out[f"loss_{i}"] = loss
        if math.isfinite(plain):
            out[f"plain_{i}"], out[f"speedup_{i}"] = plain, plain / limit
        else:  # lower than the plain loop ever got
            out[f"plain_{i}"] = f"> {plain_seconds:.0f}"
            out[f"speedup_{i}"] = f"> {plain_seconds / limit:.1f}"
    return out


def base_fields(base) -> dict:
    return {"arch": base.arch, "weights": base.weights, "max_dim": base.max_dim}


def _side_by_side(images: dict, setting_name: str, tensor_to_image) -> None:
    from PIL import Image, ImageDraw

    pictures = [("plain tutorial loop", images["plain"])]
    if "fast" in images:
        pictures.append((images["fast_label"], images["fast"]))
    tiles = [tensor_to_image(array) for _, array in pictures]
    width = sum(t.width for t in tiles) + 10 * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, tiles[0].height + 24), "white")
    x = 0
    draw = ImageDraw.Draw(sheet)
    for (label, _), tile in zip(pictures, tiles, strict=True):
        sheet.paste(tile, (x, 24))
        draw.text((x + 4, 5), label, fill="black")
        x += tile.width + 10
    sheet.save(ROOT / "benchmarks" / f"side_by_side_{setting_name}.png", optimize=True)


# ---------------------------------------------------------------------------------------------
# 2. Speed and memory, one configuration per process
# ---------------------------------------------------------------------------------------------
def conv_gflop(arch: str, layers, size: int) -> float:
    """FLOPs of one step, in GFLOP: forward convolutions up to the deepest layer, times two
    (the backward pass computes the gradient for the input only, about the forward's cost)."""
    from nst_helpers.model import layer_names

    names = layer_names(arch)
    deepest = max(names.index(layer) for layer in layers)
    flops, side, channels = 0.0, size, 3
    widths = (64, 128, 256, 512, 512)
    for name in names[: deepest + 1]:
        if name.endswith("_pool"):
            side //= 2
            continue
        block = int(name[5]) - 1
        out = widths[block]
        flops += 2 * side * side * 9 * channels * out
        channels = out
    return 2 * flops / 1e9


def speed_one(arch: str, size: int, precision: str, steps: int) -> dict:
    """Runs in a child process: seconds per step (median) and this process's peak memory."""
    import numpy as np
    import tensorflow as tf

    from nst_helpers.model import build_extractor
    from nst_helpers.optimize import compute_losses, make_targets
    from nst_helpers.settings import Settings

    settings = Settings(arch=arch, weights=None)
    extractor = build_extractor(arch, None, precision=precision)
    image = tf.Variable(tf.random.uniform((1, size, size, 3), seed=0))
    targets = make_targets(extractor, tf.convert_to_tensor(image), tf.convert_to_tensor(image))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            total = compute_losses(extractor, image, *targets, settings)["total"]
        return total, tape.gradient(total, image)

    step()  # trace
    times = []
    for _ in range(steps):
        tick = time.perf_counter()
        step()[0].numpy()
        times.append(time.perf_counter() - tick)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = float(np.median(times))
    gflop = conv_gflop(arch, settings.content_layers + settings.style_layers, size)
    return {
        "arch": arch,
        "size": size,
        "precision": precision,
        "s_per_step": seconds,
        "gflop": gflop,
        "gflops": gflop / seconds,
        "peak_gib": peak_kib / 2**20,
    }


def speed_table(sizes, archs, precisions) -> list[dict]:
    rows = []
    for arch in archs:
        for size in sizes:
            for precision in precisions:
                steps = 5 if size <= 512 else 3
                print(f"speed: {arch} {size} px {precision} ...", flush=True)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", arch, str(size), precision, str(steps)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


# ---------------------------------------------------------------------------------------------
# 3. Controls: a sweep as one batch vs separate runs; the moving average of the iterates
# ---------------------------------------------------------------------------------------------
def controls(weights: str, size: int = 256, steps: int = 60) -> list[dict]:
    from nst_helpers.images import image_to_tensor
    from nst_helpers.model import build_extractor
    from nst_helpers.optimize import compute_losses, make_targets, prepare_images, stylize
    from nst_helpers.settings import Settings
    from nst_helpers.sweep import sweep

    settings = Settings(arch="vgg16", weights=weights, max_dim=size, steps=steps, preview_every=0)
    extractor = build_extractor("vgg16", weights)
    values = [1.0, 10.0, 100.0]
    rows = []
    tick = time.perf_counter()
    for value in values:
        stylize(CONTENT, STYLE, settings.replace(style_weight=value), extractor=extractor)
    separate = time.perf_counter() - tick
    tick = time.perf_counter()
    sweep(CONTENT, STYLE, settings, "style_weight", values, extractor=extractor)
    batched = time.perf_counter() - tick
    rows.append({"what": f"sweep of 3 style weights, {steps} steps at {size} px: separate runs",
                 "value": f"{separate:.1f} s"})  # fmt: skip
    speed = separate / batched
    value = f"{batched:.1f} s ({speed:.2f}x the speed of separate runs)"
    rows.append({"what": "the same as one batch (--sweep)", "value": value})
    long = settings.replace(steps=4 * steps)
    content_img, style_img = prepare_images(CONTENT, STYLE, long)
    targets = make_targets(extractor, image_to_tensor(content_img), image_to_tensor(style_img))
    for decay in (0.0, 0.95):
        result = stylize(CONTENT, STYLE, long.replace(ema=decay), extractor=extractor)
        losses = compute_losses(extractor, image_to_tensor(result.best_image), *targets, long)
        rows.append({
            "what": f"Adam, {long.steps} steps at {size} px, ema {decay}: the saved image's",
            "value": f"total loss {float(losses['total']):.4f}, TV {float(losses['tv']):.4f}",
        })  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def markdown_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(title for title, _, _ in columns) + " |"
    rule = "|" + "|".join(" --- " for _ in columns) + "|"

    def cell(value, fmt: str) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, float) and math.isnan(value):
            return "not reached"
        return format(value, fmt)

    body = [
        "| " + " | ".join(cell(row[key], fmt) for _, key, fmt in columns) + " |" for row in rows
    ]
    return "\n".join([head, rule, *body])


QUALITY_COLUMNS = [
    ("mode", "mode", "s"),
    ("steps to target", "steps", "d"),
    ("seconds to target", "seconds", ".1f"),
    ("loss (full size, float32)", "loss", ".4f"),
    ("speed-up vs plain", "ratio", ".1f"),
]
# The same runs seen at two moments: 1/15 of the plain loop's time (where the 15x target needs
# the target loss) and 1/4 (where a mode is stopped). Speed-up = the plain loop's time to the
# same loss / the mode's time.
CHECKPOINT_COLUMNS = [
    ("mode", "mode", "s"),
    ("loss at 1/15 of the plain time", "loss_0", ".4f"),
    ("plain loop's seconds to that loss", "plain_0", ".0f"),
    ("speed-up at 1/15", "speedup_0", ".1f"),
    ("loss at 1/4 of the plain time", "loss_1", ".4f"),
    ("plain loop's seconds to that loss", "plain_1", ".0f"),
    ("speed-up at 1/4", "speedup_1", ".1f"),
]
SPEED_COLUMNS = [
    ("network", "arch", "s"),
    ("size (px)", "size", "d"),
    ("precision", "precision", "s"),
    ("s/step", "s_per_step", ".3f"),
    ("GFLOP/step", "gflop", ".0f"),
    ("GFLOP/s", "gflops", ".0f"),
    ("peak memory (GiB)", "peak_gib", ".2f"),
]


def machine() -> str:
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, TF {tf.__version__}"
    )


CONTROLS_HEADING = "## Sweeps and the moving average\n"


def update_controls(setting: str, weights: str) -> None:
    """Re-measures the sweep/EMA table and puts it in place of the one in the results file."""
    name = "RESULTS.md" if setting == "full" else f"RESULTS_{setting}.md"
    path = ROOT / "benchmarks" / name
    text = path.read_text()
    if CONTROLS_HEADING not in text:
        raise SystemExit(f"{path} has no sweep table to update: run the whole benchmark first.")
    table = markdown_table(
        controls(weights), [("measurement", "what", "s"), ("result", "value", "s")]
    )
    print(table)
    before, _, after = text.partition(CONTROLS_HEADING)
    rest = after[after.index("\n\n", after.index("|")) :]  # what follows the old table
    if rest.startswith("\n\n(This table re-measured"):  # an earlier update's note
        rest = rest[rest.index("\n\n", 2) :]
    when = time.strftime("%Y-%m-%d")
    note = f"\n\n(This table re-measured on its own on {when} with `--update-controls`.)"
    path.write_text(before + CONTROLS_HEADING + "\n" + table + note + rest)
    print(f"updated {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default="quick")
    parser.add_argument("--weights", default=os.environ.get("NST_WEIGHTS", str(DEFAULT_WEIGHTS)))
    parser.add_argument("--skip-speed", action="store_true", help="only the time-to-quality table")
    parser.add_argument("--skip-quality", action="store_true", help="no time-to-quality table")
    parser.add_argument("--skip-controls", action="store_true", help="no sweep/EMA table")
    parser.add_argument("--update-controls", action="store_true", help="re-measure only the "
                        "sweep/EMA table and replace it in the existing results file")  # fmt: skip
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        arch, size, precision, steps = args.child
        print(json.dumps(speed_one(arch, int(size), precision, int(steps))))
        return
    if args.update_controls:
        update_controls(args.setting, args.weights)
        return

    started = time.time()
    sections = [f"# Benchmark results ({args.setting} setting)\n", f"Machine: {machine()}.\n"]
    if not args.skip_quality:
        rows, info = time_to_quality(args.setting, args.weights)
        setting = SETTINGS[args.setting]
        table = markdown_table(rows, QUALITY_COLUMNS)
        checkpoints = markdown_table(rows, CHECKPOINT_COLUMNS)
        print(table, checkpoints, sep="\n\n")
        sections += [
            f"## Time to the plain loop's loss after {setting['plain_steps']} steps "
            f"({setting['max_dim']} px, VGG16, cat.jpg + swirl.jpg)\n",
            f"Target loss {info['target']:.4f}, reached by the plain loop in "
            f"{info['plain_seconds']:.0f} s.\n",
            table + "\n",
            "The same runs at 1/15 and 1/4 of the plain loop's time: the loss each mode had "
            "reached, how long the plain loop took to reach that loss, and the ratio (the "
            "speed-up at equal loss; 15x at 1/15 means the target is met).\n",
            checkpoints + "\n",
            f"Side by side: `benchmarks/side_by_side_{args.setting}.png`. The fastest modes "
            "let run on past the cut-off: `benchmarks/long_runs.py`, which writes LONG_RUNS.md.\n",
        ]
    if not args.skip_speed:
        sizes = (256, 512, 1024)
        rows = speed_table(sizes, ("vgg16", "vgg19"), ("float32", "bfloat16"))
        table = markdown_table(rows, SPEED_COLUMNS)
        print(table)
        sections += ["## Seconds per step, throughput and peak memory\n", table + "\n"]
    if not args.skip_controls:
        rows = controls(args.weights)
        table = markdown_table(rows, [("measurement", "what", "s"), ("result", "value", "s")])
        print(table)
        sections += [CONTROLS_HEADING, table + "\n"]
    sections.append(f"Benchmark wall time: {(time.time() - started) / 60:.1f} min.\n")
    name = "RESULTS.md" if args.setting == "full" else f"RESULTS_{args.setting}.md"
    out = ROOT / "benchmarks" / name
    out.write_text("\n".join(sections))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
