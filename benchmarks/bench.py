"""Speed and memory benchmark: how much sooner the library's modes reach the tutorial loop's loss.

Run from the repository root:

    python benchmarks/bench.py --setting quick          # 384 px, 300 plain steps: a few minutes
    python benchmarks/bench.py --setting full           # 512 px, 1000 plain steps: 50 minutes
    python benchmarks/bench.py --setting full --render  # RESULTS.md from results.json alone

It prints its measurements and writes them to benchmarks/results.json (results_<setting>.json
for the other settings), then renders benchmarks/RESULTS.md from that file (`report.py`), with
the side-by-side image benchmarks/side_by_side_<setting>.png. Each part (`time_to_quality`,
`speed`, `controls`) records its own date and machine: a run with --skip-... or
--update-controls replaces only the parts it measured.

1. Time to quality. The plain tutorial loop (Adam, lr 0.02, beta_1 0.99, at the full size,
   content init, clipped) runs N steps; its loss after N steps is the target. Each library mode
   then runs on the same pair, network, weights and objective until its image, evaluated at the
   full size in float32, reaches that loss. Evaluation time is not counted; all modes run side by
   side in one process on the same machine.
   A mode that has not reached the target after a quarter of the plain loop's time is stopped
   and reported without a time (it is then less than 4x faster).
2. Speed (benchmarks/speed.py). Seconds per step at 256, 512 and 1024 px for VGG16 and VGG19
   (random weights are fine for timing), float32 and bfloat16, the achieved GFLOP/s and each
   configuration's peak memory (each in its own process, so the peak is its own).
3. Controls. A sweep as one batch against separate runs; the moving average of the iterates.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import report
from speed import speed_table

import nst_helpers as nst

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
CHECKPOINTS = (1 / 15, 1 / 4)  # fractions of the plain loop's time; a mode is stopped at the last
PREVIEW_EVERY = 10  # steps between full-size float32 evaluations of a mode (off the clock)


def pair_targets(extractor, settings) -> tuple:
    """(content tensor, targets) of cat.jpg + swirl.jpg at `settings.max_dim`, for `extractor`."""
    content = nst.image_to_tensor(nst.load_image(CONTENT, settings.max_dim))
    style_dim = max(1, round(settings.max_dim * settings.style_scale))
    style = nst.image_to_tensor(nst.load_image(STYLE, style_dim))
    return content, nst.make_targets(extractor, content, style)


def plain_tutorial_loop(settings, extractor):
    """The TensorFlow tutorial's loop on our objective: Adam(0.02, beta_1=0.99), clip, N steps.

    Adam's epsilon is `make_adam`'s (tiny, for our scale-free losses), where the tutorial's 0.1
    is negligible next to its raw, huge gradients. Returns (losses per step, seconds per step
    cumulated, the final image's loss, the final image array).
    """
    import tensorflow as tf

    from nst_helpers.core.optimize import adam_step, make_adam

    content, targets = pair_targets(extractor, settings)
    image = tf.Variable(content)
    optimizer = make_adam(settings.replace(lr=0.02, beta_1=0.99))

    @tf.function
    def step():
        return adam_step(
            image, optimizer, lambda x: nst.compute_losses(extractor, x, *targets, settings)
        )

    losses, times, start = [], [], time.perf_counter()
    for _ in range(settings.steps):
        losses.append(float(step()["total"]))
        times.append(time.perf_counter() - start)
    final = nst.compute_losses(extractor, image, *targets, settings)  # the image after N steps
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
        # The preset on this objective: its own style weight (12) would change the loss judged.
        "preset fast (lbfgs + pyramid + auto precision, the objective's weights)": {
            "preset": "fast",
            "style_weight": nst.Settings().style_weight,
        },
    }


def _level_steps(setting: dict) -> tuple[int, ...]:
    levels = nst.Settings(max_dim=setting["max_dim"], start_dim=setting["start_dim"]).levels()
    # A fixed budget at each cheap coarse level, and an open one at the final size.
    return (*[50] * (len(levels) - 1), setting["plain_steps"])


def full_size_judge(settings) -> tuple:
    """(float32 extractor, evaluate): `evaluate(array)` is the total loss of an (H, W, 3) image
    in [0, 1] at the full size in float32, the yardstick every mode is measured with."""
    import numpy as np

    fp32 = nst.build_extractor("vgg16", settings.weights)
    _, targets = pair_targets(fp32, settings)

    def evaluate(array) -> float:
        return float(nst.compute_losses(fp32, array[np.newaxis], *targets, settings)["total"])

    return fp32, evaluate


def time_to_quality(setting_name: str, weights: str) -> dict:
    """The `time_to_quality` part of results.json: the plain loop's target and each mode's row."""
    import numpy as np

    setting = SETTINGS[setting_name]
    base = nst.Settings(
        arch="vgg16", weights=weights, max_dim=setting["max_dim"], steps=setting["plain_steps"]
    )
    fp32, evaluate = full_size_judge(base)

    print(f"plain tutorial loop: {base.steps} steps at {base.max_dim} px ...", flush=True)
    losses, times, target, plain_image = plain_tutorial_loop(base, fp32)
    plain_seconds = times[-1]
    checkpoints = [plain_seconds * share for share in CHECKPOINTS]

    # losses[i] is the loss of the image step i started from: the image of time times[i - 1].
    reached_at = list(zip([0.0, *times[:-1]], losses, strict=True))

    def plain_time_to(loss: float) -> float:
        """Seconds the plain loop took to first reach `loss` (inf: not within its N steps)."""
        return next((t for t, value in reached_at if value <= loss), math.inf)

    rows = [
        {
            "mode": "plain tutorial loop (Adam 0.02, beta_1 0.99)",
            "steps": base.steps,
            "seconds_to_target": plain_seconds,
            "loss": target,
            "speedup": 1.0,
            "checkpoints": _at_checkpoints(reached_at, checkpoints, plain_time_to),
        }
    ]
    images = {"plain": plain_image}
    for name, changes in modes(setting).items():
        preset = changes.pop("preset", None)
        settings = (
            nst.Settings.preset(preset, **base_fields(base), **changes)
            if preset
            else base.replace(**changes)
        )
        extractor = fp32 if settings.precision == "float32" else None
        watch = TargetWatch(evaluate, target, len(settings.levels()) - 1, checkpoints[-1])
        settings = settings.replace(preview_every=PREVIEW_EVERY)
        print(f"{name}: levels {settings.levels()} ...", flush=True)
        result = nst.stylize(CONTENT, STYLE, settings, extractor=extractor, callbacks=[watch])
        reached = watch.reached
        best = evaluate(np.asarray(result.best_image, dtype=np.float32) / 255.0)
        seconds = result.seconds["optimize"]
        watch.trace.append((seconds - watch.eval_seconds, best))
        rows.append(
            {
                "mode": name,
                "steps": reached[1] if reached else result.steps_done,
                "seconds_to_target": reached[0] if reached else None,
                "loss": reached[2] if reached else best,
                "speedup": plain_seconds / reached[0] if reached else None,
                "checkpoints": _at_checkpoints(watch.trace, checkpoints, plain_time_to),
            }
        )
        print(rows[-1], flush=True)
        if name.startswith("preset fast"):
            images["fast"] = watch.image if watch.image is not None else np.asarray(
                result.best_image, dtype=np.float32) / 255.0  # fmt: skip
            images["fast_label"] = (
                "preset fast, at the same loss"
                if watch.image is not None
                else f"preset fast, {result.steps_done} steps, {seconds:.0f} s"
            )
    _side_by_side(images, setting_name)
    return {
        "max_dim_px": base.max_dim,
        "network": base.arch,
        "content": CONTENT.name,
        "style": STYLE.name,
        "plain_steps": base.steps,
        "evaluate_every_steps": PREVIEW_EVERY,
        "checkpoint_fractions": list(CHECKPOINTS),
        "target_loss": target,
        "plain_seconds": plain_seconds,
        "side_by_side": f"benchmarks/side_by_side_{setting_name}.png",
        "rows": rows,
    }


def _at_checkpoints(trace, checkpoints, plain_time_to) -> list[dict]:
    """For each checkpoint time T: the lowest loss reached by T (from (seconds, loss) pairs),
    the plain loop's time to that same loss, and their ratio (the speed-up at equal loss).
    A loss lower than the plain loop ever got has no plain time (None; the table gives bounds)."""
    out = []
    for limit in checkpoints:
        seen = [loss for seconds, loss in trace if seconds <= limit]
        if not seen:  # no full-size evaluation yet (e.g. still at a coarse level)
            out.append({"loss": None, "plain_seconds_to_loss": None, "speedup": None})
            continue
        loss = min(seen)
        plain = plain_time_to(loss)
        if math.isfinite(plain):
            out.append({"loss": loss, "plain_seconds_to_loss": plain, "speedup": plain / limit})
        else:  # lower than the plain loop ever got
            out.append({"loss": loss, "plain_seconds_to_loss": None, "speedup": None})
    return out


def base_fields(base) -> dict:
    return {"arch": base.arch, "weights": base.weights, "max_dim": base.max_dim}


def _side_by_side(images: dict, setting_name: str) -> None:
    from PIL import Image, ImageDraw

    pictures = [("plain tutorial loop", images["plain"])]
    if "fast" in images:
        pictures.append((images["fast_label"], images["fast"]))
    tiles = [nst.tensor_to_image(array) for _, array in pictures]
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
# 3. Controls: a sweep vs separate runs (a sweep was one batch until 0.2.0, a loop of runs sharing
# the network since); the moving average of the iterates
# ---------------------------------------------------------------------------------------------
def controls(weights: str, size: int = 256, steps: int = 60) -> dict:
    """The `controls` part of results.json."""
    settings = nst.Settings(
        arch="vgg16", weights=weights, max_dim=size, steps=steps, preview_every=0
    )
    extractor = nst.build_extractor("vgg16", weights)
    values = [1.0, 10.0, 100.0]
    tick = time.perf_counter()
    for value in values:
        nst.stylize(CONTENT, STYLE, settings.replace(style_weight=value), extractor=extractor)
    separate = time.perf_counter() - tick
    tick = time.perf_counter()
    nst.sweep(CONTENT, STYLE, settings, "style_weight", values, extractor=extractor)
    batched = time.perf_counter() - tick
    sweep = {"parameter": "style_weight", "values": values, "steps": steps,
             "separate_seconds": separate, "batch_seconds": batched}  # fmt: skip
    long = settings.replace(steps=4 * steps)
    _, targets = pair_targets(extractor, long)
    ema = []
    for decay in (0.0, 0.95):
        result = nst.stylize(CONTENT, STYLE, long.replace(ema=decay), extractor=extractor)
        image = nst.image_to_tensor(result.best_image)
        losses = nst.compute_losses(extractor, image, *targets, long)
        ema.append({"decay": decay, "steps": long.steps, "total_loss": float(losses["total"]),
                    "tv_loss": float(losses["tv"])})  # fmt: skip
    return {"size_px": size, "sweep": sweep, "ema": ema}


# ---------------------------------------------------------------------------------------------
# The results file
# ---------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default="quick")
    parser.add_argument("--weights", default=os.environ.get("NST_WEIGHTS", str(DEFAULT_WEIGHTS)))
    parser.add_argument("--skip-speed", action="store_true", help="no speed table")
    parser.add_argument("--skip-quality", action="store_true", help="no time-to-quality table")
    parser.add_argument("--skip-controls", action="store_true", help="no sweep/EMA table")
    parser.add_argument("--update-controls", action="store_true", help="re-measure only the "
                        "sweep/EMA table; keep the results file's other parts")  # fmt: skip
    parser.add_argument("--render", action="store_true", help="rebuild the markdown from the "
                        "setting's JSON, running nothing")  # fmt: skip
    args = parser.parse_args()
    folder = ROOT / "benchmarks"
    json_name, markdown_name = report.results_names(args.setting)
    if args.render:
        report.write_text(
            folder / markdown_name, report.render_results(report.load(folder / json_name))
        )
        print(f"rendered {folder / markdown_name}")
        return
    parts = {
        "time_to_quality": lambda: time_to_quality(args.setting, args.weights),
        "speed": lambda: speed_table((256, 512, 1024), ("vgg16", "vgg19"), ("float32", "bfloat16")),
        "controls": lambda: controls(args.weights),
    }
    skipped = {"time_to_quality": args.skip_quality, "speed": args.skip_speed,
               "controls": args.skip_controls}  # fmt: skip
    if args.update_controls:
        skipped = {"time_to_quality": True, "speed": True, "controls": False}
    measured = {}
    for name, measure in parts.items():
        if not skipped[name]:
            started = time.time()
            measured[name] = {**measure(), "measured": report.measured(started)}
    path = folder / json_name
    data = update_results(report.load(path) if path.exists() else None, args.setting, measured)
    report.save(data, path)
    report.write_text(folder / markdown_name, report.render_results(data))
    print(f"wrote {path} and {folder / markdown_name}")


def update_results(old: dict | None, setting: str, parts: dict) -> dict:
    """The results file with `parts` in place of its own; the parts not re-measured are kept."""
    data = {"about": report.about("bench.py", report.results_names(setting)[1]), "setting": setting}
    for name in ("time_to_quality", "speed", "controls"):
        if name in parts:
            data[name] = parts[name]
        elif old is not None and name in old:
            data[name] = old[name]
    return data


if __name__ == "__main__":
    main()
