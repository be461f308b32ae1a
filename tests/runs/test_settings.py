"""Settings: the loss weights as data, the weights file's name and its older one."""

from __future__ import annotations

import pytest

from nst_helpers.core.losses import TERMS
from nst_helpers.errors import NSTError
from nst_helpers.runs.rerun import settings_from_recipe
from nst_helpers.runs.settings import LOSS_NAMES, Settings


def test_loss_weights_hold_every_term_of_the_total():
    settings = Settings(weights=None, content_weight=2.0, style_weight=30.0, tv_weight=0.5)
    assert settings.loss_weights() == {"content": 2.0, "style": 30.0, "tv": 0.5}
    assert (*TERMS, "total") == LOSS_NAMES
    with pytest.raises(NSTError, match="tv_weight"):
        Settings(weights=None, tv_weight=-1.0)


def test_weights_file_keeps_its_older_name():
    assert Settings(weights="a.weights.h5").weights_file == "a.weights.h5"
    settings = Settings(weights_file=None)
    assert settings.weights is None  # read under the older name too
    assert settings.replace(weights="b.h5").weights_file == "b.h5"
    assert "weights_file" in settings.to_dict() and "weights" not in settings.to_dict()
    with pytest.raises(NSTError, match="give weights_file or its older name weights, not both"):
        Settings(weights=None, weights_file=None)


def test_a_recipe_that_names_the_weights_file_weights_still_reads():
    old = {"settings": {"arch": "vgg16", "weights": None, "steps": 7}}
    assert settings_from_recipe(old) == Settings(arch="vgg16", weights_file=None, steps=7)
