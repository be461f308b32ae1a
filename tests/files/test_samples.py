"""Tests for nst_helpers.files.samples (no network, no repo writes); images/make_styles.py is in
test_make_styles.py."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.files import samples

REPO = Path(__file__).resolve().parents[2]
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
# Painting download and cache (file:// origins in tmp_path: no network)
# --------------------------------------------------------------------------------------


class Server:
    """Serves each catalogue painting from a file:// origin and records every fetch.

    Attributes:
        folder: Where the served files are.
        fetches: (url, User-Agent header urllib would send, socket timeout) of each fetch.
        error: Raised by the next fetches instead of serving the file, when set.
    """

    def __init__(self, folder: Path, data: bytes):
        self.folder = folder
        self.fetches: list[tuple[str, str | None, float | None]] = []
        self.error: BaseException | None = None
        folder.mkdir()
        for name in samples.PAINTINGS:
            self.file(name).write_bytes(data)

    def file(self, name: str) -> Path:
        return self.folder / f"{name}.jpg"


@pytest.fixture
def image_bytes() -> bytes:
    return (IMAGES / "style" / "brush.jpg").read_bytes()


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def server(monkeypatch, tmp_path, image_bytes) -> Server:
    served = Server(tmp_path / "server", image_bytes)
    for name, painting in samples.PAINTINGS.items():
        origin = served.file(name).as_uri()
        monkeypatch.setitem(samples.PAINTINGS, name, dataclasses.replace(painting, url=origin))
    real_open = urllib.request.FileHandler.file_open

    def spy_open(handler, request):
        agent = dict(handler.parent.addheaders).get("User-Agent")
        served.fetches.append((request.full_url, agent, socket.getdefaulttimeout()))
        if served.error is not None:
            raise served.error
        return real_open(handler, request)

    monkeypatch.setattr(urllib.request.FileHandler, "file_open", spy_open)
    return served


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def test_fetch_uses_the_default_cache_dir(server, monkeypatch, tmp_path):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "env"))
    assert samples.fetch_painting("scream") == tmp_path / "env" / "paintings" / "scream.jpg"


def test_fetch_downloads_and_records_sha256(server, image_bytes, cache, monkeypatch):
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    path = samples.fetch_painting("starry_night", cache_dir=cache, timeout=7)

    assert path == cache / "starry_night.jpg"
    assert path.read_bytes() == image_bytes
    assert (cache / "starry_night.sha256").read_text().strip() == sha256(image_bytes)
    assert sorted(p.name for p in cache.iterdir()) == ["starry_night.jpg", "starry_night.sha256"]
    assert cache / "starry_night.sha256" in [dst for _, dst in replaced]  # the record is atomic
    assert all(src.parent == cache and src.name.endswith(".tmp") for src, _ in replaced)

    [(url, agent, timeout)] = server.fetches
    assert url == samples.PAINTINGS["starry_night"].url
    assert "nst_helpers" in agent  # Wikimedia refuses urllib's default User-Agent
    assert timeout == 7


def test_fetch_restores_urllib_and_socket_defaults(server, cache):
    samples.fetch_painting("starry_night", cache_dir=cache, timeout=7)
    assert socket.getdefaulttimeout() is None
    with urllib.request.urlopen(server.file("scream").as_uri()) as response:
        response.read()
    assert server.fetches[-1][1:] == (None, None)  # urllib's own opener again, no timeout


def test_fetch_second_call_uses_cache_without_network(server, cache):
    first = samples.fetch_painting("great_wave", cache_dir=cache)
    second = samples.fetch_painting("great_wave", cache_dir=cache)
    assert first == second
    assert len(server.fetches) == 1


def test_fetch_corrupted_cache_is_downloaded_again(server, image_bytes, cache):
    path = samples.fetch_painting("scream", cache_dir=cache)
    path.write_bytes(image_bytes[:-100] + b"tampered")
    assert samples.fetch_painting("scream", cache_dir=cache) == path
    assert path.read_bytes() == image_bytes
    assert len(server.fetches) == 2


def test_fetch_corrupted_cache_offline_is_deleted(server, image_bytes, cache):
    path = samples.fetch_painting("scream", cache_dir=cache)
    path.write_bytes(image_bytes[:-100] + b"tampered")
    server.error = urllib.error.URLError("no route to host")
    with pytest.raises(samples.PaintingDownloadError, match="couldn't download painting 'scream'"):
        samples.fetch_painting("scream", cache_dir=cache)
    assert not path.exists()
    assert (cache / "scream.sha256").read_text().strip() == sha256(image_bytes)  # still trusted


def test_fetch_does_not_trust_an_unrecorded_file(server, image_bytes, cache):
    """A file without a recorded sha256 is what an interrupted first download leaves."""
    cache.mkdir()
    (cache / "great_wave.jpg").write_bytes(image_bytes[:1000])
    path = samples.fetch_painting("great_wave", cache_dir=cache)
    assert path.read_bytes() == image_bytes
    assert (cache / "great_wave.sha256").read_text().strip() == sha256(image_bytes)
    assert len(server.fetches) == 1


def test_fetch_checks_catalogue_sha256(server, cache, monkeypatch):
    wrong = dataclasses.replace(samples.PAINTINGS["scream"], sha256="0" * 64)
    monkeypatch.setitem(samples.PAINTINGS, "scream", wrong)
    with pytest.raises(samples.PaintingIntegrityError, match="expected 000000000000") as info:
        samples.fetch_painting("scream", cache_dir=cache)
    assert "'scream'" in str(info.value) and "\n" not in str(info.value)
    assert list(cache.iterdir()) == []


def test_fetch_with_catalogue_sha256_needs_no_record(server, image_bytes, cache, monkeypatch):
    known = dataclasses.replace(samples.PAINTINGS["scream"], sha256=sha256(image_bytes))
    monkeypatch.setitem(samples.PAINTINGS, "scream", known)
    path = samples.fetch_painting("scream", cache_dir=cache)
    assert samples.fetch_painting("scream", cache_dir=cache) == path
    assert [p.name for p in cache.iterdir()] == ["scream.jpg"]
    assert len(server.fetches) == 1


def test_fetch_changed_upstream_names_the_record(server, image_bytes, cache):
    path = samples.fetch_painting("great_wave", cache_dir=cache)
    server.file("great_wave").write_bytes((IMAGES / "style" / "mosaic.jpg").read_bytes())
    path.write_bytes(b"tampered")
    with pytest.raises(samples.PaintingIntegrityError, match="delete it to accept") as info:
        samples.fetch_painting("great_wave", cache_dir=cache)
    assert str(cache / "great_wave.sha256") in str(info.value)
    assert f"expected {sha256(image_bytes)[:12]}" in str(info.value)
    assert not path.exists()


def test_fetch_rejects_a_download_that_is_not_an_image(server, cache):
    server.file("composition_vii").write_bytes(b"<html>Please log in to the Wi-Fi</html>")
    with pytest.raises(samples.PaintingIntegrityError, match="not a valid image"):
        samples.fetch_painting("composition_vii", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_fetch_network_error_leaves_no_file(server, cache):
    server.error = urllib.error.URLError("no route to host")
    with pytest.raises(samples.PaintingDownloadError, match="couldn't download painting") as info:
        samples.fetch_painting("starry_night", cache_dir=cache)
    message = str(info.value)
    assert "no route to host" in message and "\n" not in message
    assert f"download {samples.PAINTINGS['starry_night'].url} yourself" in message
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, NSTError)
    assert not list(cache.glob("*"))


def test_fetch_lets_programming_errors_through(server, cache):
    server.error = TypeError("a bug, not a download problem")
    with pytest.raises(TypeError, match="a bug"):
        samples.fetch_painting("starry_night", cache_dir=cache)


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


def test_style_image_path_downloads_painting(server, cache):
    path, message = samples.style_image_path("starry_night", cache_dir=cache)
    assert path == cache / "starry_night.jpg"
    assert message == ""


@pytest.mark.parametrize(
    "error",
    [
        urllib.error.URLError("offline"),
        TimeoutError("timed out"),
        OSError("reset"),
        http.client.IncompleteRead(b""),
    ],
)
def test_style_image_path_falls_back_when_offline(server, cache, error):
    server.error = error
    path, message = samples.style_image_path("starry_night", cache_dir=cache)
    assert path == IMAGES / "style" / "swirl.jpg"
    assert message == (
        "couldn't download 'starry_night' (no internet?): using the bundled 'swirl' style instead"
    )


def test_style_image_path_falls_back_when_the_origin_is_gone(server, cache):
    server.file("great_wave").unlink()  # urllib's own URLError, turned into get_file's Exception
    path, message = samples.style_image_path("great_wave", "mosaic", cache_dir=cache)
    assert path == IMAGES / "style" / "mosaic.jpg"
    assert message.startswith("couldn't download 'great_wave'")


def test_style_image_path_without_fallback_raises(server, cache):
    server.error = urllib.error.URLError("x")
    with pytest.raises(OSError, match="couldn't download painting 'great_wave'"):
        samples.style_image_path("great_wave", offline_fallback=None, cache_dir=cache)


def test_style_image_path_does_not_hide_a_bad_download(server, cache):
    server.file("scream").write_bytes(b"not an image")
    with pytest.raises(samples.PaintingIntegrityError, match="not a valid image"):
        samples.style_image_path("scream", cache_dir=cache)


def test_style_image_path_unknown_name_lists_styles_and_paintings():
    with pytest.raises(ValueError, match="unknown style 'picasso'") as info:
        samples.style_image_path("picasso")
    assert "swirl" in str(info.value)
    assert "starry_night" in str(info.value)


def test_style_image_path_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        samples.style_image_path(tmp_path / "missing.jpg")


def test_import_loads_neither_keras_nor_tensorflow():
    code = (
        "import sys, nst_helpers.files.samples; "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
