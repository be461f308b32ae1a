"""What a run minimizes: the targets, every loss term, and their weighted total."""

from __future__ import annotations

import numpy as np
import pytest

from nst_helpers.core import losses
from nst_helpers.core.objective import compute_losses, make_targets
from nst_helpers.files.images import image_to_tensor, prepare_images


def test_the_total_is_the_settings_weighted_sum_of_the_terms(small_pair, tiny_extractor,
                                                             tiny_settings):  # fmt: skip
    settings = tiny_settings.replace(content_weight=2.0, style_weight=7.0, tv_weight=3.0)
    content, style = (image_to_tensor(p) for p in prepare_images(*small_pair, settings))
    targets = make_targets(tiny_extractor, content, style)
    noisy = np.clip(content + np.random.default_rng(0).normal(0, 0.1, content.shape), 0, 1)
    got = compute_losses(tiny_extractor, noisy.astype(np.float32), *targets, settings)
    assert set(got) == {*losses.TERMS, "total"}
    want = 2.0 * got["content"] + 7.0 * got["style"] + 3.0 * got["tv"]
    assert float(got["total"]) == pytest.approx(float(want), rel=1e-6)
    photo = compute_losses(tiny_extractor, content, *targets, settings)
    assert float(photo["content"]) == 0.0 and float(got["content"]) > 0.0


def test_several_styles_mix_by_their_blend(small_pair, tiny_extractor):
    content = image_to_tensor(small_pair[0])
    a, b = image_to_tensor(small_pair[1]), image_to_tensor(small_pair[0])
    _, mixed = make_targets(tiny_extractor, content, [a, b], blend=[0.75, 0.25])
    _, only_a = make_targets(tiny_extractor, content, a)
    _, only_b = make_targets(tiny_extractor, content, b)
    for name, value in mixed.items():
        np.testing.assert_allclose(value, 0.75 * only_a[name] + 0.25 * only_b[name], rtol=1e-5)
