"""Tests for nst_helpers.samples and images/make_styles.py (no network, no repo writes)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_helpers import samples
from nst_helpers.errors import NSTError

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
MAX_BYTES = 300 * 1024


# --------------------------------------------------------------------------------------
# Bundled samples
# --------------------------------------------------------------------------------------


def test_samples_dir_is_the_repository_images_folder():
    assert samples.SAMPLES_DIR == IMAGES


def test_list_samples_names_the_bundled_images():
    found = samples.list_samples()
    assert set(found) == {"content", "style"}
    assert {"astronaut", "cat", "coffee", "rocket"} <= set(found["content"])
    assert {"brush", "mosaic", "swirl", "cubist"} <= set(found["style"])
    assert found["style"] == sorted(found["style"])


def test_sample_path_returns_existing_file():
    path = samples.sample_path("style", "swirl")
    assert path == IMAGES / "style" / "swirl.jpg"
    assert path.is_file()
    assert samples.sample_path("content", "astronaut.jpg") == IMAGES / "content" / "astronaut.jpg"


def test_sample_path_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown style image 'van_gogh'") as info:
        samples.sample_path("style", "van_gogh")
    for name in ("brush", "mosaic", "swirl", "cubist"):
        assert name in str(info.value)
    assert isinstance(info.value, NSTError)


def test_sample_path_unknown_kind_names_valid_kinds():
    with pytest.raises(ValueError, match="unknown sample kind 'styles'") as info:
        samples.sample_path("styles", "swirl")
    assert "'content'" in str(info.value)
    assert "'style'" in str(info.value)


@pytest.mark.parametrize(
    "path",
    sorted((IMAGES / "content").glob("*.jpg")) + sorted((IMAGES / "style").glob("*.jpg")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_bundled_images_are_small_rgb_jpegs(path):
    assert path.stat().st_size <= MAX_BYTES
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        assert max(image.size) == 512
        if path.parent.name == "style":
            assert image.size == (512, 512)


def test_every_bundled_image_is_credited():
    credits = (IMAGES / "CREDITS.md").read_text(encoding="utf-8")
    for kind, names in samples.list_samples().items():
        for name in names:
            assert f"{kind}/{name}.jpg" in credits


# --------------------------------------------------------------------------------------
# Painting download and cache
# --------------------------------------------------------------------------------------


class FakeUrlopen:
    """Stands in for urllib.request.urlopen, serving fixed bytes and counting calls."""

    def __init__(self, data: bytes = b"", error: BaseException | None = None):
        self.data = data
        self.error = error
        self.requests: list[urllib.request.Request] = []

    def __call__(self, request, timeout=None):
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        return io.BytesIO(self.data)


@pytest.fixture
def image_bytes() -> bytes:
    return (IMAGES / "style" / "brush.jpg").read_bytes()


@pytest.fixture
def fake_urlopen(monkeypatch, image_bytes) -> FakeUrlopen:
    fake = FakeUrlopen(image_bytes)
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


def test_catalogue_entries_are_public_domain_wikimedia_files():
    assert {"starry_night", "great_wave", "composition_vii", "scream"} <= set(samples.PAINTINGS)
    for painting in samples.PAINTINGS.values():
        assert painting.url.startswith("https://upload.wikimedia.org/wikipedia/commons/")
        assert painting.licence == "public domain"
        assert painting.year < 1930
        assert painting.sha256 is None or len(painting.sha256) == 64


def test_default_cache_dir_honours_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    assert samples.default_cache_dir() == tmp_path / "paintings"
    monkeypatch.delenv("NST_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert samples.default_cache_dir() == tmp_path / "home" / ".cache" / "nst_helpers" / "paintings"


def test_fetch_downloads_atomically_and_records_sha256(
    fake_urlopen, image_bytes, tmp_path, monkeypatch
):
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    path = samples.fetch_painting("starry_night", cache_dir=tmp_path)

    assert path == tmp_path / "starry_night.jpg"
    assert path.read_bytes() == image_bytes
    digest = hashlib.sha256(image_bytes).hexdigest()
    assert (tmp_path / "starry_night.sha256").read_text().strip() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["starry_night.jpg", "starry_night.sha256"]
    assert path in [dst for _, dst in replaced]
    assert all(src.parent == tmp_path and src.name.endswith(".tmp") for src, _ in replaced)

    (request,) = fake_urlopen.requests
    assert request.full_url == samples.PAINTINGS["starry_night"].url
    assert "nst_helpers" in request.get_header("User-agent")


def test_fetch_second_call_uses_cache_without_network(fake_urlopen, tmp_path):
    first = samples.fetch_painting("great_wave", cache_dir=tmp_path)
    second = samples.fetch_painting("great_wave", cache_dir=tmp_path)
    assert first == second
    assert len(fake_urlopen.requests) == 1


def test_fetch_corrupted_cache_is_deleted_with_clear_message(fake_urlopen, tmp_path):
    path = samples.fetch_painting("scream", cache_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:-100] + b"tampered")
    with pytest.raises(samples.PaintingIntegrityError, match="cached copy of painting 'scream'"):
        samples.fetch_painting("scream", cache_dir=tmp_path)
    assert not path.exists()
    # The next call downloads a fresh copy.
    assert samples.fetch_painting("scream", cache_dir=tmp_path).is_file()
    assert len(fake_urlopen.requests) == 2


def test_fetch_checks_catalogue_sha256(fake_urlopen, tmp_path, monkeypatch):
    wrong = dataclasses.replace(samples.PAINTINGS["scream"], sha256="0" * 64)
    monkeypatch.setitem(samples.PAINTINGS, "scream", wrong)
    with pytest.raises(samples.PaintingIntegrityError, match="expected 000000000000"):
        samples.fetch_painting("scream", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_rejects_a_download_that_is_not_an_image(fake_urlopen, tmp_path):
    fake_urlopen.data = b"<html>Please log in to the Wi-Fi</html>"
    with pytest.raises(samples.PaintingIntegrityError, match="not a valid image"):
        samples.fetch_painting("composition_vii", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_network_error_leaves_no_file(fake_urlopen, tmp_path):
    fake_urlopen.error = urllib.error.URLError("no route to host")
    with pytest.raises(samples.PaintingDownloadError, match="couldn't download painting") as info:
        samples.fetch_painting("starry_night", cache_dir=tmp_path)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, NSTError)
    assert not list(tmp_path.glob("*"))


def test_fetch_unknown_painting_lists_catalogue():
    with pytest.raises(ValueError, match="unknown painting 'mona_lisa'.*starry_night"):
        samples.fetch_painting("mona_lisa")


# --------------------------------------------------------------------------------------
# style_image_path
# --------------------------------------------------------------------------------------


def test_style_image_path_bundled_name_and_file(tmp_path):
    assert samples.style_image_path("mosaic") == (IMAGES / "style" / "mosaic.jpg", "")
    own = IMAGES / "content" / "cat.jpg"
    assert samples.style_image_path(own) == (own, "")
    assert samples.style_image_path(str(own)) == (own, "")


def test_style_image_path_downloads_painting(fake_urlopen, tmp_path):
    path, message = samples.style_image_path("starry_night", cache_dir=tmp_path)
    assert path == tmp_path / "starry_night.jpg"
    assert message == ""


@pytest.mark.parametrize(
    "error", [urllib.error.URLError("offline"), TimeoutError("timed out"), OSError("reset")]
)
def test_style_image_path_falls_back_when_offline(monkeypatch, tmp_path, error):
    monkeypatch.setattr(urllib.request, "urlopen", FakeUrlopen(error=error))
    path, message = samples.style_image_path("starry_night", cache_dir=tmp_path)
    assert path == IMAGES / "style" / "swirl.jpg"
    assert message == (
        "couldn't download 'starry_night' (no internet?): using the bundled 'swirl' style instead"
    )


def test_style_image_path_without_fallback_raises(monkeypatch, tmp_path):
    monkeypatch.setattr(urllib.request, "urlopen", FakeUrlopen(error=urllib.error.URLError("x")))
    with pytest.raises(OSError, match="couldn't download painting 'great_wave'"):
        samples.style_image_path("great_wave", offline_fallback=None, cache_dir=tmp_path)


def test_style_image_path_unknown_name_lists_styles_and_paintings():
    with pytest.raises(ValueError, match="unknown style 'picasso'") as info:
        samples.style_image_path("picasso")
    assert "swirl" in str(info.value)
    assert "starry_night" in str(info.value)


def test_style_image_path_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        samples.style_image_path(tmp_path / "missing.jpg")


# --------------------------------------------------------------------------------------
# make_styles.py
# --------------------------------------------------------------------------------------


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


def test_make_styles_styles_are_colourful_textures(make_styles):
    for name, render in make_styles.STYLES.items():
        pixels = np.asarray(render(size=128), dtype=np.float32)
        assert pixels.shape == (128, 128, 3), name
        assert pixels.std() > 25, f"{name} is too flat"
        assert np.ptp(pixels.mean(axis=(0, 1))) > 10, f"{name} is nearly grey"


def test_bundled_styles_match_the_script(make_styles, tmp_path):
    for path in make_styles.generate(tmp_path):
        committed = _pixels(IMAGES / "style" / path.name)
        diff = np.abs(_pixels(path) - committed).mean()
        assert diff < 3, f"{path.name} differs from a fresh render: run images/make_styles.py"
