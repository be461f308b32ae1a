"""The notebook's widgets: the picker (with its upload buttons) and the tweak panel; figures."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from PIL import Image

from conftest import gradient_image, png_bytes
from nst_helpers.errors import NSTError
from nst_helpers.files import samples
from nst_helpers.notebook import gallery, widgets
from nst_helpers.show import display

pytestmark = [
    # ipywidgets 7.7 (Colab's version) creates its comms through ipykernel's deprecated class.
    pytest.mark.filterwarnings(
        "ignore:The `ipykernel.comm.Comm` class has been deprecated:DeprecationWarning"
    ),
]


def choose_file(upload, name: str, data: bytes) -> None:
    """Does what the browser side of a FileUpload widget does when the user picks a file."""
    if hasattr(upload, "_counter"):  # ipywidgets 7.x: metadata and data, then a counter bump
        upload.metadata = [{"name": name, "type": "image/png", "size": len(data)}]
        upload.data = [data]
        upload._counter += 1
    else:  # ipywidgets 8.x: the value itself
        chosen = {"name": name, "type": "image/png", "size": len(data), "content": data}
        upload.value = ({**chosen, "last_modified": datetime.now(timezone.utc)},)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# Image picker ----------------------------------------------------------------------------


def test_picker_defaults_load_the_bundled_images():
    picker = widgets.ImagePicker("cat", "swirl")
    pair = picker.images()
    assert (pair.content_name, pair.style_name, pair.note) == ("cat", "swirl", "")
    with Image.open(samples.sample_path("content", "cat")) as original:
        assert pair.content.size == original.size
    assert set(picker.upload_buttons) == {"content", "style"}
    style_values = [value for _, value in picker.dropdowns["style"].options]
    assert "starry_night" in style_values and "mosaic" in style_values


def test_picker_upload_widget_then_dropdown():
    picker = widgets.ImagePicker("cat", "swirl")
    upload = picker.upload_buttons["content"]
    choose_file(upload, "mine.png", png_bytes(gradient_image(30, 20)))
    pair = picker.images()
    assert pair.content_name == "mine.png" and pair.content.size == (30, 20)
    assert "mine.png" in picker.labels["content"].value
    picker.dropdowns["content"].value = "coffee"  # choosing again drops the upload
    assert picker.images().content_name == "coffee"
    assert picker.labels["content"].value == ""


def test_picker_colab_uploads(monkeypatch):
    picker = widgets.ImagePicker("cat", "swirl", colab=True)
    assert picker.upload_buttons == {}
    message = picker.add_upload("style", {"paint.png": png_bytes(gradient_image(8, 8))})
    assert message == "style: using uploaded paint.png (8x8 px)"
    assert picker.images().style_name == "paint.png"
    assert "keeping uploaded paint.png" in picker.add_upload("style", {})
    with pytest.raises(NSTError, match="choose one of content, style"):
        picker.add_upload("painting", {})


def test_picker_bad_upload_is_reported_not_raised():
    picker = widgets.ImagePicker("cat", "swirl")
    upload = picker.upload_buttons["style"]
    choose_file(upload, "broken.png", b"not a png")
    assert "broken.png" in picker.labels["style"].value
    assert picker.images().style_name == "swirl"


def test_picker_painting_offline_falls_back(monkeypatch):
    def offline(name, **kwargs):
        raise samples.PaintingDownloadError("no network in tests")

    monkeypatch.setattr(samples, "fetch_painting", offline)
    pair = widgets.ImagePicker("cat", "starry_night").images()
    assert pair.style_name == "swirl"
    assert pair.note.startswith("couldn't download 'starry_night'")


def test_picker_unknown_name_lists_choices():
    with pytest.raises(NSTError, match="unknown content image 'dog': choose one of astronaut"):
        widgets.ImagePicker("dog", "swirl")


# Tweak panel -------------------------------------------------------------------


def test_notebook_names_stay_in_widgets():
    """The notebook does `from nst_helpers import widgets` and uses these names from it."""
    for name in ("stylize_into_gallery", "show_gallery", "GalleryItem", "weights_label"):
        assert getattr(widgets, name) is getattr(gallery, name)
    assert widgets.ImagePicker and widgets.TweakPanel and widgets.tweak_ui


def test_tweak_panel_run_button_fills_the_gallery(small_pair, tiny_extractor, tiny_settings):
    content, style = small_pair
    settings = tiny_settings.replace(steps=2, tv_weight=0.0)
    panel = widgets.TweakPanel(content, style, settings, tiny_extractor)
    assert panel.loss_weights() == pytest.approx(
        {"content_weight": 1.0, "style_weight": 10.0, "tv_weight": 1e-3}
    )  # 0 starts at the lowest
    panel.sliders["style_weight"].value = 100.0
    panel.run_button.click()
    assert len(panel.gallery) == 1 and len(panel.gallery_box.children) == 1
    run_settings = panel.gallery[0].result.settings
    assert run_settings["style_weight"] == pytest.approx(100.0)
    assert run_settings["steps"] == 2 and run_settings["max_dim"] == 32
    assert not panel.run_button.disabled
    picture, label = panel.gallery_box.children[0].children
    assert bytes(picture.value).startswith(b"\x89PNG") and label.value.startswith("α=1 β=100")
    panel.clear_button.click()
    assert panel.gallery == [] and panel.gallery_box.children == ()


def test_tweak_panel_reports_errors(small_pair, tiny_extractor, tiny_settings):
    content, style = small_pair
    wrong = tiny_settings.replace(arch="vgg19")  # does not match the VGG16 extractor
    panel = widgets.TweakPanel(content, style, wrong, tiny_extractor)
    assert panel.run() is None
    assert panel.gallery == [] and not panel.run_button.disabled
    (shown,) = [output["text"] for output in panel.status.outputs]
    assert shown.startswith("error: the extractor given (vgg16") and "does not match" in shown
    assert shown.endswith(
        "build it with the same arch, layers, precision and pooling, or pass none.\n"
    )


def test_tweak_ui_shows_an_existing_gallery(small_pair, tiny_extractor, tiny_settings):
    import ipywidgets

    content, style = small_pair
    items = []
    widgets.stylize_into_gallery(items, content, style, tiny_settings, tiny_extractor, steps=1)
    box = widgets.tweak_ui(content, style, tiny_settings, tiny_extractor, gallery=items)
    assert isinstance(box, ipywidgets.VBox)
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["content α", "style β", "TV"]
    assert all(isinstance(s, ipywidgets.FloatLogSlider) for s in sliders)
    assert len(box.children[-1].children) == 1


# Figures -------------------------------------------------------------------------------------


def test_color_palette_shares():
    image = Image.new("RGB", (4, 4), (0, 0, 255))
    image.paste((255, 255, 0), (0, 0, 4, 1))  # a quarter yellow
    assert display.color_palette(image) == [((0, 0, 255), 0.75), ((255, 255, 0), 0.25)]
    shares = [share for _, share in display.color_palette(gradient_image(), colors=5)]
    assert len(shares) <= 5 and sum(shares) == pytest.approx(1.0)
    assert shares == sorted(shares, reverse=True)


def test_figures_are_titled(small_pair):
    fig = display.plot_color_stats(list(small_pair), ["content", "style"])
    titles = [ax.get_title() for ax in fig.axes]
    assert "content: color histograms" in titles and "style: color histograms" in titles

    features = {"block1_conv1": np.random.default_rng(0).random((1, 8, 8, 5))}
    fig = display.show_feature_maps(features, channels=3)
    assert fig._suptitle is not None
    assert [ax.get_title() for ax in fig.axes[:3]][0].startswith("block1_conv1 #")

    fig = display.show_matrices([np.eye(3), np.ones((1, 3, 3))], ["a", "b"], title="Grams")
    assert fig._suptitle.get_text() == "Grams"
    assert fig.axes[1].get_title() == "b\n3x3"


def test_import_has_no_side_effects():
    import subprocess
    import sys

    code = (
        "import sys, nst_helpers.notebook.widgets; "
        "print(sorted(m for m in ('tensorflow', 'ipywidgets', 'matplotlib', 'IPython') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
