"""The optimization loop on tiny images with random weights: properties of whole runs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_helpers.api import stylize
from nst_helpers.core import losses
from nst_helpers.errors import NSTError
from nst_helpers.runs.run import NonFiniteLossError, Result
from nst_helpers.runs.settings import LOSS_NAMES, Settings


def run(pair, extractor, settings, **changes) -> Result:
    content, style = pair
    return stylize(content, style, settings, extractor=extractor, **changes)


def test_loss_falls_and_output_is_valid(small_pair, tiny_extractor, tiny_settings):
    before = [np.asarray(img).copy() for img in small_pair]
    weights = [w.numpy().copy() for w in tiny_extractor.model.weights]
    result = run(small_pair, tiny_extractor, tiny_settings, steps=15, style_weight=100.0)
    history = result.history
    assert set(history) == set(LOSS_NAMES) and all(len(v) == 15 for v in history.values())
    assert history["total"][-1] < 0.7 * history["total"][0]
    assert history["content"][0] == 0.0  # starts from the content image
    assert result.image.size == result.best_image.size == (32, 24)  # long side max_dim, aspect kept
    assert result.best_loss == min(history["total"])
    assert result.stopped == "finished" and result.steps_done == 15
    for img, copy in zip(small_pair, before, strict=True):
        assert np.array_equal(np.asarray(img), copy)  # inputs untouched
    for w, copy in zip(tiny_extractor.model.weights, weights, strict=True):
        assert np.array_equal(w.numpy(), copy)  # the network stays frozen
    assert result.settings["steps"] == 15 and result.settings["arch"] == "vgg16"
    assert result.seconds["per_step"] > 0 and result.seconds["optimize"] > 0


def test_best_image_has_the_best_loss(small_pair, tiny_extractor, tiny_settings):
    from nst_helpers.core.objective import compute_losses, make_targets
    from nst_helpers.files.images import image_to_tensor, prepare_images

    result = run(small_pair, tiny_extractor, tiny_settings, steps=6, lr=0.05)
    content, style = prepare_images(*small_pair, tiny_settings)
    targets = make_targets(tiny_extractor, image_to_tensor(content), image_to_tensor(style))
    best = compute_losses(
        tiny_extractor, image_to_tensor(result.best_image), *targets, tiny_settings
    )
    # Equal up to the 8-bit rounding of the saved image.
    assert float(best["total"]) == pytest.approx(result.best_loss, rel=0.05)


def test_same_seed_same_image_and_noise_init(small_pair, tiny_extractor, tiny_settings):
    a = run(small_pair, tiny_extractor, tiny_settings, init="noise", seed=3, steps=3)
    b = run(small_pair, tiny_extractor, tiny_settings, init="noise", seed=3, steps=3)
    c = run(small_pair, tiny_extractor, tiny_settings, init="noise", seed=4, steps=3)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert a.history["content"][0] > 0.1  # noise is far from the content


def test_events_and_previews(small_pair, tiny_extractor, tiny_settings):
    events = []
    run(
        small_pair,
        tiny_extractor,
        tiny_settings,
        steps=7,
        preview_every=3,
        callbacks=[events.append],
    )
    assert [e.step for e in events] == list(range(1, 8))
    assert [e.step for e in events if e.image is not None] == [3, 6, 7]  # and always the last
    assert all(e.steps == 7 and set(e.losses) == set(LOSS_NAMES) for e in events)
    assert events[-1].image.shape == (24, 32, 3) and events[-1].eta == 0
    assert events[-1].image.min() >= 0.0 and events[-1].image.max() <= 1.0
    assert events[-1].elapsed >= events[0].elapsed


def test_interrupt_returns_the_best_image_so_far(small_pair, tiny_extractor, tiny_settings):
    def interrupt(event):
        if event.step == 3:
            raise KeyboardInterrupt

    result = run(small_pair, tiny_extractor, tiny_settings, steps=50, callbacks=[interrupt])
    assert result.stopped == "interrupted"
    assert result.steps_done == 3
    assert result.best_image.size == (32, 24)


def test_non_finite_loss_stops_with_last_good_image(
    small_pair, tiny_extractor, tiny_settings, monkeypatch
):
    calls = tf.Variable(0)
    real_tv = losses.tv_loss

    def poisoned_tv(image):  # finite for 4 steps, then NaN
        calls.assign_add(1)
        return tf.where(calls > 4, tf.constant(np.nan), real_tv(image))

    monkeypatch.setattr(losses, "tv_loss", poisoned_tv)
    with pytest.raises(
        NonFiniteLossError,
        match=r"the loss became non-finite at step 5 "
        r"\(tv=nan, total=nan\). Lower lr \(--lr\) or the loss weights; the best "
        r"image so far \(step \d\) was kept",
    ) as caught:
        run(small_pair, tiny_extractor, tiny_settings, steps=20)
    result = caught.value.result
    assert result.stopped == "non-finite" and result.steps_done == 4
    pixels = np.asarray(result.best_image)
    photo = np.asarray(small_pair[0].resize(result.best_image.size), dtype=float)
    assert np.abs(pixels - photo).mean() < 25  # four steps from the photo, not blank or NaN
    assert np.array_equal(np.asarray(result.image), pixels)  # the NaN update was not kept


def test_extractor_must_match_settings(small_pair, tiny_extractor, tiny_settings):
    with pytest.raises(NSTError, match="the extractor given .* does not match the settings"):
        run(small_pair, tiny_extractor, tiny_settings.replace(arch="vgg19"))


def test_style_scale_resizes_the_style(small_pair, tiny_settings):
    from nst_helpers.files.images import prepare_images

    content, style = prepare_images(*small_pair, tiny_settings.replace(style_scale=2.0))
    assert max(content.size) == 32 and max(style.size) == 64


def test_too_small_images_are_refused_before_running(small_pair):
    from nst_helpers.core.model import build_extractor

    extractor = build_extractor("vgg16", None)
    with pytest.raises(NSTError, match="the content image is 16x12 px, too small for VGG16"):
        stylize(*small_pair, Settings(arch="vgg16", weights=None, max_dim=16), extractor=extractor)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps must be a positive whole number, got 0"),
        ({"steps": -3}, "steps must be a positive whole number, got -3"),
        ({"max_dim": 0}, "max_dim must be a positive whole number of pixels, got 0"),
        ({"max_dim": -64}, "max_dim must be a positive whole number of pixels"),
        ({"style_weight": -1.0}, "style_weight must be a finite number >= 0, got -1.0"),
        ({"content_weight": float("nan")}, "content_weight must be a finite number >= 0, got nan"),
        ({"tv_weight": float("inf")}, "tv_weight must be a finite number >= 0, got inf"),
        ({"content_weight": 0.0, "style_weight": 0.0}, "both 0: nothing to optimize"),
        ({"lr": 0.0}, "lr must be greater than 0"),
        ({"beta_1": 1.0}, "beta_1 must be below 1 \\(0.9 is Keras' default, 0.99 the Tensor"),
        ({"beta_1": -0.1}, "beta_1 must be a finite number >= 0, got -0.1"),
        ({"style_scale": -1.0}, "style_scale must be a finite number >= 0"),
        ({"init": "zeros"}, "unknown init 'zeros': choose one of content, noise"),
        ({"arch": "resnet"}, "unknown architecture 'resnet': choose one of vgg16, vgg19"),
        ({"style_layers": ("block9_conv1",)}, "unknown style layer 'block9_conv1' for VGG19"),
        ({"style_layer_weights": (1.0,)}, "has 1 values but there are 5 style layers"),
        ({"style_layer_weights": (0.0,) * 5}, "style_layer_weights are all 0"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"preview_every": -1}, "preview_every must be 0 \\(off\\) or positive"),
    ],
)
def test_settings_reject_bad_values(changes, message):
    with pytest.raises(NSTError, match=message):
        Settings(**changes)


def test_settings_round_trip_as_dict():
    settings = Settings(arch="VGG16", steps=5)
    assert settings.arch == "vgg16"
    assert Settings(**settings.to_dict()) == settings
    assert settings.layer_weights() == dict.fromkeys(settings.style_layers, 1.0)


def test_beta_1_is_adams_momentum(small_pair, tiny_extractor, tiny_settings, monkeypatch):
    import keras

    from nst_helpers.sweeps import sweep

    made = []
    adam = keras.optimizers.Adam

    def spy(**kwargs):
        made.append(kwargs["beta_1"])
        return adam(**kwargs)

    monkeypatch.setattr(keras.optimizers, "Adam", spy)
    run(small_pair, tiny_extractor, tiny_settings, steps=2, beta_1=0.99)
    settings = tiny_settings.replace(steps=2, beta_1=0.5)
    sweep(*small_pair, settings, "style_weight", [1.0, 2.0], extractor=tiny_extractor)
    assert made == [0.99, 0.5, 0.5]  # the single run's loop, then each run of the sweep


def test_sweep_with_a_nan_stops_like_a_single_run(
    small_pair, tiny_extractor, tiny_settings, monkeypatch
):
    from nst_helpers.sweeps import sweep

    calls = tf.Variable(0)
    real_tv = losses.tv_loss

    def poisoned_tv(image):  # finite for 6 steps, then NaN: in the second variant's run
        calls.assign_add(1)
        return tf.where(calls > 6, np.nan, real_tv(image))

    monkeypatch.setattr(losses, "tv_loss", poisoned_tv)
    with pytest.raises(
        NonFiniteLossError,
        match=r"the loss became non-finite at step 3 \(tv=nan, total=nan\). Lower lr",
    ) as caught:
        sweep(*small_pair, tiny_settings.replace(steps=4), "style_weight", [1.0, 50.0, 9.0],
              extractor=tiny_extractor)  # fmt: skip
    results = caught.value.results
    assert caught.value.result is results[-1] and len(results) == 2  # the third never ran
    assert [r.stopped for r in results] == ["finished", "non-finite"]
    assert [r.steps_done for r in results] == [4, 2]
    for result, weight in zip(results, (1.0, 50.0), strict=True):
        assert np.all(np.isfinite(result.history["total"]))
        assert result.settings["style_weight"] == weight
        assert result.best_loss == min(result.history["total"])
    pixels = np.asarray(results[1].best_image)
    assert np.array_equal(np.asarray(results[1].image), pixels)  # the NaN update was not kept


def test_result_saved_from_the_api_carries_the_cli_recipe(
    tmp_path, small_pair, tiny_extractor, tiny_settings, capsys
):
    import json

    from nst_helpers.cli.command import main

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    small_pair[0].save(content)
    small_pair[1].save(style)
    result = run((content, style), tiny_extractor, tiny_settings, steps=2)
    saved = result.save(tmp_path / "api.png")
    assert main(["--recipe", str(saved)]) == 0
    recipe = json.loads(capsys.readouterr().out)
    assert recipe["settings"] == result.settings
    assert recipe["inputs"]["content"]["absolute"] == str(content.resolve())
    assert [entry["name"] for entry in recipe["inputs"]["styles"]] == ["style.png"]
    # Images held in memory are recorded by a hash of their pixels.
    in_memory = run(small_pair, tiny_extractor, tiny_settings, steps=1).save(tmp_path / "m.png")
    assert main(["--recipe", str(in_memory)]) == 0
    entry = json.loads(capsys.readouterr().out)["inputs"]["content"]
    assert entry["source"] == "memory" and len(entry["sha256"]) == 64


def test_best_fields_describe_the_image_returned(small_pair, tiny_extractor, tiny_settings):
    from nst_helpers.core.objective import compute_losses, make_targets
    from nst_helpers.files.images import image_to_tensor, prepare_images

    content, style = prepare_images(*small_pair, tiny_settings)
    targets = make_targets(tiny_extractor, image_to_tensor(content), image_to_tensor(style))
    for ema in (0.0, 0.9):
        result = run(small_pair, tiny_extractor, tiny_settings, steps=8, lr=0.05, ema=ema)
        scored = compute_losses(
            tiny_extractor, image_to_tensor(result.best_image), *targets, tiny_settings
        )
        assert result.best_losses["total"] == result.best_loss
        # Equal up to the 8-bit rounding of the saved image.
        for name in ("content", "style", "total"):
            assert float(scored[name]) == pytest.approx(result.best_losses[name], rel=0.05)
        if ema:  # the average includes every iterate: it comes from the last step
            assert result.best_step == 7
        else:
            assert result.best_losses["total"] == result.history["total"][result.best_step]


def test_a_nan_on_the_first_step_keeps_the_start_image(
    small_pair, tiny_extractor, tiny_settings, monkeypatch
):
    from nst_helpers.files.images import prepare_images

    def poisoned_tv(image):  # NaN from the very first step
        return tf.constant(np.nan)

    monkeypatch.setattr(losses, "tv_loss", poisoned_tv)
    with pytest.raises(NonFiniteLossError, match="at step 1 .*the start image was kept"):
        run(small_pair, tiny_extractor, tiny_settings, steps=5)
    monkeypatch.undo()
    try:
        monkeypatch.setattr(losses, "tv_loss", poisoned_tv)
        run(small_pair, tiny_extractor, tiny_settings, steps=5)
    except NonFiniteLossError as err:
        result = err.result
    start = np.asarray(prepare_images(*small_pair, tiny_settings)[0])
    assert np.array_equal(np.asarray(result.best_image), start)  # the photo, not NaN pixels
    assert np.array_equal(np.asarray(result.image), start)


def test_variants_of_one_sweep_may_differ_only_in_their_weights(
    small_pair, tiny_extractor, tiny_settings
):
    from nst_helpers.sweeps import stylize_variants

    variants = [tiny_settings, tiny_settings.replace(lr=0.5)]
    with pytest.raises(NSTError, match="may differ only in their loss weights"):
        stylize_variants(*small_pair, variants, extractor=tiny_extractor)


def test_ctrl_c_while_a_level_is_set_up_keeps_the_last_level(
    small_pair, tiny_extractor, tiny_settings, monkeypatch
):
    from nst_helpers.core import objective, optimize

    real = objective.make_targets
    calls = []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second level's targets
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(optimize, "make_targets", interrupted_second_time)
    settings = tiny_settings.replace(max_dim=48, start_dim=32, steps=6)
    result = run(small_pair, tiny_extractor, settings)
    assert result.stopped == "interrupted" and result.steps_done == len(result.history["total"])
    assert 0 < result.steps_done < 6 and result.best_image.size == (48, 36)  # upsampled
