"""Trade-off sweeps: several loss weights optimised together, as one batch through the network."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

from nst_helpers import images as imgs
from nst_helpers import losses as L
from nst_helpers.errors import NSTError
from nst_helpers.optimize import (
    LOSS_NAMES,
    Event,
    Result,
    as_image,
    initial_image,
    make_adam,
    make_targets,
    matching_extractor,
    peak_memory,
    prepare_images,
)
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
    extractor=None,
    callbacks: Iterable[Callable[[Event], None]] = (),
) -> list[Result]:
    """Runs one variant per value of a loss weight, all in one batch (Adam, one size).

    Every variant has its own image and its own loss; summing them and taking one Adam step on
    the batch is the same as separate runs (the losses do not interact and Adam scales each
    pixel on its own), but the network runs once per step for all of them.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them.
        settings: The shared settings (Adam at `max_dim`; coarse-to-fine and L-BFGS are not
            used here).
        name: "content_weight", "style_weight" or "tv_weight".
        values: The weight of each variant.
        extractor: A prebuilt extractor to reuse.
        callbacks: Called with an Event per step; its losses are those of the first variant.

    Returns:
        One Result per value, in order.

    Raises:
        NSTError: Bad name or values, or settings that ask for L-BFGS or coarse-to-fine.
    """
    import tensorflow as tf

    if name not in SWEEPABLE:
        raise NSTError(f"can't sweep {name!r}: choose one of {', '.join(SWEEPABLE)}.")
    if settings.optimizer != "adam" or len(settings.levels()) > 1 or settings.pyramid:
        raise NSTError(
            "a sweep runs Adam on plain pixels at one size: drop the lbfgs optimizer, start_dim "
            "and pyramid (--optimizer, --start-dim, --pyramid, --preset fast) to sweep."
        )
    variants = [settings.replace(**{name: float(v)}) for v in values]  # checks each value
    started = time.perf_counter()
    extractor = matching_extractor(extractor, settings)
    styles = style if isinstance(style, (list, tuple)) else [style]
    content_pil, style_pils = prepare_images(as_image(content, "content"), list(styles), settings)
    extractor.check_image_size(content_pil.height, content_pil.width, "content image")
    content_t = imgs.image_to_tensor(content_pil)
    targets = make_targets(
        extractor,
        content_t,
        [imgs.image_to_tensor(s) for s in style_pils],
        settings.blend_weights(len(style_pils)),
    )
    batch = len(variants)
    start = tf.concat([initial_image(content_t, settings)] * batch, axis=0)  # (B, H, W, 3)
    image = tf.Variable(start, name="images")
    optimizer = make_adam(settings)
    weights = tf.constant([[v.content_weight, v.style_weight, v.tv_weight] for v in variants])

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            per_item = batch_losses(extractor, image, *targets, settings, weights)
            total = tf.reduce_sum(per_item["total"])  # independent images: sum, one backward
        grad = tape.gradient(total, image)
        before = tf.identity(image)
        optimizer.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return per_item, before

    histories = [{n: [] for n in LOSS_NAMES} for _ in variants]
    best = [(math.inf, 0, None)] * batch
    setup = time.perf_counter() - started
    loop_start = time.perf_counter()
    stopped = "finished"
    try:
        for index in range(settings.steps):
            per_item, before = step()
            values_now = {n: per_item[n].numpy() for n in LOSS_NAMES}
            improved = [b for b in range(batch) if values_now["total"][b] < best[b][0]]
            before_np = before.numpy() if improved else None  # one copy for the whole batch
            for b in range(batch):
                for n in LOSS_NAMES:
                    histories[b][n].append(float(values_now[n][b]))
            for b in improved:
                best[b] = (float(values_now["total"][b]), index, before_np[b].copy())
            event = Event(index + 1, settings.steps, {n: histories[0][n][-1] for n in LOSS_NAMES},
                          time.perf_counter() - loop_start)  # fmt: skip
            for callback in callbacks:
                callback(event)
    except KeyboardInterrupt:
        stopped = "interrupted"
    seconds = time.perf_counter() - loop_start
    final = image.numpy()
    done = len(histories[0]["total"])
    return [
        Result(
            image=imgs.tensor_to_image(final[b]),
            best_image=imgs.tensor_to_image(best[b][2] if best[b][2] is not None else final[b]),
            best_step=best[b][1],
            best_loss=best[b][0],
            history=histories[b],
            seconds={"setup": setup, "optimise": seconds, "per_step": seconds / max(done, 1)},
            settings=variants[b].to_dict(),
            stopped=stopped,
            steps_done=done,
            peak_memory=peak_memory(),
        )
        for b in range(batch)
    ]


def batch_losses(extractor, images, content_targets, style_targets, settings, weights) -> dict:
    """Per-image losses of a batch, one network pass: {"content", "style", "tv", "total"}: (B,).

    Args:
        extractor: The feature extractor.
        images: (B, H, W, 3) images in [0, 1].
        content_targets: {layer: (1, h, w, c) content features}.
        style_targets: {layer: (1, c, c) Gram matrices}.
        settings: Supplies the style layer weights.
        weights: (B, 3) float tensor: content, style and TV weight of each image.
    """
    content_features, style_features = extractor(images)  # one pass for the whole batch
    # Batched reductions, not a slice per image: slicing copied every feature map (and its
    # gradient) once per image, and made the sweep slower than separate runs on a 2-core CPU
    # (0.98x; batched 1.05x in benchmarks/RESULTS.md, 1.12x in another run).
    out = {
        "content": L.content_loss(content_features, content_targets, per_item=True),
        "style": L.style_loss(
            style_features, style_targets, settings.layer_weights(), per_item=True
        ),
        "tv": L.tv_loss(images, per_item=True),
    }
    out["total"] = L.total_loss(
        out["content"], out["style"], out["tv"], weights[:, 0], weights[:, 1], weights[:, 2]
    )
    return out
