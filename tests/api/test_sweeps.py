"""Sweeps: a loop of ordinary runs, its events counted over all of them, Ctrl-C between two runs
keeping the runs done; and a folder's resume reading a 0.1.0 recipe's settings."""

from __future__ import annotations

import pytest

from conftest import ROOT


def test_a_sweeps_events_count_steps_time_and_budget_over_its_runs(
    small_pair, tiny_extractor, tiny_settings
):
    from nst_helpers.sweeps import sweep

    events = []
    settings = tiny_settings.replace(steps=3, time_budget=60.0)
    sweep(*small_pair, settings, "style_weight", [1.0, 5.0], extractor=tiny_extractor,
          callbacks=[events.append])  # fmt: skip
    assert [e.step for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.steps for e in events} == {2 * settings.max_steps()}
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)  # the second run's time counted on from the first's
    assert events[0].time_left > 60.0 > events[-1].time_left  # the second run's budget too


def test_ctrl_c_between_two_runs_of_a_sweep_keeps_the_runs_done(
    small_pair, tiny_extractor, tiny_settings, monkeypatch
):
    from nst_helpers import sweeps

    real, calls = sweeps.stylize, []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # as the second run sets up, before its loop
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweeps, "stylize", interrupted_second_time)
    results = sweeps.sweep(*small_pair, tiny_settings.replace(steps=2), "tv_weight", [1.0, 2.0],
                           extractor=tiny_extractor)  # fmt: skip
    assert len(results) == 1 and results[0].stopped == "finished"
    monkeypatch.setattr(sweeps, "stylize", interrupted_at_once)
    with pytest.raises(KeyboardInterrupt):  # nothing done yet: the interrupt goes on up
        sweeps.sweep(*small_pair, tiny_settings, "tv_weight", [1.0, 2.0], extractor=tiny_extractor)


def interrupted_at_once(*args, **kwargs):
    raise KeyboardInterrupt


def test_a_folder_run_counts_a_0_1_0_result_as_done(tmp_path):
    import shutil

    from nst_helpers.folder import recipe_matches
    from nst_helpers.runs.recipe import read_recipe
    from nst_helpers.runs.rerun import settings_from_recipe

    old = shutil.copy(ROOT / "tests" / "data" / "recipe_0.1.0" / "result.png", tmp_path)
    stored = read_recipe(old)
    today = {**stored, "settings": settings_from_recipe(stored).to_dict()}  # as made now
    assert "weights_file" in today["settings"] and "weights" in stored["settings"]
    assert recipe_matches(tmp_path / "result.png", today)
