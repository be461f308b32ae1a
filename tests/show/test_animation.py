"""The GIF recorder fed with synthetic events, one real tiny run, and contact sheets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst_helpers.errors import NSTError
from nst_helpers.runs.run import Event
from nst_helpers.show.animation import GifRecorder, contact_sheet

LOSSES = {"content": 1.0, "style": 2.0, "tv": 0.1, "total": 3.1}


def flat(height: int, width: int, value: float) -> np.ndarray:
    """An (H, W, 3) float32 image in [0, 1]: gray `value` with a white corner (frames differ)."""
    image = np.full((height, width, 3), value, dtype=np.float32)
    image[: height // 4, : width // 4] = 1.0
    return image


def event(step: int, steps: int, image: np.ndarray | None = None, level: int = 0) -> Event:
    return Event(step, steps, dict(LOSSES), elapsed=0.01 * step, image=image, level=level)


def feed(recorder: GifRecorder, steps: int, preview_every: int, size=(30, 40)) -> None:
    """Events as the loop sends them: an image every `preview_every` steps and at the last."""
    for step in range(1, steps + 1):
        due = step % preview_every == 0 or step == steps
        recorder(event(step, steps, flat(*size, step / steps) if due else None))


def read_gif(path) -> tuple[dict, list[int], list[Image.Image]]:
    """({format, n_frames, size, loop}, each frame's duration, each frame as RGB)."""
    with Image.open(path) as gif:
        facts = {"format": gif.format, "n_frames": gif.n_frames, "size": gif.size}
        facts["loop"] = gif.info.get("loop")
        durations, frames = [], []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
            frames.append(gif.convert("RGB"))
    return facts, durations, frames


# --- collecting frames ----------------------------------------------------------------------------
def test_frames_come_from_events_with_images():
    recorder = GifRecorder()
    feed(recorder, steps=10, preview_every=3)
    assert len(recorder) == 4  # steps 3, 6, 9 and the last
    assert all(frame.size == (40, 30) and frame.mode == "RGB" for frame in recorder.frames)


def test_every_thins_the_frames_and_keeps_the_last():
    recorder = GifRecorder(every=4)
    feed(recorder, steps=10, preview_every=2)
    kept = [round(np.asarray(f)[-1, -1, 0] / 255 * 10) for f in recorder.frames]
    assert kept == [4, 8, 10]  # the frame's gray level encodes its step


def test_frames_are_scaled_down_never_up():
    recorder = GifRecorder(max_side=24)
    recorder(event(1, 2, flat(60, 90, 0.3)))
    recorder(event(2, 2, flat(10, 12, 0.6)))
    assert [f.size for f in recorder.frames] == [(24, 16), (12, 10)]


def test_frames_property_is_a_copy():
    recorder = GifRecorder()
    recorder.add_frame(Image.new("RGB", (4, 4)))
    recorder.frames.clear()
    assert len(recorder) == 1


def test_add_frame_takes_images_and_arrays():
    recorder = GifRecorder()
    recorder.add_frame(Image.new("RGBA", (5, 4), (10, 20, 30, 255)))
    recorder.add_frame(flat(4, 5, 0.5)[np.newaxis])  # (1, H, W, 3)
    assert [f.mode for f in recorder.frames] == ["RGB", "RGB"]
    assert recorder.frames[0].getpixel((4, 3)) == (10, 20, 30)


# --- saving the GIF -------------------------------------------------------------------------------
def test_gif_has_the_frames_size_loop_and_durations(tmp_path):
    recorder = GifRecorder(max_side=32)
    feed(recorder, steps=9, preview_every=2, size=(48, 64))
    path = recorder.save(tmp_path / "new" / "folder" / "paint.gif")
    assert path == tmp_path / "new" / "folder" / "paint.gif"
    gif, durations, frames = read_gif(path)
    assert gif["format"] == "GIF" and gif["n_frames"] == len(recorder) == 5
    assert gif["size"] == (32, 24) and max(gif["size"]) <= 32
    assert gif["loop"] == 0  # forever
    assert durations == [80, 80, 80, 80, 1000]
    for frame, want in zip(frames, recorder.frames, strict=True):
        np.testing.assert_allclose(np.asarray(frame), np.asarray(want), atol=8)  # 256 colors
    assert sorted(p.name for p in path.parent.iterdir()) == ["paint.gif"]  # no temp file left


def test_durations_can_be_chosen(tmp_path):
    recorder = GifRecorder()
    feed(recorder, steps=3, preview_every=1)
    _, durations, _ = read_gif(recorder.save(tmp_path / "a.gif", duration_ms=50, final_hold_ms=0))
    assert durations == [50, 50, 50]  # a hold shorter than a frame is a frame
    _, durations, _ = read_gif(recorder.save(tmp_path / "a.gif", 120, final_hold_ms=2000))
    assert durations == [120, 120, 2000]  # and the file is replaced


def test_coarse_to_fine_frames_are_resized_to_the_last(tmp_path):
    recorder = GifRecorder()
    recorder(event(2, 6, flat(12, 16, 0.2), level=0))
    recorder(event(4, 6, flat(24, 32, 0.5), level=1))
    recorder(event(6, 6, flat(36, 48, 0.8), level=2))
    gif, _, frames = read_gif(recorder.save(tmp_path / "levels.GIF"))
    assert gif["n_frames"] == 3 and all(f.size == (48, 36) for f in frames)
    grays = [np.asarray(f)[-1, -1, 0] for f in frames]  # away from the white corner
    assert grays == pytest.approx([51, 128, 204], abs=2)


def test_a_real_run_records_its_previews(small_pair, tiny_extractor, tiny_settings, tmp_path):
    from nst_helpers.api import stylize

    recorder = GifRecorder(every=2)
    settings = tiny_settings.replace(steps=5, preview_every=2)
    result = stylize(*small_pair, settings, extractor=tiny_extractor, callbacks=[recorder])
    assert len(recorder) == 3  # steps 2, 4 and the last, 5
    assert recorder.frames[-1].size == result.image.size
    assert read_gif(recorder.save(tmp_path / "run.gif"))[0]["n_frames"] == 3


# --- errors ---------------------------------------------------------------------------------------
def test_only_gif_files(tmp_path):
    recorder = GifRecorder()
    recorder.add_frame(flat(4, 4, 0.5))
    with pytest.raises(
        NSTError, match="can't write an animation to '.*a.png': use .* ending in .gif"
    ):
        recorder.save(tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_save(tmp_path):
    recorder = GifRecorder()
    for step in (1, 2, 3):
        recorder(event(step, 3))  # events without images (e.g. a run stopped by its time budget)
    with pytest.raises(
        NSTError, match=r"no frames to save: .*callbacks=\[recorder\].*preview_every"
    ):
        recorder.save(tmp_path / "a.gif")


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        (
            (10, 1000),
            r"duration_ms must be a whole number of milliseconds >= 20, got 10 \(browsers",
        ),
        ((80.5, 1000), "duration_ms must be a whole number of milliseconds >= 20, got 80.5"),
        ((80, -1), r"final_hold_ms must be a whole number of milliseconds >= 0, got -1\.$"),
        ((80, True), "final_hold_ms must be a whole number of milliseconds >= 0, got True"),
    ],
)
def test_bad_durations(tmp_path, durations, message):
    recorder = GifRecorder()
    recorder.add_frame(flat(4, 4, 0.5))
    with pytest.raises(NSTError, match=message):
        recorder.save(tmp_path / "a.gif", *durations)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"every": 0}, "every must be a positive whole number of steps, got 0"),
        ({"every": 2.5}, "every must be a positive whole number of steps, got 2.5"),
        ({"max_side": -3}, "max_side must be a positive whole number of pixels, got -3"),
    ],
)
def test_bad_recorder_options(options, message):
    with pytest.raises(NSTError, match=message):
        GifRecorder(**options)


def test_unwritable_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    recorder = GifRecorder()
    recorder.add_frame(flat(4, 4, 0.5))
    with pytest.raises(NSTError, match="part of that path is a file"):
        recorder.save(tmp_path / "file" / "a.gif")


# --- contact sheets -------------------------------------------------------------------------------
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]


def squares(count: int, side: int = 40) -> list[Image.Image]:
    return [Image.new("RGB", (side, side), color) for color in COLORS[:count]]


def cell_height(sheet: Image.Image, rows: int) -> int:
    assert sheet.height % rows == 0
    return sheet.height // rows


def test_sheet_size_and_each_tile_holds_its_image():
    sheet = contact_sheet(squares(5), [f"style_weight={w}" for w in range(5)], tile=64)
    assert sheet.mode == "RGB" and sheet.width == 3 * 64  # ceil(sqrt(5)) columns
    cell = cell_height(sheet, rows=2)
    assert cell > 64  # room for the labels
    pixels = np.asarray(sheet).astype(int)
    for index, color in enumerate(COLORS):
        left, top = (index % 3) * 64, (index // 3) * cell
        thumb = pixels[top + 4 : top + 60, left + 4 : left + 60]  # 56 px square, 4 px margin
        assert np.abs(thumb - color).max() <= 1
        band = pixels[top + 64 : top + cell, left : left + 64]
        assert band.min() < 128  # the label is drawn
    assert np.all(pixels[cell:, 2 * 64 :] == 255)  # the sixth cell is empty


def test_labels_stay_in_their_cell_and_empty_labels_draw_nothing():
    sheet = contact_sheet(squares(2), ["x" * 300, ""], tile=64)
    pixels = np.asarray(sheet)
    assert pixels[64:, :64].min() < 128  # the long label, cut short
    assert np.all(pixels[64:, 64:] == 255)  # nothing spills into the next cell's band


def test_non_square_images_keep_their_aspect_and_their_label_follows():
    wide = Image.new("RGB", (80, 20), (0, 0, 0))
    pixels = np.asarray(contact_sheet([wide], ["w"], tile=64))
    dark_rows = np.flatnonzero(pixels[:, 32, 0] < 128)
    dark_cols = np.flatnonzero(pixels[10, :64, 0] < 128)
    assert (dark_cols[0], dark_cols[-1]) == (4, 59)  # 56 px wide
    assert (dark_rows[0], dark_rows[-1]) == (4, 17)  # 14 px high: 56 x 14 keeps 80 x 20's 4:1
    label = np.flatnonzero(pixels[22:, :, 0].min(axis=1) < 128)  # rows below the image's cell
    assert label.size and label[0] < 12, "the label starts just below the image"


def test_cells_fit_the_tallest_image_of_the_sheet():
    wide, tall = Image.new("RGB", (60, 30)), Image.new("RGB", (30, 60))
    only_wide = contact_sheet([wide, wide], ["a", "b"], tile=64)
    mixed = contact_sheet([wide, tall], ["a", "b"], tile=64)
    assert mixed.height - only_wide.height == 56 - 28  # the tall one's 56 px against 28 px


def test_columns_rows_and_arrays():
    images = [np.full((8, 8, 3), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)]
    one_column = contact_sheet(images, ["a", "b", "c"], columns=1, tile=32)
    assert one_column.width == 32 and cell_height(one_column, rows=3) > 32
    one_row = contact_sheet(images, ["a", "b", "c"], columns=10, tile=32)
    assert one_row.width == 3 * 32 and one_row.height == cell_height(one_column, rows=3)
    assert np.asarray(one_row)[16, 32 + 16].tolist() == [128, 128, 128]


def test_multi_line_labels_make_a_taller_band():
    one = contact_sheet(squares(1), ["a"], tile=64)
    two = contact_sheet(squares(1), ["a\nb"], tile=64)
    assert two.height > one.height > 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([], []), "contact_sheet needs at least one image; got none"),
        ((squares(2), ["a"]), "got 2 images but 1 labels: give one label per image"),
        ((squares(2), ["a", "b"], 0), "columns must be a positive whole number of cells, got 0"),
        ((squares(1), ["a"], None, 16), "tile must be at least 32 pixels, got 16"),
        ((squares(1), ["a"], None, 0), "tile must be a positive whole number of pixels, got 0"),
    ],
)
def test_contact_sheet_errors(args, message):
    with pytest.raises(NSTError, match=message):
        contact_sheet(*args)
