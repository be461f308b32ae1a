"""What a run reports as it goes: `Event`'s ETA and expected end (a time budget's included), and
the progress bar that shows them."""

from __future__ import annotations

import pytest

from nst_helpers.api import stylize


def test_eta_is_the_mean_step_time_times_the_steps_left_and_never_negative():
    from nst_helpers.runs.run import Event

    assert Event(step=5, steps=10, losses={}, elapsed=2.0).eta == pytest.approx(2.0)
    assert Event(step=12, steps=10, losses={}, elapsed=3.0).eta == 0.0  # a budget's run, past


def test_under_a_time_budget_the_eta_is_the_budget_left_not_the_step_cap():
    from nst_helpers.runs.run import Event

    # 0.1 s per step, 2 s left: 20 more steps, not the 990 the step cap allows.
    event = Event(step=10, steps=1000, losses={}, elapsed=1.0, time_left=2.0)
    assert event.expected_steps == 30 and event.eta == pytest.approx(2.0)
    # The step cap comes first: 5 more steps, 0.5 s.
    event = Event(step=10, steps=15, losses={}, elapsed=1.0, time_left=2.0)
    assert event.expected_steps == 15 and event.eta == pytest.approx(0.5)
    # The budget spent (a level's one step over it): nothing left.
    event = Event(step=10, steps=1000, losses={}, elapsed=1.0, time_left=-0.5)
    assert event.expected_steps == 10 and event.eta == 0.0
    # No step timed yet: the plan, and no estimate (never a division by zero).
    event = Event(step=1, steps=1000, losses={}, elapsed=0.0, time_left=2.0)
    assert event.expected_steps == 1000 and event.eta == 0.0


def test_a_budget_run_reports_the_time_left_and_an_eta_within_it(
    small_pair, tiny_extractor, tiny_settings
):
    events = []
    # Levels from 24 to 48 px; the budget, far from spent, lets each take its cap of 3 steps.
    settings = tiny_settings.replace(max_dim=48, start_dim=24, time_budget=60.0, steps=3)
    most = 3 * len(settings.levels())
    stylize(*small_pair, settings, extractor=tiny_extractor, callbacks=[events.append])
    left = [e.time_left for e in events]
    assert len(settings.levels()) > 1 and len(events) == most
    assert all(0 < t < 60 for t in left) and left == sorted(left, reverse=True)
    assert {e.steps for e in events} == {most}  # the most it may take: 3 steps on each level
    assert all(e.eta <= e.time_left for e in events) and events[-1].eta == 0.0
    events.clear()
    unbudgeted = settings.replace(time_budget=None)
    stylize(*small_pair, unbudgeted, extractor=tiny_extractor, callbacks=[events.append])
    planned = sum(unbudgeted.steps_per_level())  # the plan, split between the levels
    assert [e.time_left for e in events] == [None] * planned
    assert {e.steps for e in events} == {planned}


def test_the_progress_bar_counts_to_the_budgets_end_not_the_step_cap():
    import io

    from nst_helpers.runs.run import Event
    from nst_helpers.show.display import ProgressBar

    losses = dict.fromkeys(("content", "style", "tv", "total"), 1.0)
    with ProgressBar(file=io.StringIO()) as bar:
        bar(Event(step=10, steps=1000, losses=losses, elapsed=1.0, time_left=2.0))
        assert (bar.bar.n, bar.bar.total) == (10, 30)
        bar(Event(step=20, steps=1000, losses=losses, elapsed=2.0, time_left=0.5))
        assert (bar.bar.n, bar.bar.total) == (20, 25)
    with ProgressBar(file=io.StringIO()) as bar:
        bar(Event(step=10, steps=1000, losses=losses, elapsed=1.0))
        assert bar.bar.total == 1000


# ipywidgets 7.7 (Colab's) opens its comms through ipykernel's deprecated class.
@pytest.mark.filterwarnings(
    "ignore:The `ipykernel.comm.Comm` class has been deprecated:DeprecationWarning"
)
def test_the_notebook_progress_bar_moves_its_widgets_end_with_the_budget(monkeypatch, capsys):
    import tqdm.auto
    import tqdm.notebook  # the widget bar tqdm.auto picks in Jupyter and Colab (ipywidgets)

    from nst_helpers.runs.run import Event
    from nst_helpers.show.display import ProgressBar

    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)  # as if in a notebook
    losses = dict.fromkeys(("content", "style", "tv", "total"), 1.0)
    with ProgressBar() as bar:
        bar(Event(step=10, steps=1000, losses=losses, elapsed=1.0, time_left=2.0))
        bar.bar.refresh()
        widget = bar.bar.container.children[1]  # the ipywidgets progress bar itself
        assert isinstance(bar.bar, tqdm.notebook.tqdm)
        assert (bar.bar.n, bar.bar.total, widget.max, widget.value) == (10, 30, 30, 10)
