"""Optimizing the image: the Adam loop the tutorial teaches, L-BFGS, and the coarse-to-fine levels.

The loop the tutorial teaches is `adam_step`: one gradient step on a `tf.Variable` image with
the network frozen, then a clip to [0, 1]. The bookkeeping around it (history, best image,
events, interrupts, time budgets) is `nst_helpers.runs.run`; the image pyramid is
`nst_helpers.core.pyramid`; the losses and their targets are `nst_helpers.core.objective`. A
whole run (`stylize`) is `nst_helpers.api`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nst_helpers.core.model import FeatureExtractor, build_extractor
from nst_helpers.core.objective import image_objective, load_mask, make_targets
from nst_helpers.core.pyramid import ImageVariables
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.runs.memory import LBFGS_MEMORY
from nst_helpers.runs.run import Run, Stop
from nst_helpers.runs.settings import Settings
from nst_helpers.runs.vgg import resolve_precision


def adam_step(image, optimizer, loss_fn: Callable[[object], dict]) -> dict:
    """One step of the tutorial loop: gradient of the total loss, Adam update, clip to [0, 1].

    Only `image` (a tf.Variable) changes; the network is frozen. Wrap it in `tf.function`.

    Args:
        image: tf.Variable (1, H, W, 3) in [0, 1].
        optimizer: A Keras optimizer (e.g. `keras.optimizers.Adam`).
        loss_fn: Maps the image to the losses dict ("total" is minimized).

    Returns:
        The losses of the image before the update.
    """
    import tensorflow as tf

    with tf.GradientTape() as tape:
        losses = loss_fn(image)
    grad = tape.gradient(losses["total"], image)  # (1, H, W, 3)
    optimizer.apply_gradients([(grad, image)])
    image.assign(tf.clip_by_value(image, 0.0, 1.0))
    return losses


def make_adam(settings: Settings):
    """A Keras Adam with the settings' learning rate and momentum (`lr`, `beta_1`)."""
    import keras

    # epsilon: our losses are scale-free and their gradients small, so Adam's epsilon must be
    # tiny to keep Adam invariant to the loss scale (the TF tutorial's 0.1 assumes huge losses).
    return keras.optimizers.Adam(learning_rate=settings.lr, beta_1=settings.beta_1, epsilon=1e-8)


def initial_image(content, settings: Settings):
    """The starting image: a copy of the content, or uniform noise from `settings.seed`."""
    import tensorflow as tf

    if settings.init == "content":
        return tf.identity(content)
    return tf.random.stateless_uniform(tf.shape(content), seed=(settings.seed, 0))


def matching_extractor(extractor: FeatureExtractor | None, settings: Settings) -> FeatureExtractor:
    """Builds the extractor the settings ask for, or checks that the one given matches them."""
    if extractor is not None and not isinstance(extractor, FeatureExtractor):
        raise NSTError(
            f"extractor must be a FeatureExtractor from build_extractor(...), or None, got "
            f"{type(extractor).__name__}."
        )
    if extractor is None:
        return build_extractor(
            settings.arch,
            settings.weights_file,
            settings.content_layers,
            settings.style_layers,
            settings.precision,
            settings.pooling,
        )
    wanted = (
        settings.arch,
        settings.content_layers,
        settings.style_layers,
        resolve_precision(settings.precision),
        settings.pooling,
    )
    have = (
        extractor.arch,
        extractor.content_layers,
        extractor.style_layers,
        extractor.precision,
        extractor.pooling,
    )
    if have != wanted:
        raise NSTError(
            f"the extractor given ({have[0]}, content {list(have[1])}, style {list(have[2])}, "
            f"{have[3]}, {have[4]} pooling) does not match the settings ({wanted[0]}, content "
            f"{list(wanted[1])}, style {list(wanted[2])}, {wanted[3]}, {wanted[4]} pooling): "
            "build it with the same arch, layers, precision and pooling, or pass none."
        )
    return extractor


def optimize_levels(run: Run, extractor, inputs, levels) -> object:
    """Optimizes the whole image coarse to fine: each of `levels`, (size, steps), starts from the
    last one's result upsampled. `inputs` are the content, style and mask images (PIL; the mask
    None for none). Returns the image reached (1, H, W, 3); the best is `run.level_best`."""
    image = None
    for level, (size, steps) in enumerate(levels):
        try:
            image = optimize_level(run, extractor, inputs, image, level, size, steps)
        except KeyboardInterrupt:  # while a level is set up: keep the last level's image
            if image is None:
                raise
            run.stop("interrupted")
        if not run.running:
            break
    return image


def optimize_level(run: Run, extractor, inputs, previous, level: int, size: int, steps: int):
    """Optimizes at one size, starting from `previous` upsampled (or the initial image)."""
    import tensorflow as tf

    settings = run.settings
    content_img, style_imgs, mask_img = inputs
    content_pil, style_pils = imgs.prepare_images(content_img, style_imgs, settings, size)
    content = imgs.image_to_tensor(content_pil)
    content_targets, style_targets = make_targets(
        extractor,
        content,
        [imgs.image_to_tensor(s) for s in style_pils],
        settings.blend_weights(len(style_pils)),
        settings.style_loss,
    )
    pixel_mask = None if mask_img is None else load_mask(mask_img, content_pil.size)
    loss_fn, keep = image_objective(
        extractor, settings, content, content_targets, style_targets, pixel_mask
    )
    if previous is None:
        start = initial_image(content, settings)
    else:  # coarse-to-fine: the last level's result, upsampled, is this level's start
        start = tf.clip_by_value(tf.image.resize(previous, tf.shape(content)[1:3], "bicubic"), 0, 1)
    run.begin_level(level, size, steps)
    final = ImageOptimizer(settings, loss_fn, start, keep).run(run)
    run.end_level()
    return final


class ImageOptimizer:
    """The settings' optimizer (Adam or L-BFGS) on one image's variables, its step traced once."""

    def __init__(self, settings: Settings, loss_fn, start, keep=None):
        import tensorflow as tf

        self.settings, self.loss_fn = settings, loss_fn
        self.pixels = ImageVariables(start, settings.pyramid, keep)
        # autograph off: plain tensor code, no Python control flow to convert
        compile_step = tf.function(autograph=False, jit_compile=settings.jit_compile or None)
        if settings.optimizer == "lbfgs":
            self._value_and_grad = compile_step(self._lbfgs_value_and_grad)
            return
        self.optimizer = make_adam(settings)  # a new one: a Keras optimizer keeps its variables
        self.optimizer.build(self.pixels.variables)  # its state made now, not inside the trace
        self.average = tf.Variable(start, name="image_average")
        self.count = tf.Variable(0.0)
        self._step = compile_step(self._adam_step)

    def run(self, run: Run):
        """Steps while `run` wants them; returns the image reached."""
        import tensorflow as tf

        if self.settings.optimizer == "lbfgs":
            return self._run_lbfgs(run)
        try:
            while run.wants_step():
                losses, before = self._step()
                run.record(losses, before.numpy, self.pixels.clipped)
        except Stop:
            pass
        except KeyboardInterrupt:
            run.stop("interrupted")
        if self.settings.ema and run.level_best is not None and run.status != "non-finite":
            # (a NaN step has already reached the average, so it is not used then)
            run.use_average(self.average.numpy(), self.loss_fn(self.average))
            return tf.convert_to_tensor(self.average)
        return self.pixels.clipped()

    def _adam_step(self):
        import tensorflow as tf

        pixels, optimizer = self.pixels, self.optimizer
        if pixels.pyramid or pixels.keep is not None:
            with tf.GradientTape() as tape:
                losses, objective, before = pixels.objective(self.loss_fn)
            grads = tape.gradient(objective, pixels.variables)
            optimizer.apply_gradients(zip(grads, pixels.variables, strict=True))
            if not pixels.pyramid:  # plain pixels stay in [0, 1], as adam_step keeps them
                pixels.variables[0].assign(tf.clip_by_value(pixels.variables[0], 0.0, 1.0))
        else:
            before = tf.identity(pixels.variables[0])  # the image these losses belong to
            losses = adam_step(pixels.variables[0], optimizer, self.loss_fn)
        decay = self.settings.ema
        if decay:  # moving average of the iterates, warmed up so early steps count less
            self.count.assign_add(1.0)
            rate = tf.minimum(decay, (1.0 + self.count) / (10.0 + self.count))
            self.average.assign(rate * self.average + (1.0 - rate) * pixels.clipped())
        return losses, before

    def _lbfgs_value_and_grad(self):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            losses, objective, image = self.pixels.objective(self.loss_fn)
        grads = tape.gradient(objective, self.pixels.variables)
        return losses, objective, tf.identity(image), grads

    def _run_lbfgs(self, run: Run):
        """L-BFGS-B from scipy; each function evaluation counts as a step.

        Plain pixels are boxed in [0, 1] by L-BFGS-B's bounds; a pyramid's scales are unbounded
        (see `ImageVariables`). When scipy ends on its own before the budget is spent (its line
        search can fail, the more so with the pyramid's straight-through gradient), it starts
        again from where it got to with a fresh curvature memory, as long as that still lowers
        the loss.
        """
        import scipy.optimize
        import tensorflow as tf

        pixels = self.pixels
        start = pixels.clipped()

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            if not run.wants_step():
                raise Stop
            pixels.assign(x)
            losses, objective, image, grads = self._value_and_grad()
            run.record(losses, image.numpy, lambda: image)
            # scipy works in float64: return the value and gradient as such.
            grad = np.concatenate([g.numpy().ravel() for g in grads]).astype(np.float64)
            return float(objective), grad

        bounds = None if pixels.pyramid else scipy.optimize.Bounds(0.0, 1.0)
        start_at = pixels.flat()
        while True:
            loss_before = run.best_loss
            try:
                answer = scipy.optimize.minimize(
                    fun,
                    start_at,
                    jac=True,
                    method="L-BFGS-B",
                    bounds=bounds,
                    # Run the whole budget: the relative losses have small gradients, which the
                    # default tolerances would mistake for convergence.
                    options={
                        "maxfun": 10**9,
                        "maxiter": 10**9,
                        "ftol": 0.0,
                        "gtol": 0.0,
                        "maxcor": LBFGS_MEMORY,
                    },
                )
            except Stop:
                break
            except KeyboardInterrupt:
                run.stop("interrupted")
                break
            # scipy ended on its own (e.g. a failed line search): go on if that attempt helped.
            if run.best_loss >= loss_before or not run.wants_step():
                break
            start_at = answer.x
        best = run.level_best
        return tf.convert_to_tensor(best if best is not None else start)
