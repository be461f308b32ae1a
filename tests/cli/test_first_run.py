"""A newcomer's first run (issue 14, item 11): the offline hint names both flags, weights for the
other network are caught before anything is built, and TensorFlow's start-up logs are hidden
while real errors are kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CONTENT, STYLE
from hostile import nst, one_line, run_nst


def _fake_weights_file(path: Path, arch: str) -> Path:
    """A tiny HDF5 file laid out like Keras 3's `.weights.h5`, with the layer names only."""
    import h5py

    from nst_helpers.runs.vgg import layer_names

    convs = [name for name in layer_names(arch) if "conv" in name]
    with h5py.File(path, "w") as handle:
        for i, name in enumerate(convs):
            key = "conv2d" if i == 0 else f"conv2d_{i}"
            handle.create_group(f"layers/{key}/vars").attrs["name"] = name
    return path


def test_a_vgg16_file_with_vgg19_is_caught_before_building(tmp_path, capsys, monkeypatch):
    import keras

    def never(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(keras.applications, "VGG19", never)
    weights = _fake_weights_file(tmp_path / "vgg16.weights.h5", "vgg16")
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--arch", "vgg19",
                       "--weights", weights, "--max-dim", 32, "-q")  # fmt: skip
    assert code == 1
    one_line(err, "holds VGG16 weights, not VGG19: use --arch vgg16 with this --weights file")
    assert "UserWarning" not in err and "Skipping" not in err


def test_weights_file_arch_reads_both_keras_layouts(tmp_path):
    import h5py

    from nst_helpers.core.weights import weights_file_arch

    assert weights_file_arch(_fake_weights_file(tmp_path / "a.h5", "vgg19")) == "vgg19"
    with h5py.File(tmp_path / "keras2.h5", "w") as handle:  # Keras 2: a layer_names attribute
        handle.attrs["layer_names"] = [b"input_1", b"block1_conv1", b"block5_conv3"]
    assert weights_file_arch(tmp_path / "keras2.h5") == "vgg16"
    (tmp_path / "text.h5").write_text("not HDF5")
    assert weights_file_arch(tmp_path / "text.h5") is None


@pytest.mark.real_weights
def test_the_real_vgg16_file_with_vgg19_fails_at_once(tmp_path, capsys, weights_path):
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--arch", "vgg19",
                       "--weights", weights_path, "-q")  # fmt: skip
    assert code == 1
    one_line(err, "holds VGG16 weights, not VGG19: use --arch vgg16 with this --weights file")


def test_a_run_prints_no_tensorflow_start_up_logs(tmp_path):
    proc = run_nst(CONTENT, STYLE, "-o", tmp_path / "o.png", "--weights", "none", "--max-dim", 32,
                   "--steps", 1, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for noise in ("cuInit", "oneDNN", "cuda", "absl", "computation placer", "Unable to register"):
        assert noise not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("32x21 px, VGG19, lbfgs on an image pyramid, levels [32]: needs")


def test_start_up_capture_keeps_real_errors(capfd):
    from nst_helpers.cli.terminal import captured_stderr

    with captured_stderr(drop=("failed call to cuInit",)):
        os.write(2, b"E0000 cuda_platform.cc:51] failed call to cuInit: UNKNOWN ERROR (303)\n")
        os.write(2, b"E0000 a real problem\n")
    assert capfd.readouterr().err == "E0000 a real problem\n"


def test_quiet_tensorflow_logs_drops_start_up_noise_and_keeps_the_rest(capfd, monkeypatch):
    """The notebooks' import block: noise dropped, other lines kept, the chosen level kept."""
    import nst_helpers as nst

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    os.write(2, b"before\n")
    with nst.quiet_tensorflow_logs():
        os.write(2, b"E0000 cuda_dnn.cc:8579] Unable to register cuDNN factory: ...\n")
        os.write(2, b"E0000 a real problem\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nE0000 a real problem\nafter\n"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_quiet_tensorflow_logs_lets_errors_through(capfd):
    import nst_helpers as nst

    with pytest.raises(ImportError, match="no_such_module"), nst.quiet_tensorflow_logs():
        import no_such_module  # noqa: F401
    os.write(2, b"still there\n")
    assert capfd.readouterr().err == "still there\n"


def test_tensorflow_imported_in_the_block_starts_silently():
    """A fresh process, as a notebook kernel is: importing TensorFlow inside prints nothing."""
    code = (
        "import nst_helpers as nst\n"
        "with nst.quiet_tensorflow_logs():\n"
        "    import tensorflow as tf\n"
        "    tf.config.list_physical_devices('GPU')\n"
        "print(tf.reduce_sum(tf.ones((2, 2))).numpy())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("4.0\n", "")
