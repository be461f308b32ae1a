"""The `nst` command when it is stopped or cannot write (issue 14, item 8): Ctrl-C and SIGTERM
at any time, a closed pipe, a full standard output, an output taken while the run went on, and
file names that are not UTF-8. Each ends with its exit code and one line, and keeps the result
where there is one. The rest of the hostile input is in test_hostile_cli.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE
from hostile import TINY, fingerprint, nst, one_line, png_copy, run_nst, unchanged
from nst_helpers.cli.command import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_TERMINATED


@pytest.mark.parametrize(("signum", "code"), [(None, EXIT_INTERRUPTED), (signal.SIGTERM, 143)])
def test_interrupt_while_the_network_is_built(tmp_path, capsys, monkeypatch, signum, code):
    import nst_helpers.core.optimize

    def build(*args, **kwargs):
        if signum is None:
            raise KeyboardInterrupt  # Ctrl-C
        os.kill(os.getpid(), signum)
        time.sleep(30)  # the handler interrupts this

    monkeypatch.setattr(nst_helpers.core.optimize, "build_extractor", build)
    got, out, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", *TINY)
    assert got == code and out == ""
    one_line(err, "interrupted before the result was saved: nothing was written.")
    assert list(tmp_path.iterdir()) == []


def test_a_result_that_cannot_be_written_is_saved_nearby(tmp_path, capsys, monkeypatch):
    import nst_helpers.api
    from nst_helpers.runs.recipe import read_recipe

    output = tmp_path / "out.png"
    real = nst_helpers.api.stylize

    def stylize_then_block_the_output(*args, **kwargs):
        result = real(*args, **kwargs)
        output.mkdir()  # the output's name is taken while the run went on
        return result

    monkeypatch.setattr(nst_helpers.api, "stylize", stylize_then_block_the_output)
    code, out, err = nst(capsys, CONTENT, STYLE, "-o", output, *TINY)
    (rescued,) = tmp_path.glob("nst-rescued-*.png")
    assert code == 1 and out == ""
    one_line(err, f"could not write '{output}' (Is a directory); the result was saved to "
             f"'{rescued}' instead.")  # fmt: skip
    assert read_recipe(rescued)["settings"]["steps"] == 1


def test_file_names_that_are_not_utf8(tmp_path, capsys):
    content = os.fsencode(tmp_path) + b"/caf\xe9\x1b[2J.png"
    png_copy(CONTENT, Path(os.fsdecode(content)))
    style = png_copy(STYLE, tmp_path / "style.png")
    output = os.fsencode(tmp_path) + b"/out\xff.png"
    before = fingerprint(os.fsdecode(content), style)
    proc = run_nst(content, style, "-o", output, *TINY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"wrote " + os.fsencode(tmp_path) + b"/out\\xff.png (32x24)")
    assert b"\x1b" not in proc.stdout + proc.stderr
    code, out, _ = nst(capsys, "--recipe", output)
    assert code == 0 and json.loads(out)["inputs"]["content"]["name"] == "caf\udce9\x1b[2J.png"
    code, out, err = nst(capsys, "--rerun", output, "-q")  # the recipe finds the file again
    assert code == 0, err
    assert "out\\xff_rerun.png" in out and unchanged(before)


def test_a_closed_pipe_ends_quietly(tmp_path):
    from nst_helpers.files.images import save_image
    from nst_helpers.runs.recipe import make_recipe, recipe_pnginfo
    from nst_helpers.runs.settings import Settings

    result = tmp_path / "r.png"
    recipe = make_recipe(Settings(), CONTENT, [STYLE], {"note": "x" * 100_000})  # > a pipe
    save_image(Image.new("RGB", (8, 8)), result, pnginfo=recipe_pnginfo(recipe))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "nst_helpers", "--recipe", str(result)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    proc.stdout.read(10)  # `| head -c 10`
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert err == b""  # no traceback, no "Exception ignored"


def test_a_full_standard_output_keeps_the_result(tmp_path):
    output = tmp_path / "out.png"
    with open("/dev/full", "w") as full:
        proc = run_nst(CONTENT, STYLE, "-o", output, *TINY, stdout=full, stderr=subprocess.PIPE,
                       capture_output=False)  # fmt: skip
    assert proc.returncode == 1
    one_line(proc.stderr, "could not write to standard output (No space left on device); "
             f"{output} was written.")  # fmt: skip
    with Image.open(output) as img:
        assert img.size == (32, 21)


# --- 8. SIGTERM ends like Ctrl-C ----------------------------------------------------------------
def test_sigterm_keeps_the_best_image(tmp_path):
    output = tmp_path / "out.png"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [CONTENT, STYLE, "-o", output, "--weights", "none", "--max-dim", 32, "--steps",
            100000, "--save-every", 1, "-q"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "nst_helpers", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (tmp_path / "out_00002.png").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_TERMINATED, err
    one_line(err, "interrupted; the best image so far was saved.")
    assert out.startswith(f"wrote {output} (32x21): ".encode()) and b"interrupted" in out
    with Image.open(output) as img:
        assert img.size == (32, 21)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_readme_exit_codes_include_sigterm():
    readme = (ROOT / "README.md").read_text()
    for code in (0, 1, 2, 3, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED):
        assert f"\n| {code} | " in readme
    assert "SIGTERM" in readme
