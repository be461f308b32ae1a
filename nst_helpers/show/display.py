"""Figures and progress: progress bar, live preview, loss curves, side-by-side images, and the
tutorial's one-off figures (color statistics, feature maps, Gram matrices).

The progress bar and the live preview consume the `Event`s that `stylize` emits, so the CLI, the
notebook and the tests watch a run the same way. Matplotlib, tqdm and IPython are imported only
when used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from nst_helpers.files.images import tensor_to_image
from nst_helpers.runs.settings import LOSS_NAMES

if TYPE_CHECKING:  # TensorFlow loads only when a run starts
    from nst_helpers.runs.run import Event


class ProgressBar:
    """A tqdm progress bar with the current losses and an ETA, fed by `stylize` events.

    A widget bar in notebooks and a text bar in terminals (`tqdm.auto`). Use it as a context
    manager so the bar closes even when the run is interrupted.

    Example::

        with ProgressBar() as bar:
            result = stylize(content, style, callbacks=[bar])
    """

    def __init__(self, desc: str = "stylizing", leave: bool = True, **tqdm_kwargs):
        self.desc = desc
        self.leave = leave
        self.tqdm_kwargs = tqdm_kwargs
        self.bar = None

    def __call__(self, event: Event) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=event.steps, desc=self.desc, leave=self.leave, unit="step", **self.tqdm_kwargs
            )
        if event.expected_steps != self.bar.total:  # a time budget: its end, not the step cap
            self.bar.total = event.expected_steps
            widgets = getattr(self.bar, "container", None)  # tqdm.notebook's bar keeps its own max
            if widgets is not None:
                widgets.children[1].max = event.expected_steps
        self.bar.set_postfix(
            {name: f"{event.losses[name]:.3g}" for name in LOSS_NAMES}, refresh=False
        )
        self.bar.update(event.step - self.bar.n)

    def close(self) -> None:
        """Closes the bar (safe to call twice)."""
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LivePreview:
    """Shows the image being optimized in a notebook, updated in place on preview steps.

    Uses `display(..., display_id=True)` and `handle.update`, which work in Colab and Jupyter
    (unlike `clear_output`, which would also wipe the progress bar).
    """

    def __init__(self, width: int = 384):
        self.width = width
        self.handle = None

    def __call__(self, event: Event) -> None:
        if event.image is None:
            return
        from IPython.display import display

        img = tensor_to_image(event.image)
        if img.width > self.width:
            img = img.resize((self.width, round(img.height * self.width / img.width)))
        if self.handle is None:
            self.handle = display(img, display_id=True)
        else:
            self.handle.update(img)


def plot_losses(history: Mapping[str, Sequence[float]], ax=None, title: str = "Losses"):
    """Plots the loss curves of a run on a log scale.

    Args:
        history: {"content", "style", "tv", "total": values per step}, e.g. `result.history`.
        ax: A matplotlib Axes to draw on (default: a new figure).
        title: The plot title.

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(history["total"]) + 1)
    for name in LOSS_NAMES:
        values = np.asarray(history[name], dtype=float)
        if values.size and np.any(values > 0):
            # A log axis can't show 0 (the content loss of the first step): leave a gap there.
            shown = np.where(values > 0, values, np.nan)
            ax.plot(steps, shown, label=name, linewidth=2.2 if name == "total" else 1.4)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (weighted terms are not shown weighted)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def show_images(images: Sequence, titles: Sequence[str] | None = None, size: float = 4.0):
    """Shows images side by side, each with its title and size in pixels.

    Args:
        images: Pillow images, or arrays/tensors in [0, 1].
        titles: One title per image.
        size: Height of each panel in inches.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    pictures = [
        img if hasattr(img, "size") and hasattr(img, "mode") else tensor_to_image(img)
        for img in images
    ]
    titles = list(titles) if titles is not None else [""] * len(pictures)
    widths = [p.width / p.height for p in pictures]
    fig, axes = plt.subplots(
        1,
        len(pictures),
        figsize=(size * sum(widths) + 0.5, size + 0.6),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for ax, picture, title in zip(axes[0], pictures, titles, strict=True):
        ax.imshow(picture)
        ax.set_title(f"{title}\n{picture.width}x{picture.height} px" if title else "")
        ax.axis("off")
    fig.tight_layout()
    return fig


def color_palette(image: Image.Image, colors: int = 8) -> list[tuple[tuple[int, int, int], float]]:
    """The main colors of an image and the share of pixels each covers, most common first.

    Uses Pillow's median-cut quantization.

    Args:
        image: An RGB image.
        colors: How many colors at most (default 8).

    Returns:
        [((r, g, b), fraction of the pixels)], fractions summing to 1.

    Example:
        >>> color_palette(Image.new("RGB", (4, 4), (255, 0, 0)))
        [((255, 0, 0), 1.0)]
    """
    quantized = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors(maxcolors=256) or [], reverse=True)  # [(count, index)]
    total = sum(count for count, _ in counts)
    return [(tuple(palette[3 * index : 3 * index + 3]), count / total) for count, index in counts]


def plot_color_stats(
    images: Sequence[Image.Image], titles: Sequence[str], colors: int = 8, size: float = 3.0
):
    """Shows each image's red, green and blue histograms above its color palette.

    Args:
        images: RGB images.
        titles: One title per image.
        colors: Palette size.
        size: Width of each column in inches.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        2,
        len(images),
        figsize=(size * len(images) + 0.5, size * 1.1),
        gridspec_kw={"height_ratios": [3, 1]},
        squeeze=False,
    )
    for column, (image, title) in enumerate(zip(images, titles, strict=True)):
        pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
        hist_ax, palette_ax = axes[0, column], axes[1, column]
        for channel, color in enumerate(("red", "green", "blue")):
            counts = np.bincount(pixels[..., channel].ravel(), minlength=256)
            hist_ax.plot(counts / counts.sum(), color=color, linewidth=1.2, label=color)
        hist_ax.set_title(f"{title}: color histograms")
        hist_ax.set_xlim(0, 255)
        hist_ax.set_xlabel("value")
        hist_ax.set_yticks([])
        left = 0.0
        for rgb, share in color_palette(image, colors):
            palette_ax.barh(0, share, left=left, color=np.array(rgb) / 255.0, height=1.0)
            left += share
        palette_ax.set_xlim(0, 1)
        palette_ax.axis("off")
        palette_ax.set_title(f"{colors} main colors, by area", fontsize="small")
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def show_feature_maps(features: Mapping[str, object], channels: int = 6, size: float = 1.8):
    """Shows the most active channels of some layers' feature maps, one row per layer.

    Args:
        features: {layer name: (1, H, W, C) features}, e.g. from a FeatureExtractor.
        channels: Channels per layer; the ones with the highest mean activation are shown.
        size: Height of each panel in inches.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(features),
        channels,
        figsize=(size * channels, size * len(features) + 0.6),
        squeeze=False,
    )
    for row, (layer, maps) in zip(axes, features.items(), strict=True):
        maps = np.asarray(maps)[0]  # (1, H, W, C) -> (H, W, C)
        strongest = np.argsort(maps.mean(axis=(0, 1)))[::-1][:channels]
        for ax, channel in zip(row, strongest, strict=False):
            ax.imshow(maps[..., channel], cmap="magma")
            ax.set_title(f"{layer} #{channel}", fontsize="small")
        for ax in row:
            ax.axis("off")
    fig.suptitle("Most active feature maps (bright = strong response)")
    fig.tight_layout()
    return fig


def show_matrices(
    matrices: Sequence[object], titles: Sequence[str], title: str = "", size: float = 3.5
):
    """Shows square matrices (e.g. Gram matrices) side by side as heat maps on one color scale.

    Args:
        matrices: (C, C) or (1, C, C) arrays or tensors.
        titles: One title per matrix.
        title: The figure's title.
        size: Height of each panel in inches.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(matrices), figsize=(size * 1.25 * len(matrices), size + 0.6), squeeze=False
    )
    arrays = [np.asarray(matrix) for matrix in matrices]
    arrays = [a[0] if a.ndim == 3 else a for a in arrays]  # (1, C, C) -> (C, C)
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)  # one scale, so the panels compare
    for ax, values, name in zip(axes[0], arrays, titles, strict=True):
        shown = ax.imshow(values, cmap="viridis", vmin=low, vmax=high)
        ax.set_title(f"{name}\n{values.shape[0]}x{values.shape[1]}")
        ax.set_xlabel("channel")
        ax.set_ylabel("channel")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
