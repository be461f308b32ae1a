"""Long runs: how far the fastest modes get at 512 px when they are not stopped at 1/4 of the time.

Run from the repository root, after the full benchmark (it reads the target from results.json):

    python benchmarks/long_runs.py                 # about 40 minutes on a 2-core CPU
    python benchmarks/long_runs.py --only MODE ..  # re-measure some rows, keep the others
    python benchmarks/long_runs.py --render        # rebuild LONG_RUNS.md from long_runs.json only

The full benchmark stops each mode at a quarter of the plain loop's time. Here the candidates
for the late phase run on: L-BFGS with the image pyramid in float32 (the best mode early on),
and the library's Adam loop in bfloat16, with Keras' beta_1 0.9 and with the tutorial's 0.99
(the plain loop's steps, only cheaper). Each image is evaluated at full size in float32 every
EVERY steps, off the clock. Each row (the loss at 1/15, 1/4 and 1/2 of the plain loop's time,
and the time to the plain loop's final loss where a mode gets there) goes to
benchmarks/long_runs.json with its own date and machine; LONG_RUNS.md is rendered from it.
"""

from __future__ import annotations

import argparse
import time

import bench
import report

import nst_helpers as nst

EVERY = 25  # steps between float32 evaluations (each costs about half a step, off the clock)
# Settings changes per mode, on top of the defaults (the same objective as the plain loop).
RUNS = {
    "lbfgs + pyramid, float32": {"optimizer": "lbfgs", "pyramid": True, "steps": 650},
    "adam (the library's loop: beta_1 0.9), bfloat16": {"precision": "bfloat16", "steps": 1000},
    "adam with the tutorial's beta_1 0.99, bfloat16": {
        "beta_1": 0.99,
        "precision": "bfloat16",
        "steps": 1000,
    },
}
FRACTIONS = (1 / 15, 1 / 4, 1 / 2)
MAX_DIM = 512  # the full benchmark's size


def plain_reference(results: dict) -> dict:
    """The target, from the full benchmark's results.json: the plain loop's loss after its
    steps and the seconds it took."""
    part = results.get("time_to_quality") if results.get("setting") == "full" else None
    if part is None:
        raise SystemExit(
            "benchmarks/results.json has no target: run bench.py --setting full first."
        )
    return {
        "plain_steps": part["plain_steps"],
        "loss": part["target_loss"],
        "plain_seconds": part["plain_seconds"],
        "from": "benchmarks/results.json",
    }


def summarize(name: str, trace, steps: int, target: float, plain_seconds: float) -> dict:
    """One row of long_runs.json from a run's (seconds, step, loss) trace, evaluated every EVERY
    steps. None: not evaluated yet (a loss), or not reached (the target)."""
    seconds = trace[-1][0] if trace else 0.0
    row = {"mode": name, "steps": steps, "seconds": seconds}
    row["lowest_loss"] = min((loss for _, _, loss in trace), default=None)
    row["loss_at_fractions"] = []
    for fraction in FRACTIONS:
        seen = [loss for seconds, _, loss in trace if seconds <= plain_seconds * fraction]
        row["loss_at_fractions"].append(min(seen) if seen else None)
    reached = next((seconds for seconds, _, loss in trace if loss <= target), None)
    row["seconds_to_target"] = reached
    row["speedup_at_target"] = plain_seconds / reached if reached is not None else None
    return row


def long_run(name: str, changes: dict, weights: str, target: float, plain_seconds: float,
             max_dim: int = MAX_DIM) -> dict:  # fmt: skip
    """Runs one mode with `changes` until it reaches `target` or spends its steps."""
    settings = nst.Settings(arch="vgg16", weights=weights, max_dim=max_dim, preview_every=EVERY)
    fp32, evaluate = bench.full_size_judge(settings)
    settings = settings.replace(**changes)
    extractor = fp32 if settings.precision == "float32" else None
    print(f"{name}: up to {settings.steps} steps at {max_dim} px ...", flush=True)
    watch = bench.TargetWatch(evaluate, target, final_level=len(settings.levels()) - 1)
    result = nst.stylize(bench.CONTENT, bench.STYLE, settings, extractor=extractor,
                         callbacks=[watch])  # fmt: skip
    trace = [(s, step, loss) for (s, loss), step in zip(watch.trace, watch.steps, strict=True)]
    row = summarize(name, trace, result.steps_done, target, plain_seconds)
    print(row, flush=True)
    return row


def same_target(a: dict, b: dict) -> bool:
    """Whether two targets agree as LONG_RUNS.md shows them (the loss to 4 places, whole s)."""
    return all(
        round(a[key], digits) == round(b[key], digits)
        for key, digits in (("loss", 4), ("plain_seconds", 0))
    )


def merge_rows(old: dict, rows: list[dict], target: dict) -> list[dict]:
    """`rows` with the old long_runs.json's rows for the modes they do not have, in RUNS order.
    Refuses when the old rows were measured against another target."""
    if not same_target(old["target"], target):
        raise SystemExit(
            "long_runs.json was measured against another target: run every mode (no --only)."
        )
    merged = {row["mode"]: row for row in old["rows"] if row["mode"] in RUNS}
    merged.update({row["mode"]: row for row in rows})
    return [merged[name] for name in RUNS if name in merged]


def document(rows: list[dict], target: dict, max_dim: int) -> dict:
    """long_runs.json: the setup, the target and one row per mode."""
    return {
        "about": report.about("long_runs.py", report.LONG_RUNS_MD),
        "max_dim_px": max_dim,
        "network": "vgg16",
        "content": bench.CONTENT.name,
        "style": bench.STYLE.name,
        "evaluate_every_steps": EVERY,
        "fractions_of_plain_time": list(FRACTIONS),
        "target": target,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(bench.DEFAULT_WEIGHTS))
    parser.add_argument("--only", nargs="+", choices=RUNS, metavar="MODE",
                        help="run only these modes; keep long_runs.json's other rows")  # fmt: skip
    parser.add_argument("--render", action="store_true",
                        help="rebuild LONG_RUNS.md from long_runs.json only")  # fmt: skip
    args = parser.parse_args()
    folder = bench.ROOT / "benchmarks"
    path, markdown = folder / report.LONG_RUNS_JSON, folder / report.LONG_RUNS_MD
    if args.render:
        report.write_text(markdown, report.render_long_runs(report.load(path)))
        print(f"rendered {markdown}")
        return
    results = folder / report.results_names("full")[0]
    target = plain_reference(report.load(results) if results.exists() else {})
    old = report.load(path) if args.only and path.exists() else None
    if old is not None:  # refuse before hours of running, not after
        merge_rows(old, [], target)
    rows = []
    for name in args.only or list(RUNS):
        started = time.time()
        row = long_run(name, RUNS[name], args.weights, target["loss"], target["plain_seconds"])
        rows.append({**row, "measured": report.measured(started)})
    if old is not None:
        rows = merge_rows(old, rows, target)
    data = document(rows, target, MAX_DIM)
    report.save(data, path)
    report.write_text(markdown, report.render_long_runs(data))
    print(f"wrote {path} and {markdown}")


if __name__ == "__main__":
    main()
