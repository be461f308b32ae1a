"""nst_helpers: neural style transfer with TensorFlow/Keras, the library behind the tutorial.

The main entry points, importable from the package itself::

    from nst_helpers import Settings, stylize, load_image, build_extractor

Importing the package is cheap and has no side effects: TensorFlow is imported only when a
function that needs it is first used.
"""

from __future__ import annotations

import importlib

from nst_helpers._version import __version__

# Public name -> the module that defines it (see docs/architecture.md).
_EXPORTS = {
    "NSTError": "errors",
    "load_image": "files.images",
    "save_image": "files.images",
    "resize_image": "files.images",
    "image_to_tensor": "files.images",
    "tensor_to_image": "files.images",
    "vgg_preprocess": "files.images",
    "vgg_deprocess": "files.images",
    "build_extractor": "core.model",
    "layer_names": "runs.vgg",
    "FeatureExtractor": "core.model",
    "gram_matrix": "core.losses",
    "content_loss": "core.losses",
    "style_loss": "core.style_losses",
    "tv_loss": "core.losses",
    "total_loss": "core.losses",
    "Settings": "runs.settings",
    "prepare_images": "files.images",
    "stylize": "api",
    "plan_run": "api",
    "RunPlan": "api",
    "stylize_variants": "sweeps",
    "make_adam": "core.optimize",
    "adam_step": "core.optimize",
    "compute_losses": "core.objective",
    "make_targets": "core.objective",
    "Event": "runs.run",
    "Result": "runs.run",
    "NonFiniteLossError": "runs.run",
    "pyramid_depth": "core.pyramid",
    "estimate_memory": "runs.memory",
    "ProgressBar": "show.display",
    "LivePreview": "show.display",
    "plot_losses": "show.display",
    "show_images": "show.display",
    "sweep": "sweeps",
    "stylize_folder": "folder",
    "GifRecorder": "show.animation",
    "contact_sheet": "show.animation",
    "match_histogram": "runs.color",
    "transfer_luminance": "runs.color",
    "make_recipe": "runs.recipe",
    "read_recipe": "runs.recipe",
    "list_samples": "files.samples",
    "sample_path": "files.samples",
    "quiet_tensorflow_logs": "cli.terminal",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"nst_helpers.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'nst_helpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
