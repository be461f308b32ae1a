"""Recipes: what they record, the round trip through a PNG, input checks, settings and errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nst_helpers
from conftest import gradient_image
from nst_helpers.errors import NSTError
from nst_helpers.files.images import load_image, save_image
from nst_helpers.runs.recipe import RECIPE_KEY, make_recipe, read_recipe, recipe_pnginfo
from nst_helpers.runs.rerun import check_inputs, input_paths, settings_from_recipe
from nst_helpers.runs.settings import Settings

NO_RECIPE = "has no nst recipe: only PNGs written by nst carry one"


@pytest.fixture
def inputs(tmp_path) -> tuple[Path, list[Path]]:
    """A content PNG and two style files (PNG, JPEG) of different sizes in tmp_path."""
    content = tmp_path / "in" / "content.png"
    content.parent.mkdir()
    gradient_image(40, 30, seed=0).save(content)
    styles = [tmp_path / "in" / "style.png", tmp_path / "in" / "style2.jpg"]
    gradient_image(36, 36, seed=1).save(styles[0])
    gradient_image(20, 12, seed=2).save(styles[1])
    return content, styles


@pytest.fixture
def settings() -> Settings:
    """Non-default settings with every kind of tuple field filled in."""
    levels = len(Settings(max_dim=64, start_dim=32).levels())
    return Settings(
        arch="vgg16",
        weights=None,
        max_dim=64,
        steps=7,
        style_weight=30.5,
        content_layers=("block3_conv1",),
        style_layers=("block1_conv1", "block2_conv1"),
        style_layer_weights=(1.0, 2.5),
        start_dim=32,
        level_steps=(3,) * levels,
        time_budget=1.5,
        style_blend=(0.7, 0.3),
        pooling="avg",
        ema=0.9,
    )


# --- what a recipe records ------------------------------------------------------------------------
def test_recipe_records_library_settings_inputs_options_and_time(inputs, settings):
    content, styles = inputs
    recipe = make_recipe(settings, content, styles, extra={"preserve_colors": "luminance"})
    assert recipe["library"] == {"name": "nst_helpers", "version": nst_helpers.__version__}
    assert recipe["settings"] == settings.to_dict()
    assert recipe["options"] == {"preserve_colors": "luminance"}
    entries = [recipe["inputs"]["content"], *recipe["inputs"]["styles"]]
    sizes = [(40, 30), (36, 36), (20, 12)]
    for entry, path, size in zip(entries, [content, *styles], sizes, strict=True):
        assert entry["name"] == path.name
        assert entry["path"] == str(path) and entry["absolute"] == os.path.abspath(path)
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["size"] == list(size)
    created = datetime.fromisoformat(recipe["created"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)
    assert json.loads(json.dumps(recipe)) == recipe  # plain JSON values only


def test_relative_paths_are_kept_as_given_and_made_absolute(inputs, monkeypatch):
    content, styles = inputs
    monkeypatch.chdir(content.parent)
    recipe = make_recipe(Settings(), "content.png", "style.png")  # one style as a plain path
    assert recipe["inputs"]["content"]["path"] == "content.png"
    assert recipe["inputs"]["content"]["absolute"] == os.path.abspath(content)
    assert [s["name"] for s in recipe["inputs"]["styles"]] == ["style.png"]


def test_size_is_upright_after_exif_rotation(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    gradient_image(30, 20).save(path, exif=exif)
    recipe = make_recipe(Settings(), path, [path])
    assert recipe["inputs"]["content"]["size"] == list(load_image(path).size) == [20, 30]


def test_extra_options_become_json_values(inputs):
    content, styles = inputs
    extra = {"output": content.parent / "out.png", "blend": (0.25, np.float32(0.75))}
    extra["mask"] = None
    extra["count"] = np.int64(3)
    options = make_recipe(Settings(), content, styles, extra)["options"]
    assert options == {
        "output": str(content.parent / "out.png"),
        "blend": [0.25, 0.75],
        "mask": None,
        "count": 3,
    }
    assert type(options["count"]) is int


# --- the round trip through a PNG -----------------------------------------------------------------
def test_round_trip_through_a_real_png(inputs, settings, tmp_path):
    content, styles = inputs
    recipe = make_recipe(settings, content, styles, extra={"note": "café ✓"})
    out = save_image(gradient_image(8, 8), tmp_path / "out" / "result.png", recipe_pnginfo(recipe))
    again = read_recipe(out)
    assert again == recipe
    assert settings_from_recipe(again) == settings
    assert isinstance(settings_from_recipe(again).content_layers, tuple)


@pytest.mark.parametrize(
    "settings",
    [Settings(), Settings.preset("fast"), Settings.preset("tutorial", init="noise", seed=4)],
)
def test_settings_come_back_equal(inputs, settings):
    content, styles = inputs
    assert settings_from_recipe(make_recipe(settings, content, styles)) == settings


def test_recipe_pnginfo_is_the_json_text():
    info = recipe_pnginfo({"a": [1, 2], "b": "x"})
    assert list(info) == [RECIPE_KEY] == ["nst_recipe"]
    assert json.loads(info[RECIPE_KEY]) == {"a": [1, 2], "b": "x"}


def test_settings_missing_from_an_old_recipe_take_defaults():
    settings = settings_from_recipe({"settings": {"steps": 12, "style_layers": ["block1_conv1"]}})
    assert settings == Settings(steps=12, style_layers=("block1_conv1",))


# --- input checks ---------------------------------------------------------------------------------
def test_unchanged_inputs_have_no_problems(inputs):
    content, styles = inputs
    assert check_inputs(make_recipe(Settings(), content, styles)) == []


def test_changed_and_missing_inputs_are_named(inputs):
    content, styles = inputs
    recipe = make_recipe(Settings(), content, styles)
    gradient_image(36, 36, seed=9).save(styles[0])  # same name and size, other pixels
    content.unlink()
    problems = check_inputs(recipe)
    assert len(problems) == 2
    assert problems[0] == f"content image 'content.png' is missing: expected at '{content}'."
    assert problems[1] == (
        f"style image 1 'style.png' has changed since the recipe was made: '{styles[0]}' does not "
        f"have the sha256 the recipe records ({recipe['inputs']['styles'][0]['sha256'][:12]}...)."
    )
    # the changed file's own digest is never shown (a recipe must not reveal a file's hash)
    assert hashlib.sha256(styles[0].read_bytes()).hexdigest()[:12] not in problems[1]


def test_a_recorded_mask_is_located_and_checked(inputs, tmp_path):
    from nst_helpers.runs.recipe import describe_input

    content, styles = inputs
    mask = tmp_path / "in" / "mask.png"
    Image.new("L", (40, 30), 255).save(mask)
    recipe = make_recipe(Settings(), content, styles, {"mask": describe_input(mask, "mask")})
    assert input_paths(recipe)["mask"] == mask
    assert input_paths(make_recipe(Settings(), content, styles))["mask"] is None
    assert check_inputs(recipe) == []
    Image.new("L", (40, 30), 0).save(mask)  # repainted since
    (problem,) = check_inputs(recipe)
    assert problem.startswith(f"mask 'mask.png' has changed since the recipe was made: '{mask}'")


def test_an_input_replaced_by_a_folder_is_reported(inputs):
    content, styles = inputs
    recipe = make_recipe(Settings(), content, styles)
    styles[1].unlink()
    styles[1].mkdir()
    assert check_inputs(recipe) == [
        f"style image 2 'style2.jpg' is not a file any more: '{styles[1]}'."
    ]


def test_base_dir_finds_moved_inputs_by_their_relative_paths(inputs, tmp_path, monkeypatch):
    content, styles = inputs
    monkeypatch.chdir(tmp_path)
    recipe = make_recipe(Settings(), "in/content.png", ["in/style.png"])
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "in", moved / "in")
    shutil.rmtree(tmp_path / "in")
    assert len(check_inputs(recipe)) == 2  # the recorded absolute paths are gone
    assert check_inputs(recipe, base_dir=moved) == []
    paths = input_paths(recipe, base_dir=moved)
    assert paths == {
        "content": moved / "in/content.png",
        "styles": [moved / "in/style.png"],
        "mask": None,
    }


# --- errors ---------------------------------------------------------------------------------------
def test_missing_folder_and_non_image_inputs_are_refused(inputs, tmp_path):
    content, styles = inputs
    with pytest.raises(NSTError, match="content image not found: '.*nope.png'. Check the path"):
        make_recipe(Settings(), tmp_path / "nope.png", styles)
    with pytest.raises(NSTError, match="style image 2 '.*' is a folder, not an image file"):
        make_recipe(Settings(), content, [styles[0], tmp_path])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(NSTError, match="style image 1 '.*notes.txt' is not an image Pillow can"):
        make_recipe(Settings(), content, [text])


def test_images_in_memory_are_recorded_by_a_hash_of_their_pixels(inputs):
    image = gradient_image(4, 4)
    recipe = make_recipe(Settings(), image, inputs[1])
    entry = recipe["inputs"]["content"]
    assert entry["source"] == "memory" and entry["size"] == [4, 4]
    expected = hashlib.sha256(b"RGB 4x4\n" + image.tobytes()).hexdigest()
    assert entry["sha256"] == expected
    other = image.copy()
    other.putpixel((0, 0), (0, 0, 0))
    assert make_recipe(Settings(), other, inputs[1])["inputs"]["content"]["sha256"] != expected
    # It round-trips through a PNG, and a rerun says why it can't find the input.
    problems = check_inputs(json.loads(json.dumps(recipe)))
    assert problems == [
        f"the content image was an image held in memory, not a file (sha256 of its pixels "
        f"{expected[:12]}...): save it to a file and run nst on that file."
    ]
    assert input_paths(recipe)["content"] is None


def test_inputs_that_are_neither_files_nor_images_are_refused(inputs):
    with pytest.raises(NSTError, match="the content image must be one of those, got ndarray"):
        make_recipe(Settings(), np.zeros((4, 4, 3)), inputs[1])


def test_no_style_is_refused(inputs):
    with pytest.raises(NSTError, match="a recipe needs at least one style image path; got none"):
        make_recipe(Settings(), inputs[0], [])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"callback": print}, r"can't store extra\['callback'\] = .*builtin_function_or_method"),
        ({"ratio": float("nan")}, r"can't store extra\['ratio'\] = nan .*JSON has no NaN"),
    ],
)
def test_extras_json_cannot_store_are_refused(inputs, extra, message):
    with pytest.raises(NSTError, match=message):
        make_recipe(Settings(), inputs[0], inputs[1], extra)


def test_recipe_pnginfo_refuses_non_json():
    with pytest.raises(NSTError, match="the recipe can't be written as JSON .*make_recipe"):
        recipe_pnginfo({"settings": object()})


def test_png_without_recipe(tmp_path):
    path = save_image(gradient_image(4, 4), tmp_path / "x.png")
    with pytest.raises(NSTError) as err:
        read_recipe(path)
    assert str(err.value) == f"'{path}' {NO_RECIPE}."


def test_other_files_have_no_recipe(tmp_path):
    jpeg = save_image(gradient_image(4, 4), tmp_path / "x.jpg")
    with pytest.raises(NSTError, match=f"'.*x.jpg' is not a PNG, so it {NO_RECIPE}"):
        read_recipe(jpeg)
    text = tmp_path / "x.png"
    text.write_text("hello")
    with pytest.raises(NSTError, match=f"'.*x.png' is not a PNG, so it {NO_RECIPE}"):
        read_recipe(text)
    with pytest.raises(NSTError, match="image not found: '.*gone.png'"):
        read_recipe(tmp_path / "gone.png")


def test_damaged_recipe_and_truncated_png(tmp_path):
    bad = save_image(gradient_image(4, 4), tmp_path / "bad.png", {RECIPE_KEY: "{not json"})
    with pytest.raises(NSTError, match="the nst recipe in '.*bad.png' is damaged"):
        read_recipe(bad)
    listed = save_image(gradient_image(4, 4), tmp_path / "list.png", {RECIPE_KEY: "[1, 2]"})
    with pytest.raises(NSTError, match="is damaged \\(not a JSON object\\)"):
        read_recipe(listed)
    plain = save_image(gradient_image(64, 64), tmp_path / "plain.png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(plain.read_bytes()[:200])
    with pytest.raises(NSTError, match="'.*cut.png' could not be read: the PNG is truncated"):
        read_recipe(cut)


def test_truncated_png_keeps_its_recipe(tmp_path, inputs):
    recipe = make_recipe(Settings(), *inputs)
    out = save_image(gradient_image(64, 64), tmp_path / "r.png", recipe_pnginfo(recipe))
    cut = tmp_path / "cut.png"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])  # text is before the pixels
    assert read_recipe(cut) == recipe


@pytest.mark.parametrize("recipe", [{}, {"inputs": {"content": {}}}, {"inputs": "x"}])
def test_recipe_without_inputs(recipe):
    with pytest.raises(NSTError, match="the recipe has no valid 'inputs'"):
        check_inputs(recipe)
    with pytest.raises(NSTError, match="the recipe has no valid 'inputs'"):
        input_paths(recipe)


@pytest.mark.parametrize("recipe", [{}, {"settings": [1]}, []])
def test_recipe_without_settings(recipe):
    with pytest.raises(NSTError, match="the recipe has no 'settings' section"):
        settings_from_recipe(recipe)


def test_unknown_settings_name_the_version_to_upgrade():
    recipe = {"library": {"version": "9.9"}, "settings": {"steps": 3, "zeta": 1, "alpha": 2}}
    with pytest.raises(
        NSTError,
        match=r"does not know: alpha, zeta \(it was made with nst_helpers 9.9\). Upgrade",
    ):
        settings_from_recipe(recipe)


def test_invalid_settings_are_checked_as_usual():
    with pytest.raises(NSTError, match="steps must be a positive whole number, got -1"):
        settings_from_recipe({"settings": {"steps": -1}})
