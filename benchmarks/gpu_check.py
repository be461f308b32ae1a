"""The GPU check (issue 12), run by benchmarks/gpu_check.sh in one command on a GPU machine.

It prints and writes (benchmarks/gpu_check.json, GPU_CHECK.md):

1. Seconds per step for float32 and float16, each with XLA off and on, at 512 and 1024 px, for
   VGG16 and VGG19 (random weights: timing only), each in its own process.
2. Whether float16 matches float32: the library's Adam loop for 100 steps at 512 px on a bundled
   pair with the real VGG16 weights, in both precisions. It matches when the total loss after 100
   steps is within 1 % and no step is NaN (underflowing input gradients would show here).
   Until this has passed on a GPU, `precision="auto"` keeps float32 there.
3. Time to quality of the plain loop against the default mode at 512 px on one pair, judged by
   the HED network (skipped when its weights file is not there).

Every figure is measured side by side in this one run. Budget: under 8 minutes on one GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402

WEIGHTS = ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"


def step_times(archs, sizes, steps: int) -> list[dict]:
    """Part 1: one child process per configuration (its own memory, its own XLA cache)."""
    rows = []
    for arch in archs:
        for size in sizes:
            for precision in ("float32", "float16"):
                for xla in (False, True):
                    code = (
                        "import json, speed; print(json.dumps(speed.speed_one("
                        f"{arch!r}, {size}, {precision!r}, {steps}, jit_compile={xla})))"
                    )
                    out = subprocess.run(
                        [sys.executable, "-c", code],
                        cwd=ROOT / "benchmarks",
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                    print(rows[-1], flush=True)
    return rows


def float16_matches(weights: str, max_dim: int, steps: int) -> dict:
    """Part 2: the same run in float32 and float16; float16 matches within 1 % and no NaN."""
    import numpy as np

    import nst_helpers as nst

    paths = nst.sample_path("content", "cat"), nst.sample_path("style", "swirl")
    out = {"max_dim": max_dim, "steps": steps}
    for precision in ("float32", "float16"):
        settings = nst.Settings(arch="vgg16", weights=weights, max_dim=max_dim, steps=steps,
                                precision=precision, preview_every=0)  # fmt: skip
        try:
            result = nst.stylize(*paths, settings)
            history = result.history["total"]
            out[precision] = {"final_total_loss": history[-1], "seconds": result.seconds,
                              "nan": not bool(np.all(np.isfinite(history)))}  # fmt: skip
        except nst.NonFiniteLossError as err:
            out[precision] = {"final_total_loss": None, "nan": True, "error": str(err)}
    full, half = out["float32"], out["float16"]
    out["matches"] = (
        not half["nan"]
        and half["final_total_loss"] is not None
        and abs(half["final_total_loss"] - full["final_total_loss"])
        <= 0.01 * full["final_total_loss"]
    )
    return out


def judged(weights: str, max_dim: int, cap: float) -> dict | None:
    """Part 3: the time-to-quality table for one pair, the plain loop against the default."""
    import judge
    import time_to_quality as ttq

    if not judge.HED_WEIGHTS.is_file():
        print(f"no judge weights at {judge.HED_WEIGHTS}: time to quality skipped", flush=True)
        return None
    from nst_helpers.runs.presets import CLI_PRESET

    setting = {**ttq.SETTINGS["full"], "max_dim": max_dim, "cap": cap}
    modes = {f"{CLI_PRESET} preset (the CLI default)": {"preset": CLI_PRESET}}
    return ttq.run_pair("cat", "swirl", setting, weights, judge.Judge(), ROOT / "benchmarks", modes)


def render(data: dict) -> str:
    rows = [
        [r["network"], f"{r['size_px']} px", r["precision"], "on" if r["xla"] else "off",
         f"{r['seconds_per_step'] * 1000:.1f} ms", f"{r['gflop_per_second']:.0f}"]
        for r in data["steps"]
    ]  # fmt: skip
    match = data["float16"]
    losses = [match[p]["final_total_loss"] for p in ("float16", "float32")]
    lines = [
        "# GPU check",
        "",
        f"Measured {report.measured_line(data['measured'])} with `bash benchmarks/gpu_check.sh`.",
        "",
        report.table(["network", "size", "precision", "XLA", "per step", "GFLOP/s"], rows),
        "",
        f"float16 against float32, {match['steps']} Adam steps at {match['max_dim']} px: total "
        f"loss {losses[0]} against {losses[1]}; "
        f"{'matches (within 1 %, no NaN)' if match['matches'] else 'does NOT match'}.",
    ]
    if data.get("time_to_quality"):
        record = data["time_to_quality"]
        lines += [
            "",
            f"Time to quality ({record['pair']}): plain loop {record['plain_seconds']:.0f} s;",
        ]
        for name, mode in record["modes"].items():
            ratio = "not reached" if mode["ratio"] is None else f"{mode['ratio']:.1f}x"
            lines.append(f"- {name}: {ratio}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(WEIGHTS))
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--archs", default="vgg16,vgg19")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
    parser.add_argument("--match-steps", type=int, default=100)
    parser.add_argument("--match-dim", type=int, default=512)
    parser.add_argument("--cap", type=float, default=60.0, help="seconds for each judged mode")
    parser.add_argument("--skip-judged", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "gpu_check.json")
    args = parser.parse_args(argv)
    started = time.time()
    sizes = [int(size) for size in args.sizes.split(",")]
    data = {"steps": step_times(args.archs.split(","), sizes, args.steps)}
    data["float16"] = float16_matches(args.weights, args.match_dim, args.match_steps)
    print(data["float16"], flush=True)
    if not args.skip_judged:
        data["time_to_quality"] = judged(args.weights, args.match_dim, args.cap)
    data["measured"] = report.measured(started)
    report.save(data, args.out)
    page = render(data)
    report.write_text(args.out.with_name("GPU_CHECK.md"), page)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
