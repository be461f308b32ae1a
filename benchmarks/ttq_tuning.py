"""Tuning for time to quality: candidate modes against a stored full run's targets (issue 12).

Run from the repository root (up to about 5 minutes per candidate and pair on a 2-core CPU):

    python benchmarks/ttq_tuning.py                          # every candidate on every pair
    python benchmarks/ttq_tuning.py --only "style weight 15"  # some; merged into the results
    python benchmarks/ttq_tuning.py --repeats 3 --pairs "cat x swirl"  # the spread of one pair
    python benchmarks/ttq_tuning.py --render                  # rebuild the markdown

A full time-to-quality table (time_to_quality.py --setting full) takes about two hours, most of
it the plain loop's 1000 steps per pair. To try many candidates, this script takes that run's
targets (the plain loop's 1000-step scores) and plain-loop times from
benchmarks/time_to_quality.json and runs only the candidates, judged as the table judges them
and stopped at the target, or once they are slower than the plain loop's time / `--min-ratio`.
Its ratios divide times from two runs. With `--repeats 3` on every pair they are the median of
three runs per mode, which one full table is not: the CLI default is chosen from such a file
(ttq_tuning_noise.json, see `time_to_quality.choose_default` and
tests/benchmarks/test_judge.py). Stored
records of "fast preset (style weight 10)" say {"preset": "fast"}: the preset had 10 then.

Neither the plain loop nor the fast preset is bit-reproducible from one process to the next on
this project's CPU (their losses differ from the third and the sixth step on), so both a target
and a time to it move between runs: compare candidates run side by side here, not with another
run's times.

Results go to benchmarks/ttq_tuning.json; TTQ_TUNING.md is rendered from it alone.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402
import time_to_quality as ttq  # noqa: E402
from judge import Judge, Scores  # noqa: E402

OUT = ROOT / "benchmarks" / "ttq_tuning.json"
# Settings changes on top of the plain loop's objective, as in time_to_quality.MODES.
CANDIDATES = {
    # The fast preset at the tutorial's style weight: the preset itself until it took 12.
    "fast preset (style weight 10)": {"preset": "fast", "style_weight": 10.0},
    "style weight 11": {"preset": "fast", "style_weight": 11.0},
    "style weight 12": {"preset": "fast", "style_weight": 12.0},
    "style weight 15": {"preset": "fast", "style_weight": 15.0},
    "average pooling": {"preset": "fast", "style_weight": 10.0, "pooling": "avg"},
}


def tune(
    stored: dict,
    names: list[str],
    weights: str,
    min_ratio: float,
    done: dict,
    out: Path = OUT,
    against: str = ttq.RESULTS.name,
    repeats: int = 1,
    only_pairs: list[str] | None = None,
) -> dict:
    """Runs the named candidates on every pair of `stored` (a full run's JSON, the file named
    `against`), adding them to `done` (this script's results so far), which it saves after every
    run and returns. With `repeats`, each candidate runs that many times per pair and its record
    is the median run's, with every run's time to target under "runs"."""
    setting = stored["setting"]
    judge = Judge()
    plain = ttq.plain_settings(setting, weights)
    pairs = {record["pair"]: record for record in done.get("pairs", [])}
    for source in stored["pairs"]:
        if only_pairs and source["pair"] not in only_pairs:
            continue
        content_name, style_name = source["pair"].split(" x ")
        paths, content, style, shown = ttq.load_pair(content_name, style_name, setting["max_dim"])
        record = pairs.setdefault(source["pair"], {"pair": source["pair"], "modes": {}})
        record.update(target=source["target"], plain_seconds=source["plain_seconds"])
        cap = source["plain_seconds"] / min_ratio
        goal = Scores(source["target"]["content"], source["target"]["style"])
        for name in names:
            changes, runs = CANDIDATES[name], []
            for _ in range(repeats):
                watch = ttq.Watch(judge, content, style, shown.size, goal, cap)
                runs.append(
                    ttq.run_mode(paths, plain, changes, setting, watch, source["plain_seconds"])
                )
            record["modes"][name] = {
                **median_run(runs),
                "cap": cap,
                "runs": [run["seconds_to_target"] for run in runs],
            }
            print(name, source["pair"], record["modes"][name]["ratio"], flush=True)
            done = {"setting": setting, "min_ratio": min_ratio, "against": against,
                    "targets_from": stored["measured"], "pairs": list(pairs.values())}  # fmt: skip
            report.save(done, out)
    return done


def median_run(runs: list[dict]) -> dict:
    """The run with the median time to target (the upper one of an even count; a run that did
    not reach the target counts as the slowest)."""
    ordered = sorted(
        runs,
        key=lambda run: math.inf if run["seconds_to_target"] is None else run["seconds_to_target"],
    )
    return ordered[len(ordered) // 2]


def render(data: dict) -> str:
    """The markdown page, from the JSON alone."""
    pairs = data["pairs"]
    names = [name for name in CANDIDATES if all(name in r["modes"] for r in pairs)]
    names += sorted({n for r in pairs for n in r["modes"]} - set(names))
    lines = [
        "# Tuning for time to quality: candidates against a stored run's targets",
        "",
        "Targets and plain-loop times from the full run "
        f"{report.measured_line(data['targets_from'])}"
        f" (`{data['against']}`); each candidate run once unless a cell "
        "says otherwise, by "
        "`python benchmarks/ttq_tuning.py`, stopped at the target or at the plain loop's time / "
        f"{data['min_ratio']:g}. The ratios divide times from two runs: a guide to what the "
        "next full table measures, not that table. A cell: time to target (L-BFGS "
        "evaluations), ratio; or, not reached, the judge's content / style where it stopped "
        "against the target's. With several runs, the median run, then each run's time.",
        "",
        "| candidate | " + " | ".join(r["pair"] for r in pairs) + " | slowest pair |",
        "| --- " * (len(pairs) + 2) + "|",
    ]
    for name in names:
        cells, ratios = [], []
        for record in pairs:
            mode = record["modes"].get(name)
            if mode is None:
                cells.append("not run")
                ratios.append(None)
                continue
            ratios.append(mode["ratio"])
            if mode["ratio"] is not None:
                cells.append(
                    f"{mode['seconds_to_target']:.0f} s ({mode['steps_to_target']}), "
                    f"**{mode['ratio']:.1f}x**"
                )
            else:
                last, target = mode["last"], record["target"]
                cells.append(
                    f"not in {mode['cap']:.0f} s: {last['content']:.3f} / {last['style']:.3f} "
                    f"(target {target['content']:.3f} / {target['style']:.3f})"
                )
            runs = mode.get("runs", [])
            if len(runs) > 1:
                times = ", ".join("—" if t is None else f"{t:.0f}" for t in runs)
                cells[-1] += f"; median of {len(runs)} runs: {times} s"
        worst = "—" if None in ratios else f"{min(ratios):.1f}x"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {worst} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=CANDIDATES, help="run these candidates")
    parser.add_argument("--render", action="store_true", help="only rebuild the markdown")
    parser.add_argument("--weights", default=str(ttq.WEIGHTS), help="the optimized network's file")
    parser.add_argument(
        "--min-ratio",
        type=float,
        default=10.0,
        help="stop once slower than plain loop's time / this",
    )
    parser.add_argument("--against", type=Path, default=ttq.RESULTS, help="a full run's JSON")
    parser.add_argument("--out", type=Path, default=OUT, help="this script's JSON results")
    parser.add_argument("--repeats", type=int, default=1, help="runs per candidate and pair")
    parser.add_argument("--pairs", nargs="+", help='only these pairs, e.g. "cat x swirl"')
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}.")
    if not args.render:
        stored = report.load(args.against)
        known = [record["pair"] for record in stored["pairs"]]
        unknown = [pair for pair in args.pairs or [] if pair not in known]
        if unknown:
            parser.error(f"--pairs: {unknown} not in {args.against.name}; it has {known}.")
        done = report.load(args.out) if args.out.exists() else {}
        tune(stored, args.only or list(CANDIDATES), args.weights,
             args.min_ratio, done, args.out, args.against.name, args.repeats,
             args.pairs)  # fmt: skip
    page = render(report.load(args.out))
    report.write_text(ttq.markdown_path(args.out), page)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
