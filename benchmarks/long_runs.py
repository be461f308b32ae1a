"""Long runs: how far the fastest modes get at 512 px when they are not stopped at 1/4 of the time.

Run from the repository root, after the full benchmark (it reads the target from RESULTS.md):

    python benchmarks/long_runs.py                 # about 40 minutes on a 2-core CPU
    python benchmarks/long_runs.py --only MODE ..  # re-measure some rows, keep the others

The full benchmark stops each mode at a quarter of the plain loop's time. Here the candidates
for the late phase run on: L-BFGS with the image pyramid in float32 (the best mode early on),
and the library's Adam loop in bfloat16, with Keras' beta_1 0.9 and with the tutorial's 0.99
(the plain loop's steps, only cheaper). Each image is evaluated at full size in float32 every
EVERY steps, off the clock. It prints a table and writes benchmarks/LONG_RUNS.md: the loss at
1/15, 1/4 and 1/2 of the plain loop's time, and the time to the plain loop's 1000-step loss
where a mode gets there.
"""

from __future__ import annotations

import argparse
import math
import re
import time

import bench

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
COLUMNS = [
    ("mode", "mode", "s"),
    ("steps run", "steps", "d"),
    ("seconds", "seconds", ".0f"),
    ("lowest loss", "loss", ".4f"),
    ("at 1/15 of the plain time", "at_0", ".4f"),
    ("at 1/4", "at_1", ".4f"),
    ("at 1/2", "at_2", ".4f"),
    ("seconds to the target", "to_target", ".0f"),
    ("speed-up at the target", "ratio", ".1f"),
]


def plain_reference(text: str) -> tuple[float, float]:
    """(target loss, plain loop's seconds) from the full benchmark's RESULTS.md text."""
    match = re.search(r"Target loss ([\d.]+), reached by the plain loop in ([\d.]+) s", text)
    if match is None:
        raise SystemExit("benchmarks/RESULTS.md has no target: run bench.py --setting full first.")
    return float(match[1]), float(match[2])


def summarise(name: str, trace, steps: int, target: float, plain_seconds: float) -> dict:
    """One table row from a run's (seconds, step, loss) trace, evaluated every EVERY steps."""
    row = {"mode": name, "steps": steps, "seconds": trace[-1][0] if trace else 0.0}
    row["loss"] = min((loss for _, _, loss in trace), default=math.nan)
    for i, fraction in enumerate(FRACTIONS):
        seen = [loss for seconds, _, loss in trace if seconds <= plain_seconds * fraction]
        row[f"at_{i}"] = min(seen) if seen else "not evaluated yet"
    reached = next((seconds for seconds, _, loss in trace if loss <= target), None)
    row["to_target"] = reached if reached is not None else "not reached"
    row["ratio"] = plain_seconds / reached if reached is not None else "not reached"
    return row


def long_run(name: str, changes: dict, weights: str, target: float, plain_seconds: float,
             max_dim: int = 512) -> dict:  # fmt: skip
    """Runs one mode with `changes` until it reaches `target` or spends its steps."""
    from nst_helpers.optimize import stylize
    from nst_helpers.settings import Settings

    settings = Settings(arch="vgg16", weights=weights, max_dim=max_dim, preview_every=EVERY)
    fp32, evaluate = bench.full_size_judge(settings)
    settings = settings.replace(**changes)
    extractor = fp32 if settings.precision == "float32" else None
    print(f"{name}: up to {settings.steps} steps at {max_dim} px ...", flush=True)
    watch = bench.TargetWatch(evaluate, target, final_level=len(settings.levels()) - 1)
    result = stylize(bench.CONTENT, bench.STYLE, settings, extractor=extractor, callbacks=[watch])
    trace = [(s, step, loss) for (s, loss), step in zip(watch.trace, watch.steps, strict=True)]
    row = summarise(name, trace, result.steps_done, target, plain_seconds)
    print(row, flush=True)
    return row


def merge_rows(old_text: str, table: str, target_line: str) -> str:
    """`table` with the rows of the old results file's table for the modes it did not run,
    in RUNS order (the file's other lines come from this run). Refuses when the old rows were
    measured against another target (`target_line` differs)."""
    if target_line not in old_text:
        raise SystemExit(
            "LONG_RUNS.md was measured against another target: run every mode (no --only)."
        )
    lines = {line.split(" | ")[0][2:]: line for line in old_text.splitlines()
             if line.startswith("| ") and line[2:].split(" | ")[0] in RUNS}  # fmt: skip
    head, rule, *rows = table.splitlines()
    lines.update({line.split(" | ")[0][2:]: line for line in rows})
    return "\n".join([head, rule, *(lines[name] for name in RUNS if name in lines)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(bench.DEFAULT_WEIGHTS))
    parser.add_argument("--only", nargs="+", choices=RUNS, metavar="MODE",
                        help="run only these modes; keep LONG_RUNS.md's other rows")  # fmt: skip
    args = parser.parse_args()
    target, plain_seconds = plain_reference((bench.ROOT / "benchmarks" / "RESULTS.md").read_text())
    out = bench.ROOT / "benchmarks" / "LONG_RUNS.md"
    started = time.time()
    names = args.only or list(RUNS)
    rows = [long_run(name, RUNS[name], args.weights, target, plain_seconds) for name in names]
    table = bench.markdown_table(rows, COLUMNS)
    target_line = (
        f"Target: the plain tutorial loop's loss after 1000 steps, {target:.4f}, which it "
        f"reached in {plain_seconds:.0f} s (benchmarks/RESULTS.md)."
    )
    if args.only and out.exists():
        table = merge_rows(out.read_text(), table, target_line)
    print(table)
    ran = "" if not args.only else f" (this run: {', '.join(names)}; the other rows are earlier)"
    text = "\n".join(
        [
            "# Long runs (512 px, VGG16, cat.jpg + swirl.jpg)\n",
            f"Machine: {bench.machine()}.\n",
            f"{target_line} Losses evaluated at full size in float32 every {EVERY} steps, off "
            "the clock; seconds are the run's own, at its last evaluation.\n",
            table + "\n",
            f"Wall time: {(time.time() - started) / 60:.1f} min{ran}.\n",
        ]
    )
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
