"""Tests for images/make_styles.py, which renders the bundled style images (no repo writes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

IMAGES = Path(__file__).resolve().parents[2] / "images"


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture
def make_styles(monkeypatch):
    """Import images/make_styles.py as a module without writing bytecode into the repo."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    spec = importlib.util.spec_from_file_location("make_styles", IMAGES / "make_styles.py")
    module = importlib.util.module_from_spec(spec)
    before = _snapshot(IMAGES)
    spec.loader.exec_module(module)
    assert _snapshot(IMAGES) == before
    return module


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_make_styles_is_deterministic(make_styles, tmp_path):
    first = make_styles.generate(tmp_path / "a", size=96)
    second = make_styles.generate(tmp_path / "b", size=96)
    assert [p.name for p in first] == [f"{name}.jpg" for name in make_styles.STYLES]
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(_pixels(a), _pixels(b))


def test_make_styles_styles_are_colorful_textures(make_styles):
    for name, render in make_styles.STYLES.items():
        pixels = np.asarray(render(size=128), dtype=np.float32)
        assert pixels.shape == (128, 128, 3), name
        assert pixels.std() > 25, f"{name} is too flat"
        assert np.ptp(pixels.mean(axis=(0, 1))) > 10, f"{name} is nearly gray"


def test_bundled_styles_match_the_script(make_styles, tmp_path):
    for path in make_styles.generate(tmp_path):
        committed = _pixels(IMAGES / "style" / path.name)
        diff = np.abs(_pixels(path) - committed).mean()
        assert diff < 3, f"{path.name} differs from a fresh render: run images/make_styles.py"
