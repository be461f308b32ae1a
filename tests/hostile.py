"""Helpers for the hostile-input tests: run `nst` in-process or as a user would, and check that
an error is one line and that no input changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import ROOT
from nst_helpers.cli.command import main

TINY = ["--weights", "none", "--max-dim", 32, "--steps", 1, "-q"]


def nst(capsys, *args) -> tuple[int, str, str]:
    """Runs `nst` in-process; returns (exit code, stdout, stderr)."""
    try:
        code = main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def run_nst(*args, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    """Runs `python -m nst_helpers` as a user would, in a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "nst_helpers"]
    command += [a if isinstance(a, bytes) else str(a) for a in args]
    kwargs.setdefault("capture_output", True)
    return subprocess.run(command, env=env, timeout=timeout, **kwargs)


def one_line(err: str | bytes, *parts: str) -> None:
    """`err` is exactly one `nst: error:` line holding every part, without a traceback."""
    err = err.decode() if isinstance(err, bytes) else err
    assert err.startswith("nst: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


def fingerprint(*paths) -> dict:
    return {Path(p): Path(p).read_bytes() for p in paths}


def unchanged(before: dict) -> bool:
    return all(path.read_bytes() == data for path, data in before.items())


def png_copy(source: Path, path: Path) -> Path:
    Image.open(source).convert("RGB").resize((40, 30)).save(path)
    return path
