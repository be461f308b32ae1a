"""Bundled sample images and an on-demand catalogue of famous public-domain paintings.

The repository's `images/` folder holds a few content photos and generated style images, so the
tutorial works without internet. A famous painting is downloaded only when asked for
(`fetch_painting`), through `keras.utils.get_file`, which caches it and checks its sha256.

Importing this module has no side effects and does not import TensorFlow or Keras.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import file_sha256
from nst_helpers.files.images import atomic_write

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "images"
"""The repository's `images/` folder (present in a source checkout, not in a built wheel)."""

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
    """A downloaded painting is not an image, or not the file its sha256 says."""


@dataclass(frozen=True)
class Painting:
    """One famous painting that can be downloaded from Wikimedia Commons.

    Attributes:
        title: Title of the work.
        artist: Name of the painter.
        year: Year the work was made.
        url: Direct `upload.wikimedia.org` address of the image file.
        licence: Copyright status of the image.
        sha256: Expected sha256 of the file, or None to trust the first download.
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


def list_samples() -> dict[str, list[str]]:
    """Lists the bundled sample images.

    Returns:
        {"content": [...], "style": [...]}, sorted names usable with `sample_path`. The lists are
        empty when the `images/` folder is missing (e.g. a wheel install).
    """
    return {kind: list(_bundled(kind)) for kind in KINDS}


def sample_path(kind: str, name: str) -> Path:
    """Returns the file of a bundled sample image.

    Args:
        kind: "content" or "style".
        name: Image name without extension, e.g. "astronaut" or "swirl"; a name with its
            extension ("swirl.jpg") is accepted too.

    Returns:
        Path of the image file.

    Raises:
        UnknownSampleError: (a ValueError) `kind` or `name` is unknown; the message lists the
            choices.

    Example:
        >>> sample_path("style", "swirl").name
        'swirl.jpg'
    """
    if kind not in KINDS:
        raise UnknownSampleError(
            f"unknown sample kind {kind!r}: choose one of {', '.join(map(repr, KINDS))}"
        )
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


def _bundled(kind: str) -> dict[str, Path]:
    """{name: file} of the bundled images of `kind`."""
    folder = SAMPLES_DIR / kind
    if not folder.is_dir():
        return {}
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.stem: p for p in files}


def default_cache_dir() -> Path:
    """Returns the folder downloaded paintings are cached in.

    `$NST_CACHE_DIR/paintings` when the environment variable is set, else
    `~/.cache/nst_helpers/paintings`.
    """
    root = os.environ.get(CACHE_ENV_VAR)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "nst_helpers"
    return base / "paintings"


def fetch_painting(name: str, cache_dir: str | Path | None = None, timeout: float = 10) -> Path:
    """Downloads a catalogue painting once and returns its cached file.

    `keras.utils.get_file` downloads and caches the file, and checks it against `Painting.sha256`
    or, for paintings without one, against the sha256 recorded in `<name>.sha256` at the first
    download (trust on first use). A cached file that fails the check is downloaded again. The
    first download is also checked to be an image.

    Args:
        name: Key of `PAINTINGS`, e.g. "starry_night".
        cache_dir: Folder for downloads; `default_cache_dir()` when None.
        timeout: Seconds to wait for the server.

    Returns:
        Path of the cached image file.

    Raises:
        UnknownSampleError: `name` is not in the catalogue.
        PaintingDownloadError: (an OSError) the download failed, e.g. no internet.
        PaintingIntegrityError: the download is not an image or does not match its sha256 (the
            file is then deleted).
    """
    from keras.utils import get_file

    if name not in PAINTINGS:
        raise UnknownSampleError(f"unknown painting {name!r}: choose one of {', '.join(PAINTINGS)}")
    painting = PAINTINGS[name]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = folder.absolute()
    path = folder / f"{name}{Path(painting.url).suffix.lower() or '.jpg'}"
    record = folder / f"{name}.sha256"
    expected = painting.sha256
    if expected is None and record.is_file():
        expected = record.read_text(encoding="ascii").strip()
    try:
        with _identified_download(timeout):
            get_file(
                path.name,
                painting.url,
                file_hash=expected,
                hash_algorithm="sha256",
                cache_subdir=str(folder),  # an absolute cache_subdir is the folder itself
                # No sha256 yet: a file already there is an interrupted download, not trusted.
                force_download=expected is None,
            )
    except ValueError as exc:  # get_file's sha256 check failed on a fresh download
        if expected is None:
            raise
        actual = file_sha256(path) if path.is_file() else "?"
        path.unlink(missing_ok=True)
        recorded = "" if painting.sha256 else f" as recorded in {record} (delete it to accept)"
        raise PaintingIntegrityError(
            f"the file downloaded for painting {name!r} from {painting.url} has sha256 "
            f"{actual[:12]}..., expected {expected[:12]}...{recorded}"
        ) from exc
    except Exception as exc:
        # get_file raises a bare Exception naming the URL when the fetch fails; an OSError or an
        # HTTPException (a timeout, a dropped connection) while reading passes through it.
        if type(exc) is not Exception and not isinstance(exc, (OSError, http.client.HTTPException)):
            raise
        cause = exc.__context__ if type(exc) is Exception and exc.__context__ else exc
        raise PaintingDownloadError(
            f"couldn't download painting {name!r} ({cause}): check the internet connection, or "
            f"download {painting.url} yourself and pass the file's path instead"
        ) from exc
    if expected is None:
        _check_is_image(path, name, painting.url)
        with atomic_write(record) as handle:
            handle.write(f"{file_sha256(path)}\n".encode("ascii"))
    return path


@contextmanager
def _identified_download(timeout: float) -> Iterator[None]:
    """Sends `USER_AGENT` and waits at most `timeout` seconds while `get_file` downloads.

    `get_file` takes neither setting, and Wikimedia answers urllib's default User-Agent with HTTP
    403, so both are set as urllib's and socket's process-wide defaults, then restored.
    """
    opener = urllib.request.build_opener()
    opener.addheaders = [("User-Agent", USER_AGENT)]
    previous_opener = urllib.request._opener  # None unless someone installed one
    previous_timeout = socket.getdefaulttimeout()
    urllib.request.install_opener(opener)
    socket.setdefaulttimeout(timeout)
    try:
        yield
    finally:
        urllib.request.install_opener(previous_opener)
        socket.setdefaulttimeout(previous_timeout)


def _check_is_image(path: Path, name: str, url: str) -> None:
    """Deletes `path` and raises PaintingIntegrityError unless Pillow can read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise PaintingIntegrityError(
            f"the file downloaded for painting {name!r} from {url} is not a valid image ({exc})"
        ) from exc


def style_image_path(
    name_or_path: str | os.PathLike[str],
    offline_fallback: str | None = "swirl",
    *,
    cache_dir: str | Path | None = None,
    timeout: float = 10,
) -> tuple[Path, str]:
    """Resolves a style image given as a bundled style, a catalogue painting or a file path.

    Args:
        name_or_path: A bundled style name ("swirl"), a `PAINTINGS` key ("starry_night") or the
            path of an image file.
        offline_fallback: Bundled style used when a painting cannot be downloaded (default
            "swirl"); None lets the PaintingDownloadError propagate.
        cache_dir: Passed to `fetch_painting`.
        timeout: Passed to `fetch_painting`.

    Returns:
        The image path and a one-line message for the user: "" unless the fallback was used, in
        which case it says why.

    Raises:
        UnknownSampleError: (a ValueError) the name is neither a bundled style nor a painting;
            the message lists both.
        StyleFileNotFoundError: (a FileNotFoundError) a path-like value names no file.
        PaintingIntegrityError: as `fetch_painting`.
    """
    text = os.fspath(name_or_path)
    styles = _bundled("style")
    if text in styles:
        return styles[text], ""
    if text in PAINTINGS:
        try:
            return fetch_painting(text, cache_dir=cache_dir, timeout=timeout), ""
        except PaintingDownloadError:
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
