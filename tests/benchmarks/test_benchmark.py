"""The benchmark scripts run (smoke setting), keep their results as JSON and render the markdown
from it alone, and count FLOPs with the model's own layer walk; no timings asserted. The long
runs' tests: test_long_runs.py."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402
import long_runs  # noqa: E402
import report  # noqa: E402
import speed  # noqa: E402

from nst_helpers.runs.vgg import (  # noqa: E402
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    activation_count,
    conv_flops,
    layer_shapes,
)

MACHINE = {"cpu_cores": 2, "cpu": "x86_64", "python": "3.11.7", "tensorflow": "2.19.1"}


def stamp(date: str = "2026-01-02", minutes: float | None = 1.5) -> dict:
    return {"date": date, "machine": MACHINE, "wall_minutes": minutes}


def table_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The body cells of the markdown table whose first column is headed `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    body = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        body.append([cell.strip() for cell in line.strip()[1:-1].split(" | ")])
    return body


def results_data() -> dict:
    """A small results.json: two modes, three speed rows (one with XLA), the controls."""
    point = {"loss": 2.5, "plain_seconds_to_loss": 12.0, "speedup": 1.8}
    return {
        "about": report.about("bench.py", "RESULTS.md"),
        "setting": "full",
        "time_to_quality": {
            "max_dim_px": 64,
            "network": "vgg16",
            "content": "cat.jpg",
            "style": "swirl.jpg",
            "plain_steps": 30,
            "evaluate_every_steps": 10,
            "checkpoint_fractions": [1 / 15, 1 / 4],
            "target_loss": 1.23456,
            "plain_seconds": 100.04,
            "side_by_side": "benchmarks/side_by_side_full.png",
            "rows": [
                {
                    "mode": "plain",
                    "steps": 30,
                    "seconds_to_target": 100.04,
                    "loss": 1.23456,
                    "speedup": 1.0,
                    "checkpoints": [point, point],
                },
                {
                    "mode": "fast",
                    "steps": 12,
                    "seconds_to_target": 20.0,
                    "loss": 1.2,
                    "speedup": 5.002,
                    "checkpoints": [
                        {"loss": None, "plain_seconds_to_loss": None, "speedup": None},
                        {"loss": 1.1, "plain_seconds_to_loss": None, "speedup": None},
                    ],
                },
            ],  # fmt: skip
            "measured": stamp(),
        },
        "speed": {
            "rows": [
                {
                    "network": "vgg16",
                    "size_px": 256,
                    "precision": "float32",
                    "steps_timed": 5,
                    "seconds_per_step": 0.4444,
                    "gflop_per_step": 75.4,
                    "gflop_per_second": 169.7,
                    "peak_memory_gib": 1.6444,
                },
                {
                    "network": "vgg19",
                    "size_px": 1024,
                    "precision": "bfloat16",
                    "steps_timed": 3,
                    "seconds_per_step": 4.9121,
                    "gflop_per_step": 1515.2,
                    "gflop_per_second": 308.4,
                    "peak_memory_gib": 2.93,
                },
                {
                    "network": "vgg16",
                    "size_px": 256,
                    "precision": "float32",
                    "xla": True,
                    "steps_timed": 5,
                    "seconds_per_step": 0.8888,
                    "gflop_per_step": 75.4,
                    "gflop_per_second": 84.8,
                    "peak_memory_gib": 1.7,
                },
            ],  # fmt: skip
            "measured": stamp(),
        },
        "controls": {
            "size_px": 32,
            "sweep": {
                "parameter": "style_weight",
                "values": [1.0, 10.0],
                "steps": 6,
                "separate_seconds": 9.87,
                "batch_seconds": 4.5,
            },  # fmt: skip
            "ema": [{"decay": 0.95, "steps": 24, "total_loss": 1.23456, "tv_loss": 0.5}],
            "measured": stamp("2026-03-04", None),
        },
    }


# ---------------------------------------------------------------------------------------------
# One layer walk for the memory model and the FLOP count
# ---------------------------------------------------------------------------------------------
def test_flop_count_of_vgg16_at_224_px():
    # VGG16's 13 convolutions at 224 px are 15.35 GMAC (30.7 GFLOP) forward; up to block5_conv1
    # that is 30.7 minus block5_conv2/conv3's 2 x 14*14*512*512*9*2 = 1.85 GFLOP.
    forward = conv_flops("vgg16", ["block5_conv1"], 224, 224) / 1e9
    assert forward == pytest.approx(30.69 - 1.85, rel=0.01)
    # The benchmark's figure for a step is that walk's count, forward and backward.
    assert speed.step_gflop("vgg16", ["block5_conv1"], 224) / 2 == pytest.approx(forward)


def test_conv_flops_by_hand_for_one_and_three_convolutions():
    # One 3x3 convolution, 3 -> 64 channels, at 6x4: 2 FLOPs per multiply-add, k*k*Cin*Cout*H*W.
    assert conv_flops("vgg16", ["block1_conv1"], 6, 4) == 2 * 3 * 3 * 3 * 64 * 6 * 4
    # Up to block2_conv1 at 9x8: conv1_1 and conv1_2 at 9x8, the pool halves to 4x4 (rounding
    # down), then conv2_1 takes 64 -> 128 channels there; the pool itself costs nothing.
    by_hand = 2 * 9 * (3 * 64 * 72 + 64 * 64 * 72 + 64 * 128 * 16)
    assert conv_flops("vgg19", ["block1_conv1", "block2_conv1"], 9, 8) == by_hand


def test_layer_shapes_are_the_walk_behind_activation_count():
    shapes = list(layer_shapes("vgg16", ["block2_conv1"], 11, 7))
    assert shapes == [
        ("block1_conv1", 11, 7, 64),
        ("block1_conv2", 11, 7, 64),
        ("block1_pool", 5, 3, 64),
        ("block2_conv1", 5, 3, 128),
    ]
    # activation_count's known values: its doctest, and every output up to block2_conv1.
    assert activation_count("vgg16", ["block1_conv1"], 10, 10) == 6400
    assert activation_count("vgg16", ["block2_conv1"], 11, 7) == 2 * 77 * 64 + 15 * 64 + 15 * 128
    # VGG19 has four convolutions in blocks 3-5: four more at 14x14 and 7x7... up to block5_conv4.
    vgg16 = activation_count("vgg16", ["block5_conv3"], 224, 224)
    vgg19 = activation_count("vgg19", ["block5_conv4"], 224, 224)
    assert vgg19 - vgg16 == 56 * 56 * 256 + 28 * 28 * 512 + 14 * 14 * 512


# ---------------------------------------------------------------------------------------------
# results.json and RESULTS.md
# ---------------------------------------------------------------------------------------------
def test_results_json_round_trip_renders_the_json_numbers(tmp_path):
    data = results_data()
    report.save(data, tmp_path / "results.json")
    assert report.load(tmp_path / "results.json") == data
    text = report.render_results(report.load(tmp_path / "results.json"))
    assert "Target loss 1.2346, reached by the plain loop in 100 s." in text
    assert "Measured 2026-01-02 on 2 cores (x86_64), Python 3.11.7, TF 2.19.1, in 1.5 min." in text
    quality = table_rows(text, "mode")
    assert quality == [
        ["plain", "30", "100.0", "1.2346", "1.0"],
        ["fast", "12", "20.0", "1.2000", "5.0"],
    ]
    checkpoints = table_rows(text.split("1/15 and 1/4")[1], "mode")  # the second table
    assert checkpoints[0] == ["plain", "2.5000", "12", "1.8", "2.5000", "12", "1.8"]
    # Not evaluated by 1/15; at 1/4 lower than the plain loop ever got: its time is a bound.
    assert checkpoints[1] == ["fast", "not evaluated yet", "", "", "1.1000", "> 100", "> 4.0"]
    speed = table_rows(text, "network")
    assert speed == [  # a row without "xla" (measured before it was recorded) ran without
        ["vgg16", "256", "float32", "off", "0.444", "75", "170", "1.64"],
        ["vgg19", "1024", "bfloat16", "off", "4.912", "1515", "308", "2.93"],
        ["vgg16", "256", "float32", "on", "0.889", "75", "85", "1.70"],
    ]
    assert "against the same step without it: vgg16 256 px float32: 2.0x slower." in text
    assert "median of 5 steps (3 at 1024 px)" in text
    controls = table_rows(text, "measurement")
    assert controls[0] == ["sweep of 2 style weights, 6 steps at 32 px: separate runs", "9.9 s"]
    assert controls[1][1] == "4.5 s (2.19x the speed of separate runs)"
    assert controls[2] == ["Adam, 24 steps at 32 px, ema 0.95: the saved image's",
                           "total loss 1.2346, TV 0.5000"]  # fmt: skip
    assert "Measured 2026-03-04 on 2 cores (x86_64), Python 3.11.7, TF 2.19.1.\n" in text


def test_committed_markdown_is_rendered_from_the_committed_json():
    folder = ROOT / "benchmarks"
    results = report.load(folder / "results.json")
    assert report.render_results(results) == (folder / "RESULTS.md").read_text()
    runs = report.load(folder / "long_runs.json")
    assert report.render_long_runs(runs) == (folder / "LONG_RUNS.md").read_text()
    # Each table cell comes from the JSON: e.g. the target and the first speed row.
    part = results["time_to_quality"]
    assert f"Target loss {part['target_loss']:.4f}" in (folder / "RESULTS.md").read_text()
    first = results["speed"]["rows"][0]
    assert f"| {first['seconds_per_step']:.3f} |" in (folder / "RESULTS.md").read_text()
    # The GFLOP figures are the model's count (one layer walk), not a copy of their own.
    layers = DEFAULT_CONTENT_LAYERS + DEFAULT_STYLE_LAYERS
    for row in results["speed"]["rows"]:
        expected = speed.step_gflop(row["network"], layers, row["size_px"])
        assert row["gflop_per_step"] == pytest.approx(expected)
    # long_runs.json's target is the full benchmark's, as the tables show it.
    assert long_runs.same_target(runs["target"], long_runs.plain_reference(results))


def test_a_partial_run_replaces_only_its_parts():
    old = results_data()
    controls = copy.deepcopy(old["controls"])
    controls["sweep"]["batch_seconds"], controls["measured"] = 3.0, stamp("2026-05-06")
    new = bench.update_results(old, "full", {"controls": controls})
    assert new["controls"] == controls
    assert new["time_to_quality"] == old["time_to_quality"] and new["speed"] == old["speed"]
    text = report.render_results(new)
    assert table_rows(text, "measurement")[1][1].startswith("3.0 s (3.29x")
    assert table_rows(text, "network") == table_rows(report.render_results(old), "network")
    # A first run has only what it measured.
    assert set(bench.update_results(None, "quick", {"speed": old["speed"]})) == {
        "about", "setting", "speed"}  # fmt: skip


def test_update_controls_rewrites_the_json_and_renders_it(tmp_path, monkeypatch):
    (tmp_path / "benchmarks").mkdir()
    old = results_data()
    report.save(old, tmp_path / "benchmarks" / "results.json")
    fresh = copy.deepcopy(old["controls"])
    fresh["ema"][0]["total_loss"] = 0.98765
    del fresh["measured"]
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setattr(bench, "controls", lambda weights: copy.deepcopy(fresh))
    monkeypatch.setattr(sys, "argv", ["bench.py", "--setting", "full", "--update-controls"])
    bench.main()
    data = report.load(tmp_path / "benchmarks" / "results.json")
    assert data["controls"]["ema"][0]["total_loss"] == 0.98765
    assert set(data["controls"]["measured"]) == {"date", "machine", "wall_minutes"}
    assert data["time_to_quality"] == old["time_to_quality"]
    text = (tmp_path / "benchmarks" / "RESULTS.md").read_text()
    assert text == report.render_results(data) and "total loss 0.9877" in text
    # --render rebuilds the markdown from the JSON alone.
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("stale")
    monkeypatch.setattr(sys, "argv", ["bench.py", "--setting", "full", "--render"])
    bench.main()
    assert (tmp_path / "benchmarks" / "RESULTS.md").read_text() == text


@pytest.mark.slow
@pytest.mark.real_weights
def test_smoke_setting_runs_every_mode(weights_path, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "ROOT", tmp_path)  # the side-by-side image goes to tmp_path
    (tmp_path / "benchmarks").mkdir()
    part = bench.time_to_quality("smoke", str(weights_path))
    rows = part["rows"]
    assert rows[0]["mode"].startswith("plain tutorial loop") and rows[0]["speedup"] == 1.0
    assert {row["mode"] for row in rows[1:]} == set(bench.modes(bench.SETTINGS["smoke"]))
    assert part["target_loss"] == pytest.approx(rows[0]["loss"])
    assert (tmp_path / "benchmarks" / "side_by_side_smoke.png").is_file()
    json.dumps(part, allow_nan=False)  # plain JSON: no NaN for "not reached"
    text = report.render_results({"setting": "smoke", "time_to_quality": {
        **part, "measured": stamp()}})  # fmt: skip
    assert len(table_rows(text, "mode")) == len(rows)


def test_checkpoints_give_the_speed_up_at_equal_loss():
    plain = [(0.0, 4.0), (10.0, 3.0), (20.0, 2.0), (30.0, 1.0)]  # (seconds, loss) of the plain loop

    def plain_time_to(loss):
        return next((t for t, value in plain if value <= loss), float("inf"))

    trace = [(2.0, 3.5), (4.0, 2.0), (6.0, 0.5)]  # a mode: loss 2.0 by 5 s, 0.5 by 6 s
    out = bench._at_checkpoints(trace, (5.0, 6.0, 1.0), plain_time_to)
    assert out[0] == {"loss": 2.0, "plain_seconds_to_loss": 20.0, "speedup": 4.0}
    # Lower than the plain loop ever got: its time is only bounded.
    assert out[1] == {"loss": 0.5, "plain_seconds_to_loss": None, "speedup": None}
    assert report.checkpoint_cells(out[1], 6.0, 30.0) == ["0.5000", "> 30", "> 5.0"]
    assert out[2]["loss"] is None  # nothing evaluated by 1 s
    assert report.checkpoint_cells(out[2], 1.0, 30.0)[0] == "not evaluated yet"


def test_results_page_holds_each_full_runs_judged_table_as_its_own_page_shows_it():
    folder = ROOT / "benchmarks"
    text = report.render_results(report.load(folder / "results.json"))
    assert len(report.JUDGED_RUNS) >= 2
    for json_name, page, what in report.JUDGED_RUNS:
        tables = "\n".join(report.judged_tables(report.load(folder / json_name)))
        assert "| cat x swirl | unstyled photo (zero point) |" in tables
        assert tables in text and tables in (folder / page).read_text(), json_name
        assert f"### {what[0].upper()}{what[1:]} ([{page}]({page}))" in text


def test_benchmarks_readme_seconds_per_step_table_is_results_json_rounded():
    rows = report.load(ROOT / "benchmarks" / "results.json")["speed"]["rows"]
    step = {(r["network"], r["size_px"], r["precision"]): r for r in rows if not r.get("xla")}
    readme = (ROOT / "benchmarks" / "README.md").read_text()  # the table moved from the README
    for network in ("vgg16", "vgg19"):
        for size in (256, 512, 1024):
            f32, bf16 = step[(network, size, "float32")], step[(network, size, "bfloat16")]
            memory = max(f32["peak_memory_gib"], bf16["peak_memory_gib"])
            row = (
                f"| {network.upper()} | {size} px | {f32['seconds_per_step']:.2f} s | "
                f"{bf16['seconds_per_step']:.2f} s | {memory:.1f} GiB |"
            )
            assert row in readme, row
    xla = {r["precision"]: r for r in rows if r.get("xla") and r["size_px"] == 512}
    slower = [xla[p]["seconds_per_step"] / step[("vgg16", 512, p)]["seconds_per_step"]
              for p in ("float32", "bfloat16")]  # fmt: skip
    assert min(slower) > 1  # the page's reason to keep it off
    said = f"{slower[0]:.1f}x in float32 and {slower[1]:.1f}x in bfloat16 at 512 px"
    assert said in " ".join(readme.split())
