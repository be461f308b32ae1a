"""Time to the tutorial's quality, as a second network judges it (issue 12).

Run from the repository root (the full setting took 118 and 129 minutes on a 2-core CPU):

    python benchmarks/time_to_quality.py --setting smoke   # tiny: checks the script runs
    python benchmarks/time_to_quality.py --setting full    # 4 pairs at 512 px: the table
    python benchmarks/time_to_quality.py --render          # rebuild the markdown from the JSON

For each bundled content x style pair, the plain tutorial loop (the tutorial's Adam settings,
lr 0.02 and beta_1 0.99, on the library's objective, float32) runs 1000 steps; its image is
judged every 25 steps by the HED VGG16 (benchmarks/judge.py), off the clock. Its 1000-step
scores are the target. Each mode then runs on the same pair and is judged the same way; its
time is the first time its image is at or below the target on both distances (Pareto), and
its ratio is the plain loop's 1000-step time over that. Every mode's scores at 60 s and 240 s
are reported too, and the unstyled photo's scores as the zero point.

Results go to benchmarks/time_to_quality.json; TIME_TO_QUALITY.md is rendered from it alone,
with one side-by-side PNG per pair at equal time (ttq_<pair>.png), all beside the JSON file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402
from judge import Judge, Scores  # noqa: E402

WEIGHTS = ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"
RESULTS = ROOT / "benchmarks" / "time_to_quality.json"
PAIRS = [("cat", "swirl"), ("astronaut", "mosaic"), ("coffee", "cubist"), ("rocket", "brush")]
SETTINGS = {
    # max_dim, plain loop steps, steps between judgements, checkpoints (s), a mode's time cap (s)
    "full": {"max_dim": 512, "plain_steps": 1000, "every": 25, "at": (60, 240), "cap": 240},
    "quick": {
        "max_dim": 256,
        "plain_steps": 1000,
        "every": 25,
        "at": (15, 60),
        "cap": 60,
        "pairs": 1,
    },  # fmt: skip
    "smoke": {"max_dim": 48, "plain_steps": 6, "every": 2, "at": (1, 4), "cap": 8, "pairs": 1},
}
# L-BFGS modes are judged every this many function evaluations (each costs about one Adam step).
LBFGS_EVERY = 5
# The library's modes, as Settings changes on top of the plain loop's (same objective unless a
# mode changes a weight).
MODES = {
    "fast preset (L-BFGS + pyramid + bfloat16, style weight 12)": {"preset": "fast"},
    "the above at the tutorial's style weight 10": {"preset": "fast", "style_weight": 10.0},
}


def plain_settings(setting: dict, weights: str):
    """The plain tutorial loop: Adam, lr 0.02, beta_1 0.99, float32, content start."""
    import nst_helpers as nst

    return nst.Settings.preset(
        "tutorial",
        arch="vgg16",
        weights=weights,
        max_dim=setting["max_dim"],
        steps=setting["plain_steps"],
        lr=0.02,
        beta_1=0.99,
        preview_every=setting["every"],
    )


def mode_settings(plain, changes: dict, setting: dict):
    """A mode's settings: its preset and changes on the plain loop's objective, no step limit
    (the `Watch` stops it at the target or at the setting's time cap)."""
    import nst_helpers as nst
    from nst_helpers.runs.presets import PRESETS

    changes = dict(changes)
    preset = changes.pop("preset", None)
    base = nst.Settings.preset(preset) if preset else plain
    objective = {k: getattr(plain, k) for k in ("arch", "weights", "max_dim", "content_weight",
                                                "style_weight", "tv_weight", "content_layers",
                                                "style_layers")}  # fmt: skip
    if preset:  # a preset's own weights are part of the mode
        objective.update({k: v for k, v in PRESETS[preset].items() if k in objective})
    lbfgs = changes.get("optimizer", base.optimizer) == "lbfgs"
    every = min(LBFGS_EVERY, setting["every"]) if lbfgs else setting["every"]
    return base.replace(**{**objective, **changes}, steps=10**6, time_budget=None,
                        preview_every=every)  # fmt: skip


class Watch:
    """A `stylize` callback: judges preview images at the result's size, off the clock; stops
    the run at the target or once its own time passes `cap` seconds."""

    def __init__(self, judge: Judge, content, style, size, target=None, cap=math.inf):
        self.judge, self.content, self.style, self.size = judge, content, style, size
        self.target, self.cap = target, cap
        self.judging = 0.0  # seconds spent judging, taken off the run's clock
        self.trace: list[dict] = []  # {"seconds", "step", "content", "style"}
        self.images: list = []  # the judged images, in trace order
        self.reached: dict | None = None

    def __call__(self, event) -> None:
        clock = event.elapsed - self.judging
        # A coarse-to-fine level's smaller images are not judged: only the result's size counts.
        if event.image is not None and event.image.shape[1::-1] == tuple(self.size):
            tick = time.perf_counter()
            scores = self.judge.score(event.image, self.content, self.style)
            self.judging += time.perf_counter() - tick
            point = {"seconds": clock, "step": event.step, **vars(scores)}
            self.trace.append(point)
            self.images.append(event.image)
            if self.target is not None and scores.at_or_below(self.target):
                self.reached = point
                raise KeyboardInterrupt  # stop cleanly: stylize returns what it has
        if clock > self.cap:
            raise KeyboardInterrupt


def at_time(trace: list[dict], seconds: float) -> dict | None:
    """The last judged point at or before `seconds` of the run's own time."""
    before = [point for point in trace if point["seconds"] <= seconds]
    return before[-1] if before else None


def load_pair(content_name: str, style_name: str, max_dim: int):
    """A bundled pair: (content path, style path), both images, and the photo at the result's
    size (what the judge scores results against and the unstyled zero point)."""
    import nst_helpers as nst

    paths = nst.sample_path("content", content_name), nst.sample_path("style", style_name)
    content, style = (nst.load_image(p) for p in paths)
    return paths, content, style, nst.resize_image(content, max_dim)


def run_pair(
    content_name: str,
    style_name: str,
    setting: dict,
    weights: str,
    judge,
    folder: Path,
    modes: dict | None = None,
    prefix: str = "ttq",
) -> dict:
    """Measures the plain loop and every mode (default: MODES) on one pair; its JSON record."""
    import nst_helpers as nst

    paths, content, style, shown = load_pair(content_name, style_name, setting["max_dim"])
    photo = judge.score(shown, content, style)
    plain = plain_settings(setting, weights)
    watch = Watch(judge, content, style, shown.size)
    result = nst.stylize(*paths, plain, callbacks=[watch])
    target = watch.trace[-1]
    record = {
        "pair": f"{content_name} x {style_name}",
        "photo": vars(photo),
        "target": {k: target[k] for k in ("content", "style")},
        "plain_seconds": target["seconds"],
        "plain_steps": result.steps_done,
        "plain_at": {str(t): at_time(watch.trace, t) for t in setting["at"]},
        "modes": {},
    }
    images = {"plain tutorial loop": watch.images}
    traces = {"plain tutorial loop": watch.trace}
    goal = Scores(target["content"], target["style"])
    for name, changes in (MODES if modes is None else modes).items():
        mode_watch = Watch(judge, content, style, shown.size, goal, setting["cap"])
        record["modes"][name] = run_mode(
            paths, plain, changes, setting, mode_watch, target["seconds"]
        )
        images[name], traces[name] = mode_watch.images, mode_watch.trace
    record["side_by_side"] = side_by_side(record, traces, images, setting, folder, prefix)
    return record


def run_mode(
    paths, plain, changes: dict, setting: dict, watch: Watch, plain_seconds: float
) -> dict:
    """Runs one mode (Settings changes) on a pair under `watch`; its JSON record."""
    import nst_helpers as nst

    nst.stylize(*paths, mode_settings(plain, changes, setting), callbacks=[watch])
    reached = watch.reached
    return {
        "seconds_to_target": reached["seconds"] if reached else None,
        "steps_to_target": reached["step"] if reached else None,
        "ratio": plain_seconds / reached["seconds"] if reached else None,
        "at": {str(t): at_time(watch.trace, t) for t in setting["at"]},
        "last": watch.trace[-1] if watch.trace else None,
        "judged": len(watch.trace),
        "changes": {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()},
    }


def side_by_side(
    record: dict, traces: dict, images: dict, setting: dict, folder: Path, prefix: str = "ttq"
) -> str:
    """Saves every run's image at the same time (the first checkpoint) side by side, then the
    plain loop's last image (the target) for reference."""
    import nst_helpers as nst

    seconds = setting["at"][0]
    shown, labels = [], []
    for name, trace in traces.items():
        point = at_time(trace, seconds)
        if point is not None:
            shown.append(images[name][trace.index(point)])
            labels.append(f"{name}:\n{point['seconds']:.0f} s, {point['step']} steps")
    plain = traces["plain tutorial loop"][-1]
    shown.append(images["plain tutorial loop"][-1])
    labels.append(f"plain loop's target:\n{plain['seconds']:.0f} s, {plain['step']} steps")
    slug = record["pair"].replace(" x ", "_")
    path = folder / f"{prefix}_{slug}.png"
    sheet = nst.contact_sheet(shown, labels, columns=len(shown))
    nst.save_image(sheet, path)
    return path.name


def choose_default(records: list[dict]) -> str | None:
    """Of the modes that reach the target on every pair, the one whose slowest pair is fastest
    (the best worst-pair ratio). It need not be the fastest on each pair: another mode may win
    one pair and lose on its slowest. A mode not measured on every pair can't be it.
    Records: a full run's or ttq_tuning.py's."""
    winners = {}
    for name in records[0]["modes"]:
        if not all(name in record["modes"] for record in records):
            continue
        ratios = [record["modes"][name]["ratio"] for record in records]
        if all(ratio is not None for ratio in ratios):
            winners[name] = min(ratios)
    return max(winners, key=winners.get) if winners else None


def render(data: dict) -> str:
    """The markdown page, from the JSON alone."""
    lines = [
        "# Time to the tutorial's quality, judged by a second network",
        "",
        f"Measured {report.measured_line(data['measured'])} with `python benchmarks/"
        f"time_to_quality.py --setting {data['name']}` ({data['setting']['max_dim']} px). "
        "Scores are the HED judge's content / style distances (lower is better); a mode "
        "reaches the target when it is at or below the plain loop's 1000-step scores on both. "
        "A mode stops there, so a later column shows the image it stopped at. Steps: Adam "
        "steps, or L-BFGS function evaluations (each about one step's cost).",
        "",
        *report.judged_tables(data),
    ]
    default = choose_default(data["pairs"])
    lines += ["", "Of the modes that reach the target on every pair, the one with the best slowest-"
              f"pair ratio (`choose_default`): {default or 'none'}."]  # fmt: skip
    lines += ["", data["relabelled"]] if data.get("relabelled") else []
    lines += ["", *(f"![{r['pair']}]({r['side_by_side']})" for r in data["pairs"])]
    return "\n".join(lines) + "\n"


def markdown_path(out: Path) -> Path:
    """The markdown page beside a results file: TIME_TO_QUALITY.md for time_to_quality.json."""
    return out.with_name(out.stem.upper() + ".md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default="smoke")
    parser.add_argument("--weights", default=str(WEIGHTS), help="the optimized network's file")
    parser.add_argument("--render", action="store_true", help="only rebuild the markdown")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON results file")
    args = parser.parse_args(argv)
    if args.render:
        report.write_text(markdown_path(args.out), render(report.load(args.out)))
        return 0
    prefix = "ttq" if args.out == RESULTS else args.out.stem
    setting = SETTINGS[args.setting]
    started = time.time()
    judge = Judge()
    records, folder = [], args.out.parent
    for content_name, style_name in PAIRS[: setting.get("pairs", len(PAIRS))]:
        records.append(
            run_pair(content_name, style_name, setting, args.weights, judge, folder, MODES, prefix)
        )
        print(json.dumps(records[-1], indent=1, default=str), flush=True)
        data = {"name": args.setting, "setting": setting,
                "measured": report.measured(started), "pairs": records}  # fmt: skip
        report.save(data, args.out)  # after every pair: an interrupted run keeps what it did
    page = render(data)
    report.write_text(markdown_path(args.out), page)
    print(page)
    return 0 if all(math.isfinite(r["plain_seconds"]) for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
