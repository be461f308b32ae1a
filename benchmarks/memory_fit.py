"""Peak memory against the estimate: whole-image runs in fresh processes, this machine's CPU.

The estimate (`nst_helpers.runs.memory.estimate_memory`) counts bytes per network activation,
a figure that depends on TensorFlow's CPU kernels (AVX-512 or not), plus what the style loss holds
(its registry entry's `bytes_per_activation`). Each run is a fresh process: VGG16 with the real
weights, float32, 4 steps of Adam or of L-BFGS on the pyramid, with the Gram style loss, and of
Adam with the sliced Wasserstein one, on cat x mosaic; its peak is the process's VmHWM.

    python benchmarks/memory_fit.py            # 256, 512, 768 px (about 4 minutes)
    python benchmarks/memory_fit.py --render   # MEMORY_FIT.md again from memory_fit.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
import report  # noqa: E402

ROOT = BENCHMARKS.parent
WEIGHTS = os.environ.get(
    "NST_TEST_WEIGHTS",
    str(ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"),
)
JSON, MARKDOWN = "memory_fit.json", "MEMORY_FIT.md"
MODES = (("adam", "gram"), ("lbfgs", "gram"), ("adam", "sliced"))  # (optimizer, style loss)
CHILD = """
import json, sys
import nst_helpers as nst
from nst_helpers import machine
from nst_helpers.api import plan_run
from nst_helpers.runs.vgg import activation_count
size, optimizer, style_loss = int(sys.argv[2]), sys.argv[3], sys.argv[6]
settings = nst.Settings(arch="vgg16", weights=sys.argv[1], max_dim=size, steps=4,
                        optimizer=optimizer, pyramid=optimizer == "lbfgs", preview_every=0,
                        style_loss=style_loss)
plan = plan_run(sys.argv[4], sys.argv[5], settings)
nst.stylize(plan.content, plan.styles, settings, plan=plan)
width, height = plan.size
layers = settings.content_layers + settings.style_layers
print(json.dumps({"size": [width, height], "optimizer": optimizer, "style_loss": style_loss,
                  "estimate": plan.memory,
                  "peak": machine.peak_memory(),
                  "activations": activation_count("vgg16", layers, height, width),
                  "avx512": machine.cpu_has_avx512()}))
"""


def measure(sizes: list[int]) -> dict:
    content = ROOT / "images" / "content" / "cat.jpg"
    style = ROOT / "images" / "style" / "mosaic.jpg"
    runs = []
    for size in sizes:
        for optimizer, style_loss in MODES:
            args = [sys.executable, "-c", CHILD, WEIGHTS, str(size), optimizer, content, style,
                    style_loss]  # fmt: skip
            done = subprocess.run(args, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    return {"runs": runs}


def render(data: dict) -> str:
    rows = [
        [f"{r['size'][0]}x{r['size'][1]}", r["optimizer"], r.get("style_loss", "gram"),
         f"{r['activations'] / 1e6:.1f} M",
         f"{r['estimate'] / 2**30:.2f}", f"{r['peak'] / 2**30:.2f}",
         f"{r['peak'] / r['estimate']:.2f}"]
        for r in data["runs"]
    ]  # fmt: skip
    avx = "with" if data["runs"][0]["avx512"] else "without"
    return "\n".join([
        "# Peak memory against the estimate",
        "",
        f"Written by benchmarks/memory_fit.py from {JSON}. Measured "
        f"{report.measured_line(data['measured'])}, a CPU {avx} AVX-512. Each run a fresh "
        "process: VGG16 (real weights), float32, 4 steps, cat x mosaic; the peak is VmHWM.",
        "",
        report.table(["size", "optimizer", "style loss", "activations", "estimate, GiB",
                      "peak, GiB", "peak / estimate"], rows),
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only rebuild the markdown")
    parser.add_argument("--sizes", default="256,512,768", help="long sides, comma-separated")
    parser.add_argument("--folder", type=Path, default=BENCHMARKS, help="where results go")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    measuring = None if args.render else lambda: measure(sizes)
    report.measure_or_load(args.folder, "memory_fit.py", (JSON, MARKDOWN), render, measuring)


if __name__ == "__main__":
    main()
