"""The benchmark script still runs (smoke setting) and counts FLOPs right; no timings asserted."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402


def test_flop_count_of_vgg16_at_224_px():
    # VGG16's 13 convolutions at 224 px are 15.35 GMAC (30.7 GFLOP) forward; up to block5_conv1
    # that is 30.7 minus block5_conv2/conv3's 2 x 14*14*512*512*9*2 = 1.85 GFLOP.
    forward = bench.conv_gflop("vgg16", ["block5_conv1"], 224) / 2
    assert forward == pytest.approx(30.69 - 1.85, rel=0.01)


@pytest.mark.slow
@pytest.mark.real_weights
def test_smoke_setting_runs_every_mode(weights_path, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "ROOT", tmp_path)  # the side-by-side image goes to tmp_path
    (tmp_path / "benchmarks").mkdir()
    rows, info = bench.time_to_quality("smoke", str(weights_path))
    assert rows[0]["mode"].startswith("plain tutorial loop") and rows[0]["ratio"] == 1.0
    assert {row["mode"] for row in rows[1:]} == set(bench.modes(bench.SETTINGS["smoke"]))
    assert info["target"] == pytest.approx(rows[0]["loss"])
    assert (tmp_path / "benchmarks" / "side_by_side_smoke.png").is_file()
    table = bench.markdown_table(rows, bench.QUALITY_COLUMNS)
    assert table.count("\n") == len(rows) + 1
