"""The judge's distances from other families (benchmarks/distances.py) on analytic cases: 0 for
identical inputs, blind to what each family should ignore, and known values where they exist."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import distances as D  # noqa: E402

RNG = np.random.default_rng(0)
FEATURES = RNG.random((300, 8))
OTHER = RNG.random((200, 8)) ** 3


def test_sliced_wasserstein_is_zero_for_the_same_set_in_any_order_and_scale_free():
    directions = D.unit_directions(8, 32)
    assert D.sliced_wasserstein(FEATURES, FEATURES, directions) == 0.0
    shuffled = FEATURES[RNG.permutation(len(FEATURES))]
    assert D.sliced_wasserstein(shuffled, FEATURES, directions) == 0.0  # blind to position
    far = D.sliced_wasserstein(OTHER, FEATURES, directions)
    assert far > 0.1
    assert D.sliced_wasserstein(50 * OTHER, 50 * FEATURES, directions) == pytest.approx(far)


def test_sliced_wasserstein_in_one_dimension_is_the_quantiles_distance():
    # N(0, 1) against N(3, 1) along the one direction: W2 = 3, the target's mean square 10.
    normal = np.sort(np.random.default_rng(1).standard_normal(20000))[:, None]
    value = D.sliced_wasserstein(normal, normal + 3.0, np.ones((1, 1)), quantiles=512)
    assert value == pytest.approx(3.0 / np.sqrt(10.0), rel=0.02)


def test_nearest_neighbor_finds_every_match_and_reports_each_direction():
    subset = FEATURES[:50]
    assert D.nearest_neighbor(subset, FEATURES) == pytest.approx(0.0, abs=1e-12)  # all found
    assert D.nearest_neighbor(4.0 * subset, FEATURES) == pytest.approx(0.0, abs=1e-12)  # cosine
    assert D.nearest_neighbor(FEATURES, subset) > 0.0  # the other way, most have no match
    # two orthogonal axes against one of them: half the rows are at distance 1
    axes = np.eye(2)
    assert D.nearest_neighbor(axes, axes[:1]) == pytest.approx(0.5)
    assert D.nearest_neighbor(axes[:1], axes) == 0.0
    chunked = D.nearest_neighbor(OTHER, FEATURES, chunk=7)
    assert chunked == pytest.approx(D.nearest_neighbor(OTHER, FEATURES), rel=1e-12)


def test_self_similarity_sees_the_layout_not_the_paint():
    assert D.self_similarity(FEATURES, FEATURES) == 0.0
    repainted = FEATURES * RNG.uniform(0.5, 3.0, (len(FEATURES), 1))  # each place rescaled
    assert D.self_similarity(repainted, FEATURES) == pytest.approx(0.0, abs=1e-12)
    moved = FEATURES[RNG.permutation(len(FEATURES))]  # the same paint, places swapped
    assert D.self_similarity(moved, FEATURES) > 0.05


def test_chroma_hellinger_compares_colors_not_their_places():
    image = RNG.random((24, 32, 3))
    assert D.chroma_hellinger(image, image) == pytest.approx(0.0, abs=1e-7)
    flipped = image[::-1, ::-1]
    assert D.chroma_hellinger(flipped, image) == pytest.approx(0.0, abs=1e-7)
    red, green = np.zeros((8, 8, 3)), np.zeros((8, 8, 3))
    red[..., 0], green[..., 1] = 1.0, 1.0
    assert D.chroma_hellinger(red, green) == pytest.approx(1.0)  # nothing in common


def test_srgb_to_lab_matches_known_colors():
    np.testing.assert_allclose(D.srgb_to_lab(np.ones(3)), [100.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(D.srgb_to_lab(np.zeros(3)), [0.0, 0.0, 0.0], atol=1e-9)
    # sRGB red is L 53.24, a 80.09, b 67.20 (D65)
    np.testing.assert_allclose(D.srgb_to_lab(np.array([1.0, 0, 0])), [53.24, 80.09, 67.20],
                               atol=0.05)  # fmt: skip


def test_sample_positions_keeps_small_layers_whole_and_samples_large_ones():
    assert D.sample_positions(FEATURES).shape == (300, 8)
    sampled = D.sample_positions(FEATURES, limit=100)
    assert sampled.shape == (100, 8)
    np.testing.assert_array_equal(sampled, D.sample_positions(FEATURES, limit=100))  # seeded
