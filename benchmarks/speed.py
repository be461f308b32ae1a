"""Seconds per step, GFLOP/s and peak memory of the library's step, one configuration per process.

`bench.py` runs `speed_table` for the `speed` part of results.json; each configuration runs in a
child process (`python benchmarks/speed.py ARCH SIZE PRECISION STEPS [XLA 0/1]`), so its peak
memory is its own. Random weights are fine for timing.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import nst_helpers as nst

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def step_gflop(arch: str, layers, size: int) -> float:
    """FLOPs of one step, in GFLOP: the forward convolutions up to the deepest layer
    (`vgg.conv_flops`), times two (the backward pass computes the gradient for the input
    only, about the forward's cost)."""
    from nst_helpers.runs.vgg import conv_flops

    return 2 * conv_flops(arch, layers, size, size) / 1e9


def speed_one(arch: str, size: int, precision: str, steps: int, jit_compile: bool = False) -> dict:
    """Runs in a child process: seconds per step (median) and this process's peak memory.

    `jit_compile` compiles the step with XLA; the first call (tracing, compiling) is not timed.
    """
    import numpy as np
    import tensorflow as tf

    settings = nst.Settings(arch=arch, weights=None)
    extractor = nst.build_extractor(arch, None, precision=precision)
    image = tf.Variable(tf.random.uniform((1, size, size, 3), seed=0))
    targets = nst.make_targets(extractor, tf.convert_to_tensor(image), tf.convert_to_tensor(image))

    @tf.function(jit_compile=jit_compile or None)
    def step():
        with tf.GradientTape() as tape:
            total = nst.compute_losses(extractor, image, *targets, settings)["total"]
        return total, tape.gradient(total, image)

    step()  # trace
    times = []
    for _ in range(steps):
        tick = time.perf_counter()
        step()[0].numpy()
        times.append(time.perf_counter() - tick)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = float(np.median(times))
    gflop = step_gflop(arch, settings.content_layers + settings.style_layers, size)
    return {
        "network": arch,
        "size_px": size,
        "precision": precision,
        "xla": jit_compile,
        "steps_timed": steps,
        "seconds_per_step": seconds,
        "gflop_per_step": gflop,
        "gflop_per_second": gflop / seconds,
        "peak_memory_gib": peak_kib / 2**20,
    }


def speed_table(sizes, archs, precisions, xla=(("vgg16", 512),)) -> dict:
    """The `speed` part of results.json: one row per network, size and precision, XLA off; and
    each (network, size) in `xla` again with XLA on, for every precision."""
    configs = [(a, s, p, False) for a in archs for s in sizes for p in precisions]
    configs += [(a, s, p, True) for a, s in xla for p in precisions]
    rows = []
    for arch, size, precision, jit in configs:
        steps = 5 if size <= 512 else 3
        print(f"speed: {arch} {size} px {precision}{' XLA' if jit else ''} ...", flush=True)
        out = subprocess.run(
            [sys.executable, __file__, arch, str(size), precision, str(steps), str(int(jit))],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    return {"rows": rows}


if __name__ == "__main__":
    arch, size, precision, steps = sys.argv[1:5]
    jit = len(sys.argv) > 5 and sys.argv[5] == "1"
    print(json.dumps(speed_one(arch, int(size), precision, int(steps), jit_compile=jit)))
