"""Bundled sample images and an on-demand catalogue of famous public-domain paintings.

The repository's ``images/`` folder holds a few content photos and generated style images,
so the tutorial works without internet. Famous paintings are downloaded only when asked for
(``fetch_painting``), cached, and checked against a recorded SHA-256 on later uses.

Importing this module has no side effects and does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import NSTError
from .images import atomic_write

__all__ = [
    "KINDS",
    "PAINTINGS",
    "SAMPLES_DIR",
    "Painting",
    "PaintingDownloadError",
    "PaintingIntegrityError",
    "StyleFileNotFoundError",
    "UnknownSampleError",
    "default_cache_dir",
    "fetch_painting",
    "list_samples",
    "sample_path",
    "style_image_path",
]

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "images"
"""The repository's ``images/`` folder (present in a source checkout, not in a built wheel)."""

KINDS = ("content", "style")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
USER_AGENT = "nst_helpers/0.1 (neural style transfer tutorial; Python urllib)"
CACHE_ENV_VAR = "NST_CACHE_DIR"


class UnknownSampleError(NSTError, ValueError):
    """An image kind or name that is neither bundled nor in the painting catalogue."""


class StyleFileNotFoundError(NSTError, FileNotFoundError):
    """A style image given as a file path that does not exist."""


class PaintingDownloadError(NSTError, OSError):
    """A painting could not be downloaded (no internet, timeout, HTTP error)."""


class PaintingIntegrityError(NSTError, ValueError):
    """A downloaded or cached painting is not the expected image."""


@dataclass(frozen=True)
class Painting:
    """One famous painting that can be downloaded from Wikimedia Commons.

    Attributes:
        title: Title of the work.
        artist: Name of the painter.
        year: Year the work was made.
        url: Direct ``upload.wikimedia.org`` address of the image file.
        licence: Copyright status of the image.
        sha256: Expected SHA-256 of the file, or None to trust the first download.
    """

    title: str
    artist: str
    year: int
    url: str
    licence: str = "public domain"
    sha256: str | None = None


_COMMONS = "https://upload.wikimedia.org/wikipedia/commons/"

PAINTINGS: dict[str, Painting] = {
    "starry_night": Painting(
        title="The Starry Night",
        artist="Vincent van Gogh",
        year=1889,
        url=_COMMONS + "thumb/e/ea/Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg/"
        "1280px-Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg",
    ),
    "great_wave": Painting(
        title="The Great Wave off Kanagawa",
        artist="Katsushika Hokusai",
        year=1831,
        url=_COMMONS + "thumb/0/0a/The_Great_Wave_off_Kanagawa.jpg/"
        "1280px-The_Great_Wave_off_Kanagawa.jpg",
    ),
    "composition_vii": Painting(
        title="Composition VII",
        artist="Wassily Kandinsky",
        year=1913,
        url=_COMMONS + "b/b4/Vassily_Kandinsky%2C_1913_-_Composition_7.jpg",
    ),
    "scream": Painting(
        title="The Scream",
        artist="Edvard Munch",
        year=1893,
        url=_COMMONS + "thumb/c/c5/Edvard_Munch%2C_1893%2C_The_Scream%2C_oil%2C_tempera_and_"
        "pastel_on_cardboard%2C_91_x_73_cm%2C_National_Gallery_of_Norway.jpg/1280px-Edvard_"
        "Munch%2C_1893%2C_The_Scream%2C_oil%2C_tempera_and_pastel_on_cardboard%2C_91_x_73_cm"
        "%2C_National_Gallery_of_Norway.jpg",
    ),
    "impression_sunrise": Painting(
        title="Impression, Sunrise",
        artist="Claude Monet",
        year=1872,
        url=_COMMONS + "thumb/5/59/Monet_-_Impression%2C_Sunrise.jpg/"
        "1280px-Monet_-_Impression%2C_Sunrise.jpg",
    ),
}


# --------------------------------------------------------------------------------------
# Bundled samples
# --------------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownSampleError(
            f"unknown sample kind {kind!r}: choose one of {', '.join(map(repr, KINDS))}"
        )


def _bundled(kind: str) -> dict[str, Path]:
    """Map each bundled image name of ``kind`` to its file."""
    folder = SAMPLES_DIR / kind
    if not folder.is_dir():
        return {}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.stem: p for p in files}


def list_samples() -> dict[str, list[str]]:
    """List the bundled sample images.

    Returns:
        ``{"content": [...], "style": [...]}`` with sorted names usable with ``sample_path``.
        The lists are empty when the ``images/`` folder is missing (e.g. a wheel install).
    """
    return {kind: list(_bundled(kind)) for kind in KINDS}


def sample_path(kind: str, name: str) -> Path:
    """Return the file of a bundled sample image.

    Args:
        kind: ``"content"`` or ``"style"``.
        name: Image name without extension, e.g. ``"astronaut"`` or ``"swirl"``; a name with
            its extension (``"swirl.jpg"``) is accepted too.

    Returns:
        Path of the image file.

    Raises:
        UnknownSampleError: (a ``ValueError``) when ``kind`` or ``name`` is unknown; the
            message lists the valid choices.
    """
    _check_kind(kind)
    files = _bundled(kind)
    stem = Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name
    if stem in files:
        return files[stem]
    if not files:
        raise UnknownSampleError(
            f"no {kind} images found in {SAMPLES_DIR / kind} (the images/ folder comes with "
            "the repository: clone it to use the bundled samples)"
        )
    raise UnknownSampleError(f"unknown {kind} image {name!r}: choose one of {', '.join(files)}")


# --------------------------------------------------------------------------------------
# Painting catalogue
# --------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Return the folder downloaded paintings are cached in.

    ``$NST_CACHE_DIR/paintings`` when the environment variable is set, otherwise
    ``~/.cache/nst_helpers/paintings``.
    """
    root = os.environ.get(CACHE_ENV_VAR)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "nst_helpers"
    return base / "paintings"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    with atomic_write(path) as handle:
        handle.write(data)


def _check_is_image(data: bytes, name: str, url: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PaintingIntegrityError(
            f"the file downloaded for painting {name!r} from {url} is not a valid image ({exc})"
        ) from exc


def _verify_cached(path: Path, record: Path, expected: str | None, name: str) -> None:
    """Check a cached painting against its expected or recorded SHA-256 (recording it if new)."""
    actual = _sha256(path.read_bytes())
    if expected is None and record.is_file():
        expected = record.read_text(encoding="ascii").strip()
    if expected is None:
        _write_atomic(record, (actual + "\n").encode("ascii"))
        return
    if actual != expected:
        path.unlink(missing_ok=True)
        raise PaintingIntegrityError(
            f"the cached copy of painting {name!r} at {path} is corrupted or was changed "
            f"(sha256 {actual[:12]}..., expected {expected[:12]}...): it has been deleted, "
            "run again to download it afresh"
        )


def _download(url: str, timeout: float, name: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise PaintingDownloadError(
            f"couldn't download painting {name!r} from {url}: {exc}"
        ) from exc


def fetch_painting(name: str, cache_dir: str | Path | None = None, timeout: float = 10) -> Path:
    """Download a catalogue painting once and return its cached file.

    The first download is checked to be an image (and against ``Painting.sha256`` when set),
    written atomically, and its SHA-256 is recorded in ``<name>.sha256`` beside it. Later
    calls use the cached file after checking it against that record (trust on first use).

    Args:
        name: Key of ``PAINTINGS``, e.g. ``"starry_night"``.
        cache_dir: Folder for downloads; ``default_cache_dir()`` when None.
        timeout: Seconds to wait for the server.

    Returns:
        Path of the cached image file.

    Raises:
        UnknownSampleError: ``name`` is not in the catalogue.
        PaintingDownloadError: (an ``OSError``) the download failed, e.g. no internet.
        PaintingIntegrityError: the download is not an image or does not match its checksum,
            or the cached copy changed since it was downloaded (the copy is then deleted).
    """
    if name not in PAINTINGS:
        raise UnknownSampleError(f"unknown painting {name!r}: choose one of {', '.join(PAINTINGS)}")
    painting = PAINTINGS[name]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    suffix = Path(painting.url).suffix.lower() or ".jpg"
    path, record = folder / f"{name}{suffix}", folder / f"{name}.sha256"
    if path.is_file():
        _verify_cached(path, record, painting.sha256, name)
        return path

    data = _download(painting.url, timeout, name)
    digest = _sha256(data)
    if painting.sha256 is not None and digest != painting.sha256:
        raise PaintingIntegrityError(
            f"the file downloaded for painting {name!r} from {painting.url} has sha256 "
            f"{digest[:12]}..., expected {painting.sha256[:12]}..."
        )
    _check_is_image(data, name, painting.url)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)
    _write_atomic(record, (digest + "\n").encode("ascii"))
    return path


def style_image_path(
    name_or_path: str | os.PathLike[str],
    offline_fallback: str | None = "swirl",
    *,
    cache_dir: str | Path | None = None,
    timeout: float = 10,
) -> tuple[Path, str]:
    """Resolve a style image given as a bundled style, a catalogue painting or a file path.

    Args:
        name_or_path: A bundled style name (``"swirl"``), a ``PAINTINGS`` key
            (``"starry_night"``) or the path of an image file.
        offline_fallback: Bundled style used when a painting cannot be downloaded; None to
            let the download error propagate.
        cache_dir: Passed to ``fetch_painting``.
        timeout: Passed to ``fetch_painting``.

    Returns:
        The image path and a one-line message for the user: empty unless the fallback was
        used, in which case it says why.

    Raises:
        UnknownSampleError: (a ``ValueError``) the name is neither a bundled style nor a
            painting; the message lists both.
        StyleFileNotFoundError: (a ``FileNotFoundError``) a path-like value names no file.
    """
    text = os.fspath(name_or_path)
    styles = _bundled("style")
    if text in styles:
        return styles[text], ""
    if text in PAINTINGS:
        try:
            return fetch_painting(text, cache_dir=cache_dir, timeout=timeout), ""
        except OSError:
            if offline_fallback is None:
                raise
            fallback = sample_path("style", offline_fallback)
            return fallback, (
                f"couldn't download {text!r} (no internet?): "
                f"using the bundled {offline_fallback!r} style instead"
            )
    path = Path(text).expanduser()
    if path.is_file():
        return path, ""
    choices = (
        f"bundled styles: {', '.join(styles) or '(none found)'}; paintings: {', '.join(PAINTINGS)}"
    )
    if isinstance(name_or_path, os.PathLike) or os.sep in text or "/" in text or path.suffix:
        raise StyleFileNotFoundError(f"style image file {text!r} not found ({choices})")
    raise UnknownSampleError(f"unknown style {text!r}: choose a file path or one of {choices}")
