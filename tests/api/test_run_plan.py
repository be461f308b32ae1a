"""A run planned once (`api.plan_run`): inputs decoded once, the plan's sizes, memory and tiles,
and the CLI handing one plan to `stylize`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from conftest import gradient_image
from hostile import TINY, nst
from nst_helpers.api import plan_run, stylize
from nst_helpers.errors import NSTError
from nst_helpers.files.images import Loaded, load
from nst_helpers.runs.memory import estimate_memory
from nst_helpers.runs.settings import Settings


@pytest.fixture
def decodes(monkeypatch):
    """Counts, per file, the Pillow images opened from it whose pixels were loaded."""
    counts: dict[str, int] = {}
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        img = real_open(fp, *args, **kwargs)
        name = fp if isinstance(fp, (str, os.PathLike)) else getattr(fp, "name", "")
        name = os.path.realpath(name)
        load_pixels, done = img.load, []

        def counted_load(*a, **k):
            if not done:
                done.append(True)
                counts[name] = counts.get(name, 0) + 1
            return load_pixels(*a, **k)

        img.load = counted_load
        return img

    monkeypatch.setattr(Image, "open", counting_open)
    return lambda path: counts.get(os.path.realpath(path), 0)


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path, Path]:
    content, style, mask = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "m.png"
    gradient_image(48, 36).save(content)
    gradient_image(40, 40, seed=1).save(style)
    Image.new("L", (48, 36), 255).save(mask)
    return content, style, mask


def test_the_decode_counter_counts_pixels_not_headers(files, decodes):
    with Image.open(files[0]) as img:
        assert img.size == (48, 36)  # the header only
    assert decodes(files[0]) == 0
    load(files[0], "content")
    assert decodes(files[0]) == 1


@pytest.mark.parametrize(
    "extra",
    [[], ["--save-every", "1"], ["--gif", "{tmp}/a.gif"], ["--sweep", "style-weight=1,10"]],
    ids=["plain", "save-every", "gif", "sweep"],
)
def test_a_cli_run_decodes_each_input_once(files, decodes, capsys, tmp_path, extra):
    content, style, mask = files
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    code, _, err = nst(capsys, content, style, "--mask", mask, "-o", tmp_path / "o.png",
                       *TINY, *extra)  # fmt: skip
    assert code == 0, err
    assert (decodes(content), decodes(style), decodes(mask)) == (1, 1, 1)


def test_a_tiled_cli_run_decodes_the_content_once(files, decodes, capsys, tmp_path):
    content, style, _ = files
    layers = ["--arch", "vgg16", "--content-layers", "block3_conv1",
              "--style-layers", "block1_conv1,block2_conv1"]  # fmt: skip
    settings = Settings(arch="vgg16", content_layers=("block3_conv1",),
                        style_layers=("block1_conv1", "block2_conv1"))  # fmt: skip
    # a 48 px tile fits, 96 px won't, for the settings the CLI runs (the tutorial preset's)
    limit = estimate_memory(settings, 48, 48) / 2**30 + 1e-3
    args = ["--weights", "none", "--steps", "1", "--max-dim", "96", "--tile-size", "48",
            "--tile-overlap", "16", "--tile-steps", "1", "--memory-limit", f"{limit:.6f}",
            "--save-every", "1", "-q", "--preset", "tutorial", *layers]  # fmt: skip
    code, _, err = nst(capsys, content, style, "-o", tmp_path / "o.png", *args)
    assert code == 0, err
    assert len(list(tmp_path.glob("o_0*.png"))) > 1, "the tiled run's snapshots"
    assert decodes(content) == 1


def test_the_plan_holds_the_run_worked_out_once(files):
    settings = Settings(max_dim=40, memory_limit=None)
    plan = plan_run(files[0], [files[1]], settings, mask=files[2], has_gpu=False)
    assert plan.content.path == files[0] and plan.content.image.size == (48, 36)
    assert plan.size == (40, 30) and plan.levels == settings.levels()
    assert plan.memory == estimate_memory(settings, 40, 30, style_sizes=[(40, 40)])
    assert plan.tiles is None and plan.steps == settings.max_steps()
    assert plan.describe().startswith("40x30 px, VGG19")
    again = plan_run(plan.content, plan.styles, settings, has_gpu=False)
    assert again.content is plan.content  # a Loaded input is not decoded again


def test_a_plan_too_large_for_the_limit_is_tiled(files):
    settings = Settings(max_dim=1024, tile_size=256, memory_limit=1.5, arch="vgg16")
    plan = plan_run(files[0], files[1], settings)
    assert plan.tiles is not None and plan.steps == sum(plan.tiles.steps)
    assert plan.describe() == plan.tiles.describe()


def test_a_plan_needs_a_style():
    with pytest.raises(NSTError, match="no style image given: pass at least one"):
        plan_run(gradient_image(), [], Settings())


def test_stylize_follows_the_plan_it_is_given(tiny_extractor, tiny_settings, files, decodes):
    plan = plan_run(files[0], files[1], tiny_settings, has_gpu=False)
    assert decodes(files[0]) == 1
    result = stylize(plan.content, plan.styles, tiny_settings, extractor=tiny_extractor,
                     plan=plan)  # fmt: skip
    assert decodes(files[0]) == 1
    assert result.best_image.size == plan.size
    assert result.recipe["inputs"]["content"]["name"] == "c.png"  # the file, not "in memory"


def test_a_loaded_image_in_memory_is_recorded_as_one(tiny_extractor, tiny_settings):
    loaded = load(gradient_image(), "content")
    assert isinstance(loaded, Loaded) and loaded.path is None
    result = stylize(loaded, gradient_image(seed=2), tiny_settings, extractor=tiny_extractor)
    assert result.recipe["inputs"]["content"]["source"] == "memory"
