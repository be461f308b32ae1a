"""Uploads in every shape (ipywidgets 8.x, ipywidgets 7.7 as in Colab, google.colab.files)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import gradient_image, png_bytes
from nst_helpers.errors import NSTError
from nst_helpers.notebook import uploads


def test_uploads_from_ipywidgets_8():
    image = gradient_image(20, 10)
    value = (
        {"name": "a.png", "type": "image/png", "size": 1, "content": memoryview(png_bytes(image))},
        {"name": "b.png", "type": "image/png", "size": 1, "content": memoryview(png_bytes(image))},
    )
    files = uploads.uploaded_images(value)
    assert [name for name, _ in files] == ["a.png", "b.png"]
    assert files[0][1].mode == "RGB" and files[0][1].size == (20, 10)
    assert np.array_equal(np.asarray(files[0][1]), np.asarray(image))  # PNG is lossless


def test_uploads_from_ipywidgets_7_and_colab_files():
    image = gradient_image(12, 16)
    data = png_bytes(image)
    v7 = {"cat.png": {"metadata": {"name": "cat.png", "type": "image/png"}, "content": data}}
    colab = {"cat.png": data}
    for value in (v7, colab):
        [(name, decoded)] = uploads.uploaded_images(value)
        assert name == "cat.png"
        assert np.array_equal(np.asarray(decoded), np.asarray(image))


@pytest.mark.parametrize("empty", [None, {}, (), []])
def test_no_upload_gives_no_images(empty):
    assert uploads.uploaded_images(empty) == []


def test_upload_goes_through_load_image():
    """A transparent PNG lands on white, as `load_image` does for files on disk."""
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    [(_, decoded)] = uploads.uploaded_images({"clear.png": png_bytes(rgba)})
    assert decoded.mode == "RGB" and decoded.getpixel((0, 0)) == (255, 255, 255)


def test_bad_upload_names_the_file():
    with pytest.raises(NSTError, match="'notes.txt' is not an image") as info:
        uploads.uploaded_images({"notes.txt": b"hello, not a picture"})
    assert "nst_upload_" not in str(info.value)  # the temporary file stays out of the message


@pytest.mark.parametrize("value", ["a.png", 42, ("a.png",), {"a.png": {"metadata": {}}}])
def test_unknown_upload_shapes_are_refused(value):
    with pytest.raises(NSTError, match="upload"):
        uploads.uploaded_images(value)
