"""The registry of style losses: each entry's two functions against the paper's formulas, the one
layer loop, the style targets' mix, and a toy loss added by one entry alone reaching the settings,
`nst --help`, the docs table, a run and a tiled run."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, gradient_image
from nst_helpers.core import losses
from nst_helpers.core.style_losses import (
    STYLE_LOSSES,
    StyleLoss,
    register,
    style_loss,
    style_loss_named,
    style_targets,
)
from nst_helpers.errors import NSTError
from nst_helpers.runs.settings import Settings


def mean_and_square(features, mask=None):
    """The toy statistic: each channel's mean and mean square, (1, H, W, C) -> (1, 2, C)."""
    f = tf.cast(features, tf.float32)
    return tf.stack([tf.reduce_mean(f, [1, 2]), tf.reduce_mean(f * f, [1, 2])], axis=1)


@pytest.fixture
def toy():
    """The toy loss, registered by one entry (docs/method.md's example), then removed."""
    entry = register(StyleLoss("moments", "each channel's mean and variance", mean_and_square,
                               losses.relative_squared_error))  # fmt: skip
    yield entry
    del STYLE_LOSSES["moments"]


def features(seed, shape=(1, 6, 5, 4)):
    return tf.constant(np.random.default_rng(seed).random(shape), tf.float32)


def test_gram_entry_is_the_papers_style_loss_relative():
    image = {"a": features(0), "b": features(1, (1, 3, 3, 4))}
    targets = {"a": losses.gram_matrix(features(2)), "b": losses.gram_matrix(features(3))}
    by_hand = [
        np.sum((losses.gram_matrix(image[n]) - targets[n]) ** 2) / np.sum(targets[n] ** 2)
        for n in "ab"
    ]
    got = style_loss(image, targets, {"a": 3.0, "b": 1.0})
    assert float(got) == pytest.approx((3 * by_hand[0] + by_hand[1]) / 4, rel=1e-5)
    assert float(style_loss(image, {n: losses.gram_matrix(image[n]) for n in "ab"})) == 0.0


def test_style_targets_mix_styles_and_chunks_by_their_weights():
    a, b = features(4), features(5)
    mixed = style_targets("gram", [(3.0, {"x": a}), (1.0, {"x": b})])
    want = (3 * losses.gram_matrix(a) + losses.gram_matrix(b)) / 4
    np.testing.assert_allclose(mixed["x"], want, rtol=1e-6)
    # the two halves of one image, each weighted by its positions, give the whole's statistic
    whole = features(6, (1, 8, 5, 4))
    halves = [(0.5, {"x": whole[:, :4]}), (0.5, {"x": whole[:, 4:]})]
    np.testing.assert_allclose(style_targets("wasserstein", halves)["x"],
                               losses.gaussian_moments(whole), rtol=1e-5)  # fmt: skip


def test_sets_of_samples_pool_their_rows_by_their_weights():
    whole = features(9, (1, 8, 5, 4))
    halves = [(0.5, {"x": whole[:, :4]}), (0.5, {"x": whole[:, 4:]})]
    pooled = style_targets("sliced", halves)["x"]  # the chunks of one image: every row once
    np.testing.assert_array_equal(np.sort(pooled[0], axis=0),
                                  np.sort(losses.feature_samples(whole)[0], axis=0))  # fmt: skip
    a, b = features(10, (1, 4, 4, 4)), features(11, (1, 4, 4, 4))
    mixed = style_targets("sliced", [(3.0, {"x": a}), (1.0, {"x": b})])["x"]
    assert mixed.shape == (1, 32, 4)  # 24 rows of a's 16 (some twice), 8 of b's
    rows = {tuple(row) for row in np.asarray(mixed[0])}
    assert rows <= {tuple(r) for r in np.asarray(losses.feature_samples(a)[0])} | {
        tuple(r) for r in np.asarray(losses.feature_samples(b)[0])
    }
    from_b = sum(tuple(r) in {tuple(x) for x in np.asarray(losses.feature_samples(b)[0])}
                 for r in np.asarray(mixed[0]))  # fmt: skip
    assert from_b == 8


def test_an_unknown_name_lists_the_registry():
    with pytest.raises(NSTError, match=r"unknown style_loss 'w2': choose one of gram, wasserstein"):
        style_loss_named("w2")
    with pytest.raises(NSTError, match="choose one of gram, wasserstein, sliced"):
        Settings(weights=None, style_loss="w2")


def test_the_docs_table_lists_every_registered_style_loss():
    text = (ROOT / "docs" / "method.md").read_text()
    table = text.split("<!-- style-losses -->")[1].split("<!-- /style-losses -->")[0]
    names = re.findall(r"^\| `(\w+)`", table, flags=re.MULTILINE)
    assert names == list(STYLE_LOSSES)


def test_a_toy_style_loss_reaches_the_settings_and_the_help(toy, capsys):
    from nst_helpers.cli.command import main

    assert Settings(weights=None, style_loss="moments").style_loss == "moments"
    with pytest.raises(NSTError, match="choose one of gram, wasserstein, sliced, moments"):
        Settings(weights=None, style_loss="moment")
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the help
    assert "moments: each channel's mean and variance" in shown


@pytest.mark.slow
def test_a_toy_style_loss_runs_whole_and_in_tiles(toy, small_pair, tiny_extractor, tiny_settings):
    from nst_helpers.api import plan_run, stylize
    from nst_helpers.runs.memory import estimate_memory

    settings = tiny_settings.replace(style_loss="moments", steps=12, style_weight=100.0)
    whole = stylize(*small_pair, settings, extractor=tiny_extractor)
    style = whole.history["style"]
    assert whole.settings["style_loss"] == "moments" and style[-1] < 0.5 * style[0]
    # tiled: a limit that fits a 48 px tile but not the 96 px image
    content, painting = gradient_image(96, 72), gradient_image(128, 128, seed=1)
    tiled_settings = settings.replace(max_dim=96, tile_size=48, tile_overlap=8, tile_steps=4,
                                      steps=6)  # fmt: skip
    limit = estimate_memory(tiled_settings, 48, 48) / 2**30 + 1e-3
    tiled_settings = tiled_settings.replace(memory_limit=limit)
    assert plan_run(content, painting, tiled_settings).tiles is not None
    tiled = stylize(content, painting, tiled_settings, extractor=tiny_extractor)
    assert tiled.recipe["options"]["tile_plan"]["levels"][-1]["tiles"] > 1
    assert tiled.stopped == "finished" and np.isfinite(tiled.best_losses["style"])
    assert tiled.best_image.size == (96, 72)


@pytest.mark.slow
@pytest.mark.real_weights
def test_a_toy_style_loss_lowers_itself_with_the_real_network(toy, vgg16_real, weights_path):
    from conftest import CONTENT, STYLE
    from nst_helpers.api import stylize

    settings = Settings(arch="vgg16", weights=str(weights_path), max_dim=64, steps=20,
                        style_loss="moments", preview_every=0)  # fmt: skip
    result = stylize(CONTENT, STYLE, settings, extractor=vgg16_real)
    style = result.history["style"]
    assert np.all(np.isfinite(style)) and style[-1] < 0.5 * style[0]
