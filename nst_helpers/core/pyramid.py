"""What the optimizer changes: the image's pixels, or an image pyramid (Kolkin et al. 2019).

Plain (`pyramid=False`): one variable, the image itself, kept in [0, 1] by clipping (Adam) or by
box bounds (L-BFGS). With `pyramid=True` the image is a sum of scales at 1, 1/2, 1/4 ... of its
size, each upsampled: one step on a coarse scale moves a whole region, so the broad layout
settles in far fewer steps. The scales are unbounded; the image is clipped to [0, 1] on its way
into the network (the gradient passing straight through, so clipped pixels still learn) and a
penalty pulls stray pixels back into range. With Adam each scale steps by about `lr`, so a pixel
can move up to about 3x `lr` per step.
"""

from __future__ import annotations

import math

import numpy as np

# Each coarser scale counts a little less, so the finest detail stays the image's own.
PYRAMID_DECAY = 0.7
# Weight of the mean squared distance of pixels outside [0, 1] (a pyramid has no box bounds).
RANGE_PENALTY = 10.0


def pyramid_depth(height: int, width: int, coarsest: int = 10) -> int:
    """Scales of the image pyramid: halve the size while the short side stays >= `coarsest` px.

    Example:
        >>> pyramid_depth(341, 512)  # 341, 171, 86, 43, 22, 11 px on the short side
        6
    """
    return 1 + max(0, int(math.log2(max(1, min(height, width)) / coarsest)))


class ImageVariables:
    """The variables an optimizer changes, and the image (B, H, W, 3) they make.

    With `keep=(mask, photo)` the image is `photo + mask * (x - photo)`, x being what the
    variables make: where the mask is 0 it is the photo whatever the optimizer does, and in a
    soft edge it moves in proportion. (Masked Gram matrices alone are not enough for Adam,
    which takes full-size steps even on the tiny gradients outside the mask.)
    """

    def __init__(self, start, pyramid: bool, keep: tuple | None = None):
        import tensorflow as tf

        batch, height, width = (int(side) for side in start.shape[:3])
        self.size = (height, width)
        self.keep = keep  # (mask (1, H, W, 1) in [0, 1], photo (1, H, W, 3)) or None
        self.variables = [tf.Variable(start, name="image")]
        if pyramid:
            for k in range(1, pyramid_depth(height, width)):
                shape = (batch, -(-height // 2**k), -(-width // 2**k), 3)
                self.variables.append(tf.Variable(tf.zeros(shape), name=f"pyramid_{k}"))

    @property
    def pyramid(self) -> bool:
        return len(self.variables) > 1

    def image(self):
        """The image the variables make (not yet clipped, with a pyramid)."""
        import tensorflow as tf

        image = self.variables[0]
        for k, scale in enumerate(self.variables[1:], start=1):
            image = image + PYRAMID_DECAY**k * tf.image.resize(scale, self.size, "bilinear")
        if self.keep is not None:
            mask, photo = self.keep
            image = photo + mask * (image - photo)
        return image

    def objective(self, loss_fn) -> tuple[dict, object, object]:
        """(losses, value to minimize, image): the losses of the image the network saw (in
        [0, 1]), their total with the range penalty added, and that image."""
        import tensorflow as tf

        image = self.image()
        if not self.pyramid:
            losses = loss_fn(image)
            return losses, losses["total"], image
        clipped = image + tf.stop_gradient(tf.clip_by_value(image, 0.0, 1.0) - image)
        losses = loss_fn(clipped)
        outside = tf.nn.relu(image - 1.0) + tf.nn.relu(-image)
        penalty = RANGE_PENALTY * tf.reduce_mean(tf.square(outside))
        return losses, losses["total"] + penalty, clipped

    def clipped(self):
        """The image in [0, 1]."""
        import tensorflow as tf

        return tf.clip_by_value(self.image(), 0.0, 1.0)

    def flat(self) -> np.ndarray:
        """All variables as one float64 vector (for scipy)."""
        return np.concatenate([v.numpy().ravel() for v in self.variables]).astype(np.float64)

    def assign(self, vector: np.ndarray) -> None:
        """Sets the variables from a vector laid out as `flat` gives it."""
        offset = 0
        for variable in self.variables:
            count = int(np.prod(variable.shape))
            chunk = vector[offset : offset + count].reshape(variable.shape).astype(np.float32)
            variable.assign(chunk)
            offset += count
