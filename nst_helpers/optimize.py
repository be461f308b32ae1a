"""Optimising the image: the settings, the Adam loop, its per-step events and its result."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from nst_helpers import images as imgs
from nst_helpers import losses as L
from nst_helpers.errors import NSTError
from nst_helpers.model import FeatureExtractor, build_extractor
from nst_helpers.settings import Settings

LOSS_NAMES = ("content", "style", "tv", "total")


@dataclass
class Event:
    """What the loop reports after each step.

    Attributes:
        step: Steps done so far (1 .. steps).
        steps: Steps planned.
        losses: {"content", "style", "tv", "total"} of the image this step started from.
        elapsed: Seconds since the loop started.
        image: The current image (H, W, 3) float32 array in [0, 1] on preview steps, else None.
    """

    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    image: np.ndarray | None = None

    @property
    def eta(self) -> float:
        """Seconds left, estimated from the mean step time so far."""
        return self.elapsed / self.step * (self.steps - self.step)


@dataclass
class Result:
    """What a run returns.

    Attributes:
        image: The final image.
        best_image: The image with the lowest total loss seen (what we save by default).
        best_step: The step at which `best_image` was evaluated (0-based: the image before it).
        best_loss: Its total loss.
        history: {"content", "style", "tv", "total": one value per step}.
        seconds: {"setup": model + targets, "optimise": the loop, "per_step": mean after step 1}.
        settings: The full settings used, as a dict.
        stopped: "finished", "interrupted" (Ctrl-C) or "non-finite" (the loss became NaN/inf).
    """

    image: Image.Image
    best_image: Image.Image
    best_step: int
    best_loss: float
    history: dict[str, list[float]]
    seconds: dict[str, float]
    settings: dict
    stopped: str = "finished"
    steps_done: int = field(default=0)

    def summary(self) -> str:
        """One line: steps, time, and the best losses."""
        losses = {name: self.history[name][self.best_step] for name in LOSS_NAMES}
        return (
            f"{self.steps_done} steps in {self.seconds['optimise']:.1f} s "
            f"({self.seconds['per_step']:.3f} s/step), {self.stopped}; best total loss "
            f"{losses['total']:.4g} (content {losses['content']:.3g}, style {losses['style']:.3g}, "
            f"tv {losses['tv']:.3g}) at step {self.best_step + 1}"
        )


class NonFiniteLossError(NSTError):
    """The loss became NaN or infinite. `result` holds the run up to the last good image."""

    def __init__(self, message: str, result: Result):
        super().__init__(message)
        self.result = result


def compute_losses(
    extractor: FeatureExtractor,
    image,
    content_targets: Mapping,
    style_targets: Mapping,
    settings: Settings,
) -> dict:
    """Evaluates every loss of `image` (B, H, W, 3) in [0, 1]: {"content", "style", "tv", "total"}.

    Args:
        extractor: The feature extractor.
        image: The image being optimised.
        content_targets: {layer: content-image features}, from `extractor`.
        style_targets: {layer: style-image Gram matrix}.
        settings: Supplies the loss and layer weights.

    Returns:
        A dict of scalar tensors.
    """
    content_features, style_features = extractor(image)
    content = L.content_loss(content_features, content_targets)
    style = L.style_loss(style_features, style_targets, settings.layer_weights())
    tv = L.tv_loss(image)
    total = L.total_loss(
        content, style, tv, settings.content_weight, settings.style_weight, settings.tv_weight
    )
    return {"content": content, "style": style, "tv": tv, "total": total}


def make_targets(extractor: FeatureExtractor, content, style) -> tuple[dict, dict]:
    """Computes the content targets (features) and style targets (Gram matrices).

    Args:
        extractor: The feature extractor.
        content: Content image tensor (1, H, W, 3) in [0, 1].
        style: Style image tensor (1, h, w, 3) in [0, 1]; its size may differ from the content's.

    Returns:
        ({content layer: features}, {style layer: Gram matrix}).
    """
    content_targets, _ = extractor(content)
    _, style_features = extractor(style)
    return content_targets, {name: L.gram_matrix(f) for name, f in style_features.items()}


def prepare_images(content, style, settings: Settings) -> tuple[Image.Image, Image.Image]:
    """Loads (if paths) and resizes: content to `max_dim`, style to `style_scale` times that."""
    content = _as_image(content, "content")
    style = _as_image(style, "style")
    content = imgs.resize_image(content, settings.max_dim)
    style_dim = max(1, round(settings.max_dim * settings.style_scale))
    return content, imgs.resize_image(style, style_dim)


def _as_image(source, what: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return imgs.to_rgb(source)
    if isinstance(source, (str, os.PathLike)):
        return imgs.load_image(source)
    raise NSTError(
        f"the {what} image must be a file path or a PIL image, got {type(source).__name__}."
    )


def initial_image(content, settings: Settings):
    """The starting image: a copy of the content, or uniform noise from `settings.seed`."""
    import tensorflow as tf

    if settings.init == "content":
        return tf.identity(content)
    return tf.random.stateless_uniform(tf.shape(content), seed=(settings.seed, 0))


def stylize(
    content,
    style,
    settings: Settings | None = None,
    *,
    extractor: FeatureExtractor | None = None,
    callbacks: Iterable[Callable[[Event], None]] = (),
    **changes,
) -> Result:
    """Runs neural style transfer: optimises an image with Adam while the network stays frozen.

    Press Ctrl-C (or interrupt the kernel) to stop early: the run ends cleanly and the result
    holds the best image so far.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image).
        settings: The run's settings (default `Settings()`).
        extractor: A prebuilt extractor to reuse (it must match the settings' network and layers).
        callbacks: Functions called with an `Event` after every step.
        **changes: Settings fields to override, e.g. `steps=100, style_weight=30`.

    Returns:
        A Result.

    Raises:
        NSTError: Bad input; `NonFiniteLossError` (holding the result so far) if the loss diverges.

    Example:
        >>> result = stylize("photo.jpg", "painting.jpg", arch="vgg16", steps=100)  # doctest: +SKIP
        >>> result.best_image.save("out.png")  # doctest: +SKIP
    """
    import keras
    import tensorflow as tf

    settings = (settings or Settings()).replace(**changes) if changes else (settings or Settings())
    started = time.perf_counter()
    content_img, style_img = prepare_images(content, style, settings)
    extractor = _matching_extractor(extractor, settings)
    extractor.check_image_size(content_img.height, content_img.width, "content image")
    extractor.check_image_size(style_img.height, style_img.width, "style image")
    content_t = imgs.image_to_tensor(content_img)
    content_targets, style_targets = make_targets(
        extractor, content_t, imgs.image_to_tensor(style_img)
    )
    image = tf.Variable(initial_image(content_t, settings), name="image")
    # A fresh optimiser per run: a Keras 3 optimiser is bound to the variables it first saw.
    optimizer = keras.optimizers.Adam(learning_rate=settings.lr, epsilon=1e-8)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            losses = compute_losses(extractor, image, content_targets, style_targets, settings)
        grad = tape.gradient(losses["total"], image)
        before = tf.identity(image)  # the image these losses belong to
        optimizer.apply_gradients([(grad, image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return losses, before

    loop = _Loop(settings, list(callbacks), started)
    loop.run(step, image)
    return loop.result(image)


def _matching_extractor(extractor: FeatureExtractor | None, settings: Settings) -> FeatureExtractor:
    if extractor is None:
        return build_extractor(
            settings.arch, settings.weights, settings.content_layers, settings.style_layers
        )
    wanted = (settings.arch, settings.content_layers, settings.style_layers)
    have = (extractor.arch, extractor.content_layers, extractor.style_layers)
    if have != wanted:
        raise NSTError(
            f"the extractor given ({have[0]}, content {list(have[1])}, style {list(have[2])}) does "
            f"not match the settings ({wanted[0]}, content {list(wanted[1])}, style "
            f"{list(wanted[2])}): build it with the same arch and layers, or pass none."
        )
    return extractor


class _Loop:
    """The bookkeeping of one run: history, best image, events, timing, stopping."""

    def __init__(self, settings: Settings, callbacks: list, started: float):
        self.settings = settings
        self.callbacks = callbacks
        self.setup_seconds = time.perf_counter() - started
        self.history: dict[str, list[float]] = {name: [] for name in LOSS_NAMES}
        self.best_loss = math.inf
        self.best_step = 0
        self.best_array: np.ndarray | None = None
        self.optimise_seconds = 0.0
        self.step_seconds: list[float] = []
        self.stopped = "finished"
        self.error: str | None = None

    def run(self, step: Callable, image) -> None:
        steps = self.settings.steps
        self.best_array = image.numpy()[0]  # until a step is evaluated, the start image is best
        loop_start = time.perf_counter()
        try:
            for index in range(steps):
                tick = time.perf_counter()
                losses, before = step()
                values = {name: float(losses[name]) for name in LOSS_NAMES}
                self.step_seconds.append(time.perf_counter() - tick)
                if not all(math.isfinite(v) for v in values.values()):
                    self._non_finite(index, values)
                    break
                self._record(index, values, before)
                self._emit(index + 1, values, time.perf_counter() - loop_start, image)
        except KeyboardInterrupt:
            self.stopped = "interrupted"
        self.optimise_seconds = time.perf_counter() - loop_start

    def _record(self, index: int, values: dict, before) -> None:
        for name in LOSS_NAMES:
            self.history[name].append(values[name])
        if values["total"] < self.best_loss:
            self.best_loss, self.best_step = values["total"], index
            self.best_array = before.numpy()[0]

    def _emit(self, done: int, values: dict, elapsed: float, image) -> None:
        if not self.callbacks:
            return
        every = self.settings.preview_every
        preview = done == self.settings.steps or (every and done % every == 0)
        array = image.numpy()[0] if preview else None
        event = Event(done, self.settings.steps, values, elapsed, array)
        for callback in self.callbacks:
            callback(event)

    def _non_finite(self, index: int, values: dict) -> None:
        self.stopped = "non-finite"
        bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
        kept = f"the best image so far (step {self.best_step + 1})" if index else "the start image"
        self.error = (
            f"the loss became non-finite at step {index + 1} ({bad}). Lower lr (--lr) or the loss "
            f"weights; {kept} was kept."
        )

    def result(self, image) -> Result:
        final = image.numpy()[0]
        if self.stopped == "non-finite":  # the image reached after a non-finite loss is not good
            final = self.best_array
        later = self.step_seconds[1:] or self.step_seconds or [0.0]  # step 1 includes tracing
        result = Result(
            image=imgs.tensor_to_image(final),
            best_image=imgs.tensor_to_image(self.best_array),
            best_step=self.best_step,
            best_loss=self.best_loss,
            history=self.history,
            seconds={
                "setup": self.setup_seconds,
                "optimise": self.optimise_seconds,
                "per_step": float(np.mean(later)),
            },
            settings=self.settings.to_dict(),
            stopped=self.stopped,
            steps_done=len(self.history["total"]),
        )
        if self.error:
            raise NonFiniteLossError(self.error, result)
        return result
