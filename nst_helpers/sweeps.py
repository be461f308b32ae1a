"""Trade-off sweeps: one ordinary run per value of a loss weight, the inputs decoded and the
network built once for all of them.

A sweep is a loop over `stylize`: optimizing the variants together as one batch was barely
faster on a CPU (benchmarks/RESULTS.md, "sweep"), too little to be worth a batch dimension in
every loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

from nst_helpers.api import plan_run, stylize
from nst_helpers.core.losses import TERMS
from nst_helpers.core.model import FeatureExtractor
from nst_helpers.core.optimize import matching_extractor
from nst_helpers.errors import NSTError
from nst_helpers.runs.run import Event, NonFiniteLossError, Result
from nst_helpers.runs.settings import Settings, as_settings

SWEEPABLE = tuple(f"{term}_weight" for term in TERMS)


def stylize_variants(
    content,
    style,
    variants: Sequence[Settings],
    *,
    mask=None,
    extractor: FeatureExtractor | None = None,
    callbacks: Iterable[Callable[[Event], None]] = (),
) -> list[Result]:
    """Runs `stylize` once per settings that differ only in their loss weights.

    The inputs are decoded and the network built once; each run has the settings' whole
    `time_budget`. Arguments as for `stylize`; the `callbacks` see every run's steps, time and
    budget counted on from the runs before it.

    Returns:
        One Result per variant, in order; after Ctrl-C, those finished so far (and the one it
        stopped, holding its best image so far, if its loop had begun).

    Raises:
        NSTError: No variants, or variants that differ in more than their loss weights;
            `NonFiniteLossError` (its `results` those run so far) if a loss diverges.
    """
    variants = [as_settings(v) for v in variants]
    if not variants:
        raise NSTError("stylize_variants needs at least one Settings; got none.")
    first = variants[0]
    same = {name: getattr(first, name) for name in SWEEPABLE}
    if any(v.replace(**same) != first for v in variants):
        raise NSTError("the variants of one sweep may differ only in their loss weights.")
    plan = plan_run(content, style, first, mask=mask)  # inputs decoded once
    extractor = matching_extractor(extractor, first)  # the network built once
    callbacks = list(callbacks)
    results: list[Result] = []
    offset = {"steps": 0, "seconds": 0.0}

    def counted_on(event: Event) -> None:  # steps, time and budget counted over the runs
        later = len(variants) - 1 - len(results)  # runs still to come after this one
        budget = first.time_budget
        event = dataclasses.replace(
            event,
            step=event.step + offset["steps"],
            steps=event.steps * len(variants),
            elapsed=event.elapsed + offset["seconds"],
            time_left=None if budget is None else event.time_left + later * budget,
        )
        for callback in callbacks:
            callback(event)

    for settings in variants:
        try:
            result = stylize(plan.content, plan.styles, settings, mask=plan.mask,
                             extractor=extractor, callbacks=[counted_on] if callbacks else [],
                             plan=dataclasses.replace(plan, settings=settings))  # fmt: skip
        except NonFiniteLossError as err:
            raise NonFiniteLossError(str(err), [*results, *err.results]) from None
        except KeyboardInterrupt:  # between two runs' loops: keep the runs already done
            if not results:
                raise
            break
        results.append(result)
        if result.stopped == "interrupted":
            break
        offset["steps"] += result.steps_done
        offset["seconds"] += result.seconds["optimize"]
    return results


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
    """Runs one variant per value of a loss weight, one after the other (`stylize_variants`).

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them.
        settings: The shared settings.
        name: "content_weight", "style_weight" or "tv_weight".
        values: The weight of each variant.
        mask: Style only where this image is white, as in `stylize`; every variant shares it.
        extractor: A prebuilt extractor to reuse.
        callbacks: Called with an Event per step, counted over all the variants.

    Returns:
        One Result per value, in order (fewer after Ctrl-C).

    Raises:
        NSTError: Bad name or values; `NonFiniteLossError` (its `results` those run so far) if
            a loss diverges.
    """
    if name not in SWEEPABLE:
        raise NSTError(f"can't sweep {name!r}: choose one of {', '.join(SWEEPABLE)}.")
    variants = [settings.replace(**{name: float(v)}) for v in values]  # checks each value
    return stylize_variants(
        content, style, variants, mask=mask, extractor=extractor, callbacks=callbacks
    )
