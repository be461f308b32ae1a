"""How much memory a run needs: the estimate (the network, the style images at their working size,
decoding the inputs), the check and its messages, and large images within it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import gradient_image, png_file
from nst_helpers.api import stylize
from nst_helpers.errors import NSTError
from nst_helpers.files.decoding import decode_memory
from nst_helpers.files.images import load_image, scaled_size
from nst_helpers.runs.memory import check_memory, estimate_memory
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import activation_count, resolve_precision


def test_memory_estimate_grows_with_size_and_refuses_what_cannot_fit():
    settings = Settings(arch="vgg19", max_dim=1024)
    sizes = [estimate_memory(settings, side, side) for side in (256, 512, 1024)]
    assert sizes == sorted(sizes) and sizes[2] > 2 * sizes[1]
    assert estimate_memory(settings.replace(precision="bfloat16"), 1024, 1024) < sizes[2]
    assert estimate_memory(settings.replace(optimizer="lbfgs"), 1024, 1024) > sizes[2]
    assert check_memory(settings, 1024, 768, available=64 * 2**30) == estimate_memory(
        settings, 1024, 768
    )
    with pytest.raises(
        NSTError,
        match=r"a 1024x768 px run with VGG19 \(float32, adam\) needs "
        r"about \d+\.\d GiB of memory, but only 2\.0 GiB is available\. Use max_dim "
        r"\(--max-dim\) (\d+) or less",
    ) as caught:
        check_memory(settings, 1024, 768, available=2 * 2**30)
    fits = int(caught.value.args[0].split("--max-dim) ")[1].split()[0])
    assert estimate_memory(settings, fits, fits * 3 // 4) <= 2 * 2**30
    assert estimate_memory(settings, fits + 32, (fits + 32) * 3 // 4) > 2 * 2**30


def test_a_sweep_checks_the_memory_of_each_run(
    small_pair, tiny_extractor, tiny_settings, monkeypatch
):
    from nst_helpers import machine
    from nst_helpers.sweeps import sweep

    size = scaled_size(small_pair[0].size, tiny_settings.max_dim)
    one = estimate_memory(tiny_settings, *size, style_sizes=[small_pair[1].size])
    monkeypatch.setattr(machine, "has_gpu", lambda: False)
    monkeypatch.setattr(machine, "available_memory", lambda: one - 2**20)
    with pytest.raises(NSTError, match=r"needs about [\d.]+ GiB"):
        sweep(*small_pair, tiny_settings, "style_weight", [1.0, 10.0, 100.0],
              extractor=tiny_extractor)  # fmt: skip
    monkeypatch.setattr(machine, "available_memory", lambda: one + 2**20)  # one run fits
    results = sweep(*small_pair, tiny_settings.replace(steps=2), "style_weight", [1.0, 10.0],
                    extractor=tiny_extractor)  # fmt: skip
    assert [r.steps_done for r in results] == [2, 2]


def test_the_style_loss_registry_adds_its_memory():
    from nst_helpers.core.style_losses import STYLE_LOSSES, StyleLoss, register
    from nst_helpers.runs.vgg import activation_count

    settings = Settings(arch="vgg16", max_dim=256)
    gram = estimate_memory(settings, 256, 192)
    heavy = StyleLoss("heavy_for_test", "holds 8 bytes per activation", lambda f, m: f,
                      lambda a, b: 0.0, bytes_per_activation=8.0)  # fmt: skip
    try:
        register(heavy)
        with_heavy = estimate_memory(settings.replace(style_loss="heavy_for_test"), 256, 192)
    finally:
        del STYLE_LOSSES["heavy_for_test"]
    held = 8 * activation_count("vgg16", settings.style_layers, 192, 256)
    assert with_heavy - gram == pytest.approx(held, rel=1e-6)


def test_memory_estimate_counts_the_pyramid_layers_for_lbfgs():
    plain = Settings(optimizer="lbfgs")
    extra = estimate_memory(plain.replace(pyramid=True), 900, 600) - estimate_memory(
        plain, 900, 600
    )
    # L-BFGS keeps 24 float64 vectors; the pyramid's coarser layers add a third to each.
    assert extra == pytest.approx(24 * 900 * 600 * 3 * 8 / 3, rel=0.01)


@pytest.mark.parametrize("has_bf16", [True, False])
def test_memory_estimate_for_auto_is_the_estimate_for_what_auto_picks(has_bf16, monkeypatch):
    from nst_helpers import machine

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: has_bf16)
    picked = resolve_precision("auto")
    assert picked == ("bfloat16" if has_bf16 else "float32")
    for settings in (Settings(), Settings(optimizer="lbfgs", pyramid=True)):
        auto = estimate_memory(settings.replace(precision="auto"), 900, 600)
        assert auto == estimate_memory(settings.replace(precision=picked), 900, 600)
    assert estimate_memory(Settings(precision="bfloat16"), 900, 600) < estimate_memory(
        Settings(precision="float32"), 900, 600
    )


def test_memory_estimate_counts_the_style_image_at_its_working_size():
    # The case: max_dim 64 and style_scale 16 send the style image through at 1024 px.
    settings = Settings(arch="vgg19", max_dim=64, style_scale=16)
    plain = estimate_memory(settings, 64, 43)
    with_style = estimate_memory(settings, 64, 43, style_sizes=[(512, 512)])
    layers = settings.content_layers + settings.style_layers
    # Every layer output of the 1024 px pass is held until the pass ends: 4 bytes each at least.
    assert with_style - plain >= activation_count("vgg19", layers, 1024, 1024) * 4
    # Counted at its working size, whatever size it was loaded at; one pass at a time.
    assert estimate_memory(settings, 64, 43, style_sizes=[(64, 64)]) == with_style
    assert estimate_memory(settings, 64, 43, style_sizes=[(64, 64), (900, 900)]) == with_style
    smaller = estimate_memory(settings.replace(style_scale=8), 64, 43, style_sizes=[(512, 512)])
    assert plain < smaller < with_style
    # No larger than the content image, the style pass costs less than the optimization.
    same = settings.replace(style_scale=1)
    assert estimate_memory(same, 64, 43, style_sizes=[(64, 43)]) == estimate_memory(same, 64, 43)


def test_memory_check_counts_the_style_image_and_names_a_size_that_fits():
    settings = Settings(arch="vgg19", max_dim=64, style_scale=16)
    available = int(1.5 * 2**30)
    assert check_memory(settings, 64, 43, available=available) < available  # style not counted
    with pytest.raises(
        NSTError,
        match=r"a 64x43 px run with VGG19 \(float32, adam\) needs about \d\.\d GiB of memory, "
        r"but only 1\.5 GiB is available\. Use max_dim \(--max-dim\) (\d+) or less, a smaller "
        r"style_scale \(--style-scale\), precision bfloat16, or free some memory\.",
    ) as caught:
        check_memory(settings, 64, 43, available=available, style_sizes=[(512, 512)])
    fits = int(caught.value.args[0].split("--max-dim) ")[1].split()[0])

    def estimate_at(max_dim: int) -> int:  # the style image shrinks with max_dim
        size = scaled_size((64, 43), max_dim)
        return estimate_memory(settings.replace(max_dim=max_dim), *size, style_sizes=[(512, 512)])

    assert estimate_at(fits) <= available < estimate_at(fits + 1)


def test_memory_estimate_counts_decoding_and_holding_full_size_inputs():

    settings = Settings(arch="vgg19")
    run = estimate_memory(settings, 512, 512)
    huge = estimate_memory(settings, 512, 512, decode_sizes=[(12000, 12000)])
    assert huge - run >= 12000 * 12000 * 4  # the RGB image Pillow keeps for the run, at least
    assert huge >= decode_memory((12000, 12000)) > 12000 * 12000 * 4
    with pytest.raises(
        NSTError,
        match=r"a 512x512 px run .* needs about \d\.\d GiB of memory \(decoding the input files "
        r"at full size takes 1\.3 GiB\), but only 1\.0 GiB is available\. Downscale the input "
        r"images with an image editor, or free some memory\.",
    ):
        check_memory(settings, 512, 512, available=2**30, decode_sizes=[(12000, 12000)])


def test_stylize_counts_the_style_image_before_any_work(
    tmp_path, monkeypatch, tiny_extractor, tiny_settings
):
    from nst_helpers import machine

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    gradient_image(40, 30).save(content)
    gradient_image(36, 36, seed=1).save(style)
    before = content.read_bytes(), style.read_bytes()
    monkeypatch.setattr(machine, "available_memory", lambda: int(1.2 * 2**30))
    monkeypatch.setattr(machine, "has_gpu", lambda: False)  # the check of the machine's RAM
    steps = []
    # style_scale 32: the style image goes through the network at 1024 px, the content at 32.
    with pytest.raises(NSTError, match=r"a smaller style_scale \(--style-scale\)"):
        stylize(content, style, tiny_settings, extractor=tiny_extractor, style_scale=32,
                callbacks=[steps.append])  # fmt: skip
    assert steps == []
    assert (content.read_bytes(), style.read_bytes()) == before


def test_too_large_to_decode_is_refused_from_the_header(tmp_path, monkeypatch):
    from nst_helpers import machine

    path = tmp_path / "wide.png"
    before = png_file(path, 12000, 12000)  # a valid 12000x12000 px PNG of under 1 MB
    assert len(before) < 2**20
    monkeypatch.setattr(machine, "available_memory", lambda: 2**30)
    loads = []
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(self))
    with pytest.raises(
        NSTError,
        match=r"'.*wide.png' is 12000x12000 px: decoding it needs about 1\.3 GiB of memory, but "
        r"only 1\.0 GiB is available\. Downscale it with an image editor, or free some memory\.",
    ):
        load_image(path, max_dim=512)
    assert loads == []  # refused from the header, before any decoding
    assert path.read_bytes() == before


def test_large_jpeg_is_decoded_at_a_reduced_size(tmp_path, monkeypatch):
    from nst_helpers import machine

    rng = np.random.default_rng(0)
    array = np.repeat(np.repeat(rng.integers(0, 255, (40, 60, 3), np.uint8), 40, 0), 40, 1)
    path = tmp_path / "big.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 2400x1600, shown 1600x2400
    Image.fromarray(array).save(path, quality=90, exif=exif)
    full = load_image(path).resize((67, 100), Image.Resampling.LANCZOS)
    # 10 MB is less than a full decode (2400 x 1600 px x 10 bytes) but more than 1/8 of it.
    monkeypatch.setattr(machine, "available_memory", lambda: 10 * 2**20)
    with pytest.raises(NSTError, match="decoding it needs about"):
        load_image(path)
    small = load_image(path, max_dim=100)  # libjpeg decodes 300x200 px (1/8), then resized
    assert small.size == (67, 100) == scaled_size((1600, 2400), 100)
    difference = np.abs(np.asarray(small, float) - np.asarray(full, float))
    assert difference.mean() < 3  # the same picture


def test_cli_memory_line_counts_the_style_image(tmp_path, capsys):
    from conftest import CONTENT, STYLE
    from nst_helpers.cli.command import main
    from nst_helpers.files.images import load_image, scaled_size

    args = [str(CONTENT), str(STYLE), "-o", str(tmp_path / "o.png"), "--weights", "none"]
    args += ["--arch", "vgg19", "--max-dim", "64", "--style-scale", "16", "--steps", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    # nst runs the fast preset unless told otherwise
    settings = Settings.preset("fast", arch="vgg19", weights=None, max_dim=64, style_scale=16)
    width, height = scaled_size(load_image(CONTENT).size, 64)
    with_style = estimate_memory(settings, width, height, style_sizes=[load_image(STYLE).size])
    assert with_style > 1.5 * estimate_memory(settings, width, height)  # the style image matters
    assert f"needs about {with_style / 2**30:.1f} GiB of memory" in err
