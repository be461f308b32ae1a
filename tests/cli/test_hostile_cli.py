"""The `nst` command under hostile input (issue 14): every bad input gets its exit code and one
line, never a traceback, and no input's bytes change. Items 1-3 and 8-10 of the issue; shared
recipes (item 7) are in test_hostile_recipes.py, a newcomer's first run (item 11) in
test_first_run.py, the output files themselves (items 6 and 8) in test_outputs.py, stopping
and output streams (item 8) in test_hostile_streams.py."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from conftest import CONTENT, ROOT, STYLE, gradient_image
from hostile import TINY, fingerprint, nst, one_line, png_copy, run_nst, unchanged
from nst_helpers.errors import NSTError


@pytest.fixture
def no_run(monkeypatch):
    """Fails the test if optimization starts: the refusals below must come before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the run started")

    import nst_helpers.api

    monkeypatch.setattr(nst_helpers.api, "optimize_levels", refuse)
    monkeypatch.setattr(nst_helpers.api, "stylize_tiled", refuse)


# --- 1. every output checked against every input, before any work ----------------------------
def _gif_content(tmp):
    content = tmp / "photo.gif"
    Image.open(CONTENT).convert("RGB").save(content)
    return [content, STYLE, "-o", tmp / "out.png", "--gif", content], [content]


def _snapshot_is_style(tmp):
    style = png_copy(STYLE, tmp / "out_00002.png")
    return [CONTENT, style, "-o", tmp / "out.png", "--save-every", 2, "--steps", 4], [style]


def _snapshot_links_to_style(tmp):
    style = png_copy(STYLE, tmp / "style.png")
    (tmp / "out_00004.png").symlink_to(style)
    return [CONTENT, style, "-o", tmp / "out.png", "--save-every", 2, "--steps", 6], [style]


def _sweep_variant_is_content(tmp):
    content = png_copy(CONTENT, tmp / "out_style-weight_10.png")
    return [content, STYLE, "-o", tmp / "out.png", "--sweep", "style-weight=1,10"], [content]


def _output_links_to_content(tmp):
    content = png_copy(CONTENT, tmp / "photo.png")
    (tmp / "link.png").symlink_to(content)
    return [content, STYLE, "-o", tmp / "link.png"], [content]


def _output_hard_links_content(tmp):
    content = png_copy(CONTENT, tmp / "photo.png")
    os.link(content, tmp / "hard.png")
    return [content, STYLE, "-o", tmp / "hard.png"], [content]


def _output_is_mask(tmp):
    mask = tmp / "mask.png"
    Image.new("L", (40, 30), 255).save(mask)
    return [CONTENT, STYLE, "--mask", mask, "-o", mask], [mask]


def _folder_through_a_link(tmp):
    (tmp / "inputs").mkdir()
    content = png_copy(CONTENT, tmp / "inputs" / "photo.png")
    (tmp / "alias").symlink_to(tmp / "inputs")
    return [content, STYLE, "-o", tmp / "alias" / "photo.png"], [content]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_gif_content, "the GIF (--gif) '{tmp}/photo.gif' is the content image"),
        (_snapshot_is_style, "the snapshot (--save-every) '{tmp}/out_00002.png' is the style"),
        (_snapshot_links_to_style, "the snapshot (--save-every) '{tmp}/out_00004.png' is the st"),
        (_sweep_variant_is_content, "the sweep image '{tmp}/out_style-weight_10.png' is the con"),
        (_output_links_to_content, "the output (-o) '{tmp}/link.png' is the content image"),
        (_output_hard_links_content, "the output (-o) '{tmp}/hard.png' is the content image"),
        (_output_is_mask, "the output (-o) '{tmp}/mask.png' is the mask"),
        (_folder_through_a_link, "is the content image"),
    ],
)
def test_no_output_overwrites_an_input(tmp_path, capsys, no_run, make, message):
    args, inputs = make(tmp_path)
    before = fingerprint(*inputs, CONTENT, STYLE)
    code, out, err = nst(capsys, *args, *TINY[:2])
    assert code == 1 and out == ""
    one_line(err, message.format(tmp=tmp_path), "refusing to overwrite it. Choose another name")
    assert unchanged(before)


def test_two_outputs_with_one_name_are_refused(tmp_path, capsys, no_run):
    code, _, err = nst(capsys, CONTENT, STYLE, "-o", tmp_path / "s.png", "--sweep",
                       "style-weight=1,1.0", *TINY)  # fmt: skip
    assert code == 1
    one_line(err, "s_style-weight_1.png' is also the sweep image: the run would write it twice")


def test_rerun_output_is_checked_against_the_mask_and_the_png(tmp_path, capsys, no_run):
    from nst_helpers.files.images import save_image
    from nst_helpers.runs.recipe import describe_input, make_recipe, recipe_pnginfo
    from nst_helpers.runs.settings import Settings

    content, style = png_copy(CONTENT, tmp_path / "c.png"), png_copy(STYLE, tmp_path / "s.png")
    mask = tmp_path / "mask.png"
    Image.new("L", (40, 30), 255).save(mask)
    recipe = make_recipe(Settings(weights=None), content, [style], {"mask": describe_input(mask)})
    result = tmp_path / "r.png"
    save_image(Image.new("RGB", (40, 30)), result, pnginfo=recipe_pnginfo(recipe))
    before = fingerprint(content, style, mask, result)
    code, _, err = nst(capsys, "--rerun", result, "-o", mask)
    assert code == 1
    one_line(err, f"the rerun output (-o) '{mask}' is the mask '{mask}': refusing to overwrite")
    code, _, err = nst(capsys, "--rerun", result, "-o", result)
    one_line(err, "is the recipe PNG (--rerun)")
    code, _, err = nst(capsys, "--rerun", result, "--steps", 5)
    one_line(err, "--rerun takes its images and settings from the recipe, so --steps can't be")
    assert unchanged(before)


# --- 2. no silent hang ------------------------------------------------------------------------
def test_endless_level_plans_are_refused(capsys, no_run):
    from nst_helpers.runs.rerun import settings_from_recipe
    from nst_helpers.runs.settings import Settings

    code, _, err = nst(capsys, CONTENT, STYLE, "--start-dim", 1, *TINY[:2])
    assert code == 1
    one_line(err, "start_dim 1 with level_ratio 1.41421 needs more than 12 coarse-to-fine levels",
             "use a start_dim (--start-dim) of at least")  # fmt: skip
    with pytest.raises(NSTError, match="level_ratio 1.01 needs more than 12 .* level_ratio of at"):
        Settings(start_dim=16, level_ratio=1.01)
    with pytest.raises(NSTError, match="needs more than 12 coarse-to-fine levels"):
        settings_from_recipe({"settings": {"start_dim": 16, "level_ratio": 1.01}})


@pytest.mark.parametrize("max_dim", [32, 512, 16384])
@pytest.mark.parametrize("start", [1, 2, 3, 16, 100])
@pytest.mark.parametrize("ratio", [1.0001, 1.01, 1.1, 2**0.5, 3.0])
def test_every_level_plan_is_bounded_or_names_a_fix(max_dim, start, ratio):
    import re

    from nst_helpers.checks import MAX_LEVELS
    from nst_helpers.runs.settings import Settings

    try:
        levels = Settings(max_dim=max_dim, start_dim=start, level_ratio=ratio).levels()
    except NSTError as err:
        found = re.search(r"start_dim \(--start-dim\) of at least (\d+), or a level_ratio of at "
                          r"least ([\d.]+)\.$", str(err))  # fmt: skip
        assert found, err
        for fix in ({"start_dim": int(found[1])}, {"level_ratio": float(found[2])}):
            fixed = {"start_dim": start, "level_ratio": ratio, **fix}
            assert len(Settings(max_dim=max_dim, **fixed).levels()) <= MAX_LEVELS
        return
    assert 1 <= len(levels) <= MAX_LEVELS and levels[-1] == max_dim
    assert levels == sorted(set(levels))  # each level larger than the last


@pytest.mark.parametrize("role", ["content", "mask", "recipe", "device"])
def test_a_pipe_or_device_is_refused_at_once(tmp_path, role):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    args = {
        "content": [fifo, STYLE],
        "mask": [CONTENT, STYLE, "--mask", fifo],
        "recipe": ["--recipe", fifo],
        "device": ["/dev/zero", STYLE],
    }[role]
    proc = run_nst(*args, "-o", tmp_path / "out.png", *TINY, timeout=60)  # blocking would time out
    assert proc.returncode == 1
    one_line(proc.stderr, "is not a regular file (a pipe, device or socket)")


# --- 3. no traceback --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{tmp}/folder.png"], "the output (-o) '{tmp}/folder.png' is a folder: give a file"),
        (["--seed", 2**63], "seed must be between -2**63 and 2**63 - 1 (TensorFlow's int64)"),
        (["--seed", -(2**63) - 1], "seed must be between -2**63 and 2**63 - 1"),
        (["-o", "{tmp}/" + "a" * 300 + ".png"], "is 304 bytes long, more than the 255 this file"),
        (["--style-scale", "1e6"], "makes the style image 512000000 px on its long side"),
        (["--max-dim", 100000], "max_dim must be at most 16384 pixels"),
        (["--gif", "{tmp}/folder.png/a.gif"], "the GIF (--gif) '{tmp}/folder.png/a.gif' is a fo"),
        (["--gif", "{tmp}/notes.txt/a.gif"], "can't write into '{tmp}/notes.txt': part of that"),
    ],
)
def test_refused_before_the_run_in_one_line(tmp_path, capsys, no_run, args, message):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "folder.png" / "a.gif").mkdir()
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    args = [str(a).format(tmp=tmp_path) for a in args]
    before = fingerprint(CONTENT, STYLE)
    code, out, err = nst(capsys, CONTENT, STYLE, *TINY[:2], "-o", tmp_path / "o.png", *args)
    assert code == 1 and out == ""
    one_line(err, message.format(tmp=tmp_path))
    assert unchanged(before) and not (tmp_path / "o.png").exists()


# --- 9. the Python API names the fix ------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("Settings(unknown=1)", "Settings has no setting 'unknown'. Choose from arch, weights"),
        ("Settings(stpes=1)", "Settings has no setting 'stpes'; did you mean 'steps'?"),
        (
            "Settings(weights=123)",
            "weights_file (or its older name weights) must be 'imagenet', the path of a weights "
            "file, or None",
        ),
        ("Settings(content_layers=None)", "content_layers must be a layer name or a list of names"),
        ("Settings(style_layers=3)", "style_layers must be a layer name or a list of names"),
        ("load_image(None)", "load_image needs the path of an image file, got NoneType"),
        ("Settings(style_blend='0.5')", "style_blend must be a list of numbers such as (0.7, 0.3)"),
        ("Settings(style_layer_weights=[1, 'x', 1, 1, 1])", "each style layer weight must be a"),
        ("Settings(level_steps=5)", "level_steps must be a list of numbers such as (50, 100)"),
        ("stylize(CONTENT, STYLE, settings='fast')", "pass Settings.preset('fast')"),
        ("stylize(CONTENT, STYLE, settings={'steps': 1})", "pass Settings(**that_dict)"),
        ("stylize(CONTENT, STYLE, stpes=1)", "did you mean 'steps'?"),
        # issue 32, item 10: these raised TypeError or AttributeError
        ("stylize(CONTENT, STYLE, plan='x')", "plan must be a RunPlan from plan_run(...), got str"),
        ("stylize(CONTENT, STYLE, extractor='vgg16')", "extractor must be a FeatureExtractor"),
        ("stylize(CONTENT, STYLE, callbacks=print)", "callbacks must be a list of functions"),
        ("stylize(CONTENT, STYLE, callbacks=[1])", "callbacks must be a list of functions"),
        ("stylize_folder(None, STYLE, 'out')", "folder must be a file path (a str or a pathlib"),
        ("stylize_folder(ROOT, STYLE, 42)", "output_dir must be a file path"),
        ("stylize_folder(ROOT, STYLE, 'o', settings='fast')", "pass Settings.preset('fast')"),
        ("read_recipe(None)", "path must be a file path (a str or a pathlib.Path), got NoneType"),
        ("save_image(Image.new('RGB', (4, 4)), 42)", "path must be a file path"),
    ],
)
def test_api_errors_name_the_fix(call, message):
    from nst_helpers import (
        Settings,
        load_image,
        read_recipe,
        save_image,
        stylize,
        stylize_folder,
    )

    names = {"Settings": Settings, "load_image": load_image, "stylize": stylize,
             "stylize_folder": stylize_folder, "read_recipe": read_recipe,
             "save_image": save_image, "Image": Image, "ROOT": ROOT}  # fmt: skip
    with pytest.raises(NSTError) as caught:
        eval(call, {**names, "CONTENT": CONTENT, "STYLE": STYLE})
    assert message in str(caught.value)


# --- 10. the mask holds for every optimizer -----------------------------------------------------
@pytest.mark.parametrize("changes", [{}, {"optimizer": "lbfgs"}, {"pyramid": True}])
def test_black_area_stays_the_photo_with_every_optimizer(tiny_extractor, tiny_settings, changes):
    import numpy as np
    from PIL import ImageDraw

    from nst_helpers.api import stylize

    content = gradient_image(40, 30, seed=0).resize((32, 24))
    mask = Image.new("L", (32, 24), 0)
    ImageDraw.Draw(mask).ellipse((8, 4, 24, 20), fill=255)
    settings = tiny_settings.replace(steps=15, style_weight=100.0, lr=0.05, **changes)
    result = stylize(content, gradient_image(36, 36, seed=1).rotate(90), settings, mask=mask,
                     extractor=tiny_extractor)  # fmt: skip
    change = np.abs(np.asarray(result.best_image, float) - np.asarray(content, float)).max(axis=2)
    corners = np.concatenate([change[:3, :3], change[:3, -3:], change[-3:, :3], change[-3:, -3:]])
    assert corners.max() <= 1  # the photo itself, to the rounding of 8-bit pixels
    assert change[10:14, 14:18].mean() > 5  # and the style inside


def test_help_and_readme_promise_the_mask_for_any_optimizer():
    from nst_helpers.cli.options import build_parser

    assert "black the result stays the photo (soft edge); any optimizer" in " ".join(
        build_parser().format_help().split()
    )
    assert (
        "black areas stay the photo (soft edge), with either optimizer"
        in (ROOT / "README.md").read_text()
    )


def test_a_tiled_runs_snapshots_never_overwrite_an_input(tmp_path, capsys, no_run):
    # A tiled run takes more steps than --steps says: every snapshot name is checked.
    style = png_copy(STYLE, tmp_path / "out_00003.png")
    before = fingerprint(style, CONTENT)
    tiled = ["--memory-limit", 0.8, "--tile-size", 64, "--tile-overlap", 8, "--tile-steps", 2]
    args = [CONTENT, style, "-o", tmp_path / "out.png", "--save-every", 1, "--weights", "none"]
    code, _, err = nst(capsys, *args, "--max-dim", 256, "--steps", 2, *tiled, "-q")
    assert code == 1
    one_line(err, "out_00003.png", "refusing to overwrite it")
    assert unchanged(before)


def test_a_folder_run_with_a_link_loop_or_an_unwritable_output_goes_on(
    tmp_path, tiny_settings, tiny_extractor
):
    from nst_helpers.folder import stylize_folder

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    for name, seed in (("a.png", 0), ("b.png", 1), ("c.png", 2)):
        gradient_image(40, 30, seed=seed).save(photos / name)
    (out / "a.png").symlink_to(out / "a.png")  # a link loop where a's output goes
    (out / "b.png").mkdir()  # a folder where b's output goes
    lines = []
    with pytest.raises(NSTError, match="can't resolve .*a.png.*fix or remove the link"):
        stylize_folder(photos, photos / "c.png", out, tiny_settings, extractor=tiny_extractor,
                       report=lines.append)  # fmt: skip
    (out / "a.png").unlink()
    summary = stylize_folder(photos, STYLE, out, tiny_settings, extractor=tiny_extractor,
                             report=lines.append)  # fmt: skip
    assert [p.name for p, _ in summary.failed] == ["b.png"]  # b can't be written, a and c are
    assert summary.done == [out / "a.png", out / "c.png"]
    assert any(line.startswith("failed ") and "can't write" in line for line in lines)
