"""Named bundles of settings (CLI: `--preset`), and the one `nst` runs without that flag.

A preset only fills in fields: explicit values win. Each is measured in
benchmarks/TIME_TO_QUALITY.md, where an independent network judges when a run's image is at
least as stylized, and keeps at least as much of the photo, as the plain tutorial loop's after
1000 steps.

- "tutorial": the plain loop the notebook teaches, Adam on plain pixels in float32 (with Keras'
  momentum, beta_1 0.9, not the TensorFlow tutorial's 0.99: `--beta-1 0.99` for that).
- "fast": L-BFGS on an image pyramid, bfloat16 where the CPU has it, on the same loss weights.
  Measured and left out: style weight 30 (more stylized sooner, but on one pair it kept less of
  the photo than the target and never reached it), coarse-to-fine levels (no faster) and style
  weight 12 (in the second full table faster than 10 on two pairs, but on astronaut x mosaic it
  passed the content target before reaching the style one, and never reached it).
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "tutorial": {"optimizer": "adam", "start_dim": None, "precision": "float32", "pyramid": False},
    "fast": {
        "optimizer": "lbfgs",
        "pyramid": True,
        "precision": "auto",
        "steps": 300,
    },
}
# What `nst` runs when no --preset is given: the fastest mode to the tutorial's quality on every
# pair of the time-to-quality benchmark. A sweep (`--sweep`) runs Adam, so it takes "tutorial".
CLI_PRESET = "fast"
SWEEP_PRESET = "tutorial"
