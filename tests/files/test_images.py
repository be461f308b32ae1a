"""Image loading, modes, EXIF, resizing, tensors, VGG preprocessing and saving."""

from __future__ import annotations

import builtins
import errno
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import png_file
from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import to_rgb
from nst_helpers.files.images import (
    image_to_tensor,
    load_image,
    resize_image,
    save_image,
    tensor_to_image,
    vgg_deprocess,
    vgg_preprocess,
)


def pixel(img: Image.Image, xy=(0, 0)) -> tuple:
    return img.getpixel(xy)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 100, (100, 100, 100)),
        ("LA", (100, 0), (255, 255, 255)),  # fully transparent -> white, not black
        ("LA", (100, 255), (100, 100, 100)),
        ("RGBA", (255, 0, 0, 128), (255, 127, 127)),  # half red over white
        ("RGBA", (10, 20, 30, 0), (255, 255, 255)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("1", 1, (255, 255, 255)),
        ("I;16", 65535, (255, 255, 255)),  # 16-bit white stays white
        ("I;16", 32768, (128, 128, 128)),  # scaled, not clipped to 255
        ("I", 65535, (255, 255, 255)),
        ("I", 200, (200, 200, 200)),  # an 8-bit range stored as 32-bit stays as is
        ("F", 0.5, (128, 128, 128)),
    ],
)
def test_to_rgb_converts_every_mode(mode, value, expected):
    img = Image.new(mode, (4, 3), value)
    rgb = to_rgb(img)
    assert rgb.mode == "RGB"
    assert rgb.size == (4, 3)
    assert pixel(rgb) == pytest.approx(expected, abs=1)


def test_palette_transparency_becomes_white(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0] + [200, 10, 10] + [0, 0, 0] * 254)
    img.putpixel((1, 1), 1)
    img.info["transparency"] = 0
    path = tmp_path / "palette.png"
    img.save(path, transparency=0)
    rgb = load_image(path)
    assert pixel(rgb, (0, 0)) == (255, 255, 255)
    assert pixel(rgb, (1, 1)) == (200, 10, 10)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    array = np.full((5, 6), 30000, dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(array).save(path)
    value = pixel(load_image(path))[0]
    assert value == round(30000 / 65535 * 255)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".gif", ".tiff"])
def test_loads_common_formats(tmp_path, suffix):
    img = Image.new("RGB", (20, 10), (250, 20, 20))
    path = tmp_path / f"red{suffix}"
    img.save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB"
    assert loaded.size == (20, 10)
    assert pixel(loaded, (10, 5))[0] > 200


def test_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    r, _, b = pixel(load_image(path))
    assert r > 200 and b < 50


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (20, 10), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 5, 10))  # white stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    upright = load_image(path)
    assert upright.size == (10, 20)
    assert pixel(upright, (5, 1))[0] > 200  # the stripe is now at the top
    assert pixel(upright, (5, 18))[0] < 50


def test_max_dim_resizes_the_long_side_keeping_aspect(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 100), "white").save(path)
    assert load_image(path, max_dim=60).size == (60, 20)
    assert resize_image(Image.new("RGB", (50, 100)), 200).size == (100, 200)  # enlarges too


def test_resize_antialiases():
    checker = np.indices((64, 64)).sum(axis=0) % 2 * 255
    img = Image.fromarray(checker.astype(np.uint8)).convert("RGB")
    small = np.asarray(resize_image(img, 8), dtype=float)
    assert small.std() < 10  # averaged to gray, not aliased into stripes
    assert abs(small.mean() - 127.5) < 10


@pytest.mark.parametrize("bad", [0, -5, 2.5, "256", True])
def test_resize_rejects_bad_sizes(bad):
    with pytest.raises(NSTError, match="max_dim must be a positive whole number"):
        resize_image(Image.new("RGB", (4, 4)), bad)


def test_tensor_round_trip(small_pair):
    content, _ = small_pair
    tensor = image_to_tensor(content)
    assert tensor.shape == (1, 30, 40, 3)
    assert tensor.dtype.name == "float32"
    assert float(np.min(tensor)) >= 0.0 and float(np.max(tensor)) <= 1.0
    assert np.array_equal(np.asarray(tensor_to_image(tensor)), np.asarray(content))


def test_tensor_to_image_clips_and_checks_shape():
    img = tensor_to_image(np.full((2, 3, 3), 1.7, dtype=np.float32))
    assert pixel(img) == (255, 255, 255)
    with pytest.raises(NSTError, match="batch of 2"):
        tensor_to_image(np.zeros((2, 4, 4, 3)))
    with pytest.raises(NSTError, match=r"shape \(H, W, 3\)"):
        tensor_to_image(np.zeros((4, 4)))


def test_vgg_preprocess_matches_keras_and_does_not_mutate():
    import keras

    rng = np.random.default_rng(0)
    image = rng.random((1, 5, 7, 3)).astype(np.float32)
    before = image.copy()
    ours = vgg_preprocess(image).numpy()
    assert np.array_equal(image, before)  # the caller's array is untouched
    reference = keras.applications.vgg16.preprocess_input(image * 255.0)  # a fresh array
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    np.testing.assert_allclose(
        keras.applications.vgg19.preprocess_input(image * 255.0), ours, atol=1e-4
    )
    np.testing.assert_allclose(vgg_deprocess(ours).numpy(), image, atol=1e-5)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(NSTError, match="image file not found: .*Check the path"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(NSTError, match="is a folder, not an image file"):
        load_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(NSTError, match="is not an image Pillow can read. Use JPEG, PNG"):
        load_image(text)


def test_truncated_file_gives_clear_error(tmp_path):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:600])
    with pytest.raises(NSTError, match="truncated or corrupt. Re-download or re-export it"):
        load_image(cut)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above twice this
    with pytest.raises(NSTError, match="too large to open safely.*MAX_IMAGE_PIXELS"):
        load_image(path)


def test_save_is_atomic_and_creates_folders(tmp_path, small_pair):
    content, _ = small_pair
    target = tmp_path / "new" / "deeper" / "out.png"
    save_image(content, target, pnginfo={"nst": "recipe"})
    with Image.open(target) as saved:
        assert np.array_equal(np.asarray(saved), np.asarray(content))
        assert saved.text["nst"] == "recipe"
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]  # no temp file left
    save_image(image_to_tensor(content), tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as saved:
        assert saved.format == "JPEG"


def test_save_errors(tmp_path, small_pair):
    content, _ = small_pair
    with pytest.raises(NSTError, match=r"can't tell the output format .*\.png, \.jpg"):
        save_image(content, tmp_path / "out.xyz")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(NSTError, match="can't write into .*part of that path is a file"):
        save_image(content, blocker / "out.png")


# --- hostile input (issue 14): damaged EXIF, unreadable files, huge headers, text limits ---


def exif_with_wrong_entry(tag: int, new_tag: int | None = None, new_type: int | None = None):
    """EXIF bytes with orientation 6 and a Software entry whose tag or type is then corrupted,
    the way a flipped byte corrupts it (the value no longer fits what the tag expects)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0131] = "Software"
    data = bytearray(exif.tobytes())
    tiff = 6  # after b"Exif\0\0"
    order = "big" if data[tiff : tiff + 2] == b"MM" else "little"
    first = tiff + int.from_bytes(data[tiff + 4 : tiff + 8], order)
    for entry in range(int.from_bytes(data[first : first + 2], order)):
        at = first + 2 + 12 * entry
        if int.from_bytes(data[at : at + 2], order) == tag:
            if new_tag is not None:
                data[at : at + 2] = new_tag.to_bytes(2, order)
            if new_type is not None:  # one value of the new type, from the text's 8 bytes
                data[at + 2 : at + 8] = new_type.to_bytes(2, order) + (1).to_bytes(4, order)
    return bytes(data)


@pytest.mark.parametrize(
    ("new_tag", "new_type", "raised"),
    [
        (0x0117, None, struct.error),  # StripByteCounts (a LONG) holding text
        (0x011A, None, TypeError),  # XResolution (a RATIONAL) holding text
        (None, 5, AttributeError),  # Software (text) read as a RATIONAL
    ],
)
def test_damaged_exif_keeps_the_pixels(tmp_path, new_tag, new_type, raised):
    img = Image.new("RGB", (20, 10), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 5, 10))  # white stripe on the left
    path = tmp_path / "damaged_exif.jpg"
    img.save(path, exif=exif_with_wrong_entry(0x0131, new_tag, new_type), quality=95)
    before = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pillow's "Truncated File Read" and such
        with Image.open(path) as opened:
            opened.load()  # Pillow decodes the file, but its EXIF helper fails
            with pytest.raises(raised):
                ImageOps.exif_transpose(opened)
    upright = load_image(path)
    assert upright.size == (10, 20)  # the orientation itself was readable, and is applied
    assert pixel(upright, (5, 1))[0] > 200 and pixel(upright, (5, 18))[0] < 50
    assert load_image(path, max_dim=40).size == (20, 40)
    assert path.read_bytes() == before


def deny_reading(monkeypatch, path):
    """Makes `path` unreadable: chmod 000, and (as root reads anything) an open that refuses it
    with the error the operating system gives a user."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        real_open = builtins.open

        def refusing_open(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and Path(file) == path:
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", refusing_open)


def test_unreadable_file_says_permission_denied(tmp_path, monkeypatch, capsys):
    from nst_helpers.cli.command import main
    from nst_helpers.runs.recipe import read_recipe

    path = tmp_path / "locked.png"
    Image.new("RGB", (8, 8)).save(path)
    before = path.read_bytes()
    deny_reading(monkeypatch, path)
    message = r"can't read '.*locked.png': permission denied. Give yourself read access"
    with pytest.raises(NSTError, match=message):
        load_image(path)
    with pytest.raises(NSTError, match=message):
        read_recipe(path)
    assert main([str(path), str(path), "-o", str(tmp_path / "out.png")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "permission denied" in err
    assert "Traceback" not in err and "truncated or corrupt" not in err
    monkeypatch.undo()
    path.chmod(0o644)
    assert path.read_bytes() == before


def test_odd_modes_and_values_become_rgb(monkeypatch):
    floats = np.array([[np.nan, np.inf, -np.inf, 0.5]], dtype=np.float32)
    rgb = to_rgb(Image.fromarray(floats))  # NaN -> 0, inf -> the top, -inf -> 0, no warning
    assert [pixel(rgb, (x, 0))[0] for x in range(4)] == [0, 255, 0, 128]
    premultiplied = to_rgb(Image.new("La", (2, 2), (100, 128)))  # half-covered gray 199
    assert pixel(premultiplied) == pytest.approx((227, 227, 227), abs=1)

    def unsupported(self, mode=None, *args, **kwargs):  # as Pillow says for e.g. BGR;24
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    monkeypatch.setattr(Image.Image, "convert", unsupported)
    with pytest.raises(NSTError, match=r"can't convert an image in color mode CMYK to RGB \("):
        to_rgb(Image.new("CMYK", (2, 2)))


@pytest.mark.parametrize(
    ("chunks", "size", "message"),
    [
        # A 50 MB comment, compressed: more than Pillow decompresses for one text chunk.
        (
            [(b"zTXt", b"comment\0\0" + zlib.compress(b"x" * 50 * 2**20))],
            (8, 8),
            r"holds more text \(metadata\) than Pillow reads safely \(Decompressed data too "
            r"large for PngImagePlugin.MAX_TEXT_CHUNK\). If you trust the file, raise "
            r"PIL.PngImagePlugin.MAX_TEXT_CHUNK and MAX_TEXT_MEMORY",
        ),
        # No recipe before the pixels, and 30000x30000 px to decode to look after them.
        (
            [],
            (30000, 30000),
            r"too large to open safely \(no nst recipe before the pixels, and 30000x30000 px "
            r"are too many to decode to look after them\).*MAX_IMAGE_PIXELS",
        ),
    ],
)
def test_valid_pngs_get_the_real_cause_not_not_a_png(tmp_path, capsys, chunks, size, message):
    from nst_helpers.cli.command import main
    from nst_helpers.runs.recipe import read_recipe

    path = tmp_path / "valid.png"
    before = png_file(path, *size, chunks)
    with pytest.raises(NSTError, match=message):
        read_recipe(path)
    assert main(["--recipe", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "not a PNG" not in err
    assert "Traceback" not in err
    assert path.read_bytes() == before


def test_huge_png_with_its_recipe_before_the_pixels_is_read_without_decoding(tmp_path):
    from nst_helpers.runs.recipe import RECIPE_KEY, read_recipe

    path = tmp_path / "huge.png"
    recipe = {"recipe_version": 1}
    text = RECIPE_KEY.encode() + b"\0\0\0\0\0" + json.dumps(recipe).encode()  # as save_image
    before = png_file(path, 30000, 30000, [(b"iTXt", text)])
    assert read_recipe(path) == recipe  # no pixels decoded, so no decompression bomb
    with pytest.raises(NSTError, match="too large to open safely"):
        load_image(path)  # decoding it is refused, as Pillow refuses it
    assert path.read_bytes() == before
