"""A shared PNG's recipe (issue 14, item 7): `nst --rerun` reads only files in the PNG's folder
unless told to trust it, never shows a file's digest, prints names with escapes, and writes only
where the user says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from conftest import CONTENT, STYLE
from hostile import nst, one_line, png_copy


def _shared_recipe(tmp_path, content_path: Path, name: str | None = None) -> Path:
    from nst_helpers.files.images import save_image
    from nst_helpers.runs.recipe import make_recipe, recipe_pnginfo
    from nst_helpers.runs.settings import Settings

    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    style = png_copy(STYLE, shared / "style.png")
    photo = png_copy(CONTENT, tmp_path / "photo.png")
    recipe = make_recipe(Settings(weights=None, max_dim=32, steps=1), photo, [style],
                         {"output": str(tmp_path / "evil.png")})  # fmt: skip
    entry = recipe["inputs"]["content"]
    entry["name"] = name or content_path.name
    entry["path"] = entry["absolute"] = os.fspath(content_path)
    result = shared / "r.png"
    save_image(Image.new("RGB", (32, 21)), result, pnginfo=recipe_pnginfo(recipe))
    return result


def test_a_shared_recipe_reads_nothing_outside_its_folder(tmp_path, capsys, monkeypatch):
    import nst_helpers.runs.rerun

    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    digests = []
    real_sha = nst_helpers.runs.rerun.file_sha256
    monkeypatch.setattr(
        nst_helpers.runs.rerun, "file_sha256", lambda p: digests.append(p) or real_sha(p)
    )
    escape = tmp_path / "\x1b]0;owned\x07\x1b[2J.png"
    for target in (secret, escape):
        result = _shared_recipe(tmp_path, target, name=target.name)
        code, out, err = nst(capsys, "--rerun", result, "-q")
        assert code == 1 and out == ""
        one_line(err, "names files outside its folder", "--trust-recipe-paths")
        assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;owned\\x07\\x1b[2J.png" in err
    assert secret not in digests  # never read, never hashed
    (tmp_path / "shared" / "secret.txt").symlink_to(secret)  # a link inside pointing out
    code, _, err = nst(capsys, "--rerun", _shared_recipe(tmp_path, secret), "-q")
    one_line(err, "names files outside its folder")
    assert secret not in digests and not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize("key", ["weights_file", "weights"])  # the field, and its older name
def test_a_shared_recipe_names_no_weights_file_outside_its_folder(tmp_path, capsys, key):
    from nst_helpers.files.images import save_image
    from nst_helpers.runs.recipe import read_recipe, recipe_pnginfo

    result = _shared_recipe(tmp_path, tmp_path / "shared" / "style.png")
    recipe = read_recipe(result)
    recipe["settings"][key] = str(tmp_path / "secret.h5")
    save_image(Image.new("RGB", (8, 8)), result, pnginfo=recipe_pnginfo(recipe))
    code, _, err = nst(capsys, "--rerun", result)
    assert code == 1
    one_line(err, f"names files outside its folder ('{tmp_path / 'secret.h5'}')")


def test_a_trusted_recipe_shows_no_digest_of_a_changed_file(tmp_path, capsys):
    import hashlib

    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    code, _, err = nst(capsys, "--rerun", _shared_recipe(tmp_path, secret), "--trust-recipe-paths")
    one_line(err, "content image 'secret.txt' has changed since the recipe was made")
    assert hashlib.sha256(b"password").hexdigest()[:8] not in err


def test_inputs_beside_a_shared_png_are_found_and_nothing_is_written_elsewhere(tmp_path, capsys):
    result = _shared_recipe(tmp_path, tmp_path / "photo.png")
    (tmp_path / "shared" / "photo.png").write_bytes((tmp_path / "photo.png").read_bytes())
    (tmp_path / "photo.png").unlink()  # only the copy beside r.png is left
    code, out, err = nst(capsys, "--rerun", result, "-q")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [
        "photo.png", "r.png", "r_rerun.png", "style.png"
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared"]  # no evil.png
