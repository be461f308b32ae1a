"""Named bundles of settings (CLI: `--preset`), and the one `nst` runs without that flag.

A preset only fills in fields: explicit values win. Each is measured in benchmarks/
(benchmarks/README.md), where a second network judges when a run's image is at least as
stylized, and keeps at least as much of the photo, as the plain tutorial loop's after 1000 steps.

- "tutorial": the plain loop the notebook teaches, Adam on plain pixels in float32 (with Keras'
  momentum, beta_1 0.9, not the TensorFlow tutorial's 0.99: `--beta-1 0.99` for that).
- "fast": L-BFGS on an image pyramid, bfloat16 where the CPU has it, and style weight 12.
  Departure: the tutorial's style weight is 10; at 12 the preset reaches the tutorial's quality
  on every bundled pair, at 10 not on one of them (chosen in benchmarks/TTQ_TUNING_NOISE.md; the
  weights tried and why the others were left out: benchmarks/README.md, "Why the defaults are
  what they are").
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "tutorial": {"optimizer": "adam", "start_dim": None, "precision": "float32", "pyramid": False},
    "fast": {
        "optimizer": "lbfgs",
        "pyramid": True,
        "precision": "auto",
        "steps": 300,
        "style_weight": 12.0,
    },
}
# What `nst` runs when no --preset is given: the fastest mode to the tutorial's quality on every
# pair (chosen in benchmarks/TTQ_TUNING_NOISE.md; tests/benchmarks/test_judge.py holds it to
# that pick).
# A sweep (`--sweep`) is a loop of such runs, so it takes the same.
CLI_PRESET = "fast"
