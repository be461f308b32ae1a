"""Optimising the image: the Adam and L-BFGS loops, coarse-to-fine levels, events and the result.

The loop the tutorial teaches is `adam_step`: one gradient step on a `tf.Variable` image with the
network frozen, then a clip to [0, 1]. Everything else here is bookkeeping around it (history, the
best image, events for progress bars and previews, interrupts, time budgets) and the ways to get
there sooner: L-BFGS, the image pyramid and coarse-to-fine levels (see `Settings`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from nst_helpers import color
from nst_helpers import images as imgs
from nst_helpers import losses as L
from nst_helpers.errors import NSTError
from nst_helpers.model import (
    FeatureExtractor,
    activation_count,
    build_extractor,
    resolve_precision,
)
from nst_helpers.settings import LOSS_NAMES, Settings


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
        peak_memory: The process's peak memory in bytes when the run ended.
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
    peak_memory: int = 0

    def summary(self) -> str:
        """One line: steps, time, and the best losses."""
        if not self.history["total"]:
            return f"no steps run ({self.stopped})"
        losses = {name: self.history[name][self.best_step] for name in LOSS_NAMES}
        return (
            f"{self.steps_done} steps in {self.seconds['optimise']:.1f} s "
            f"({self.seconds['per_step']:.3f} s/step), {self.stopped}; best total loss "
            f"{losses['total']:.4g} (content {losses['content']:.3g}, style {losses['style']:.3g}, "
            f"tv {losses['tv']:.3g}) at step {self.best_step + 1}; "
            f"peak memory {self.peak_memory / 2**30:.1f} GiB"
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
    masks: Mapping | None = None,
) -> dict:
    """Evaluates every loss of `image` (B, H, W, 3) in [0, 1]: {"content", "style", "tv", "total"}.

    Args:
        extractor: The feature extractor.
        image: The image being optimised.
        content_targets: {layer: content-image features}, from `make_targets`.
        style_targets: {layer: style-image Gram matrix}, from `make_targets`.
        settings: Supplies the loss and layer weights.
        masks: Optional {style layer: mask} from `layer_masks`, for style only inside a mask.

    Returns:
        A dict of float32 scalar tensors.
    """
    content_features, style_features = extractor(image)
    content = L.content_loss(content_features, content_targets)
    style = L.style_loss(style_features, style_targets, settings.layer_weights(), masks)
    tv = L.tv_loss(image)
    total = L.total_loss(
        content, style, tv, settings.content_weight, settings.style_weight, settings.tv_weight
    )
    return {"content": content, "style": style, "tv": tv, "total": total}


def make_targets(extractor: FeatureExtractor, content, style, blend=None) -> tuple[dict, dict]:
    """Computes the content targets (features) and style targets (Gram matrices).

    Args:
        extractor: The feature extractor.
        content: Content image tensor (1, H, W, 3) in [0, 1].
        style: Style image tensor (1, h, w, 3) in [0, 1], or a list of them; sizes may differ.
        blend: With several styles, the weight of each (summing to 1; default equal): the
            target is the weighted mix of their Gram matrices.

    Returns:
        ({content layer: features}, {style layer: Gram matrix}).
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = blend or [1.0 / len(styles)] * len(styles)
    content_targets, _ = extractor(content)
    grams: dict = {}
    for weight, image in zip(blend, styles, strict=True):
        _, style_features = extractor(image)
        for name, features in style_features.items():
            grams[name] = grams.get(name, 0.0) + weight * L.gram_matrix(features)
    return content_targets, grams


def prepare_images(content, style, settings: Settings, max_dim: int | None = None) -> tuple:
    """Loads (if paths) and resizes: content to `max_dim`, style to `style_scale` times that.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them.
        settings: Supplies `max_dim` and `style_scale`.
        max_dim: Overrides `settings.max_dim` (for coarse-to-fine levels).

    Returns:
        (content, style) as RGB PIL images; style is a list when a list was given.
    """
    max_dim = max_dim or settings.max_dim
    content = imgs.resize_image(as_image(content, "content"), max_dim)
    style_dim = max(1, round(max_dim * settings.style_scale))
    if isinstance(style, (list, tuple)):
        return content, [imgs.resize_image(as_image(s, "style"), style_dim) for s in style]
    return content, imgs.resize_image(as_image(style, "style"), style_dim)


def load_mask(mask, size: tuple[int, int], softness: float = 0.02):
    """Loads a mask image as a (1, H, W, 1) tensor in [0, 1] with a soft edge.

    Args:
        mask: Path or PIL image; white (255) marks where the style goes. Colour masks are
            converted to grey; transparency counts as black.
        size: (width, height) of the image being optimised.
        softness: Gaussian blur radius as a fraction of the long side (the soft edge).

    Returns:
        A float32 tensor.

    Raises:
        NSTError: The mask cannot be read, or it is all black (no style anywhere).
    """
    import tensorflow as tf
    from PIL import ImageFilter

    img = as_image(mask, "mask").convert("L").resize(size, Image.Resampling.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur(softness * max(size)))
    array = np.asarray(img, dtype=np.float32) / 255.0
    if array.max() < 0.5:
        raise NSTError(
            "the mask has no white area, so the style would go nowhere: paint white where the "
            "style should go and black where the photo should stay."
        )
    return tf.constant(array[np.newaxis, :, :, np.newaxis])


def layer_masks(mask, extractor: FeatureExtractor) -> dict:
    """The mask at each style layer's resolution (area-averaged), {layer: (1, h, w, 1)}."""
    import tensorflow as tf

    from nst_helpers.model import pools_before

    height, width = int(mask.shape[1]), int(mask.shape[2])
    masks = {}
    for name in extractor.style_layers:
        factor = 2 ** pools_before(extractor.arch, name)
        shape = (max(1, height // factor), max(1, width // factor))
        masks[name] = tf.image.resize(mask, shape, method="area")
    return masks


def as_image(source, what: str) -> Image.Image:
    """Returns an RGB PIL image from a path or a PIL image (of any mode)."""
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


# Memory model, fitted to peak memory measured with benchmarks/bench.py (VGG16 and VGG19 at 256 to
# 1024 px, float32 and bfloat16) with a margin: the TensorFlow runtime and the weights, plus each
# layer output kept for the backward pass and its gradient, in float32-sized slots.
_BASE_BYTES = 0.7 * 2**30
_BYTES_PER_ACTIVATION = {"float32": 2.8 * 4, "bfloat16": 2.1 * 4, "float16": 2.1 * 4}
_LBFGS_MEMORY = 10  # pairs of vectors L-BFGS keeps (scipy's maxcor)


def estimate_memory(settings: Settings, width: int, height: int) -> int:
    """Estimates the peak memory in bytes of a run at the given final image size.

    Args:
        settings: The run's network, layers, precision and optimiser.
        width: Final image width in pixels.
        height: Final image height in pixels.

    Returns:
        Bytes (an estimate with a safety margin; benchmarks/RESULTS.md has measured peaks).
    """
    precision = settings.precision if settings.precision != "auto" else "bfloat16"
    layers = settings.content_layers + settings.style_layers
    activations = activation_count(settings.arch, layers, height, width)
    needed = _BASE_BYTES + activations * _BYTES_PER_ACTIVATION[precision]
    values = height * width * 3 * (4 / 3 if settings.pyramid else 1)  # scales 1 + 1/4 + 1/16 ...
    if settings.optimizer == "lbfgs":  # float64 history pairs, iterate and gradient
        needed += (2 * _LBFGS_MEMORY + 4) * values * 8
    return int(needed)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(settings: Settings, width: int, height: int, available: int | None = None) -> int:
    """Refuses a run that will not fit in memory, naming the largest size that does.

    Args:
        settings: The run's settings.
        width: Final image width in pixels.
        height: Final image height in pixels.
        available: Bytes available (default: `available_memory()`; no check when unknown).

    Returns:
        The estimate, in bytes.

    Raises:
        NSTError: The estimate exceeds the available memory.
    """
    needed = estimate_memory(settings, width, height)
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return needed
    fits = settings.max_dim
    while fits > 32 and estimate_memory(settings, *_scaled(width, height, fits)) > available:
        fits -= 32
    gib = 2**30
    raise NSTError(
        f"a {width}x{height} px run with {settings.arch.upper()} ({settings.precision}, "
        f"{settings.optimizer}) needs about {needed / gib:.1f} GiB of memory, but only "
        f"{available / gib:.1f} GiB is available. Use max_dim (--max-dim) {fits} or less, "
        "precision bfloat16, or free some memory."
    )


def _scaled(width: int, height: int, max_dim: int) -> tuple[int, int]:
    return imgs.scaled_size((width, height), max_dim)


def peak_memory() -> int:
    """This process's peak resident memory so far, in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


def make_adam(settings: Settings):
    """A Keras Adam with the settings' learning rate and momentum (`lr`, `beta_1`)."""
    import keras

    # epsilon: our losses are scale-free and their gradients small, so Adam's epsilon must be
    # tiny to keep Adam invariant to the loss scale (the TF tutorial's 0.1 assumes huge losses).
    return keras.optimizers.Adam(learning_rate=settings.lr, beta_1=settings.beta_1, epsilon=1e-8)


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
    mask=None,
    extractor: FeatureExtractor | None = None,
    callbacks: Iterable[Callable[[Event], None]] = (),
    **changes,
) -> Result:
    """Runs neural style transfer: optimises an image while the network stays frozen.

    Press Ctrl-C (or interrupt the kernel) to stop early: the run ends cleanly and the result
    holds the best image so far.

    Args:
        content: Content image (path or PIL image).
        style: Style image (path or PIL image), or a list of them mixed by
            `settings.style_blend`.
        settings: The run's settings (default `Settings()`).
        mask: Optional mask image (path or PIL): style only where it is white, the photo kept
            where it is black, with a soft edge (masked Gram matrices, Gatys et al. 2017).
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
    content_img = as_image(content, "content")
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise NSTError("no style image given: pass at least one.")
    style_imgs = [as_image(s, "style") for s in styles]
    if settings.preserve_colors == "histogram":  # Gatys et al. 2017: recolour the style first
        style_imgs = [color.match_histogram(s, content_img) for s in style_imgs]
    settings.blend_weights(len(style_imgs))  # checks the count early
    mask_img = None if mask is None else as_image(mask, "mask")
    if not _has_gpu():  # GPU memory is TensorFlow's to manage; check the machine's RAM first
        check_memory(settings, *imgs.scaled_size(content_img.size, settings.max_dim))
    extractor = matching_extractor(extractor, settings)
    sizes = settings.levels()
    for size in sizes:  # fail fast, before any work, if a level is too small for the network
        width, height = imgs.scaled_size(content_img.size, size)
        extractor.check_image_size(height, width, "content image")
        style_dim = max(1, round(size * settings.style_scale))
        for style_img in style_imgs:
            width, height = imgs.scaled_size(style_img.size, style_dim)
            extractor.check_image_size(height, width, "style image")

    run = _Run(settings, list(callbacks), started)
    image = None
    inputs = (content_img, style_imgs, mask_img)
    for level, (size, steps) in enumerate(zip(sizes, settings.steps_per_level(), strict=True)):
        image = _optimise_level(run, extractor, inputs, image, level, size, steps)
        if run.stopped != "finished":
            break
    result = run.result(image, final_size=imgs.scaled_size(content_img.size, settings.max_dim))
    if settings.preserve_colors == "luminance":  # the result's luminance, the photo's colours
        result.image = color.transfer_luminance(result.image, content_img)
        result.best_image = color.transfer_luminance(result.best_image, content_img)
    return result


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def matching_extractor(extractor: FeatureExtractor | None, settings: Settings) -> FeatureExtractor:
    """Builds the extractor the settings ask for, or checks that the one given matches them."""
    if extractor is None:
        return build_extractor(
            settings.arch,
            settings.weights,
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


def _optimise_level(run, extractor, inputs, previous, level, size, steps):
    """Optimises at one size, starting from `previous` upsampled (or the initial image)."""
    import tensorflow as tf

    settings = run.settings
    content_img, style_imgs, mask_img = inputs
    content_pil, style_pils = prepare_images(content_img, style_imgs, settings, size)
    content = imgs.image_to_tensor(content_pil)
    content_targets, style_targets = make_targets(
        extractor,
        content,
        [imgs.image_to_tensor(s) for s in style_pils],
        settings.blend_weights(len(style_pils)),
    )
    masks = None
    if mask_img is not None:
        masks = layer_masks(load_mask(mask_img, content_pil.size), extractor)
    if previous is None:
        start = initial_image(content, settings)
    else:  # coarse-to-fine: the last level's result, upsampled, is this level's start
        start = tf.clip_by_value(tf.image.resize(previous, tf.shape(content)[1:3], "bicubic"), 0, 1)

    def loss_fn(image):
        return compute_losses(extractor, image, content_targets, style_targets, settings, masks)

    run.begin_level(level, size, steps)
    if settings.optimizer == "lbfgs":
        final = _run_lbfgs(run, loss_fn, start)
    else:
        final = _run_adam(run, loss_fn, start)
    run.end_level()
    return final


class ImageVariables:
    """The variables an optimiser changes, and the image they make.

    Plain (`pyramid=False`): one variable, the image itself, kept in [0, 1] by clipping (Adam) or
    by box bounds (L-BFGS). With `pyramid=True` the image is a sum of scales at 1, 1/2, 1/4 ...
    of its size, each upsampled (Kolkin et al. 2019 optimise such a pyramid): one step on a
    coarse scale moves a whole region, so the broad layout settles in far fewer steps. The
    scales are unbounded; the image is clipped to [0, 1] on the way into the network (the
    gradient passing straight through, so clipped pixels still learn) and a penalty pulls stray
    pixels back into range. With Adam each scale steps by about `lr`, so a pixel can move up to
    about 3x `lr` per step.
    """

    def __init__(self, start, pyramid: bool):
        import tensorflow as tf

        height, width = int(start.shape[1]), int(start.shape[2])
        self.size = (height, width)
        self.variables = [tf.Variable(start, name="image")]
        if pyramid:
            for k in range(1, pyramid_depth(height, width)):
                shape = (1, -(-height // 2**k), -(-width // 2**k), 3)
                self.variables.append(tf.Variable(tf.zeros(shape), name=f"pyramid_{k}"))

    @property
    def pyramid(self) -> bool:
        return len(self.variables) > 1

    def image(self):
        """The image the variables make (not yet clipped, with a pyramid)."""
        import tensorflow as tf

        image = self.variables[0]
        for k, scale in enumerate(self.variables[1:], start=1):
            image = image + _PYRAMID_DECAY**k * tf.image.resize(scale, self.size, "bilinear")
        return image

    def objective(self, loss_fn) -> tuple[dict, object, object]:
        """(losses, value to minimise, image): the losses of the image the network saw (in
        [0, 1]), the value with the range penalty added, and that image."""
        import tensorflow as tf

        image = self.image()
        if not self.pyramid:
            losses = loss_fn(image)
            return losses, losses["total"], image
        clipped = image + tf.stop_gradient(tf.clip_by_value(image, 0.0, 1.0) - image)
        losses = loss_fn(clipped)
        outside = tf.nn.relu(image - 1.0) + tf.nn.relu(-image)
        penalty = _RANGE_PENALTY * tf.reduce_mean(tf.square(outside))
        return losses, losses["total"] + penalty, clipped

    def clipped(self):
        import tensorflow as tf

        return tf.clip_by_value(self.image(), 0.0, 1.0)

    def flat(self) -> np.ndarray:
        """All variables as one float64 vector (for scipy)."""
        return np.concatenate([v.numpy().ravel() for v in self.variables]).astype(np.float64)

    def assign(self, vector: np.ndarray) -> None:
        offset = 0
        for variable in self.variables:
            count = int(np.prod(variable.shape))
            chunk = vector[offset : offset + count].reshape(variable.shape).astype(np.float32)
            variable.assign(chunk)
            offset += count


# Each coarser pyramid scale counts a little less, so the finest detail stays the image's own.
_PYRAMID_DECAY = 0.7
# Weight of the mean squared distance of pixels outside [0, 1] (a pyramid has no box bounds).
_RANGE_PENALTY = 10.0


def pyramid_depth(height: int, width: int, coarsest: int = 10) -> int:
    """Scales of the image pyramid: halve the size while the short side stays >= `coarsest` px."""
    return 1 + max(0, int(math.log2(max(1, min(height, width)) / coarsest)))


def _run_adam(run: _Run, loss_fn, start):
    import tensorflow as tf

    pixels = ImageVariables(start, run.settings.pyramid)
    # A fresh optimiser per level: a Keras 3 optimiser is bound to the variables it first saw.
    optimizer = make_adam(run.settings)

    decay = run.settings.ema
    average = tf.Variable(start, name="image_average")
    count = tf.Variable(0.0)

    @tf.function(autograph=False)  # plain tensor code: no Python control flow to convert
    def step():
        if pixels.pyramid:
            with tf.GradientTape() as tape:
                losses, objective, before = pixels.objective(loss_fn)
            grads = tape.gradient(objective, pixels.variables)
            optimizer.apply_gradients(zip(grads, pixels.variables, strict=True))
        else:
            before = tf.identity(pixels.variables[0])  # the image these losses belong to
            losses = adam_step(pixels.variables[0], optimizer, loss_fn)
        if decay:  # moving average of the iterates, warmed up so early steps count less
            count.assign_add(1.0)
            rate = tf.minimum(decay, (1.0 + count) / (10.0 + count))
            average.assign(rate * average + (1.0 - rate) * pixels.clipped())
        return losses, before

    try:
        while run.wants_step():
            losses, before = step()
            run.record(losses, lambda before=before: before.numpy()[0], pixels.clipped)
    except _Stop:
        pass
    except KeyboardInterrupt:
        run.stopped = "interrupted"
    if decay and run.level_best is not None and run.stopped != "non-finite":
        run.use_average(average.numpy()[0])  # (a NaN step has already reached the average)
        return tf.convert_to_tensor(average)
    return pixels.clipped()


def _run_lbfgs(run: _Run, loss_fn, start):
    """L-BFGS-B from scipy; each function evaluation counts as a step.

    Plain pixels are boxed in [0, 1] by L-BFGS-B's bounds; a pyramid's scales are unbounded
    (see `ImageVariables`). When scipy ends on its own before the budget is spent (its line
    search can fail, the more so with the pyramid's straight-through gradient), it starts again
    from where it got to with a fresh curvature memory, as long as that still lowers the loss.
    """
    import scipy.optimize
    import tensorflow as tf

    pixels = ImageVariables(start, run.settings.pyramid)

    @tf.function(autograph=False)  # plain tensor code: no Python control flow to convert
    def value_and_grad():
        with tf.GradientTape() as tape:
            losses, objective, image = pixels.objective(loss_fn)
        grads = tape.gradient(objective, pixels.variables)
        return losses, objective, tf.identity(image), grads

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        if not run.wants_step():
            raise _Stop
        pixels.assign(x)
        losses, objective, image, grads = value_and_grad()
        run.record(losses, lambda: image.numpy()[0], lambda: image)
        # scipy works in float64: return the value and gradient as such.
        grad = np.concatenate([g.numpy().ravel() for g in grads]).astype(np.float64)
        return float(objective), grad

    bounds = None if pixels.pyramid else scipy.optimize.Bounds(0.0, 1.0)
    start_at = pixels.flat()
    while True:
        loss_before = run.level_best_loss
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
                    "maxcor": _LBFGS_MEMORY,
                },
            )
        except _Stop:
            break
        except KeyboardInterrupt:
            run.stopped = "interrupted"
            break
        # scipy ended on its own (e.g. a failed line search): go on if that attempt helped.
        if run.level_best_loss >= loss_before or not run.wants_step():
            break
        start_at = answer.x
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

    def use_average(self, average: np.ndarray) -> None:
        """With `ema`, the level's result is the moving average rather than the best iterate."""
        self.level_best = average

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

    def record(self, losses: dict, image_before: Callable[[], np.ndarray], current) -> None:
        """Books one evaluated step and emits its event; raises _Stop on a non-finite loss.

        `image_before()` is the image the losses belong to, `current()` the image now.
        """
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
        self._emit(values, current)

    def _emit(self, values: dict, current: Callable) -> None:
        if not self.callbacks:
            return
        done = len(self.history["total"])
        every = self.settings.preview_every
        last = self.level == len(self.level_steps) - 1 and self.level_done == self.level_planned
        preview = last or (every and done % every == 0)
        array = np.asarray(current())[0] if preview else None
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
            peak_memory=peak_memory(),
        )
        if self.error:
            raise NonFiniteLossError(self.error, result)
        return result


def _at_size(array: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The image at the run's final size (a run stopped at a coarse level is upsampled)."""
    img = imgs.tensor_to_image(array)
    return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS)
