"""The `nst` command end to end: a real run, and one clear line for every bad input."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE
from nst_helpers.cli import main


def nst(capsys, *args) -> tuple[int, str, str]:
    """Runs `nst` in-process; returns (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:  # argparse exits on usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.real_weights
def test_run_writes_a_png_and_snapshots(tmp_path, capsys, weights_path):
    output = tmp_path / "out" / "cat_swirl.png"
    code, out, err = nst(
        capsys,
        CONTENT,
        STYLE,
        "-o",
        output,
        "--arch",
        "vgg16",
        "--weights",
        weights_path,
        "--max-dim",
        64,
        "--steps",
        4,
        "--save-every",
        2,
    )
    assert code == 0, err
    with Image.open(output) as img:
        assert img.format == "PNG" and img.size == (64, 43)
    assert (tmp_path / "out" / "cat_swirl_00002.png").is_file()
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "cat_swirl.png",
        "cat_swirl_00002.png",
    ]
    assert out.startswith(f"wrote {output} (64x43): 4 steps in ")
    assert "best total loss" in out
    assert "stylizing" not in err and "4/4" in err  # the tqdm bar, named after the output


def bad_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(CONTENT.read_bytes()[:2000])
    return text, cut


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jpg", STYLE], "image file not found: 'missing.jpg'"),
        ([ROOT / "images", STYLE], "is a folder, not an image file"),
        (["{text}", STYLE], "is not an image Pillow can read"),
        (["{cut}", STYLE], "truncated or corrupt"),
        ([CONTENT, STYLE, "--max-dim", 0], "max_dim must be a positive whole number of pixels"),
        ([CONTENT, STYLE, "--steps", -1], "steps must be a positive whole number, got -1"),
        ([CONTENT, STYLE, "--style-weight", -2], "style_weight must be a finite number >= 0"),
        ([CONTENT, STYLE, "--content-weight", "nan"], "content_weight must be a finite number"),
        ([CONTENT, STYLE, "--tv-weight", "inf"], "tv_weight must be a finite number >= 0, got inf"),
        ([CONTENT, STYLE, "--save-every", -5], "--save-every must be 0 (off) or a positive"),
        ([CONTENT, STYLE, "-o", "out.bmpx"], "can't tell the output format from 'out.bmpx'"),
        ([CONTENT, STYLE, "-o", CONTENT], "is the input image"),
        ([CONTENT, STYLE, "-o", STYLE.with_suffix(".jpg")], "refusing to overwrite it"),
        ([CONTENT, STYLE, "-o", "{text}/out.png"], "can't write into"),
        ([CONTENT, STYLE, "--weights", "no/such.h5"], "weights file 'no/such.h5' can't be used"),
        ([CONTENT, STYLE, "--arch", "vgg16", "--weights", "{text}"], "does not hold VGG16"),
        ([CONTENT, STYLE, "--max-dim", 8, "--weights", "none"], "too small for VGG19"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, args, message):
    text, cut = bad_files(tmp_path)
    args = [str(a).format(text=text, cut=cut) for a in args]
    code, out, err = (
        nst(capsys, *args, "-q")
        if "-o" in args
        else nst(capsys, *args, "-q", "-o", tmp_path / "out.png")
    )
    assert code == 1
    assert err.startswith("nst: error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_imagenet_offline_says_how_to_pass_a_file(tmp_path, capsys, monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x: None")

    monkeypatch.setattr(file_utils, "get_file", offline)
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--max-dim", 32)
    assert code == 1
    assert "could not download the ImageNet weights for VGG19" in err
    assert "--weights PATH" in err


def test_usage_errors_exit_2(capsys):
    code, _, err = nst(capsys, CONTENT, STYLE, "--steps", "many")
    assert code == 2 and "argument --steps: invalid int value: 'many'" in err
    code, _, err = nst(capsys, CONTENT, STYLE, "--preset", "slow")
    assert code == 2 and "argument --preset: invalid choice: 'slow'" in err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--arch", "vgg11"], "unknown architecture 'vgg11': choose one of vgg16, vgg19"),
        (["--init", "zeros"], "unknown init 'zeros': choose one of content, noise"),
        (["--optimizer", "sgd"], "unknown optimizer 'sgd': choose one of adam, lbfgs"),
        (["--precision", "int8"], "unknown precision 'int8': choose one of float32, bfloat16"),
        (["--time-budget", "0"], "time_budget must be greater than 0"),
        (["--start-dim", "-4"], "start_dim must be a positive whole number of pixels"),
    ],
)
def test_unknown_choices_list_the_valid_ones(capsys, option, message):
    code, _, err = nst(capsys, CONTENT, STYLE, *option)
    assert code == 1 and err == f"nst: error: {err[12:]}" and message in err


def test_preset_fills_in_and_options_win():
    from nst_helpers.cli import build_parser, settings_from_args

    args = build_parser().parse_args(["a.jpg", "b.jpg", "--preset", "fast", "--steps", "50"])
    settings = settings_from_args(args)
    assert settings.optimizer == "lbfgs" and settings.start_dim == 256
    assert settings.steps == 50  # given explicitly: wins over the preset's 200
    plain = settings_from_args(build_parser().parse_args(["a.jpg", "b.jpg"]))
    assert plain.optimizer == "adam" and plain.start_dim is None and plain.max_dim == 512


def test_module_and_console_script_entry_points(tmp_path):
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("nst") == "nst_helpers.cli:main"
    proc = subprocess.run(
        [sys.executable, "-m", "nst_helpers", "missing.jpg", STYLE, "-o", tmp_path / "o.png"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "nst: error: image file not found: 'missing.jpg'. Check the path and spelling."
    )
    assert "Traceback" not in proc.stderr
