"""nst_helpers: neural style transfer with TensorFlow/Keras, the library behind the tutorial.

The main entry points, importable from the package itself::

    from nst_helpers import Settings, stylize, load_image, build_extractor

Importing the package is cheap and has no side effects: TensorFlow is imported only when a
function that needs it is first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it (one file per job; see README "Package layout").
_EXPORTS = {
    "NSTError": "errors",
    "load_image": "images",
    "save_image": "images",
    "resize_image": "images",
    "image_to_tensor": "images",
    "tensor_to_image": "images",
    "vgg_preprocess": "images",
    "vgg_deprocess": "images",
    "build_extractor": "model",
    "layer_names": "model",
    "FeatureExtractor": "model",
    "gram_matrix": "losses",
    "content_loss": "losses",
    "style_loss": "losses",
    "tv_loss": "losses",
    "total_loss": "losses",
    "Settings": "settings",
    "prepare_images": "images",
    "stylize": "optimize",
    "make_adam": "optimize",
    "adam_step": "optimize",
    "compute_losses": "objective",
    "make_targets": "objective",
    "Event": "run",
    "Result": "run",
    "NonFiniteLossError": "run",
    "pyramid_depth": "pyramid",
    "estimate_memory": "memory",
    "ProgressBar": "display",
    "LivePreview": "display",
    "plot_losses": "display",
    "show_images": "display",
    "sweep": "sweep",
    "stylize_folder": "folder",
    "GifRecorder": "animation",
    "contact_sheet": "animation",
    "match_histogram": "color",
    "transfer_luminance": "color",
    "make_recipe": "recipe",
    "read_recipe": "recipe",
    "list_samples": "samples",
    "sample_path": "samples",
    "quiet_tensorflow_logs": "terminal",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"nst_helpers.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'nst_helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
