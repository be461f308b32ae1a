"""The Gram and the Wasserstein-2 style loss at equal time, as a second network judges them.

Run from the repository root (about an hour a repeat on a 2-core CPU):

    python benchmarks/style_loss.py                 # 4 pairs x 3 modes x 3 runs, 240 s each
    python benchmarks/style_loss.py --repeats 1     # one run of each
    python benchmarks/style_loss.py --render        # rebuild the page from the JSON

Each run is the CLI's default (the fast preset at 512 px) with `style_loss` gram or wasserstein
(and W2 at a second style weight: MODES), nothing else changed, on one bundled pair for 240 s of
its own time; its image is judged every 5 L-BFGS evaluations, off the clock, by the HED VGG16
(benchmarks/judge.py) on three distances: content, Gram style and W2 style. The scores at 60 s
and 240 s are each run's last judged image at or before that time. The modes run one after the
other on each pair and repeat, so all see the same machine load. Results:
benchmarks/style_loss.json, STYLE_LOSS.md rendered from it alone, and one side-by-side PNG per
pair at 240 s (style_loss_<pair>.png).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402
import time_to_quality as ttq  # noqa: E402
from judge import Judge  # noqa: E402

RESULTS = ROOT / "benchmarks" / "style_loss.json"
# The modes compared, as changes to the CLI's default. At the same style weight W2 weighs less:
# the bundled photos start at a W2 style loss 1.3-1.9 times below their Gram one (256 px), so W2
# is also run at style weight 20 (12 x 1.6), where the photos start near the Gram loss's value.
MODES = {
    "gram": {},
    "wasserstein": {"style_loss": "wasserstein"},
    "wasserstein, style weight 20": {"style_loss": "wasserstein", "style_weight": 20.0},
}
LOSSES = tuple(MODES)
DISTANCES = ("content", "style", "style_w2")
SETTINGS = {
    "full": {"max_dim": 512, "every": 5, "at": (60, 240), "cap": 240},
    "smoke": {"max_dim": 48, "every": 2, "at": (1, 4), "cap": 4, "pairs": 1},
}


def run_once(paths, content, style, shown, loss: str, setting: dict, judge, weights: str) -> dict:
    """One run of the CLI default with the changes of `MODES[loss]`, judged; its record and
    the image judged last at the last checkpoint."""
    import nst_helpers as nst
    from nst_helpers.runs.presets import CLI_PRESET

    plain = ttq.plain_settings({**setting, "plain_steps": 1}, weights)
    settings = ttq.mode_settings(plain, {"preset": CLI_PRESET, **MODES[loss]}, setting)
    watch = ttq.Watch(judge, content, style, shown.size, cap=setting["cap"])  # W2 in its trace
    nst.stylize(*paths, settings, callbacks=[watch])
    at = {str(t): ttq.at_time(watch.trace, t) for t in setting["at"]}
    shown = at[str(setting["at"][-1])] or watch.trace[-1]  # a slow machine: its first judged
    record = {"at": at, "judged": len(watch.trace), "last": watch.trace[-1]}
    return record, watch.images[watch.trace.index(shown)]


def run_pair(content_name, style_name, setting, weights, judge, repeats, folder, record=None):
    """Both losses until each has `repeats` runs on one pair (`record`: the runs so far); its
    JSON record, and its side-by-side PNG in `folder`."""
    import nst_helpers as nst

    paths, content, style, shown = ttq.load_pair(content_name, style_name, setting["max_dim"])
    photo = judge.score(shown, content, style)
    record = record or {"pair": f"{content_name} x {style_name}", "photo": vars(photo),
                        "runs": {loss: [] for loss in LOSSES}}  # fmt: skip
    images = {}
    while len(record["runs"][LOSSES[-1]]) < repeats:
        for loss in LOSSES:
            run, images[loss] = run_once(
                paths, content, style, shown, loss, setting, judge, weights
            )
            record["runs"][loss].append(run)
    seconds = setting["at"][-1]
    labels = [f"{loss}:\n{seconds} s" for loss in images]
    sheet = nst.contact_sheet(
        [shown, *images.values()], ["photo", *labels], columns=1 + len(images)
    )
    slug = record["pair"].replace(" x ", "_")
    record["side_by_side"] = f"style_loss_{slug}.png"
    nst.save_image(sheet, folder / record["side_by_side"])
    return record


def medians(record: dict, loss: str, seconds: str) -> dict:
    """The median of each distance over a loss's runs at a checkpoint."""
    points = [run["at"][seconds] for run in record["runs"][loss] if run["at"][seconds]]
    return {d: statistics.median(p[d] for p in points) for d in DISTANCES} if points else {}


def verdict(data: dict) -> str:
    """Whether a W2 mode is at or below the Gram loss on all three distances on every pair, by
    median, at every checkpoint (the rule for making it the default): "yes (mode)" or "no"."""
    winners = [mode for mode in LOSSES[1:] if _at_or_below(data, mode)]
    return f"yes ({', '.join(winners)})" if winners else "no"


def _at_or_below(data: dict, mode: str) -> bool:
    for record in data["pairs"]:
        if "runs" not in record:
            return False
        for seconds in map(str, data["setting"]["at"]):
            gram, w2 = medians(record, "gram", seconds), medians(record, mode, seconds)
            if not gram or not w2 or any(w2[d] > gram[d] for d in DISTANCES):
                return False
    return True


def render(data: dict) -> str:
    """The markdown page, from the JSON alone."""
    pairs = [record for record in data["pairs"] if "runs" in record]  # a partial run: those done
    runs = min(len(r["runs"][loss]) for r in pairs for loss in LOSSES)
    lines = [
        "# Gram against Wasserstein-2 style loss, at equal time",
        "",
        f"Measured {report.measured_line(data['measured'])} with `python benchmarks/"
        f"style_loss.py` ({data['setting']['max_dim']} px, the CLI's default, only `style_loss` "
        f"changed). The median of {runs} run(s) of each mode per pair; lower is better for every "
        "distance (benchmarks/judge.py: content, Gram style, W2 style). The unstyled photo is the "
        "zero point. Other work shared the machine while it ran, the same for both losses.",
        "",
    ]
    for more in data.get("resumed", []):
        lines += [f"Runs added later (`--resume`): measured {report.measured_line(more)}.", ""]
    header = ["pair", "loss", *[f"{d} at {t} s" for t in data["setting"]["at"] for d in DISTANCES]]
    rows = []
    for record in pairs:
        photo = record["photo"]
        cells = [f"{photo[d]:.3f}" if photo.get(d) is not None else "-" for d in DISTANCES]
        rows.append([record["pair"], "photo", *cells * len(data["setting"]["at"])])
        for loss in LOSSES:
            cells = []
            for seconds in map(str, data["setting"]["at"]):
                point = medians(record, loss, seconds)
                cells += [f"{point[d]:.3f}" if point else "-" for d in DISTANCES]
            rows.append(["", loss, *cells])
    lines += [report.table(header, rows), ""]
    lines += [
        f"A W2 mode at or below Gram on all three distances on every pair, at both times: "
        f"**{verdict(data)}** (the rule for making it the default; the default stays gram "
        "unless it is yes and the images agree by eye).",
        "",
    ]
    lines += [f"![{r['pair']}]({r['side_by_side']})" for r in pairs]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default="full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", default=str(ttq.WEIGHTS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render", action="store_true", help="only rebuild the page")
    parser.add_argument("--resume", action="store_true",
                        help="add runs to the stored JSON, up to --repeats")  # fmt: skip
    args = parser.parse_args(argv)
    page = args.out.with_name("STYLE_LOSS.md" if args.out == RESULTS else args.out.stem + ".md")
    if args.render:
        report.write_text(page, render(json.loads(args.out.read_text())))
        return 0
    setting = SETTINGS[args.setting]
    judge, started = Judge(), time.time()
    data = {"setting": setting, "pairs": []}
    for content_name, style_name in ttq.PAIRS[: setting.get("pairs")]:
        data["pairs"].append({"pair": f"{content_name} x {style_name}"})
    if args.resume:  # the stored runs stay; their `measured` too, the new ones' beside it
        data = json.loads(args.out.read_text())
        assert data["setting"] == json.loads(json.dumps(setting)), "another setting was stored"
        data.setdefault("resumed", []).append(report.measured(started))
    for repeat in range(1, args.repeats + 1):  # every pair once, then again: even data
        for index, (content_name, style_name) in enumerate(ttq.PAIRS[: setting.get("pairs")]):
            previous = data["pairs"][index] if "runs" in data["pairs"][index] else None
            if previous and len(previous["runs"][LOSSES[-1]]) >= repeat:
                continue  # resumed: this pair has this repeat already
            data["pairs"][index] = run_pair(
                content_name,
                style_name,
                setting,
                args.weights,
                judge,
                repeat,
                args.out.parent,
                previous,
            )
            if args.resume:
                data["resumed"][-1] = report.measured(started)
            else:
                data["measured"] = report.measured(started)
            report.save(data, args.out)
            report.write_text(page, render(data))
            print(f"repeat {repeat}: {data['pairs'][index]['pair']} done", flush=True)
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
