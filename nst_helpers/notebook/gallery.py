"""A gallery of runs: stylize into it, label each image by its loss weights, show it.

The weight-tweaking panel (`widgets.TweakPanel`) fills a gallery with these functions, and the
notebook calls them directly, since widget callbacks never run in CI. matplotlib and TensorFlow
are imported inside the functions that need them: importing this module has no side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from nst_helpers.core.losses import TERMS
from nst_helpers.errors import NSTError
from nst_helpers.runs.settings import Settings

if TYPE_CHECKING:  # TensorFlow loads only when a run starts
    from nst_helpers.runs.run import Event, Result


@dataclass
class GalleryItem:
    """One run in a gallery: its image, a label naming its weights, and the full result."""

    image: Image.Image
    label: str
    result: Result


# How a label writes each term's weight: the paper's alpha and beta.
SYMBOLS = {"content": "α", "style": "β", "tv": "TV"}


def weights_label(settings: Settings | Mapping) -> str:
    """A short label of a run's loss weights, e.g. "α=1 β=10 TV=1".

    Args:
        settings: A Settings or the dict of `Result.settings`.

    Returns:
        The label, with each weight in `:g` format.
    """
    values = settings if isinstance(settings, Mapping) else settings.to_dict()
    return " ".join(f"{SYMBOLS.get(term, term)}={values[f'{term}_weight']:g}" for term in TERMS)


def stylize_into_gallery(
    gallery: list[GalleryItem],
    content,
    style,
    settings: Settings,
    extractor=None,
    *,
    callbacks: Iterable[Callable[[Event], None]] = (),
    **changes,
) -> GalleryItem:
    """Runs `stylize` and appends the best image, labeled with its weights, to `gallery`.

    The weight-tweaking panel's Run button calls this; the notebook calls it directly too.

    Args:
        gallery: The list to append to.
        content: Content image (path or PIL image).
        style: Style image (path or PIL image).
        settings: The run's settings (a low `max_dim` and few `steps` keep it quick).
        extractor: A prebuilt extractor matching `settings` (default: built from the settings).
        callbacks: Passed to `stylize`, e.g. a `ProgressBar`.
        **changes: Settings to override, e.g. `style_weight=100`.

    Returns:
        The new GalleryItem.

    Raises:
        NSTError: As `stylize`.
    """
    from nst_helpers.api import stylize

    result = stylize(content, style, settings, extractor=extractor, callbacks=callbacks, **changes)
    label = f"{weights_label(result.settings)} ({result.steps_done} steps)"
    item = GalleryItem(result.best_image, label, result)
    gallery.append(item)
    return item


def show_gallery(gallery: Sequence[GalleryItem], title: str = "Gallery", size: float = 3.0):
    """Shows a gallery's images side by side, each titled with its weights.

    Args:
        gallery: The items to show.
        title: The figure's title.
        size: Height of each panel in inches.

    Returns:
        The matplotlib Figure.

    Raises:
        NSTError: The gallery is empty.
    """
    from nst_helpers.show.display import show_images

    if not gallery:
        raise NSTError("the gallery is empty: run stylize_into_gallery (or press Run) first.")
    fig = show_images([item.image for item in gallery], [item.label for item in gallery], size)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
