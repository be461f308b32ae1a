"""The `nst` command end to end: a real run, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE
from nst_helpers.cli.command import main


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
        ([CONTENT, STYLE, "-o", CONTENT], "is the content image"),
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
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):  # what urlopen raises without a network
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--max-dim", 32, "-q")
    assert code == 1
    assert "could not download the ImageNet weights for VGG19" in err
    assert "--arch vgg16 --weights PATH" in err  # the README's offline hint: both flags
    assert err.count("\n") == 1


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
        (["--beta-1", "1"], "beta_1 must be below 1 (0.9 is Keras' default, 0.99 the TensorFlow"),
    ],
)
def test_unknown_choices_list_the_valid_ones(capsys, option, message):
    code, _, err = nst(capsys, CONTENT, STYLE, *option)
    assert code == 1 and err == f"nst: error: {err[12:]}" and message in err


def test_preset_fills_in_and_options_win():
    from nst_helpers.cli.options import build_parser, settings_from_args

    args = build_parser().parse_args(["a.jpg", "b.jpg", "--preset", "fast", "--steps", "50"])
    settings = settings_from_args(args)
    assert settings.optimizer == "lbfgs" and settings.pyramid is True
    assert settings.steps == 50  # given explicitly: wins over the preset's 300
    momentum = build_parser().parse_args(["a.jpg", "b.jpg", "--beta-1", "0.99"])
    assert settings_from_args(momentum).beta_1 == 0.99
    tutorial = build_parser().parse_args(["a.jpg", "b.jpg", "--preset", "tutorial"])
    plain = settings_from_args(tutorial)
    assert plain.optimizer == "adam" and plain.start_dim is None and plain.max_dim == 512
    assert plain.pyramid is False and plain.style_weight == 10.0 and plain.precision == "float32"
    undone = build_parser().parse_args(["a.jpg", "b.jpg", "--preset", "fast", "--no-pyramid"])
    assert settings_from_args(undone).pyramid is False  # --no-pyramid undoes the preset's


def test_without_a_preset_nst_runs_the_fast_one_and_a_sweep_too():
    from nst_helpers.cli.options import build_parser, settings_from_args
    from nst_helpers.runs.settings import Settings

    default = settings_from_args(build_parser().parse_args(["a.jpg", "b.jpg"]))
    assert default == Settings.preset("fast")
    assert default.optimizer == "lbfgs" and default.pyramid and default.precision == "auto"
    sweep = build_parser().parse_args(["a.jpg", "b.jpg", "--sweep", "style-weight=1,10"])
    assert settings_from_args(sweep) == Settings.preset("fast")  # a loop of ordinary runs
    assert "(default: lbfgs)" in " ".join(build_parser().format_help().split())


def test_module_and_console_script_entry_points(tmp_path):
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("nst") == "nst_helpers.cli.command:main"
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


@pytest.mark.real_weights
def test_several_styles_mask_layers_and_pooling(tmp_path, capsys, weights_path):
    mask = tmp_path / "mask.png"
    Image.new("L", (40, 20), 255).save(mask)
    output = tmp_path / "blend.png"
    brush = ROOT / "images" / "style" / "brush.jpg"
    code, out, err = nst(capsys, CONTENT, STYLE, brush, "-o", output, "--style-blend", "0.7,0.3",
                         "--mask", mask,
                         "--arch", "vgg16", "--weights", weights_path, "--max-dim", 48, "--steps",
                         2, "--style-layers", "block1_conv1,block2_conv1", "--content-layers",
                         "block3_conv2", "--style-layer-weights", "2,1", "--pooling", "avg",
                         "--ema", "0.9", "-q")  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"wrote {output} (48x32)")


@pytest.mark.real_weights
def test_sweep_writes_each_variant_and_a_contact_sheet(tmp_path, capsys, weights_path):
    output = tmp_path / "sweep.png"
    code, out, err = nst(capsys, CONTENT, STYLE, "-o", output, "--sweep", "style-weight=1,100",
                         "--arch", "vgg16", "--weights", weights_path, "--max-dim", 48, "--steps",
                         2, "-q")  # fmt: skip
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["sweep.png", "sweep_style-weight_1.png", "sweep_style-weight_100.png"]
    assert "2 variants of style-weight, 4 steps in" in out


def test_a_sweep_takes_a_mask(tmp_path, capsys):
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 48), 255).save(mask)
    output = tmp_path / "sweep.png"
    code, out, err = nst(capsys, CONTENT, STYLE, "-o", output, "--sweep", "style-weight=1,100",
                         "--mask", mask, "--weights", "none", "--max-dim", 32, "--steps", 2,
                         "-q")  # fmt: skip
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["mask.png", "sweep.png", "sweep_style-weight_1.png",
                     "sweep_style-weight_100.png"]  # fmt: skip
    from nst_helpers.runs.recipe import read_recipe

    recipe = read_recipe(tmp_path / "sweep_style-weight_100.png")
    assert recipe["options"]["mask"]["name"] == "mask.png"  # a rerun of a variant finds it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--style-blend", "0.5,0.5,0.5"], "style_blend has 3 weights but 1 style images"),
        (["--style-layers", "block1_conv1,conv9"], "unknown style layer 'conv9' for VGG19"),
        (["--style-layer-weights", "1,2"], "style_layer_weights has 2 values but there are 5"),
        (["--pooling", "min"], "unknown pooling 'min': choose one of max, avg"),
        (["--ema", "1.5"], "ema must be below 1"),
        (["--sweep", "lr=1,2"], "write NAME=V1,V2,... with NAME one of content-weight"),
        (["--mask", "nomask.png"], "image file not found: 'nomask.png'"),
    ],
)
def test_control_errors(tmp_path, capsys, args, message):
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--weights", "none", "-q",
                       "--max-dim", 32, *args)  # fmt: skip
    assert code == 1 and message in err, err
    assert "Traceback" not in err


def test_list_options_reject_bad_numbers(capsys):
    code, _, err = nst(capsys, CONTENT, STYLE, "--style-blend", "a,b")
    assert code == 2 and "expected comma-separated numbers such as 0.7,0.3, got 'a,b'" in err


@pytest.mark.real_weights
def test_recipe_and_byte_identical_rerun(tmp_path, capsys, weights_path):
    output = tmp_path / "first.png"
    gif = tmp_path / "paint.gif"
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", output, "--arch", "vgg16", "--weights",
                       weights_path, "--max-dim", 48, "--steps", 4, "--seed", 7, "--gif", gif,
                       "--gif-every", 2, "--preserve-colors", "luminance", "-q")  # fmt: skip
    assert code == 0, err
    with Image.open(gif) as animation:
        assert animation.n_frames >= 2 and max(animation.size) == 48
    code, out, _ = nst(capsys, "--recipe", output)
    recipe = json.loads(out)
    assert code == 0 and recipe["settings"]["seed"] == 7
    assert recipe["settings"]["preserve_colors"] == "luminance"
    assert recipe["inputs"]["content"]["name"] == "cat.jpg"
    code, out, err = nst(capsys, "--rerun", output, "-q")
    assert code == 1 and "--trust-recipe-paths" in err  # the inputs are outside tmp_path
    code, out, err = nst(capsys, "--rerun", output, "-q", "--trust-recipe-paths")
    assert code == 0, err
    rerun = tmp_path / "first_rerun.png"
    assert out.startswith(f"wrote {rerun}")
    assert rerun.read_bytes() == output.read_bytes()  # same recipe, same pixels, same file


def test_rerun_refuses_changed_inputs(tmp_path, capsys):
    from nst_helpers.files.images import save_image
    from nst_helpers.runs.recipe import make_recipe, recipe_pnginfo
    from nst_helpers.runs.settings import Settings

    content, style = tmp_path / "photo.png", tmp_path / "style.jpg"
    Image.new("RGB", (40, 30), "red").save(content)
    style.write_bytes(STYLE.read_bytes())
    result = tmp_path / "result.png"
    recipe = make_recipe(Settings(weights=None), content, [style])
    save_image(Image.new("RGB", (40, 30)), result, pnginfo=recipe_pnginfo(recipe))
    Image.new("RGB", (40, 30), "blue").save(content)  # the photo changed since
    code, _, err = nst(capsys, "--rerun", result)
    assert code == 1
    assert "can't rerun" in err and "content image 'photo.png' has changed" in err
    code, _, err = nst(capsys, "--recipe", CONTENT)
    assert code == 1 and "has no nst recipe" in err


def test_missing_positionals_and_bad_gif(tmp_path, capsys):
    code, _, err = nst(capsys, CONTENT)
    assert code == 2 and "the following arguments are required: content, style" in err
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--weights", "none",
                       "--gif", tmp_path / "anim.mp4", "--max-dim", 32)  # fmt: skip
    assert code == 1 and "--gif needs a file name ending in .gif" in err
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "o.png", "--weights", "none",
                       "--gif", tmp_path / "a.gif", "--gif-every", 0, "--max-dim", 32)  # fmt: skip
    assert code == 1 and "every must be a positive whole number of steps, got 0" in err


def test_a_recipe_written_by_version_0_1_0_reruns(tmp_path, capsys):
    """tests/data/recipe_0.1.0 was written by the 0.1.0 CLI (its recipe names the weights file
    `weights`, as that version's settings did): today's `nst --rerun` still runs it."""
    import shutil

    from nst_helpers.runs.recipe import read_recipe

    folder = shutil.copytree(ROOT / "tests" / "data" / "recipe_0.1.0", tmp_path / "old")
    assert "weights" in read_recipe(folder / "result.png")["settings"]  # the older name
    code, out, err = nst(capsys, "--rerun", folder / "result.png", "-q")
    assert code == 0, err
    rerun = read_recipe(folder / "result_rerun.png")
    assert rerun["settings"]["steps"] == 2 and rerun["inputs"]["content"]["name"] == "photo.png"
    assert out.startswith(f"wrote {folder / 'result_rerun.png'} (32x21)")
