"""Ray: a local Ray gives the same outputs as in-process, and a killed worker's job is retried.

One local Ray (2 CPUs) for the whole module; every test here is `slow` (Ray starts in seconds).
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from conftest import gradient_image
from nst_helpers.errors import NSTError
from nst_helpers.folder import ImageJob, stylize_folder, stylize_job
from nst_helpers.scale.distributed import Workers, build_worker_extractor

pytestmark = pytest.mark.slow


def import_ray():
    """Ray, or a skip (a fail on CI, which installs the ray extra)."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail('needs the ray extra: pip install -e ".[test,ray]"')
        pytest.skip('needs the ray extra: pip install -e ".[test,ray]"')
    return ray


# First in the module: it needs a process with no Ray connected (the fixture below starts one).
def test_workers_stop_the_local_ray_they_started_and_leave_a_running_one_up(tiny_settings):
    ray = import_ray()
    assert not ray.is_initialized(), "this test must run before the module's Ray fixture"
    with Workers(tiny_settings, "auto", 1) as workers:
        assert workers.started_ray and ray.is_initialized()
    assert not ray.is_initialized()  # `--ray auto` leaves no Ray behind
    with pytest.raises(NSTError, match="workers must be a positive whole number"):
        Workers(tiny_settings, "auto", -1)
    assert not ray.is_initialized()  # nor when the workers are refused
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with Workers(tiny_settings, "auto", 1) as workers:
            assert not workers.started_ray
        assert ray.is_initialized()  # someone else's Ray stays up
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def ray():
    """A local Ray with 2 CPUs for the module. CI installs the ray extra, so there a missing
    Ray fails instead of skipping."""
    ray = import_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def jobs(settings, count=3):
    style = [gradient_image(36, 36, seed=1)]
    return [ImageJob(i, gradient_image(40, 30, seed=10 + i), style, settings) for i in range(count)]


def pixels(result) -> np.ndarray:
    return np.asarray(result.best_image, dtype=np.float64) / 255


def test_ray_folder_jobs_match_in_process_and_a_killed_worker_is_retried(ray, tiny_settings):
    expected = [
        stylize_job(build_worker_extractor(tiny_settings), job) for job in jobs(tiny_settings)
    ]
    with Workers(tiny_settings, "auto", 2) as workers:
        first = ray.get(workers.actors[0].pid.remote())
        killed = []

        def kill_first_worker(outcome):
            # Job 0 came back from worker 0, which has just been given job 2: kill it mid-job.
            if not killed:
                os.kill(first, signal.SIGKILL)
                killed.append(first)

        outcomes = workers.map(stylize_job, jobs(tiny_settings), kill_first_worker)
        restarted = ray.get(workers.actors[0].pid.remote())
    assert killed and restarted != first  # Ray restarted the worker ...
    assert [index for index, _, _ in outcomes] == [0, 1, 2]  # ... and ran its job again
    for (_, got, error), (_, want, _) in zip(outcomes, expected, strict=True):
        assert error is None
        # Same network, same steps: equal up to float reordering between processes.
        np.testing.assert_allclose(pixels(got), pixels(want), atol=1 / 255)
        assert got.steps_done == want.steps_done == tiny_settings.steps


def test_ray_folder_run_writes_the_same_outputs(ray, tmp_path, tiny_settings):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        gradient_image(40, 30, seed=10 + i).save(folder / f"{i}.png")
    style = tmp_path / "style.png"
    gradient_image(36, 36, seed=1).save(style)
    extractor = build_worker_extractor(tiny_settings)
    local = stylize_folder(folder, style, tmp_path / "local", tiny_settings,
                           extractor=extractor, report=lambda line: None)  # fmt: skip
    remote = stylize_folder(folder, style, tmp_path / "ray", tiny_settings, ray="auto",
                            workers=2, report=lambda line: None)  # fmt: skip
    assert len(local.done) == len(remote.done) == 3 and not remote.failed
    from PIL import Image

    for a, b in zip(local.done, remote.done, strict=True):
        assert a.name == b.name
        with Image.open(a) as one, Image.open(b) as other:
            diff = np.abs(np.asarray(one, float) - np.asarray(other, float))
            assert diff.max() <= 1


def test_ray_tiled_run_matches_in_process(ray):
    from test_tiles import limit_for_tiles, small_settings, texture

    from nst_helpers.api import stylize

    settings = small_settings(memory_limit=limit_for_tiles(), tile_steps=10, steps=10)
    style = gradient_image(64, 64, seed=1)
    local = stylize(texture(), style, settings, extractor=build_worker_extractor(settings))
    events = []
    remote = stylize(texture(), style, settings, extractor=build_worker_extractor(settings),
                     ray="auto", workers=2, callbacks=[events.append])  # fmt: skip
    assert remote.recipe["options"]["tile_plan"] == local.recipe["options"]["tile_plan"]
    assert remote.steps_done == local.steps_done == 10 + 6 * 10
    assert events[-1].step == remote.steps_done  # progress covers the tiles that ran on Ray
    # The same computation in another process: float results can differ in their last bits
    # (thread counts change the order of sums), and ten steps grow that in a few pixels (on one
    # machine 0.1 % of the values by more than 2/255). A tile misplaced or lost moves far more.
    diff = np.abs(pixels(remote) - pixels(local))
    assert np.mean(diff <= 2 / 255) > 0.99 and diff.mean() < 0.5 / 255
    assert len(remote.history["total"]) == len(local.history["total"])


def test_ray_tiles_under_a_budget_share_it_and_the_run_ends_on_time(ray):
    import time

    from test_tiles import limit_for_tiles, small_settings, texture

    from nst_helpers.api import stylize

    settings = small_settings(memory_limit=limit_for_tiles(), steps=10**5, tile_steps=10**5,
                              time_budget=20.0)  # fmt: skip
    extractor = build_worker_extractor(settings)
    start = time.perf_counter()
    result = stylize(texture(), gradient_image(64, 64, seed=1), settings, extractor=extractor,
                     ray="auto", workers=2)  # fmt: skip
    # The workers start within the budget; each tile's share is set as it goes to a worker.
    assert time.perf_counter() - start < 20.0 + 6.0  # Ray's start and hand-back on top
    assert result.stopped == "time budget"
    base, tiles = (lv["steps"] for lv in result.levels)
    assert base > 1 and tiles > 6  # every tile ran on in its share


def test_workers_count_must_be_positive(ray, tiny_settings):
    with pytest.raises(NSTError, match="workers must be a positive whole number"):
        Workers(tiny_settings, "auto", -1)
