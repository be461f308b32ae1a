"""benchmarks/long_runs.py: the fastest modes let run past bench.py's cut-off, their JSON and
LONG_RUNS.md rendered from it alone; no timings asserted."""

from __future__ import annotations

import re
import sys

import pytest
from test_benchmark import results_data, stamp, table_rows

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402
import long_runs  # noqa: E402
import report  # noqa: E402


def long_runs_data(loss: float = 1.1307, seconds: float = 1214.0) -> dict:
    target = {"plain_steps": 1000, "loss": loss, "plain_seconds": seconds, "from": "x"}
    rows = []
    for i, name in enumerate(long_runs.RUNS):
        rows.append({
            "mode": name, "steps": 100 + i, "seconds": 50.4 + i, "lowest_loss": 1.2 + i / 10,
            "loss_at_fractions": [2.0, None, 1.3], "seconds_to_target": None,
            "speedup_at_target": None, "measured": stamp(minutes=None),
        })  # fmt: skip
    return long_runs.document(rows, target, 512)


def test_long_runs_read_the_target_from_the_full_results():
    target = long_runs.plain_reference(results_data())
    assert (target["loss"], target["plain_seconds"], target["plain_steps"]) == (1.23456, 100.04, 30)
    with pytest.raises(SystemExit, match="run bench.py --setting full first"):
        long_runs.plain_reference({**results_data(), "setting": "quick"})
    with pytest.raises(SystemExit, match="run bench.py --setting full first"):
        long_runs.plain_reference({"setting": "full", "speed": {}})


def test_long_runs_summarize_a_trace_at_the_plain_loops_fractions():
    trace = [(9.0, 25, 3.0), (40.0, 50, 1.5), (70.0, 75, 1.2), (90.0, 100, 1.1)]  # (s, step, loss)
    row = long_runs.summarize("mode", trace, 100, target=1.2, plain_seconds=150.0)
    # 1/15, 1/4 and 1/2 of 150 s are 10, 37.5 and 75 s: the lowest loss evaluated by then.
    assert row["loss_at_fractions"] == [3.0, 3.0, 1.2]
    assert row["seconds_to_target"] == 70.0
    assert row["speedup_at_target"] == pytest.approx(150.0 / 70.0)
    assert row["lowest_loss"] == 1.1 and row["seconds"] == 90.0
    missed = long_runs.summarize("mode", trace, 100, target=1.0, plain_seconds=150.0)
    assert missed["seconds_to_target"] is None and missed["speedup_at_target"] is None
    data = long_runs.document([{**missed, "measured": stamp()}], long_runs_data()["target"], 512)
    assert table_rows(report.render_long_runs(data), "mode")[0][-2:] == ["not reached"] * 2


def test_long_runs_render_the_json_numbers(tmp_path):
    data = long_runs_data()
    report.save(data, tmp_path / report.LONG_RUNS_JSON)
    assert report.load(tmp_path / report.LONG_RUNS_JSON) == data
    text = report.render_long_runs(data)
    assert "loss after 1000 steps, 1.1307, which it reached in 1214 s" in text
    assert "every 25 steps" in text
    first = table_rows(text, "mode")[0]
    assert first == [list(long_runs.RUNS)[0], "100", "50", "1.2000", "2.0000",
                     "not evaluated yet", "1.3000", "not reached", "not reached"]  # fmt: skip
    assert report.render_all(tmp_path) == [tmp_path / report.LONG_RUNS_MD]
    assert (tmp_path / report.LONG_RUNS_MD).read_text() == text


@pytest.mark.slow
@pytest.mark.real_weights
def test_long_run_evaluates_a_mode_until_it_reaches_the_target(weights_path):
    changes = {"optimizer": "lbfgs", "pyramid": True, "steps": 2 * long_runs.EVERY}
    forever = 1e9  # a plain loop time so long that every evaluation falls before 1/15 of it
    row = long_runs.long_run("lbfgs", changes, str(weights_path), 0.0, forever, max_dim=64)
    assert row["steps"] == 2 * long_runs.EVERY and row["seconds_to_target"] is None
    assert 0 < row["lowest_loss"] == row["loss_at_fractions"][0] < 10  # the lowest evaluation
    # A target above the first evaluation stops the run there and gives its time.
    row = long_runs.long_run("lbfgs", changes, str(weights_path), 100.0, forever, max_dim=64)
    assert row["steps"] == long_runs.EVERY and row["seconds_to_target"] == row["seconds"] > 0


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
    old = long_runs_data()
    first, second, third = list(long_runs.RUNS)
    new = {**old["rows"][0], "lowest_loss": 1.1}
    merged = long_runs.merge_rows(old, [new], old["target"])
    assert [row["mode"] for row in merged] == [first, second, third]  # in RUNS order
    assert merged[0] == new and merged[1:] == old["rows"][1:]
    # The same target as the table shows it (1213.8 s is 1214 s) is the same target.
    assert long_runs.merge_rows(old, [new], {**old["target"], "plain_seconds": 1213.8})
    with pytest.raises(SystemExit, match="measured against another target"):
        long_runs.merge_rows(old, [new], {**old["target"], "loss": 1.2})


def test_long_runs_only_updates_its_rows_and_refuses_before_running(tmp_path, monkeypatch):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    results = results_data()
    report.save(results, folder / "results.json")
    target = long_runs.plain_reference(results)
    old = long_runs_data(target["loss"], target["plain_seconds"])
    report.save(old, folder / report.LONG_RUNS_JSON)
    second = list(long_runs.RUNS)[1]
    calls = []

    def fake_run(name, changes, weights, loss, plain_seconds):
        calls.append((name, loss, plain_seconds))
        return {**old["rows"][1], "steps": 7, "measured": None}

    monkeypatch.setattr(bench, "ROOT", tmp_path)
    monkeypatch.setattr(long_runs, "long_run", fake_run)
    monkeypatch.setattr(sys, "argv", ["long_runs.py", "--only", second])
    long_runs.main()
    assert calls == [(second, 1.23456, 100.04)]  # the target read from results.json
    data = report.load(folder / report.LONG_RUNS_JSON)
    assert data["rows"][1]["steps"] == 7 and data["rows"][1]["measured"]["date"]
    assert data["rows"][0] == old["rows"][0] and data["rows"][2] == old["rows"][2]
    text = (folder / report.LONG_RUNS_MD).read_text()
    assert text == report.render_long_runs(data)
    assert re.search(rf"\| {re.escape(second)} \| 7 \|", text)
    # Rows measured against another target: refused before any run.
    results["time_to_quality"]["target_loss"] = 1.5
    report.save(results, folder / "results.json")
    with pytest.raises(SystemExit, match="measured against another target"):
        long_runs.main()
    assert len(calls) == 1
