"""Named bundles of settings (CLI: `--preset`), and the one `nst` runs without that flag.

A preset only fills in fields: explicit values win. Each is measured in benchmarks/
(benchmarks/README.md), where a second network judges when a run's image is at least as
stylized, and keeps at least as much of the photo, as the plain tutorial loop's after 1000 steps.

- "tutorial": the plain loop the notebook teaches, Adam on plain pixels in float32 (with Keras'
  momentum, beta_1 0.9, not the TensorFlow tutorial's 0.99: `--beta-1 0.99` for that).
- "fast": L-BFGS on an image pyramid, bfloat16 where the CPU has it, and style weight 12.
  Departure: the tutorial's style weight is 10; at 10 the preset reached the tutorial's quality
  on rocket x brush in none of 3 runs within 179 s, at 12 in all 3 (and on every other pair:
  benchmarks/TTQ_TUNING_NOISE.md, the median of 3 runs per pair). Measured and left out there:
  style weight 11 (1 of 3 on rocket x brush), 15 and 30 (more stylized sooner, but on astronaut
  x mosaic they keep less of the photo than the target).
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
# pair, by the median of 3 runs each (benchmarks/ttq_tuning_noise.json; a test holds it to that).
# A sweep (`--sweep`) runs Adam, so it takes "tutorial".
CLI_PRESET = "fast"
SWEEP_PRESET = "tutorial"
