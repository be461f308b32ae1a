"""A run's bookkeeping without a network: its status, the best image, a NaN, events, results."""

from __future__ import annotations

import numpy as np
import pytest

from nst_helpers.runs.run import NonFiniteLossError, Run, Stop
from nst_helpers.runs.settings import LOSS_NAMES, Settings


def losses(total: float, **others) -> dict:
    return {name: others.get(name, total) for name in LOSS_NAMES} | {"total": total}


def image(value: float) -> np.ndarray:
    return np.full((1, 4, 6, 3), value, np.float32)


def started_run(steps: int = 5, callbacks=()) -> Run:
    run = Run(Settings(weights=None, steps=steps, preview_every=0), callbacks)
    run.begin_level(0, 6, steps)
    return run


def test_a_run_is_running_until_its_result_finishes_it():
    run = started_run()
    assert run.status == "running" and run.running
    while run.wants_step():
        run.record(losses(1.0), lambda: image(0.5), lambda: image(0.5))
    run.end_level()
    assert run.status == "running" and run.done == 5
    result = run.result(image(0.5), (6, 4))
    assert run.status == result.stopped == "finished" and result.steps_done == 5


def test_the_first_reason_to_stop_stays():
    run = started_run()
    run.stop("interrupted")
    run.stop("time budget")
    assert run.status == "interrupted" and not run.wants_step()
    for reason in ("finished", "finished early"):  # only `result` finishes a run
        with pytest.raises(ValueError, match="a run stops early for one of"):
            run.stop(reason)


def test_the_best_image_is_the_lowest_total_with_its_own_losses():
    run = started_run()
    for step, total in enumerate([3.0, 1.0, 2.0]):
        run.record(losses(total, style=10 * total), lambda s=step: image(s / 10), lambda: image(0))
    run.end_level()
    result = run.result(image(0.2), (6, 4))
    assert result.best_step == 1 and result.best_loss == 1.0
    assert result.best_losses["style"] == 10.0
    assert np.asarray(result.best_image).mean() == pytest.approx(0.1 * 255, abs=1)
    assert result.history["total"] == [3.0, 1.0, 2.0]


def test_a_non_finite_loss_stops_the_run_and_keeps_the_best_image():
    run = started_run()
    run.record(losses(2.0), lambda: image(0.3), lambda: image(0.3))
    with pytest.raises(Stop):
        run.record(losses(float("nan")), lambda: image(0.9), lambda: image(0.9))
    assert run.status == "non-finite" and "at step 2" in run.error
    with pytest.raises(NonFiniteLossError, match="the best image so far") as caught:
        run.result(image(0.9), (6, 4))
    kept = np.asarray(caught.value.result.image)  # the best stands in for the NaN image
    assert kept.mean() == pytest.approx(0.3 * 255, abs=1)


def test_events_count_steps_and_carry_the_image_on_the_last():
    events = []
    run = started_run(steps=3, callbacks=[events.append])
    while run.wants_step():
        run.record(losses(1.0), lambda: image(0.5), lambda: image(0.25))
    assert [e.step for e in events] == [1, 2, 3] and {e.steps for e in events} == {3}
    assert [e.image is None for e in events] == [True, True, False]
    assert events[-1].image.shape == (4, 6, 3)
