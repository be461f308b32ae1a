"""VGG's weights: the ImageNet download or a local Keras file, checked against the network
before anything is built, with every failure an NSTError that names the flag to change."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from nst_helpers.errors import NSTError, first_line


def load_vgg(arch: str, weights: str | os.PathLike | None, precision: str = "float32"):
    """The Keras VGG network (include_top=False) in `precision`, with errors as NSTErrors."""
    import keras

    previous = keras.config.dtype_policy()
    # keras.applications builds its layers with the global dtype policy; set it only while
    # building (restored below), so the caller's Keras state is left as it was.
    keras.config.set_dtype_policy("float32" if precision == "float32" else f"mixed_{precision}")
    try:
        return _construct_vgg(arch, weights)
    finally:
        keras.config.set_dtype_policy(previous)


def _construct_vgg(arch: str, weights: str | os.PathLike | None):
    import keras

    constructor = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[arch]
    if weights is None or weights == "imagenet":
        try:
            return constructor(include_top=False, weights=weights, input_shape=(None, None, 3))
        except Exception as err:  # Keras raises a bare Exception for URL fetch failures
            if weights is None:
                raise
            raise NSTError(
                f"could not download the ImageNet weights for {arch.upper()} "
                f"({first_line(err, 160)}). "
                "Without internet, pass a local Keras weights file and the network it is for: "
                "CLI --arch vgg16 --weights PATH for a VGG16 file (--arch vgg19 for a VGG19 one); "
                "API arch='vgg16', weights='path/to/file.weights.h5'."
            ) from None
    path = Path(weights)
    if not path.is_file():
        hint = "it is a folder" if path.is_dir() else "no such file"
        raise NSTError(
            f"weights file '{path}' can't be used ({hint}). Pass 'imagenet' or the path of a "
            f"Keras {arch.upper()} include_top=False weights file."
        )
    found = weights_file_arch(path)
    if found is not None and found != arch:
        raise NSTError(
            f"'{path}' holds {found.upper()} weights, not {arch.upper()}: use --arch {found} with "
            f"this --weights file (API: arch='{found}'), or a {arch.upper()} weights file."
        )
    try:
        with warnings.catch_warnings():
            # Keras warns once per layer it can't match ("Skipping nested container"...) before
            # it raises; the one-line error below says what is wrong.
            warnings.simplefilter("ignore", UserWarning)
            return constructor(include_top=False, weights=str(path), input_shape=(None, None, 3))
    except Exception as err:
        raise NSTError(
            f"'{path}' does not hold {arch.upper()} include_top=False weights "
            f"({first_line(err, 160)}). Check --arch matches the file, or use 'imagenet'."
        ) from None


def weights_file_arch(path: str | os.PathLike) -> str | None:
    """Which VGG a Keras weights file is for, read from its layer names with h5py.

    Reads Keras 3 `.weights.h5` files (layer names in the `layers/*/vars` attributes, or 13
    against 16 convolutions) and Keras 2 `.h5` files (the `layer_names` attribute). Cheap: no
    network is built.

    Returns:
        "vgg16", "vgg19", or None where it can't tell (not HDF5, another layout).
    """
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            names = _h5_layer_names(handle)
    except Exception:  # not an HDF5 file, or unreadable: Keras will say so when loading it
        return None
    if {"block3_conv4", "block5_conv4"} & names:
        return "vgg19"
    if "block5_conv3" in names:
        return "vgg16"
    convs = sum(1 for name in names if name.startswith("conv2d"))
    return {13: "vgg16", 16: "vgg19"}.get(convs)


def _h5_layer_names(handle) -> set[str]:
    names: set[str] = set()
    for group in (handle, handle.get("model_weights")):
        if group is not None and "layer_names" in group.attrs:
            names |= {
                n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]
            }
    layers = handle.get("layers")
    if layers is not None:
        for key, layer in layers.items():
            named = layer.get("vars")
            name = named.attrs.get("name") if named is not None else None
            names.add(name.decode() if isinstance(name, bytes) else str(name or key))
            names.add(key)
    return names
