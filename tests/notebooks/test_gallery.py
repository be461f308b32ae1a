"""A gallery of runs: labels naming the weights, stylizing into it, showing it."""

from __future__ import annotations

import pytest

from nst_helpers.errors import NSTError
from nst_helpers.notebook import gallery


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_weights_label(tiny_settings):
    settings = tiny_settings.replace(content_weight=1, style_weight=30, tv_weight=0.1)
    assert gallery.weights_label(settings) == "α=1 β=30 TV=0.1"
    assert gallery.weights_label(settings.to_dict()) == "α=1 β=30 TV=0.1"


def test_stylize_into_gallery(small_pair, tiny_extractor, tiny_settings):
    items = []
    content, style = small_pair
    events = []
    item = gallery.stylize_into_gallery(
        items,
        content,
        style,
        tiny_settings,
        tiny_extractor,
        callbacks=[events.append],
        style_weight=100.0,
        steps=3,
    )
    assert items == [item]
    assert item.label == "α=1 β=100 TV=1 (3 steps)"
    assert item.image.size == (32, 24) and item.image is item.result.best_image
    assert len(events) == 3
    fig = gallery.show_gallery(items, title="one run")
    assert fig._suptitle.get_text() == "one run"
    assert fig.axes[0].get_title().startswith("α=1 β=100")


def test_show_gallery_refuses_empty():
    with pytest.raises(NSTError, match="gallery is empty"):
        gallery.show_gallery([])
