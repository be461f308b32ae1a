"""Trade-off sweeps: several loss weights optimized together, as one batch through the network."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from nst_helpers.errors import NSTError
from nst_helpers.optimize import stylize_variants
from nst_helpers.run import Event, Result
from nst_helpers.settings import Settings

SWEEPABLE = ("content_weight", "style_weight", "tv_weight")


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """Parses "style-weight=0.1,1,10" into ("style_weight", [0.1, 1.0, 10.0]).

    Raises:
        NSTError: Not of the form NAME=V1,V2,..., an unknown name, or a bad number.
    """
    name, sep, values = text.partition("=")
    field = name.strip().replace("-", "_")
    accepted = ", ".join(n.replace("_", "-") for n in SWEEPABLE)
    if not sep or field not in SWEEPABLE:
        raise NSTError(
            f"can't read the sweep {text!r}: write NAME=V1,V2,... with NAME one of {accepted}, "
            "e.g. style-weight=1,10,100."
        )
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise NSTError(f"the sweep values in {text!r} must be numbers, e.g. 1,10,100.") from None
    if len(numbers) < 2:
        raise NSTError(f"a sweep needs at least two values, got {text!r}.")
    return field, numbers


def sweep(
    content,
    style,
    settings: Settings,
    name: str,
    values: Sequence[float],
    *,
    mask=None,
    extractor=None,
    callbacks: Iterable[Callable[[Event], None]] = (),
) -> list[Result]:
    """Runs one variant per value of a loss weight, all in one batch (Adam, one size).

    Every variant has its own image and its own loss; summing them and taking one Adam step on
    the batch is the same as separate runs (the losses do not interact and Adam scales each
    pixel on its own), but the network runs once per step for all of them. It is the same run
    as `stylize` (`stylize_variants`): the best image, a NaN stop and Ctrl-C work the same.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them.
        settings: The shared settings (Adam at `max_dim`; coarse-to-fine and L-BFGS are not
            used here).
        name: "content_weight", "style_weight" or "tv_weight".
        values: The weight of each variant.
        mask: Style only where this image is white, as in `stylize`; every variant shares it.
        extractor: A prebuilt extractor to reuse.
        callbacks: Called with an Event per step; its losses are those of the first variant.

    Returns:
        One Result per value, in order.

    Raises:
        NSTError: Bad name or values, or settings that ask for L-BFGS or coarse-to-fine;
            `NonFiniteLossError` (its `results` one per variant) if a loss diverges.
    """
    if name not in SWEEPABLE:
        raise NSTError(f"can't sweep {name!r}: choose one of {', '.join(SWEEPABLE)}.")
    if settings.optimizer != "adam" or len(settings.levels()) > 1 or settings.pyramid:
        raise NSTError(
            "a sweep runs Adam on plain pixels at one size: drop the lbfgs optimizer, start_dim "
            "and pyramid (--optimizer, --start-dim, --pyramid, --preset fast) to sweep."
        )
    variants = [settings.replace(**{name: float(v)}) for v in values]  # checks each value
    return stylize_variants(
        content, style, variants, mask=mask, extractor=extractor, callbacks=callbacks
    )
