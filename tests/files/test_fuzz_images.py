"""Fuzzing the loader: thousands of generated files, and not one exception but NSTError.

Every Pillow mode is saved in each format that accepts it (with an EXIF block where the format
carries one, and an nst recipe in the PNGs); each of those files is then truncated at many
offsets, has bytes flipped (inside the EXIF block too) and its header's size made absurd; random
bytes, bare and behind each format's magic number, complete the set. Every file goes through
`load_image` (and `read_recipe` for the PNG-based ones): each must give an RGB image or raise
NSTError, and leave the file's bytes as they were. The seeds are fixed, so a failure names a
file that can be rebuilt.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib

import numpy as np
from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.files.images import load_image
from nst_helpers.runs.recipe import read_recipe, recipe_pnginfo

# Pillow's modes that some format can save ("La" has none: test_images covers it in memory).
MODES = (
    "1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
    "I", "I;16", "I;16B", "I;16L", "F",
)  # fmt: skip
FORMATS = (
    "PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "PPM", "TGA", "PCX", "ICO", "IM", "SGI", "DDS",
    "QOI", "SPIDER", "MSP", "XBM",
)  # fmt: skip
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
SIZED_FORMATS = ("PNG", "BMP", "GIF", "JPEG", "PPM")  # simple headers, rewritten by with_size
MAGIC = (
    b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ", b"P6\n", b"\x00\x00\x01\x00", b"DDS ", b"qoif",
)  # fmt: skip
# Sizes a damaged or hostile header may claim: none, tiny, and far beyond the decompression-bomb
# limit (none in between: such a file would really be decoded, at up to gigabytes).
ABSURD_SIZES = (
    (0, 0),
    (0, 16),
    (1, 1),
    (65535, 16),
    (65535, 65535),
    (2**31 - 1, 1),
    (1, 2**31 - 1),
)
TRUNCATIONS = 16  # offsets per file: 0, 1/16, 2/16 ... 15/16 of its length
FLIPS = 16  # files per seed with 1 to 4 bytes replaced
EXIF_FLIPS = 16  # files per seed with EXIF, bytes replaced inside the EXIF block
RANDOM_FILES = 10  # per magic number


def seed_image(mode: str) -> Image.Image:
    """A small deterministic image in `mode` (a ramp with noise, so files are not trivial)."""
    rng = np.random.default_rng(MODES.index(mode))
    rgb = Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8))
    if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.add.outer(np.arange(16), np.arange(24)) * 1500 + rng.integers(0, 100, (16, 24))
        if mode == "F":
            return Image.fromarray((values / values.max()).astype(np.float32))
        return Image.fromarray(values.astype(np.int32)).convert(mode)
    if mode in ("PA", "RGBa"):
        return rgb.convert("RGBA").convert(mode)
    return rgb.convert(mode)


def seed_files() -> list[tuple[str, bytes, bool]]:
    """(name, bytes, has EXIF) for every mode in every format that can save it."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    exif[0x010F] = "Maker"
    exif[0x0131] = "Software"
    seeds = []
    for mode in MODES:
        img = seed_image(mode)
        for fmt in FORMATS:
            options = {"pnginfo": _recipe_info()} if fmt == "PNG" else {}
            if fmt in EXIF_FORMATS:
                options["exif"] = exif
            buffer = io.BytesIO()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a deprecated pairing counts as refused
                    img.save(buffer, fmt, **options)
            except (OSError, ValueError, KeyError, TypeError, Warning):
                continue  # this format can't (or soon won't) hold this mode
            seeds.append((f"{mode}.{fmt}", buffer.getvalue(), fmt in EXIF_FORMATS))
    return seeds


def _recipe_info():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in recipe_pnginfo({"recipe_version": 1, "settings": {"steps": 3}}).items():
        info.add_itxt(key, value)
    return info


def exif_range(name: str, data: bytes) -> tuple[int, int]:
    """Where a seed's EXIF tags lie: the TIFF structure after b"Exif\0\0" (JPEG), in the eXIf or
    EXIF chunk (PNG, WebP), or a TIFF's own first directory (where Pillow writes them)."""
    if name.endswith(".TIFF"):
        order = "<" if data[:2] == b"II" else ">"
        start = struct.unpack(order + "I", data[4:8])[0]
        count = struct.unpack(order + "H", data[start : start + 2])[0]
        return start, start + 2 + 12 * count
    for marker, skip in ((b"Exif\x00\x00", 6), (b"eXIf", 4), (b"EXIF", 8)):
        at = data.find(marker)
        if at >= 0:
            return at + skip, min(len(data), at + skip + 200)
    raise AssertionError(f"{name} has no EXIF block")


def with_size(name: str, data: bytes, width: int, height: int) -> bytes | None:
    """`data` with its header claiming width x height (for the SIZED_FORMATS, else None)."""
    fmt = name.split(".")[1]
    out = bytearray(data)
    if fmt == "PNG":  # IHDR at 8: length, type, width, height..., CRC over type and data
        out[16:24] = struct.pack(">II", width % 2**32, height % 2**32)
        out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])))
    elif fmt == "BMP":
        out[18:26] = struct.pack("<ii", min(width, 2**31 - 1), min(height, 2**31 - 1))
    elif fmt == "GIF":
        out[6:10] = struct.pack("<HH", min(width, 65535), min(height, 65535))
    elif fmt == "JPEG":  # the frame header: FFC0 length precision height width
        at = data.find(b"\xff\xc0")
        out[at + 5 : at + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    elif fmt == "PPM":
        header_end = data.index(b"\n", data.index(b"\n") + 1)
        out[: header_end + 1] = data[:3] + f"{width} {height}\n".encode()
    else:
        return None
    return bytes(out)


def fuzz_cases() -> list[tuple[str, bytes]]:
    """Every generated file, as (name, bytes), from fixed seeds."""
    rng = random.Random(14)
    cases = []
    for name, data, has_exif in seed_files():
        cases.append((name, data))
        cases += [
            (f"{name} cut at {len(data) * k // TRUNCATIONS}", data[: len(data) * k // TRUNCATIONS])
            for k in range(TRUNCATIONS)
        ]
        for flip in range(FLIPS):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(len(data))] = rng.randrange(256)
            cases.append((f"{name} flip {flip}", bytes(damaged)))
        if has_exif:
            where = exif_range(name, data)
            for flip in range(EXIF_FLIPS):
                damaged = bytearray(data)
                for _ in range(rng.randint(1, 3)):
                    damaged[rng.randrange(*where)] = rng.randrange(256)
                cases.append((f"{name} EXIF flip {flip}", bytes(damaged)))
        for width, height in ABSURD_SIZES:
            resized = with_size(name, data, width, height)
            if resized is not None:
                cases.append((f"{name} claiming {width}x{height}", resized))
    for magic in MAGIC:
        for index in range(RANDOM_FILES):
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
            cases.append((f"random {index} after {magic!r}", magic + noise))
    return cases


def pillow_decodes(data: bytes) -> bool:
    """Whether Pillow opens and decodes `data` itself (its own warnings silenced)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                img.load()
    except Exception:  # any failure means no
        return False
    return True


def test_every_generated_file_loads_or_raises_nst_error(tmp_path):
    seeds = seed_files()
    assert {name.split(".")[0] for name, _, _ in seeds} == set(MODES)  # every mode saved
    cases = fuzz_cases()
    exif_seeds = sum(1 for _, _, has_exif in seeds if has_exif)
    sized = sum(1 for name, _, _ in seeds if name.split(".")[1] in SIZED_FORMATS)
    per_seed = 1 + TRUNCATIONS + FLIPS
    expected = (
        len(seeds) * per_seed
        + exif_seeds * EXIF_FLIPS
        + sized * len(ABSURD_SIZES)
        + len(MAGIC) * RANDOM_FILES
    )
    assert len(cases) == expected >= 2000
    outcomes = {"image": 0, "NSTError": 0, "recipe": 0}
    path = tmp_path / "case"
    for name, data in cases:
        path.unlink(missing_ok=True)  # a new file: truncating one costs ext4 a flush each time
        path.write_bytes(data)
        try:
            img = load_image(path)
        except NSTError as err:
            assert "\n" not in str(err), name  # one line
            outcomes["NSTError"] += 1
        except Exception as err:  # anything else fails, naming the file
            raise AssertionError(f"{name}: {type(err).__name__}: {err}") from err
        else:
            assert img.mode == "RGB" and min(img.size) >= 1, name
            outcomes["image"] += 1
        if data.startswith(b"\x89PNG") or ".PNG" in name:
            try:
                recipe = read_recipe(path)
            except NSTError as err:
                assert "\n" not in str(err), name
            except Exception as err:
                raise AssertionError(f"{name} (recipe): {type(err).__name__}: {err}") from err
            else:
                assert isinstance(recipe, dict), name
                outcomes["recipe"] += 1
        assert path.read_bytes() == data, name  # the input is never changed
    assert outcomes["NSTError"] >= len(cases) // 4  # the damage is caught, not just survived
    # Every seed Pillow itself decodes loads (all but one or two pairings Pillow can't read back).
    decoded = [(name, data) for name, data, _ in seeds if pillow_decodes(data)]
    assert len(decoded) >= len(seeds) - 2 and outcomes["image"] >= len(decoded)
    for name, data in decoded:
        path.unlink()
        path.write_bytes(data)
        assert load_image(path).mode == "RGB", name
    assert outcomes["recipe"] >= sum(1 for name, _, _ in seeds if name.endswith(".PNG"))
