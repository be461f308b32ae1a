"""The notebook's widgets: the image picker and the weight-tweaking panel.

Works with ipywidgets 7.7 (Google Colab) and 8.x. ipywidgets, IPython and matplotlib are imported
inside the functions that need them: importing this module has no side effects.

Every button callback calls a plain function (`uploads.uploaded_images`,
`gallery.stylize_into_gallery`) that tests and the notebook also call directly, because callbacks
never run in CI. The gallery's names are importable from here too (`widgets.show_gallery`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.files import samples
from nst_helpers.files.images import load_image
from nst_helpers.files.samples import KINDS
from nst_helpers.notebook.gallery import GalleryItem, stylize_into_gallery, weights_label
from nst_helpers.notebook.gallery import (
    show_gallery as show_gallery,  # the notebook's widgets.show_gallery
)
from nst_helpers.notebook.uploads import uploaded_images
from nst_helpers.runs.settings import Settings

# The loss-weight sliders: (settings field, label, lowest and highest power of ten).
WEIGHT_SLIDERS = (
    ("content_weight", "content α", -2.0, 2.0),
    ("style_weight", "style β", -1.0, 3.0),
    ("tv_weight", "TV", -3.0, 2.0),
)


@dataclass
class ImagePair:
    """The images an `ImagePicker` currently points at.

    Attributes:
        content: The content image (RGB, full size).
        style: The style image (RGB, full size).
        content_name: Where the content came from: a bundled name or an uploaded file's name.
        style_name: The same for the style.
        note: A one-line message for the user (e.g. an offline fallback), or "".
    """

    content: Image.Image
    style: Image.Image
    content_name: str
    style_name: str
    note: str = ""


class ImagePicker:
    """Dropdowns of the bundled images (and famous paintings), plus upload buttons.

    Show `picker.widget`, let the user choose, then call `picker.images()`. An upload replaces the
    dropdown's choice for its kind until the dropdown is changed again. In Colab, where the
    FileUpload widget is unreliable, pass `colab=True` and feed `google.colab.files.upload()`
    to `add_upload` instead.

    Args:
        content: Bundled content image shown first (see `samples.list_samples()`).
        style: Bundled style image or `samples.PAINTINGS` key shown first.
        colab: Leave out the FileUpload buttons (default False).

    Raises:
        NSTError: `content` or `style` is not a bundled image or painting (lists the choices).

    Example::

        picker = ImagePicker("cat", "swirl")
        display(picker.widget)
        pair = picker.images()
    """

    def __init__(self, content: str = "cat", style: str = "swirl", *, colab: bool = False):
        import ipywidgets as w

        choices = {
            "content": [(name, name) for name in samples.list_samples()["content"]],
            "style": [(name, name) for name in samples.list_samples()["style"]]
            + [(f"{p.title} ({p.artist}, downloads)", key) for key, p in samples.PAINTINGS.items()],
        }
        self.uploads: dict[str, tuple[str, Image.Image]] = {}
        self.dropdowns = {}
        self.upload_buttons = {}
        self.labels = {}
        rows = []
        for kind, first in zip(KINDS, (content, style), strict=True):
            values = [value for _, value in choices[kind]]
            if first not in values:
                raise NSTError(
                    f"unknown {kind} image {first!r}: choose one of {', '.join(values)}."
                )
            dropdown = w.Dropdown(options=choices[kind], value=first, description=kind)
            dropdown.observe(lambda change, kind=kind: self._forget_upload(kind), names="value")
            self.dropdowns[kind] = dropdown
            self.labels[kind] = w.Label(value="")
            row = [dropdown]
            if not colab:
                button = w.FileUpload(
                    accept="image/*", multiple=False, description=f"Upload {kind}"
                )
                button.observe(lambda change, kind=kind: self._on_upload(kind, change), "value")
                self.upload_buttons[kind] = button
                row.append(button)
            rows.append(w.HBox([*row, self.labels[kind]]))
        self.widget = w.VBox(rows)

    def add_upload(self, kind: str, value: object) -> str:
        """Uses an uploaded file as the `kind` image (the first file if several).

        Args:
            kind: "content" or "style".
            value: Any upload shape `uploaded_images` accepts (e.g. `files.upload()`'s dict).

        Returns:
            A one-line message saying which file is used, or that nothing was uploaded.

        Raises:
            NSTError: Unknown kind, or the file is not an image.
        """
        if kind not in KINDS:
            raise NSTError(f"unknown image kind {kind!r}: choose one of {', '.join(KINDS)}.")
        files = uploaded_images(value)
        if not files:
            return f"no {kind} image uploaded: keeping {self._describe(kind)}."
        self.uploads[kind] = files[0]
        name, image = files[0]
        message = f"{kind}: using uploaded {name} ({image.width}x{image.height} px)"
        self.labels[kind].value = message
        return message

    def images(self) -> ImagePair:
        """Loads the chosen images: the uploads where there are any, else the dropdowns' choices.

        A painting is downloaded once; offline, the bundled fallback style is used and `note`
        says so.
        """
        loaded, names, note = {}, {}, ""
        for kind in KINDS:
            if kind in self.uploads:
                names[kind], loaded[kind] = self.uploads[kind]
                continue
            names[kind] = self.dropdowns[kind].value
            if kind == "style":
                path, note = samples.style_image_path(names[kind])
                if note:
                    names[kind] = path.stem
            else:
                path = samples.sample_path(kind, names[kind])
            loaded[kind] = load_image(path)
        return ImagePair(loaded["content"], loaded["style"], names["content"], names["style"], note)

    def _describe(self, kind: str) -> str:
        if kind in self.uploads:
            return f"uploaded {self.uploads[kind][0]}"
        return self.dropdowns[kind].value

    def _on_upload(self, kind: str, change: Mapping) -> None:
        try:
            self.add_upload(kind, change["new"])
        except NSTError as err:
            self.labels[kind].value = f"{kind}: {err}"

    def _forget_upload(self, kind: str) -> None:
        self.uploads.pop(kind, None)
        self.labels[kind].value = ""


class TweakPanel:
    """Sliders for the loss weights, a Run button and a gallery that keeps every result.

    Each Run stylizes at `settings`' (preview) size with the sliders' weights and appends the result
    to the gallery, so settings can be compared side by side.

    Args:
        content: Content image (PIL image or path).
        style: Style image (PIL image or path).
        settings: Settings of each run; the sliders start at its weights.
        extractor: A prebuilt extractor matching `settings` (default: built on each run).
        gallery: A list to append results to (default: a new one); results already in it are
            shown from the start.
        thumbnail: Width in pixels of the gallery's images.

    Attributes:
        box: The widget to display.
        sliders: {settings field: FloatLogSlider}.
        run_button: Runs with the sliders' weights.
        clear_button: Empties the gallery.
        status: Output widget showing the progress bar and messages.
        gallery: The GalleryItems so far.
    """

    def __init__(
        self,
        content,
        style,
        settings: Settings,
        extractor=None,
        gallery: list[GalleryItem] | None = None,
        thumbnail: int = 256,
    ):
        import ipywidgets as w

        self.content, self.style = content, style
        self.settings, self.extractor = settings, extractor
        self.gallery = [] if gallery is None else gallery
        self.thumbnail = thumbnail
        self.sliders = {}
        for field, label, low, high in WEIGHT_SLIDERS:
            start = getattr(settings, field)
            # A log slider can't show 0: start at its lowest value instead.
            exponent = float(np.clip(np.log10(start), low, high)) if start > 0 else low
            self.sliders[field] = w.FloatLogSlider(
                value=10.0**exponent,
                base=10,
                min=low,
                max=high,
                step=0.1,
                description=label,
                readout_format=".3g",
                continuous_update=False,
            )
        self.run_button = w.Button(description="Run", button_style="primary", icon="paint-brush")
        self.clear_button = w.Button(description="Clear gallery", icon="trash")
        self.run_button.on_click(lambda _: self.run())
        self.clear_button.on_click(lambda _: self.clear())
        self.status = w.Output()
        self.gallery_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        info = w.HTML(
            f"Each run: {settings.max_dim} px, {settings.steps} steps. "
            "Results stay in the gallery below, newest last."
        )
        controls = w.HBox([self.run_button, self.clear_button])
        self.box = w.VBox(
            [w.VBox(list(self.sliders.values())), info, controls, self.status, self.gallery_box]
        )
        self.refresh()

    def loss_weights(self) -> dict[str, float]:
        """The sliders' current loss weights, {settings field: value}."""
        return {field: float(slider.value) for field, slider in self.sliders.items()}

    def run(self) -> GalleryItem | None:
        """Stylizes with the sliders' weights and adds the result to the gallery.

        Returns:
            The new item, or None if the run failed (the message is shown in `status`).
        """
        from nst_helpers.show.display import ProgressBar

        self.run_button.disabled = True
        try:
            with self.status:
                self.status.clear_output()
                try:
                    with ProgressBar(desc=weights_label(self.loss_weights()), leave=False) as bar:
                        item = stylize_into_gallery(
                            self.gallery,
                            self.content,
                            self.style,
                            self.settings,
                            self.extractor,
                            callbacks=[bar],
                            **self.loss_weights(),
                        )
                except NSTError as err:  # kept in the widget itself, shown with or without a kernel
                    self.status.append_stdout(f"error: {err}\n")
                    return None
                print(f"{item.label}: {item.result.summary()}")
        finally:
            self.run_button.disabled = False
        self.refresh()
        return item

    def clear(self) -> None:
        """Empties the gallery."""
        self.gallery.clear()
        self.refresh()

    def refresh(self) -> None:
        """Redraws the gallery from `self.gallery`."""
        import ipywidgets as w

        cards = []
        for item in self.gallery:
            png = io.BytesIO()
            item.image.save(png, format="PNG")
            picture = w.Image(value=png.getvalue(), format="png", width=self.thumbnail)
            cards.append(w.VBox([picture, w.Label(value=item.label)]))
        self.gallery_box.children = cards


def tweak_ui(
    content,
    style,
    settings: Settings,
    extractor=None,
    gallery: list[GalleryItem] | None = None,
):
    """Builds the weight-tweaking panel (see `TweakPanel`) and returns its widget.

    Args:
        content: Content image (PIL image or path).
        style: Style image (PIL image or path).
        settings: Settings of each run (use a small `max_dim` and few `steps` for quick previews).
        extractor: A prebuilt extractor matching `settings`.
        gallery: A list of earlier GalleryItems to show and append to.

    Returns:
        An ipywidgets VBox: the sliders, an info line, the Run and Clear buttons, the status output
        and the gallery.

    Example::

        quick = settings.replace(max_dim=256, steps=100)
        display(tweak_ui(content, style, quick))
    """
    return TweakPanel(content, style, settings, extractor, gallery).box
