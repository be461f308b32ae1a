"""The benchmarks' results: measurements kept as JSON, and the markdown rendered from them alone.

`bench.py` writes benchmarks/results.json (results_<setting>.json for the other settings) and
`long_runs.py` writes benchmarks/long_runs.json. Each section of the one, and each row of the
other, records when, where and how long it was measured, so a partial re-run replaces only its
own part. RESULTS.md and LONG_RUNS.md are views of those files; rebuild them without running
anything with

    python benchmarks/report.py        # both files (also: bench.py --render, long_runs.py --render)

Keys carry their units (`_seconds`, `_px`, `_gib`); NULLS says what a null means.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
LONG_RUNS_JSON = "long_runs.json"
LONG_RUNS_MD = "LONG_RUNS.md"
NULLS = (
    "Keys carry their units. null is a time or a speed-up not reached, or a loss not evaluated "
    "yet; at a checkpoint, a loss with plain_seconds_to_loss null is lower than the plain loop "
    "got in all its steps (the table shows the bounds, '> N')."
)


def about(script: str, markdown: str) -> str:
    """The `about` line at the top of a results file: what wrote it and what is rendered from it."""
    return (
        f"Measurements written by benchmarks/{script}; benchmarks/{markdown} is rendered from this "
        f"file alone (python benchmarks/report.py). {NULLS}"
    )


def results_names(setting: str) -> tuple[str, str]:
    """(JSON, markdown) file names of bench.py's results for a setting ("full" is the headline)."""
    if setting == "full":
        return "results.json", "RESULTS.md"
    return f"results_{setting}.json", f"RESULTS_{setting}.md"


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------
def machine() -> dict:
    """The machine and versions a measurement ran on."""
    import tensorflow as tf

    return {
        "cpu_cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }


def measured(started: float) -> dict:
    """When and where a part was measured, and its wall time since `started` (`time.time()`)."""
    minutes = round((time.time() - started) / 60, 1)
    return {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "wall_minutes": minutes}


def load(path: Path) -> dict:
    """A results file's data; a missing file stops the script with a message saying so."""
    if not Path(path).is_file():
        raise SystemExit(f"{path} not found: run the benchmark that writes it first.")
    return json.loads(Path(path).read_text())


def save(data: dict, path: Path) -> None:
    """Writes `data` as indented JSON, atomically (a crash leaves the old file)."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def measure_or_load(
    folder: Path,
    script: str,
    names: tuple[str, str],
    render: Callable[[dict], str],
    measure: Callable[[], dict] | None = None,
) -> None:
    """A benchmark's last lines: `measure()` (left out: the stored JSON) saved as `names[0]` in
    `folder` with where and when, and `render(data)` written beside it as `names[1]`."""
    path, markdown = folder / names[0], folder / names[1]
    if measure is None:
        data = load(path)
    else:
        started = time.time()
        data = {"about": about(script, names[1]), **measure()}
        data["measured"] = measured(started)
        save(data, path)
    write_text(markdown, render(data))
    print(f"wrote {path} and {markdown}")


def write_text(path: Path, text: str) -> None:
    from nst_helpers.files.images import atomic_write

    with atomic_write(path) as handle:
        handle.write(text.encode())


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------
def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def number(value: float | None, fmt: str, missing: str = "not reached") -> str:
    return missing if value is None else format(value, fmt)


def fraction(value: float) -> str:
    """1/15 for 0.0667: the checkpoints are fractions of the plain loop's time."""
    return str(Fraction(value).limit_denominator(100))


def measured_line(info: dict) -> str:
    m = info["machine"]
    where = f"{m['cpu_cores']} cores ({m['cpu']}), Python {m['python']}, TF {m['tensorflow']}"
    took = "" if info.get("wall_minutes") is None else f", in {info['wall_minutes']:.1f} min"
    return f"{info['date']} on {where}{took}"


def render_results(data: dict) -> str:
    """RESULTS.md from bench.py's JSON: one section per part that was measured."""
    json_name, _ = results_names(data["setting"])
    parts = [
        f"# Benchmark results ({data['setting']} setting)\n",
        f"Rendered by `benchmarks/report.py` from the measurements in `benchmarks/{json_name}`.\n",
    ]
    if "time_to_quality" in data:
        parts += _quality_section(data["time_to_quality"])
    if "speed" in data:
        parts += _speed_section(data["speed"])
    if "controls" in data:
        parts += _controls_section(data["controls"])
    parts += _judged_section()
    return "\n".join(parts)


def judged_tables(data: dict) -> list[str]:
    """A time_to_quality.py run's two tables (markdown lines): every pair's photo, target and
    modes with their judged scores, then each mode's ratio per pair."""

    def score(point) -> str:
        return "—" if point is None else f"{point['content']:.3f} / {point['style']:.3f}"

    at = data["setting"]["at"]
    lines = [
        f"| pair | mode | time to target (steps) | ratio | at {at[0]} s | at {at[-1]} s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for record in data["pairs"]:
        pair, target = record["pair"], record["target"]
        lines.append(f"| {pair} | unstyled photo (zero point) | | | {score(record['photo'])} | |")
        lines.append(
            f"| {pair} | plain tutorial loop (the target: {score(target)}) | "
            f"{record['plain_seconds']:.0f} s ({record['plain_steps']}) | 1.0x | "
            f"{score(record['plain_at'][str(at[0])])} | {score(record['plain_at'][str(at[-1])])} |"
        )
        for name, mode in record["modes"].items():
            seconds = mode["seconds_to_target"]
            reached = "not reached" if seconds is None else (
                f"{seconds:.0f} s ({mode['steps_to_target']})"
            )  # fmt: skip
            ratio = "—" if mode["ratio"] is None else f"**{mode['ratio']:.1f}x**"
            lines.append(
                f"| {pair} | {name} | {reached} | {ratio} | {score(mode['at'][str(at[0])])} | "
                f"{score(mode['at'][str(at[-1])])} |"
            )
    lines += ["", "Ratios per pair (the plain loop's 1000-step time over the time to target):", ""]
    lines += ["| mode | " + " | ".join(r["pair"] for r in data["pairs"]) + " | slowest pair |"]
    lines += ["| --- " * (len(data["pairs"]) + 2) + "|"]
    for name in data["pairs"][0]["modes"]:
        ratios = [record["modes"].get(name, {}).get("ratio") for record in data["pairs"]]
        shown = ["—" if r is None else f"{r:.1f}x" for r in ratios]
        worst = "not reached" if None in ratios else f"{min(ratios):.1f}x"
        lines.append(f"| {name} | " + " | ".join(shown) + f" | {worst} |")
    return lines


# The full time-to-quality runs RESULTS.md shows, first to last: (JSON file, its page, what it was)
JUDGED_RUNS = (
    ("time_to_quality.json", "TIME_TO_QUALITY.md", "the first full run"),
    ("time_to_quality_second.json", "TIME_TO_QUALITY_SECOND.md", "the second full run"),
)


def _judged_section() -> list[str]:
    """The judged time-to-quality section (each full run in JUDGED_RUNS whose JSON is here, with
    its tables) and the GPU section (a link to GPU_CHECK.md, or why there is none)."""
    gpu = (
        "measured: [GPU_CHECK.md](GPU_CHECK.md)"
        if (BENCHMARKS / "GPU_CHECK.md").is_file()
        else "**not measured yet**: no GPU machine has been lent to this project so far. "
        "`bash benchmarks/gpu_check.sh` is the prepared one-command check (seconds per step for "
        "float32/float16 x XLA off/on at 512 and 1024 px, float16 against float32 after 100 "
        "steps, and judged time to quality at 512 px); until it shows float16 to match, "
        '`precision="auto"` keeps float32 on GPUs and `jit_compile` stays off (on this CPU XLA '
        "is slower: the table above)"
    )
    parts = [
        "## Judged time to quality\n",
        "The loss above is what the runs minimize. What a user waits for is an image that looks "
        "finished: `benchmarks/time_to_quality.py` measures the time to the plain loop's "
        "1000-step image as a second network judges it (the HED VGG16, fine-tuned from ImageNet "
        "VGG16 for edges, which no run optimizes against: `benchmarks/judge.py`), content / "
        "style distances, lower is better, a mode reaching the target when it is at or below it "
        "on both. Each run's ratios divide times from that run alone; a "
        "mode stops at the target, so its 240 s column shows where it stopped. The CLI's "
        "default is chosen from three runs per mode and pair: [TTQ_TUNING_NOISE.md]"
        "(TTQ_TUNING_NOISE.md). (In both full runs the fast preset had style weight 10.)\n",
    ]
    for json_name, page, what in JUDGED_RUNS:
        if (BENCHMARKS / json_name).is_file():
            data = load(BENCHMARKS / json_name)
            parts += [
                f"### {what[0].upper() + what[1:]} ([{page}]({page}))\n",
                f"Measured {measured_line(data['measured'])} ({data['setting']['max_dim']} px).\n",
                "\n".join(judged_tables(data)) + "\n",
            ]
    return parts + ["## The GPU\n", f"GPU: {gpu}.\n"]


def checkpoint_cells(point: dict, limit_seconds: float, plain_seconds: float) -> list[str]:
    """The loss a mode had by `limit_seconds`, the plain loop's time to it and their ratio."""
    if point["loss"] is None:  # no full-size evaluation yet (e.g. still at a coarse level)
        return ["not evaluated yet", "", ""]
    if point["plain_seconds_to_loss"] is None:  # lower than the plain loop ever got
        bound = plain_seconds / limit_seconds
        return [f"{point['loss']:.4f}", f"> {plain_seconds:.0f}", f"> {bound:.1f}"]
    return [
        f"{point['loss']:.4f}",
        f"{point['plain_seconds_to_loss']:.0f}",
        f"{point['speedup']:.1f}",
    ]


def _quality_section(part: dict) -> list[str]:
    fractions = [fraction(f) for f in part["checkpoint_fractions"]]
    rows = [
        [
            row["mode"],
            f"{row['steps']:d}",
            number(row["seconds_to_target"], ".1f"),
            f"{row['loss']:.4f}",
            number(row["speedup"], ".1f"),
        ]
        for row in part["rows"]
    ]
    header = ["mode", "steps to target", "seconds to target", "loss (full size, float32)",
              "speed-up vs plain"]  # fmt: skip
    checkpoint_header = ["mode"]
    for label in fractions:
        checkpoint_header += [
            f"loss at {label} of the plain time",
            "plain loop's seconds to that loss",
            f"speed-up at {label}",
        ]
    checkpoint_rows = []
    for row in part["rows"]:
        cells = [row["mode"]]
        for share, point in zip(part["checkpoint_fractions"], row["checkpoints"], strict=True):
            cells += checkpoint_cells(point, share * part["plain_seconds"], part["plain_seconds"])
        checkpoint_rows.append(cells)
    first, last = fractions[0], fractions[-1]
    return [
        f"## Time to the plain loop's loss after {part['plain_steps']} steps "
        f"({part['max_dim_px']} px, {part['network'].upper()}, {part['content']} + "
        f"{part['style']})\n",
        f"Measured {measured_line(part['measured'])}.\n",
        f"Target loss {part['target_loss']:.4f}, reached by the plain loop in "
        f"{part['plain_seconds']:.0f} s. Each mode's image is evaluated at full size in float32 "
        f"every {part['evaluate_every_steps']} steps, off the clock; a mode that has not reached "
        f"the target by {last} of the plain loop's time is stopped.\n",
        table(header, rows) + "\n",
        f"The same runs at {' and '.join(fractions)} of the plain loop's time: the loss each mode "
        "had reached, how long the plain loop took to reach that loss, and the ratio (the "
        f"speed-up at equal loss; {Fraction(first).denominator}x at {first} means the target is "
        "met).\n",
        table(checkpoint_header, checkpoint_rows) + "\n",
        f"Side by side: `{part['side_by_side']}`. The fastest modes let run on past the cut-off: "
        "`benchmarks/long_runs.py`, which writes LONG_RUNS.md.\n",
    ]


def _speed_section(part: dict) -> list[str]:
    header = ["network", "size (px)", "precision", "XLA", "s/step", "GFLOP/step", "GFLOP/s",
              "peak memory (GiB)"]  # fmt: skip
    rows = [
        [
            row["network"],
            f"{row['size_px']:d}",
            row["precision"],
            "on" if row.get("xla") else "off",
            f"{row['seconds_per_step']:.3f}",
            f"{row['gflop_per_step']:.0f}",
            f"{row['gflop_per_second']:.0f}",
            f"{row['peak_memory_gib']:.2f}",
        ]
        for row in part["rows"]
    ]
    counts = [row["steps_timed"] for row in part["rows"]]
    usual = max(sorted(set(counts), reverse=True), key=counts.count)  # a tie: the longer
    other = {(row["size_px"], row["steps_timed"]) for row in part["rows"]}
    other = [f"{n} at {size} px" for size, n in sorted(other) if n != usual]
    timed = f"{usual} steps" + (f" ({', '.join(other)})" if other else "")
    return [
        "## Seconds per step, throughput and peak memory\n",
        f"Measured {measured_line(part['measured'])}. Square random images, random weights, the "
        f"default layers; s/step is the median of {timed}, each "
        "configuration in its own process (so the peak memory is its own). GFLOP/step counts the "
        "forward convolutions up to the deepest layer (`nst_helpers.runs.vgg.conv_flops`), times "
        "two for the backward pass. XLA on: the step compiled with `jit_compile=True` (its "
        "first call, which compiles, not timed).\n",
        table(header, rows) + "\n",
    ] + _xla_lines(part["rows"])


def _xla_lines(rows: list[dict]) -> list[str]:
    """One sentence per XLA row: its step time against the same configuration without XLA."""
    plain = {(r["network"], r["size_px"], r["precision"]): r for r in rows if not r.get("xla")}
    said = []
    for row in rows:
        key = (row["network"], row["size_px"], row["precision"])
        if row.get("xla") and key in plain:
            ratio = row["seconds_per_step"] / plain[key]["seconds_per_step"]
            verdict = f"{ratio:.1f}x slower" if ratio >= 1 else f"{1 / ratio:.1f}x faster"
            said.append(f"{key[0]} {key[1]} px {key[2]}: {verdict}")
    if not said:
        return []
    return [f"XLA on this machine, against the same step without it: {'; '.join(said)}.\n"]


def _controls_section(part: dict) -> list[str]:
    sweep, size = part["sweep"], part["size_px"]
    speed = sweep["separate_seconds"] / sweep["batch_seconds"]
    rows = [
        [
            f"sweep of {len(sweep['values'])} {sweep['parameter'].replace('_', ' ')}s, "
            f"{sweep['steps']} steps at {size} px: separate runs",
            f"{sweep['separate_seconds']:.1f} s",
        ],
        [
            "the same through nst.sweep (one batch until 0.2.0)",
            f"{sweep['batch_seconds']:.1f} s ({speed:.2f}x the speed of separate runs)",
        ],
    ]
    for run in part["ema"]:
        rows.append([
            f"Adam, {run['steps']} steps at {size} px, ema {run['decay']}: the saved image's",
            f"total loss {run['total_loss']:.4f}, TV {run['tv_loss']:.4f}",
        ])  # fmt: skip
    return [
        "## Sweeps and the moving average\n",
        f"Measured {measured_line(part['measured'])}.\n",
        table(["measurement", "result"], rows) + "\n",
    ]


def render_long_runs(data: dict) -> str:
    """LONG_RUNS.md from long_runs.py's JSON."""
    target, fractions = data["target"], data["fractions_of_plain_time"]
    header = ["mode", "steps run", "seconds", "lowest loss"]
    header += [f"at {fraction(f)}" for f in fractions]
    header[4] += " of the plain time"
    header += ["seconds to the target", "speed-up at the target"]
    rows = [
        [row["mode"], f"{row['steps']:d}", f"{row['seconds']:.0f}",
         number(row["lowest_loss"], ".4f", "not evaluated")]
        + [number(loss, ".4f", "not evaluated yet") for loss in row["loss_at_fractions"]]
        + [number(row["seconds_to_target"], ".0f"), number(row["speedup_at_target"], ".1f")]
        for row in data["rows"]
    ]  # fmt: skip
    runs = [f"- {row['mode']}: {measured_line(row['measured'])}." for row in data["rows"]]
    return "\n".join(
        [
            f"# Long runs ({data['max_dim_px']} px, {data['network'].upper()}, "
            f"{data['content']} + {data['style']})\n",
            "Rendered by `benchmarks/report.py` from the measurements in "
            f"`benchmarks/{LONG_RUNS_JSON}`.\n",
            f"Target: the plain tutorial loop's loss after {target['plain_steps']} steps, "
            f"{target['loss']:.4f}, which it reached in {target['plain_seconds']:.0f} s "
            f"(`{target['from']}`). Losses evaluated at full size in float32 every "
            f"{data['evaluate_every_steps']} steps, off the clock; seconds are the run's own, at "
            "its last evaluation.\n",
            table(header, rows) + "\n",
            "Each row measured on its own run:\n",
            "\n".join(runs) + "\n",
        ]
    )


def render_all(folder: Path = BENCHMARKS) -> list[Path]:
    """Re-renders every markdown file whose JSON is in `folder`; returns the files written."""
    written = []
    for path in sorted(folder.glob("results*.json")):
        data = load(path)
        _, markdown = results_names(data["setting"])
        write_text(folder / markdown, render_results(data))
        written.append(folder / markdown)
    if (folder / LONG_RUNS_JSON).exists():
        write_text(folder / LONG_RUNS_MD, render_long_runs(load(folder / LONG_RUNS_JSON)))
        written.append(folder / LONG_RUNS_MD)
    return written


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCHMARKS
    for path in render_all(folder):
        print(f"rendered {path}")
