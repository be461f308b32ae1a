"""Shared fixtures: tiny random-weight networks, sample images, and the real VGG16 weights file.

The real-weights tests read `NST_TEST_WEIGHTS` (default: ../shared/weights/...). Locally they are
skipped when the file is missing; in CI (CI=true) or when the variable is set they fail instead,
so a CI run can never pass by skipping them.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "weights" / "vgg16_tv_imagenet_notop.weights.h5"
CONTENT = ROOT / "images" / "content" / "cat.jpg"
STYLE = ROOT / "images" / "style" / "swirl.jpg"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def weights_path() -> Path:
    """The pretrained VGG16 weights file; fails (not skips) in CI when it is missing."""
    path = Path(os.environ.get("NST_TEST_WEIGHTS", DEFAULT_WEIGHTS))
    if not path.is_file():
        message = f"real-weights test needs {path} (set NST_TEST_WEIGHTS)"
        if os.environ.get("CI") or "NST_TEST_WEIGHTS" in os.environ:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def vgg16_real(weights_path):
    """VGG16 with the real ImageNet weights and the default layers."""
    from nst_helpers.core.model import build_extractor

    return build_extractor("vgg16", weights_path)


@pytest.fixture(scope="session")
def tiny_extractor():
    """VGG16 with random weights, cut after block3 so tiny images run fast."""
    import keras

    from nst_helpers.core.model import build_extractor

    keras.utils.set_random_seed(1)
    return build_extractor(
        "vgg16",
        None,
        content_layers=("block3_conv1",),
        style_layers=("block1_conv1", "block2_conv1"),
    )


@pytest.fixture
def tiny_settings():
    """Settings that match `tiny_extractor`, for quick runs on 32 px images."""
    from nst_helpers.runs.settings import Settings

    return Settings(
        arch="vgg16",
        weights=None,
        max_dim=32,
        steps=8,
        content_layers=("block3_conv1",),
        style_layers=("block1_conv1", "block2_conv1"),
        preview_every=0,
    )


def gradient_image(width: int = 40, height: int = 30, seed: int = 0) -> Image.Image:
    """A small deterministic RGB test image: color ramps plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 3.0)], axis=-1)
    array = np.clip(array + rng.normal(0, 0.05, array.shape), 0, 1)
    return Image.fromarray((array * 255).astype(np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    """The bytes of `image` saved as a PNG file (lossless), as an upload would carry them."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def small_pair():
    """A (content, style) pair of small PIL images with different statistics."""
    return gradient_image(40, 30, seed=0), gradient_image(36, 36, seed=1).rotate(90)


def png_file(path, width: int, height: int, chunks=(), bit_depth: int = 1) -> bytes:
    """Writes a valid grayscale PNG of any size (black; rows streamed through zlib) with extra
    chunks before its pixels; returns its bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\0" * (1 + (width * bit_depth + 7) // 8)  # filter byte + the row's pixels
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    data += b"".join(chunk(kind, body) for kind, body in chunks)
    data += chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    path.write_bytes(data)
    return data
