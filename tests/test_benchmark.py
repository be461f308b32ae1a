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


def test_checkpoints_give_the_speed_up_at_equal_loss():
    plain = [(0.0, 4.0), (10.0, 3.0), (20.0, 2.0), (30.0, 1.0)]  # (seconds, loss) of the plain loop

    def plain_time_to(loss):
        return next((t for t, value in plain if value <= loss), float("inf"))

    trace = [(2.0, 3.5), (4.0, 2.0), (6.0, 0.5)]  # a mode: loss 2.0 by 5 s, 0.5 by 6 s
    out = bench._at_checkpoints(trace, (5.0, 6.0, 1.0), plain_time_to, 30.0)
    assert (out["loss_0"], out["plain_0"], out["speedup_0"]) == (2.0, 20.0, 4.0)
    # Lower than the plain loop ever got: its time is only bounded.
    assert (out["loss_1"], out["plain_1"], out["speedup_1"]) == (0.5, "> 30", "> 5.0")
    assert out["loss_2"] == "not evaluated yet"  # nothing evaluated by 1 s


def test_long_runs_read_the_target_from_the_full_results():
    import long_runs

    text = "Target loss 1.1307, reached by the plain loop in 1214 s.\n"
    assert long_runs.plain_reference(text) == (1.1307, 1214.0)
    with pytest.raises(SystemExit, match="run bench.py --setting full first"):
        long_runs.plain_reference("# Benchmark results (quick setting)\n")


def test_long_runs_summarise_a_trace_at_the_plain_loops_fractions():
    import long_runs

    trace = [(9.0, 25, 3.0), (40.0, 50, 1.5), (70.0, 75, 1.2), (90.0, 100, 1.1)]  # (s, step, loss)
    row = long_runs.summarise("mode", trace, 100, target=1.2, plain_seconds=150.0)
    # 1/15, 1/4 and 1/2 of 150 s are 10, 37.5 and 75 s: the lowest loss evaluated by then.
    assert (row["at_0"], row["at_1"], row["at_2"]) == (3.0, 3.0, 1.2)
    assert row["to_target"] == 70.0 and row["ratio"] == pytest.approx(150.0 / 70.0)
    assert row["loss"] == 1.1 and row["seconds"] == 90.0
    missed = long_runs.summarise("mode", trace, 100, target=1.0, plain_seconds=150.0)
    assert missed["to_target"] == missed["ratio"] == "not reached"


@pytest.mark.slow
@pytest.mark.real_weights
def test_long_run_evaluates_a_mode_until_it_reaches_the_target(weights_path):
    import long_runs

    changes = {"optimizer": "lbfgs", "pyramid": True, "steps": 2 * long_runs.EVERY}
    forever = 1e9  # a plain loop time so long that every evaluation falls before 1/15 of it
    row = long_runs.long_run("lbfgs", changes, str(weights_path), 0.0, forever, max_dim=64)
    assert row["steps"] == 2 * long_runs.EVERY and row["to_target"] == "not reached"
    assert 0 < row["loss"] == row["at_0"] < 10  # the lowest of the evaluations
    # A target above the first evaluation stops the run there and gives its time.
    row = long_runs.long_run("lbfgs", changes, str(weights_path), 100.0, forever, max_dim=64)
    assert row["steps"] == long_runs.EVERY and row["to_target"] == row["seconds"] > 0


def test_target_watch_evaluates_final_size_previews_until_the_target():
    from types import SimpleNamespace as Event

    watch = bench.TargetWatch(lambda image: float(image), target=1.0, final_level=1)
    watch(Event(elapsed=1.0, image=None, level=1, step=1))  # no preview image: nothing to score
    watch(Event(elapsed=2.0, image=5.0, level=0, step=2))  # a coarse level: not the full size
    watch(Event(elapsed=3.0, image=2.0, level=1, step=3))
    with pytest.raises(KeyboardInterrupt):  # at the target: ends the run as Ctrl-C would
        watch(Event(elapsed=4.0, image=0.5, level=1, step=4))
    assert watch.steps == [3, 4] and [loss for _, loss in watch.trace] == [2.0, 0.5]
    assert watch.reached[1:] == (4, 0.5)


def test_long_runs_merge_keeps_the_rows_not_re_run_and_refuses_another_target():
    import long_runs

    first, second = list(long_runs.RUNS)[:2]
    target = "Target: the plain tutorial loop's loss after 1000 steps, 1.1307, ..."
    old = f"{target}\n\n| mode | loss |\n| --- | --- |\n| {first} | 1.20 |\n| {second} | 1.18 |\n"
    new = f"| mode | loss |\n| --- | --- |\n| {first} | 1.10 |"
    merged = long_runs.merge_rows(old, new, target).splitlines()
    assert merged[2:] == [f"| {first} | 1.10 |", f"| {second} | 1.18 |"]  # in RUNS order
    with pytest.raises(SystemExit, match="measured against another target"):
        long_runs.merge_rows(old.replace("1.1307", "1.2000"), new, target)
