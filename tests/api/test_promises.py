"""The README's promises, each tested as a user meets them: in processes of their own, at sizes
where they could fail. A rerun in a new process gives the same file byte for byte; the memory a
run is said to need is within 25 % of the peak it reaches; a loss that turns NaN ends with exit
code 3 and the last good image saved; Ctrl-C in the middle of the loop ends with 130 and the best
image so far saved."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE
from hostile import nst, one_line, run_nst
from nst_helpers.cli.command import EXIT_INTERRUPTED, EXIT_NON_FINITE


@pytest.mark.slow
@pytest.mark.real_weights
def test_a_rerun_in_a_new_process_writes_the_same_bytes(tmp_path, weights_path):
    """The default preset (L-BFGS, pyramid, bfloat16 where the CPU has it) at 128 px for 40
    evaluations: far enough that any drift between processes would show in the pixels."""
    first = tmp_path / "first.png"
    done = run_nst(CONTENT, STYLE, "-o", first, "--arch", "vgg16", "--weights", weights_path,
                   "--max-dim", 128, "--steps", 40, "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run_nst("--rerun", first, "--trust-recipe-paths", "-q")
    assert done.returncode == 0, done.stderr
    rerun = tmp_path / "first_rerun.png"
    with Image.open(first) as a, Image.open(rerun) as b:
        photo = np.asarray(Image.open(CONTENT).convert("RGB").resize(a.size), float)
        assert np.abs(np.asarray(a, float) - photo).mean() > 5  # it did change the photo
        assert a.size == b.size
    assert rerun.read_bytes() == first.read_bytes()


MEASURE = """
import json, sys
import nst_helpers as nst
from nst_helpers import machine
from nst_helpers.api import plan_run
settings = nst.Settings(arch="vgg16", weights=sys.argv[1], max_dim=int(sys.argv[2]),
                        style_scale=float(sys.argv[3]), steps=4)
plan = plan_run(sys.argv[4], sys.argv[5], settings)
nst.stylize(plan.content, plan.styles, settings, plan=plan)
print(json.dumps({"estimate": plan.memory, "peak": machine.peak_memory()}))
"""


@pytest.mark.slow
@pytest.mark.real_weights
@pytest.mark.parametrize(("size", "style_scale"), [(256, 1.0), (512, 1.0), (96, 8.0)])
def test_memory_estimate_is_within_a_quarter_of_the_measured_peak(weights_path, size, style_scale):
    """A real run (the default preset) in a process of its own: its peak resident memory and
    the estimate the run printed before it started. At 96 px with style scale 8 the style
    image's pass (768 px) is the larger part."""
    args = [weights_path, size, style_scale, CONTENT, ROOT / "images" / "style" / "mosaic.jpg"]
    done = subprocess.run([sys.executable, "-c", MEASURE, *map(str, args)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = measured["peak"] / measured["estimate"]
    assert 0.75 <= ratio <= 1.25, measured


def nan_after(step: int, monkeypatch) -> None:
    """Makes every loss NaN from step `step` on (counting from 1), as a diverging run's."""
    from nst_helpers.runs.run import Run

    real = Run.record

    def record(self, losses, image_before, current):
        if self.done + 1 >= step:
            losses = {name: np.full(np.shape(value), np.nan) for name, value in losses.items()}
        return real(self, losses, image_before, current)

    monkeypatch.setattr(Run, "record", record)


@pytest.mark.real_weights  # random weights would differ between the two runs
def test_a_nan_loss_exits_3_with_the_last_good_image_saved(
    tmp_path, capsys, monkeypatch, weights_path
):
    args = [CONTENT, STYLE, "--arch", "vgg16", "--weights", weights_path, "--max-dim", 32]
    args += ["--preset", "tutorial", "-q"]
    clean = tmp_path / "three_steps.png"
    assert nst(capsys, *args, "-o", clean, "--steps", 3)[0] == 0
    nan_after(4, monkeypatch)
    output = tmp_path / "diverged.png"
    code, out, err = nst(capsys, *args, "-o", output, "--steps", 10)
    assert code == EXIT_NON_FINITE and out == ""
    one_line(err, "total=nan", f"Saved it to {output}.")
    # What was saved is the best of the three good steps: the clean three-step run's image.
    with Image.open(output) as saved, Image.open(clean) as expected:
        assert np.array_equal(np.asarray(saved), np.asarray(expected))


def test_ctrl_c_in_the_loop_exits_130_with_the_best_image_saved(tmp_path):
    """A real SIGINT, sent once the loop has written its first snapshots."""
    output = tmp_path / "long.png"
    process = subprocess.Popen(
        [sys.executable, "-m", "nst_helpers", str(CONTENT), str(STYLE), "-o", str(output),
         "--weights", "none", "--max-dim", "48", "--preset", "tutorial", "--steps", "100000",
         "--save-every", "5", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), **__import__("os").environ},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("long_00010.png")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert (tmp_path / "long_00010.png").is_file(), "no snapshot within 120 s"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == EXIT_INTERRUPTED, err
    assert (
        err.strip().splitlines()[-1] == "nst: error: interrupted; the best image so far was saved."
    )
    from nst_helpers.runs.recipe import read_recipe

    recipe = read_recipe(output)
    assert recipe["settings"]["steps"] == 100000
    with Image.open(output) as saved:
        assert max(saved.size) == 48
        photo = np.asarray(Image.open(CONTENT).convert("RGB").resize(saved.size), float)
        assert np.abs(np.asarray(saved, float) - photo).mean() > 1  # steps were taken
