"""Uploaded image files, in every shape they arrive in, decoded like files on disk.

An upload comes from ipywidgets 8.x `FileUpload.value`, ipywidgets 7.7's (as in Colab) or
`google.colab.files.upload()`; `uploaded_images` reads all three and decodes each file with
`nst_helpers.files.images.load_image`. Importing this module has no side effects.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.files.images import load_image


def uploaded_images(value: object) -> list[tuple[str, Image.Image]]:
    """Decodes uploaded files into RGB images, whichever widget or service uploaded them.

    Accepts the three shapes an upload arrives in:

    * ipywidgets 8.x `FileUpload.value`: a tuple of dicts with "name" and "content" (a memoryview);
    * ipywidgets 7.7 `FileUpload.value` (as in Colab): a dict
      {name: {"metadata": {...}, "content": bytes}};
    * `google.colab.files.upload()`: a dict {name: bytes}.

    Each file is decoded by `nst_helpers.files.images.load_image`, so uploads get exactly the
    handling of files on disk (EXIF orientation, transparency onto white, 16-bit images scaled,
    size limit).

    Args:
        value: The upload, in any of the shapes above; None or empty gives [].

    Returns:
        [(file name, RGB image)] in upload order.

    Raises:
        NSTError: The value has none of these shapes, or a file is not a readable image (the
            message names the file).

    Example::

        uploaded_images({"cat.png": png_bytes})
        # -> [('cat.png', <PIL.Image.Image image mode=RGB size=64x48>)]
    """
    return [(name, image_from_bytes(data, name)) for name, data in _upload_files(value)]


def _upload_files(value: object) -> list[tuple[str, bytes]]:
    """[(name, bytes)] from any of the upload shapes `uploaded_images` accepts."""
    if not value:
        return []
    files = []
    if isinstance(value, Mapping):  # ipywidgets 7.7 or google.colab.files.upload()
        for name, entry in value.items():
            content = entry.get("content") if isinstance(entry, Mapping) else entry
            files.append((str(name), content))
    elif isinstance(value, (tuple, list)):  # ipywidgets 8.x
        for entry in value:
            if not isinstance(entry, Mapping) or "content" not in entry:
                raise NSTError(_UNKNOWN_UPLOAD.format(type(entry).__name__))
            files.append((str(entry.get("name", "upload")), entry["content"]))
    else:
        raise NSTError(_UNKNOWN_UPLOAD.format(type(value).__name__))
    for name, content in files:
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise NSTError(f"upload {name!r} has no file content (got {type(content).__name__}).")
    return [(name, bytes(content)) for name, content in files]


_UNKNOWN_UPLOAD = (
    "can't read an upload given as {}: pass FileUpload.value (ipywidgets 7.7 or 8.x) or the dict "
    "that google.colab.files.upload() returns."
)


def image_from_bytes(data: bytes, name: str = "upload") -> Image.Image:
    """Decodes an image file's bytes exactly like `load_image` decodes a file on disk.

    Args:
        data: The file's bytes (PNG, JPEG, WebP...).
        name: The file name, used in error messages and to keep the suffix.

    Returns:
        An RGB image.

    Raises:
        NSTError: The bytes are not a readable image (the message names `name`).
    """
    # A temporary file lets `load_image` stay the one place that decodes images.
    suffix = Path(name).suffix if len(Path(name).suffix) <= 6 else ""
    fd, tmp = tempfile.mkstemp(prefix="nst_upload_", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return load_image(tmp)
    except NSTError as err:
        raise NSTError(str(err).replace(tmp, name)) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
