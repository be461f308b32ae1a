"""The files a run writes (issue 14, items 6 and 8): permissions, temporary files a killed run
left, one writer per output, and the plan of every output checked against the inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE
from nst_helpers.errors import NSTError
from nst_helpers.files.images import atomic_write, save_image
from nst_helpers.files.outputs import (
    STALE_SECONDS,
    Snapshots,
    check_outputs,
    lock_outputs,
    plan_outputs,
    remove_stale_temporaries,
)


# --- 6. permissions -----------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_umasks_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        png = save_image(Image.new("RGB", (4, 4)), tmp_path / "out.png")
        with atomic_write(tmp_path / "data.bin") as handle:
            handle.write(b"x")
    finally:
        os.umask(old)
    for path in (png, tmp_path / "data.bin"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would create it


# --- 8. temporary files a killed run left ---------------------------------------------------------
def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_stale_temporaries_of_ours_are_removed_and_nothing_else(tmp_path):
    dead_pid = 4_999_999  # above Linux's largest pid: no such process
    files = {
        "dead writer": tmp_path / f".out.png.nst-{dead_pid}-abcd1234.tmp",
        "live writer, old": tmp_path / f".out.png.nst-{os.getpid()}-old12345.tmp",
        "live writer, fresh": tmp_path / f".out.png.nst-{os.getpid()}-new12345.tmp",
        "older version's, old": tmp_path / ".out.png.k2j4h5g6.tmp",
        "older version's, fresh": tmp_path / ".out.png.q2w3e4r5.tmp",
        "someone else's": tmp_path / ".notes.txt.swp",
        "not hidden": tmp_path / "out.png.nst-1-abcdefgh.tmp",
    }  # fmt: skip
    for path in files.values():
        path.touch()
    _age(files["live writer, old"], 2 * STALE_SECONDS)
    _age(files["older version's, old"], 2 * STALE_SECONDS)
    assert remove_stale_temporaries(tmp_path, ["out.png"]) == 3
    left = {what for what, path in files.items() if path.exists()}
    assert left == {"live writer, fresh", "older version's, fresh", "someone else's", "not hidden"}


def test_a_sigkill_while_saving_leaves_nothing_the_next_run_keeps(tmp_path):
    # A child saves a large image over and over; kill it while a temporary file exists.
    code = (
        "import sys; from PIL import Image; from nst_helpers.files.images import save_image\n"
        "img = Image.effect_noise((1500, 1500), 64).convert('RGB')\n"
        "while True: save_image(img, sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "out.png")], env=env)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # a first save done, a later one under way
            if (tmp_path / "out.png").exists() and list(tmp_path.glob(".out.png.nst-*.tmp")):
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    left = list(tmp_path.glob(".*.tmp"))
    assert left, "the kill came between saves; no temporary file to clean up"
    assert remove_stale_temporaries(tmp_path, ["out.png"]) == len(left)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    with Image.open(tmp_path / "out.png") as img:  # the last complete save, never a broken one
        img.load()


# --- 8. one writer per output -------------------------------------------------------------------
def test_a_second_run_on_the_same_output_is_refused(tmp_path, capsys):
    from nst_helpers.cli.command import main

    output = tmp_path / "out.png"
    with lock_outputs([output]):  # a first run is writing it
        code = main([str(CONTENT), str(STYLE), "-o", str(output), "--weights", "none", "-q"])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1
        assert f"another nst run (pid {os.getpid()}) is writing '{output}' right now" in err
    assert list(tmp_path.iterdir()) == []  # the lock file is gone with the lock
    with lock_outputs([output]):  # and can be taken again
        pass


def test_an_unheld_lock_left_by_a_killed_run_is_removed(tmp_path):
    lock = tmp_path / ".out.png.1a2b3c4d.nst-lock"
    lock.write_text("4999999\n")
    assert remove_stale_temporaries(tmp_path) == 1 and not lock.exists()


def test_the_same_command_twice_replaces_its_output(tmp_path, capsys):
    from nst_helpers.cli.command import main

    output = tmp_path / "o.png"
    args = [str(CONTENT), str(STYLE), "-o", str(output), "--weights", "none", "--max-dim", "32",
            "--steps", "1", "-q"]  # fmt: skip
    assert main(args) == 0 and main(args) == 0  # re-runnable, like the README's first command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]


# --- 1. the plan ----------------------------------------------------------------------------------
def test_snapshot_names_match_exactly_the_steps_that_are_saved():
    snapshots = Snapshots(Path("out/cat.png"), every=50, below=300)
    assert snapshots.path(50) == Path("out/cat_00050.png")
    saved = [n for n in range(400) if snapshots.matches(f"cat_{n:05d}.png")]
    assert saved == [50, 100, 150, 200, 250]
    for name in ("cat_0050.png", "cat_000050.png", "cat_00050.jpg", "dog_00050.png"):
        assert not snapshots.matches(name)
    assert Snapshots(Path("x.png"), 1, 10**6).matches("x_123456.png")  # more than 5 digits


def test_check_outputs_is_silent_for_a_good_plan(tmp_path):
    plan = plan_outputs(tmp_path / "new" / "out.png", gif=tmp_path / "a.gif", snapshot_every=5,
                        steps=20)  # fmt: skip
    check_outputs(plan, [("content image", CONTENT), ("style image", STYLE), ("mask", None)])
    assert not (tmp_path / "new").exists()  # checking writes nothing


def test_a_symlink_loop_is_named(tmp_path):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    with pytest.raises(NSTError, match="can't resolve .*loop.png"):
        check_outputs(plan_outputs(tmp_path / "loop.png"), [("content image", CONTENT)])
