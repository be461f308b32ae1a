"""Folder runs: every image into the output folder, resuming by recipe, bad files reported."""

from __future__ import annotations

import pytest

from conftest import gradient_image
from nst_helpers.errors import NSTError
from nst_helpers.folder import folder_images, stylize_folder
from nst_helpers.runs.recipe import read_recipe


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    gradient_image(40, 30, seed=0).save(folder / "a.png")
    gradient_image(30, 40, seed=2).save(folder / "b.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("not an image, not a photo: ignored")
    style = tmp_path / "style.png"
    gradient_image(36, 36, seed=1).save(style)
    return folder, style


def run(photos, tmp_path, settings, extractor, **kwargs):
    folder, style = photos
    lines = []
    summary = stylize_folder(folder, style, tmp_path / "out", settings, extractor=extractor,
                             report=lines.append, **kwargs)  # fmt: skip
    return summary, lines


def test_folder_run_writes_every_image_and_reports_a_bad_file(
    photos, tmp_path, tiny_settings, tiny_extractor
):
    summary, lines = run(photos, tmp_path, tiny_settings, tiny_extractor)
    out = tmp_path / "out"
    assert summary.done == [out / "a.png", out / "b.png"]
    assert [p.name for p, _ in summary.failed] == ["broken.jpg"]
    assert "not an image" in summary.failed[0][1]
    bad = [line for line in lines if "broken.jpg" in line]
    assert len(bad) == 1 and bad[0].startswith("failed ") and "\n" not in bad[0]
    assert summary.line().startswith("2 done, 0 skipped, 1 failed")
    recipe = read_recipe(out / "b.png")
    assert recipe["inputs"]["content"]["name"] == "b.jpg" and recipe["settings"]["steps"] == 8


def test_folder_run_resumes_and_skips_what_is_done(photos, tmp_path, tiny_settings, tiny_extractor):
    run(photos, tmp_path, tiny_settings, tiny_extractor)
    out = tmp_path / "out"
    written = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again, _ = run(photos, tmp_path, tiny_settings, tiny_extractor)
    assert again.done == [] and [p.name for p in again.skipped] == ["a.png", "b.jpg"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == written  # untouched
    # A changed input, or changed settings, no longer match the recipe: done again.
    gradient_image(40, 30, seed=5).save(photos[0] / "a.png")
    changed, _ = run(photos, tmp_path, tiny_settings, tiny_extractor)
    assert changed.done == [out / "a.png"] and [p.name for p in changed.skipped] == ["b.jpg"]
    other, _ = run(photos, tmp_path, tiny_settings.replace(steps=4), tiny_extractor)
    assert len(other.done) == 2


def test_an_interrupted_folder_run_keeps_the_image_marked_and_the_next_run_redoes_it(
    photos, tmp_path, tiny_settings, tiny_extractor
):
    def interrupt(event):
        if event.step == 3:
            raise KeyboardInterrupt

    stopped, lines = run(photos, tmp_path, tiny_settings, tiny_extractor, callbacks=[interrupt])
    kept = tmp_path / "out" / "a.png"
    assert stopped.interrupted and stopped.done == [] and "interrupted" in stopped.line()
    assert read_recipe(kept)["stopped"] == "interrupted"  # the best of its 3 steps, marked
    assert [line for line in lines if line.startswith("interrupted ")] == [
        f"interrupted {photos[0] / 'a.png'}: its best image so far is in {kept}; run again to "
        "finish it"
    ]
    assert not (tmp_path / "out" / "b.png").exists()  # never started
    resumed, _ = run(photos, tmp_path, tiny_settings, tiny_extractor)
    assert len(resumed.done) == 2 and not resumed.interrupted and resumed.skipped == []
    assert "stopped" not in read_recipe(kept)


def test_an_interrupted_image_never_replaces_an_earlier_finished_output(
    photos, tmp_path, tiny_settings, tiny_extractor
):
    run(photos, tmp_path, tiny_settings.replace(steps=4), tiny_extractor)  # finished, 4 steps
    kept = tmp_path / "out" / "a.png"
    before = kept.read_bytes()

    def interrupt(event):
        if event.step == 3:
            raise KeyboardInterrupt

    stopped, lines = run(photos, tmp_path, tiny_settings, tiny_extractor, callbacks=[interrupt])
    assert stopped.interrupted and kept.read_bytes() == before
    assert (
        f"interrupted {photos[0] / 'a.png'}: not saved, {kept} holds an earlier result; run "
        "again" in lines
    )


def test_the_rerun_of_an_interrupted_image_runs_to_the_end_and_drops_the_mark(
    photos, tmp_path, tiny_settings, tiny_extractor
):
    from nst_helpers.cli.command import main

    def interrupt(event):
        if event.step == 3:
            raise KeyboardInterrupt

    run(photos, tmp_path, tiny_settings, tiny_extractor, callbacks=[interrupt])
    kept, again = tmp_path / "out" / "a.png", tmp_path / "again.png"
    assert main(["--rerun", str(kept), "-o", str(again), "--quiet", "--trust-recipe-paths"]) == 0
    recipe = read_recipe(again)
    assert "stopped" not in recipe and recipe["settings"] == read_recipe(kept)["settings"]


def test_a_folder_without_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NSTError, match="holds no image files"):
        folder_images(tmp_path)
    with pytest.raises(NSTError, match="is not a folder"):
        folder_images(tmp_path / "notes.txt")


TINY_CLI = ["--arch", "vgg16", "--weights", "none", "--max-dim", "32", "--steps", "2",
            "--content-layers", "block3_conv1", "--style-layers",
            "block1_conv1,block2_conv1"]  # fmt: skip


def test_cli_folder_run_summarizes_and_resumes(photos, tmp_path, capsys):
    from nst_helpers.cli.command import main

    folder, style = photos
    out = tmp_path / "out"
    assert main([str(folder), str(style), "-o", str(out), *TINY_CLI]) == 1  # one file failed
    stdout, stderr = capsys.readouterr()
    assert stdout.startswith(f"{out}: 2 done, 0 skipped, 1 failed in ")
    assert sum("broken.jpg" in line for line in stderr.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert main([str(folder), str(style), "-o", str(out), "-q", *TINY_CLI]) == 1
    assert "0 done, 2 skipped, 1 failed" in capsys.readouterr().out


def test_cli_folder_run_needs_an_output_folder(photos, capsys):
    from nst_helpers.cli.command import main

    folder, style = photos
    assert main([str(folder), str(style), *TINY_CLI]) == 1
    assert "-o must name an output folder" in capsys.readouterr().err


def test_without_ray_installed_the_message_says_how_to_install_it(monkeypatch):
    import sys

    from nst_helpers.scale.distributed import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(NSTError, match=r'pip install "nst-helpers\[ray\]", or run without --ray'):
        connect("auto")


def test_a_folder_run_never_overwrites_an_input(tmp_path, tiny_settings, tiny_extractor):
    folder = tmp_path / "photos"
    folder.mkdir()
    gradient_image(40, 30, seed=0).save(folder / "a.jpg")  # its output a.png is the next input
    gradient_image(40, 30, seed=3).save(folder / "a.png")  # its output is itself
    gradient_image(30, 40, seed=2).save(folder / "b.jpg")
    style = folder / "c.png"  # the style lives in the folder too: c.png's output is the style
    gradient_image(36, 36, seed=1).save(style)
    before = {path: path.read_bytes() for path in folder.iterdir()}
    lines = []
    summary = stylize_folder(folder, style, folder, tiny_settings, extractor=tiny_extractor,
                             report=lines.append)  # fmt: skip
    assert summary.done == [folder / "b.png"]
    assert sorted(p.name for p, _ in summary.failed) == ["a.jpg", "a.png", "c.png"]
    assert all("would overwrite an input" in why for _, why in summary.failed)
    for path, data in before.items():
        assert path.read_bytes() == data  # every input unchanged


def test_two_photos_with_one_name_do_not_share_an_output(tmp_path, tiny_settings, tiny_extractor):
    folder = tmp_path / "photos"
    folder.mkdir()
    gradient_image(40, 30, seed=0).save(folder / "a.jpg")
    gradient_image(40, 30, seed=3).save(folder / "a.webp")
    style = tmp_path / "style.png"
    gradient_image(36, 36, seed=1).save(style)
    summary = stylize_folder(folder, style, tmp_path / "out", tiny_settings,
                             extractor=tiny_extractor, report=lambda line: None)  # fmt: skip
    assert summary.done == [tmp_path / "out" / "a.png"]
    ((failed, why),) = summary.failed
    assert failed.name == "a.webp" and "would overwrite another photo's output" in why
