"""Showing a run: progress bar, live preview, loss curves and side-by-side figures.

Everything here consumes the `Event`s that `stylize` emits, so the CLI, the notebook and the tests
watch a run the same way. Matplotlib, tqdm and IPython are imported only when used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nst_helpers.images import tensor_to_image
from nst_helpers.optimize import LOSS_NAMES, Event


class ProgressBar:
    """A tqdm progress bar with the current losses and an ETA, fed by `stylize` events.

    A widget bar in notebooks and a text bar in terminals (`tqdm.auto`). Use it as a context
    manager so the bar closes even when the run is interrupted.

    Example:
        >>> with ProgressBar() as bar:  # doctest: +SKIP
        ...     result = stylize(content, style, callbacks=[bar])
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
    """Shows the image being optimised in a notebook, updated in place on preview steps.

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
            ax.plot(steps, values, label=name, linewidth=2.2 if name == "total" else 1.4)
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
