"""L-BFGS, coarse-to-fine levels, low precision, time budgets and presets (memory: test_memory)."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_helpers.api import stylize
from nst_helpers.core.model import build_extractor
from nst_helpers.errors import NSTError
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import check_precision, resolve_precision


def test_lbfgs_lowers_the_loss_within_bounds(small_pair, tiny_extractor, tiny_settings):
    result = stylize(
        *small_pair,
        tiny_settings,
        extractor=tiny_extractor,
        optimizer="lbfgs",
        steps=12,
        style_weight=100.0,
    )
    assert result.steps_done == 12  # every function evaluation counts as a step
    assert min(result.history["total"]) < 0.5 * result.history["total"][0]
    assert result.best_loss == min(result.history["total"])
    assert result.best_image.size == (32, 24)
    moved = moved_from_photo(result.best_image, small_pair[0])
    assert 0.5 < moved < 60  # optimized away from the photo, and still a picture of it


def test_lbfgs_interrupt_keeps_the_best(small_pair, tiny_extractor, tiny_settings):
    def interrupt(event):
        if event.step == 4:
            raise KeyboardInterrupt

    result = stylize(
        *small_pair,
        tiny_settings,
        extractor=tiny_extractor,
        optimizer="lbfgs",
        steps=30,
        callbacks=[interrupt],
    )
    assert result.stopped == "interrupted" and result.steps_done == 4


def test_coarse_to_fine_levels(small_pair, tiny_extractor, tiny_settings):
    settings = tiny_settings.replace(
        max_dim=48, start_dim=24, level_steps=(5, 4, 3), preview_every=1
    )
    assert settings.levels() == [24, 34, 48]
    events = []
    result = stylize(*small_pair, settings, extractor=tiny_extractor, callbacks=[events.append])
    assert [level["max_dim"] for level in result.levels] == settings.levels()
    assert [level["steps"] for level in result.levels] == [5, 4, 3]
    assert [e.level for e in events] == [0] * 5 + [1] * 4 + [2] * 3
    assert [events[i].image.shape[1] for i in (0, 5, 9)] == [24, 34, 48]  # grow with the level
    assert result.best_image.size == (48, 36)
    assert result.best_step >= 9  # the best image comes from the final level


def test_levels_and_step_split():
    settings = Settings(max_dim=512, start_dim=256, steps=70)
    assert settings.levels() == [256, 362, 512]
    assert settings.steps_per_level() == [17, 17, 35]  # half for the final size
    assert Settings(max_dim=512, steps=70).steps_per_level() == [70]
    assert Settings(max_dim=384, start_dim=256).levels() == [256, 384]
    assert Settings(max_dim=256, start_dim=512).levels() == [256]  # start above the end: off
    with pytest.raises(
        NSTError,
        match="level_steps has 2 values but the run has 3 levels "
        r"\(256, 362, 512 px\)",
    ):
        Settings(max_dim=512, start_dim=256, level_steps=(5, 5))
    with pytest.raises(NSTError, match="level_ratio must be greater than 1"):
        Settings(level_ratio=1.0)


def test_bfloat16_extractor_keeps_losses_float32(small_pair):
    extractor = build_extractor("vgg16", None, ("block2_conv1",), ("block1_conv1",), "bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    content, style = extractor(tf.random.uniform((1, 16, 16, 3)))
    assert content["block2_conv1"].dtype == tf.bfloat16
    settings = Settings(
        arch="vgg16",
        weights=None,
        max_dim=32,
        steps=3,
        precision="bfloat16",
        content_layers=("block2_conv1",),
        style_layers=("block1_conv1",),
    )
    from nst_helpers.core.objective import compute_losses, make_targets

    image = tf.random.uniform((1, 16, 16, 3))
    losses = compute_losses(extractor, image, *make_targets(extractor, image, image), settings)
    assert {name: value.dtype for name, value in losses.items()} == dict.fromkeys(
        ("content", "style", "tv", "total"), tf.float32
    )
    result = stylize(*small_pair, settings, extractor=extractor)
    assert all(np.isfinite(result.history["total"]))


def test_precision_choices(monkeypatch):
    from nst_helpers import machine

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto") == "bfloat16"  # no GPU on the test machines
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("float16") == "float16"
    with pytest.raises(
        NSTError, match="unknown precision 'half': choose one of float32, bfloat16, float16, auto"
    ):
        check_precision("half")


def test_extractor_precision_must_match(small_pair, tiny_extractor, tiny_settings):
    with pytest.raises(NSTError, match="does not match the settings.*bfloat16"):
        stylize(*small_pair, tiny_settings.replace(precision="bfloat16"), extractor=tiny_extractor)


def test_time_budget_ends_the_run_on_time(small_pair, tiny_extractor, tiny_settings):
    start = time.perf_counter()
    result = stylize(
        *small_pair, tiny_settings.replace(time_budget=2.0, steps=100_000), extractor=tiny_extractor
    )
    assert result.stopped == "time budget"
    assert result.steps_done > 5
    over = time.perf_counter() - start - 2.0  # measured: 0.01-0.03 s (steps of 13-32 ms)
    assert over < 0.3 + 2 * result.seconds["per_step"]  # at most a step and the bookkeeping


def test_a_budget_spent_early_still_gives_each_level_one_step_and_finite_best_losses(
    small_pair, tiny_extractor, tiny_settings
):
    events = []
    settings = tiny_settings.replace(max_dim=48, start_dim=24, time_budget=1e-6, steps=100)
    result = stylize(*small_pair, settings, extractor=tiny_extractor, callbacks=[events.append])
    assert result.stopped == "time budget"
    levels = settings.levels()  # 24 px up to 48 px
    assert len(levels) > 1 and [level["steps"] for level in result.levels] == [1] * len(levels)
    assert result.steps_done == len(levels) and result.best_image.size == (48, 36)
    assert math.isfinite(result.best_loss) and all(map(math.isfinite, result.best_losses.values()))
    assert [e.step for e in events] == list(range(1, len(levels) + 1))
    assert all(e.eta >= 0 for e in events)


def test_presets():
    fast = Settings.preset("fast", max_dim=384)
    assert (fast.optimizer, fast.pyramid, fast.start_dim, fast.precision, fast.max_dim) == (
        "lbfgs",
        True,
        None,
        "auto",
        384,
    )
    tutorial = Settings.preset("tutorial")
    assert (tutorial.optimizer, tutorial.pyramid, tutorial.precision) == ("adam", False, "float32")
    with pytest.raises(NSTError, match="unknown preset 'turbo': choose one of tutorial, fast"):
        Settings.preset("turbo")


def test_pyramid_depth_halves_down_to_about_ten_pixels():
    from nst_helpers.core.pyramid import pyramid_depth

    assert pyramid_depth(341, 512) == 6  # 341, 171, 86, 43, 22, 11 px on the short side
    assert pyramid_depth(24, 32) == 2
    assert pyramid_depth(8, 8) == 1  # too small to coarsen: plain pixels


def test_pyramid_image_is_the_sum_of_its_upsampled_layers():
    from nst_helpers.core.pyramid import PYRAMID_DECAY, ImageVariables

    start = tf.fill((1, 24, 32, 3), 0.25)
    pixels = ImageVariables(start, pyramid=True)
    assert [tuple(v.shape[1:3]) for v in pixels.variables] == [(24, 32), (12, 16)]
    np.testing.assert_allclose(pixels.image().numpy(), 0.25)  # coarse layers start at zero
    pixels.variables[1].assign(tf.fill((1, 12, 16, 3), 0.5))  # a constant upsamples to itself
    np.testing.assert_allclose(pixels.image().numpy(), 0.25 + PYRAMID_DECAY * 0.5, rtol=1e-6)
    # Round trip through the flat float64 vector scipy works on.
    vector = pixels.flat()
    assert vector.dtype == np.float64 and vector.size == 24 * 32 * 3 + 12 * 16 * 3
    pixels.assign(np.zeros_like(vector))
    np.testing.assert_array_equal(pixels.image().numpy(), 0.0)
    pixels.assign(vector)
    np.testing.assert_allclose(pixels.flat(), vector)


def test_pyramid_penalises_only_pixels_outside_the_range():
    from nst_helpers.core.pyramid import RANGE_PENALTY, ImageVariables

    pixels = ImageVariables(tf.fill((1, 24, 32, 3), 0.5), pyramid=True)

    def zero_loss(image):
        return {"total": tf.reduce_sum(image) * 0.0}

    _, inside, _ = pixels.objective(zero_loss)
    assert float(inside) == 0.0
    pixels.variables[0].assign(tf.fill((1, 24, 32, 3), 1.5))  # every pixel 0.5 above 1
    _, outside, image = pixels.objective(zero_loss)
    np.testing.assert_allclose(float(outside), RANGE_PENALTY * 0.25, rtol=1e-6)
    seen = []
    pixels.objective(lambda image: seen.append(image) or {"total": tf.constant(0.0)})
    assert float(tf.reduce_max(seen[0])) == 1.0  # the network sees the clipped image
    np.testing.assert_array_equal(image.numpy(), seen[0].numpy())  # and it is what comes back


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_pyramid_lowers_the_loss_and_keeps_pixels_in_range(
    optimizer, small_pair, tiny_extractor, tiny_settings
):
    events = []
    result = stylize(
        *small_pair,
        tiny_settings,
        extractor=tiny_extractor,
        optimizer=optimizer,
        pyramid=True,
        steps=12,
        style_weight=100.0,
        preview_every=4,
        callbacks=[events.append],
    )
    assert result.steps_done == 12
    assert min(result.history["total"]) < 0.7 * result.history["total"][0]
    assert result.best_loss == min(result.history["total"])
    previews = [e.image for e in events if e.image is not None]
    assert previews and all(p.min() >= 0.0 and p.max() <= 1.0 for p in previews)
    assert result.best_image.size == (32, 24)


def test_pyramid_setting_is_checked():
    with pytest.raises(NSTError, match=r"pyramid must be True or False, got 'yes'"):
        Settings(pyramid="yes")


def test_pyramid_gradient_reaches_clipped_pixels():
    from nst_helpers.core.pyramid import ImageVariables

    pixels = ImageVariables(tf.fill((1, 24, 32, 3), 1.2), pyramid=True)  # every pixel clipped

    def brightness(image):
        return {"total": -tf.reduce_mean(image)}

    with tf.GradientTape() as tape:
        _, objective, _ = pixels.objective(brightness)
    grads = tape.gradient(objective, pixels.variables)
    # Straight through the clip: the loss's pull reaches the scales, with the range penalty.
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_pyramid_with_levels_and_moving_average(small_pair, tiny_extractor, tiny_settings):
    settings = tiny_settings.replace(
        max_dim=48, start_dim=24, level_steps=(4, 3, 3), pyramid=True, ema=0.9, preview_every=1
    )
    events = []
    result = stylize(*small_pair, settings, extractor=tiny_extractor, callbacks=[events.append])
    assert [level["steps"] for level in result.levels] == [4, 3, 3]
    assert all(e.image.min() >= 0.0 and e.image.max() <= 1.0 for e in events)
    assert result.best_image.size == (48, 36)
    assert 0.5 < moved_from_photo(result.best_image, small_pair[0]) < 60


def test_lbfgs_starts_again_when_scipy_ends_early(
    monkeypatch, small_pair, tiny_extractor, tiny_settings
):
    import scipy.optimize

    real = scipy.optimize.minimize
    starts = []

    def ends_after_three(fun, x0, **kwargs):  # as a failed line search would
        starts.append(x0.copy())
        kwargs["options"] = {**kwargs["options"], "maxfun": 3, "maxiter": 3}
        return real(fun, x0, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", ends_after_three)
    result = stylize(
        *small_pair, tiny_settings, extractor=tiny_extractor, optimizer="lbfgs", steps=10,
        style_weight=100.0,
    )  # fmt: skip
    assert result.steps_done == 10  # the whole budget, over several starts
    assert len(starts) >= 3 and not np.array_equal(starts[0], starts[1])  # goes on from there


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [
        # AMD EPYC (Zen 4): avx512_bf16
        ("processor\t: 0\nflags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 vaes\n", True),
        # Intel Sapphire Rapids: amx_bf16 (and avx512_bf16)
        ("flags\t\t: fpu sse2 avx512f amx_bf16 amx_tile amx_int8\n", True),
        # Intel Skylake: AVX-512 without bfloat16
        ("flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl\n", False),
        # a flag name containing the word is not the flag; other lines are not flags
        ("bugs\t\t: avx512_bf16\nflags\t\t: fpu no_avx512_bf16x\n", False),
        ("", False),  # no flags line (not x86)
    ],
)
def test_cpu_bfloat16_detection_reads_the_flags_line(cpuinfo, native):
    from nst_helpers.machine import cpu_has_bf16

    assert cpu_has_bf16(cpuinfo) is native


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_xla_compiled_steps_give_the_same_losses(
    optimizer, small_pair, tiny_extractor, tiny_settings
):
    settings = tiny_settings.replace(optimizer=optimizer, steps=4)
    plain = stylize(*small_pair, settings, extractor=tiny_extractor)
    compiled = stylize(*small_pair, settings.replace(jit_compile=True), extractor=tiny_extractor)
    np.testing.assert_allclose(compiled.history["total"], plain.history["total"], rtol=1e-3)
    assert compiled.settings["jit_compile"] is True
    with pytest.raises(NSTError, match="jit_compile must be True or False, got 'yes'"):
        Settings(jit_compile="yes")


def test_auto_precision_keeps_float32_on_gpus_until_float16_is_measured(monkeypatch):
    from nst_helpers import machine

    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["GPU:0"])
    assert resolve_precision("auto") == "float32"
    assert resolve_precision("float16") == "float16"  # still one argument away


def moved_from_photo(image, photo) -> float:
    """Mean absolute difference, in 8-bit levels, between a result and the photo at its size."""
    photo = np.asarray(photo.resize(image.size), dtype=float)
    return float(np.abs(np.asarray(image, dtype=float) - photo).mean())
