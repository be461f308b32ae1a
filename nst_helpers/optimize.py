"""Optimising the image: the Adam and L-BFGS loops, coarse-to-fine levels, events and the result.

The loop the tutorial teaches is `adam_step`: one gradient step on a `tf.Variable` image with the
network frozen, then a clip to [0, 1]. Everything else here is bookkeeping around it (history, the
best image, events for progress bars and previews, interrupts, time budgets) and two ways to get
there sooner: L-BFGS and coarse-to-fine levels (see `Settings`).
"""

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
from nst_helpers.model import FeatureExtractor, build_extractor, resolve_precision
from nst_helpers.settings import Settings

LOSS_NAMES = ("content", "style", "tv", "total")


@dataclass
class Event:
    """What the loop reports after each step.

    Attributes:
        step: Steps done so far, over all levels (1 .. steps).
        steps: Steps planned over all levels (an upper bound when there is a time budget).
        losses: {"content", "style", "tv", "total"} of the image this step evaluated.
        elapsed: Seconds since the optimisation started.
        image: The current image (H, W, 3) float32 array in [0, 1] on preview steps, else None.
        level: Index of the coarse-to-fine level (0 when there is one level).
    """

    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    image: np.ndarray | None = None
    level: int = 0

    @property
    def eta(self) -> float:
        """Seconds left, estimated from the mean step time so far."""
        return self.elapsed / self.step * (self.steps - self.step)


@dataclass
class Result:
    """What a run returns.

    Attributes:
        image: The final image.
        best_image: The image with the lowest total loss at the final size (what we save).
        best_step: Index in `history` of the step that evaluated `best_image`.
        best_loss: Its total loss.
        history: {"content", "style", "tv", "total": one value per step, all levels}.
        seconds: {"setup": model + targets, "optimise": the loops, "per_step": mean step time}.
        settings: The full settings used, as a dict.
        stopped: "finished", "interrupted" (Ctrl-C), "time budget" or "non-finite" (NaN/inf).
        steps_done: Steps run, over all levels.
        levels: One {"max_dim", "steps", "seconds"} per coarse-to-fine level run.
    """

    image: Image.Image
    best_image: Image.Image
    best_step: int
    best_loss: float
    history: dict[str, list[float]]
    seconds: dict[str, float]
    settings: dict
    stopped: str = "finished"
    steps_done: int = 0
    levels: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """One line: steps, time, and the best losses."""
        if not self.history["total"]:
            return f"no steps run ({self.stopped})"
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
        content_targets: {layer: content-image features}, from `make_targets`.
        style_targets: {layer: style-image Gram matrix}, from `make_targets`.
        settings: Supplies the loss and layer weights.

    Returns:
        A dict of float32 scalar tensors.
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


def prepare_images(content, style, settings: Settings, max_dim: int | None = None) -> tuple:
    """Loads (if paths) and resizes: content to `max_dim`, style to `style_scale` times that.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image).
        settings: Supplies `max_dim` and `style_scale`.
        max_dim: Overrides `settings.max_dim` (for coarse-to-fine levels).

    Returns:
        (content, style) as RGB PIL images.
    """
    max_dim = max_dim or settings.max_dim
    content = imgs.resize_image(_as_image(content, "content"), max_dim)
    style_dim = max(1, round(max_dim * settings.style_scale))
    return content, imgs.resize_image(_as_image(style, "style"), style_dim)


def _as_image(source, what: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return imgs.to_rgb(source)
    if isinstance(source, (str, os.PathLike)):
        return imgs.load_image(source)
    kind = type(source).__name__
    raise NSTError(f"the {what} image must be a file path or a PIL image, got {kind}.")


def initial_image(content, settings: Settings):
    """The starting image: a copy of the content, or uniform noise from `settings.seed`."""
    import tensorflow as tf

    if settings.init == "content":
        return tf.identity(content)
    return tf.random.stateless_uniform(tf.shape(content), seed=(settings.seed, 0))


def adam_step(image, optimizer, loss_fn: Callable[[object], dict]) -> dict:
    """One step of the tutorial loop: gradient of the total loss, Adam update, clip to [0, 1].

    Only `image` (a tf.Variable) changes; the network is frozen. Wrap it in `tf.function`.

    Args:
        image: tf.Variable (1, H, W, 3) in [0, 1].
        optimizer: A Keras optimiser (e.g. `keras.optimizers.Adam`).
        loss_fn: Maps the image to the losses dict ("total" is minimised).

    Returns:
        The losses of the image before the update.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        losses = loss_fn(image)
    grad = tape.gradient(losses["total"], image)
    optimizer.apply_gradients([(grad, image)])
    image.assign(tf.clip_by_value(image, 0.0, 1.0))
    return losses


def stylize(
    content,
    style,
    settings: Settings | None = None,
    *,
    extractor: FeatureExtractor | None = None,
    callbacks: Iterable[Callable[[Event], None]] = (),
    **changes,
) -> Result:
    """Runs neural style transfer: optimises an image while the network stays frozen.

    Press Ctrl-C (or interrupt the kernel) to stop early: the run ends cleanly and the result
    holds the best image so far.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image).
        settings: The run's settings (default `Settings()`).
        extractor: A prebuilt extractor to reuse (it must match the settings' network, layers and
            precision).
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
    settings = settings or Settings()
    if changes:
        settings = settings.replace(**changes)
    started = time.perf_counter()
    content_img, style_img = _as_image(content, "content"), _as_image(style, "style")
    extractor = _matching_extractor(extractor, settings)
    sizes = settings.levels()
    for size in sizes:  # fail fast, before any work, if a level is too small for the network
        width, height = imgs.scaled_size(content_img.size, size)
        extractor.check_image_size(height, width, "content image")
        style_dim = max(1, round(size * settings.style_scale))
        width, height = imgs.scaled_size(style_img.size, style_dim)
        extractor.check_image_size(height, width, "style image")

    run = _Run(settings, list(callbacks), started)
    image = None
    for level, (size, steps) in enumerate(zip(sizes, settings.steps_per_level(), strict=True)):
        image = _optimise_level(run, extractor, content_img, style_img, image, level, size, steps)
        if run.stopped != "finished":
            break
    return run.result(image, final_size=imgs.scaled_size(content_img.size, settings.max_dim))


def _matching_extractor(extractor: FeatureExtractor | None, settings: Settings) -> FeatureExtractor:
    if extractor is None:
        return build_extractor(
            settings.arch,
            settings.weights,
            settings.content_layers,
            settings.style_layers,
            settings.precision,
        )
    wanted = (
        settings.arch,
        settings.content_layers,
        settings.style_layers,
        resolve_precision(settings.precision),
    )
    have = (extractor.arch, extractor.content_layers, extractor.style_layers, extractor.precision)
    if have != wanted:
        raise NSTError(
            f"the extractor given ({have[0]}, content {list(have[1])}, style {list(have[2])}, "
            f"{have[3]}) does not match the settings ({wanted[0]}, content {list(wanted[1])}, "
            f"style {list(wanted[2])}, {wanted[3]}): build it with the same arch, layers and "
            "precision, or pass none."
        )
    return extractor


def _optimise_level(run, extractor, content_img, style_img, previous, level, size, steps):
    """Optimises at one size, starting from `previous` upsampled (or the initial image)."""
    import tensorflow as tf

    settings = run.settings
    content_pil, style_pil = prepare_images(content_img, style_img, settings, size)
    content = imgs.image_to_tensor(content_pil)
    content_targets, style_targets = make_targets(
        extractor, content, imgs.image_to_tensor(style_pil)
    )
    if previous is None:
        start = initial_image(content, settings)
    else:  # coarse-to-fine: the last level's result, upsampled, is this level's start
        start = tf.clip_by_value(tf.image.resize(previous, tf.shape(content)[1:3], "bicubic"), 0, 1)

    def loss_fn(image):
        return compute_losses(extractor, image, content_targets, style_targets, settings)

    run.begin_level(level, size, steps)
    if settings.optimizer == "lbfgs":
        final = _run_lbfgs(run, loss_fn, start)
    else:
        final = _run_adam(run, loss_fn, start)
    run.end_level()
    return final


def _run_adam(run: _Run, loss_fn, start):
    import keras
    import tensorflow as tf

    image = tf.Variable(start, name="image")
    # A fresh optimiser per level: a Keras 3 optimiser is bound to the variables it first saw.
    # epsilon: our losses are scale-free and their gradients small, so Adam's epsilon must be
    # tiny to keep Adam invariant to the loss scale (the TF tutorial's 0.1 assumes huge losses).
    optimizer = keras.optimizers.Adam(learning_rate=run.settings.lr, epsilon=1e-8)

    @tf.function
    def step():
        before = tf.identity(image)  # the image these losses belong to
        return adam_step(image, optimizer, loss_fn), before

    try:
        while run.wants_step():
            losses, before = step()
            run.record(losses, lambda before=before: before.numpy()[0], image)
    except _Stop:
        pass
    except KeyboardInterrupt:
        run.stopped = "interrupted"
    return tf.convert_to_tensor(image)


def _run_lbfgs(run: _Run, loss_fn, start):
    """L-BFGS-B from scipy, with the pixels boxed in [0, 1]; each evaluation counts as a step."""
    import scipy.optimize
    import tensorflow as tf

    shape = tuple(start.shape)
    image = tf.Variable(start, name="image")

    @tf.function
    def value_and_grad():
        with tf.GradientTape() as tape:
            losses = loss_fn(image)
        return losses, tape.gradient(losses["total"], image)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        if not run.wants_step():
            raise _Stop
        image.assign(x.reshape(shape).astype(np.float32))
        losses, grad = value_and_grad()
        run.record(losses, lambda: x.reshape(shape)[0].astype(np.float32), image)
        # scipy works in float64: return the loss and gradient as such.
        return float(losses["total"]), grad.numpy().astype(np.float64).ravel()

    x0 = np.asarray(start, dtype=np.float64).ravel()
    try:
        scipy.optimize.minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(0.0, 1.0),
            # Run the whole budget: the relative losses have small gradients, which the default
            # tolerances would mistake for convergence.
            options={"maxfun": 10**9, "maxiter": 10**9, "ftol": 0.0, "gtol": 0.0, "maxcor": 20},
        )
    except _Stop:
        pass
    except KeyboardInterrupt:
        run.stopped = "interrupted"
    best = run.level_best
    return tf.convert_to_tensor(best[np.newaxis] if best is not None else start)


class _Stop(Exception):
    """Raised inside a level's loop to end it (budget spent, NaN, or interrupt)."""


class _Run:
    """The bookkeeping of one run: history, best image, events, timing, budgets, stopping."""

    def __init__(self, settings: Settings, callbacks: list, started: float):
        self.settings = settings
        self.callbacks = callbacks
        self.started = started
        self.loop_start: float | None = None
        self.history: dict[str, list[float]] = {name: [] for name in LOSS_NAMES}
        self.level_steps = settings.steps_per_level()
        self.total_steps = sum(self.level_steps)
        self.levels: list[dict] = []
        self.stopped = "finished"
        self.error: str | None = None
        self.optimise_seconds = 0.0
        self.setup_seconds = 0.0

    # --- levels -------------------------------------------------------------------------------
    def begin_level(self, level: int, size: int, steps: int) -> None:
        now = time.perf_counter()
        if self.loop_start is None:
            self.loop_start = now
            self.setup_seconds = now - self.started
        self.level, self.level_size, self.level_planned = level, size, steps
        self.level_done = 0
        self.level_start = now
        self.level_best: np.ndarray | None = None
        self.level_best_loss = math.inf
        self.level_best_step = len(self.history["total"])
        self.level_deadline = self._deadline(level)

    def _deadline(self, level: int) -> float:
        """When this level must stop under a time budget: its share of the time left."""
        budget = self.settings.time_budget
        if budget is None:
            return math.inf
        costs = [
            n * size**2 for n, size in zip(self.level_steps, self.settings.levels(), strict=True)
        ]
        share = costs[level] / sum(costs[level:])
        left = self.started + budget - time.perf_counter()
        return time.perf_counter() + share * max(0.0, left)

    def end_level(self) -> None:
        seconds = time.perf_counter() - self.level_start
        self.levels.append(
            {"max_dim": self.level_size, "steps": self.level_done, "seconds": seconds}
        )

    # --- steps --------------------------------------------------------------------------------
    def wants_step(self) -> bool:
        """Whether the current level may take another step (steps and time left, not stopped)."""
        if self.stopped != "finished":
            return False
        if time.perf_counter() >= self.level_deadline:
            if self.level == len(self.level_steps) - 1:
                self.stopped = "time budget"
            return False
        limit = self.level_planned if self.settings.time_budget is None else self.settings.steps
        return self.level_done < limit

    def record(self, losses: dict, image_before: Callable[[], np.ndarray], variable) -> None:
        """Books one evaluated step and emits its event; raises _Stop on a non-finite loss."""
        values = {name: float(losses[name]) for name in LOSS_NAMES}
        if not all(math.isfinite(v) for v in values.values()):
            self._non_finite(values)
            raise _Stop
        for name in LOSS_NAMES:
            self.history[name].append(values[name])
        self.level_done += 1
        if values["total"] < self.level_best_loss:
            self.level_best_loss = values["total"]
            self.level_best_step = len(self.history["total"]) - 1
            self.level_best = image_before()
        self._emit(values, variable)

    def _emit(self, values: dict, variable) -> None:
        if not self.callbacks:
            return
        done = len(self.history["total"])
        every = self.settings.preview_every
        last = self.level == len(self.level_steps) - 1 and self.level_done == self.level_planned
        preview = last or (every and done % every == 0)
        array = variable.numpy()[0] if preview else None
        elapsed = time.perf_counter() - self.loop_start
        event = Event(done, self.total_steps, values, elapsed, array, self.level)
        for callback in self.callbacks:
            callback(event)

    def _non_finite(self, values: dict) -> None:
        self.stopped = "non-finite"
        bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
        step = len(self.history["total"]) + 1
        kept = (
            f"the best image so far (step {self.level_best_step + 1})"
            if self.level_best is not None
            else "the start image"
        )
        self.error = (
            f"the loss became non-finite at step {step} ({bad}). Lower lr (--lr) or the loss "
            f"weights; {kept} was kept."
        )

    # --- result -------------------------------------------------------------------------------
    def result(self, image, final_size: tuple[int, int]) -> Result:
        self.optimise_seconds = time.perf_counter() - (self.loop_start or self.started)
        final = np.asarray(image)[0]
        best = self.level_best if self.level_best is not None else final
        if self.stopped == "non-finite":  # the image reached after a non-finite loss is not good
            final = best
        done = len(self.history["total"])
        result = Result(
            image=_at_size(final, final_size),
            best_image=_at_size(best, final_size),
            best_step=self.level_best_step if done else 0,
            best_loss=self.level_best_loss,
            history=self.history,
            seconds={
                "setup": self.setup_seconds,
                "optimise": self.optimise_seconds,
                "per_step": self.optimise_seconds / max(done, 1),
            },
            settings=self.settings.to_dict(),
            stopped=self.stopped,
            steps_done=done,
            levels=self.levels,
        )
        if self.error:
            raise NonFiniteLossError(self.error, result)
        return result


def _at_size(array: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The image at the run's final size (a run stopped at a coarse level is upsampled)."""
    img = imgs.tensor_to_image(array)
    return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS)
