"""Many images, many machines: the images of a folder and the tiles of a level as Ray tasks.

Ray does the placement, the retries and the transport; there is no scheduler of our own. Each
worker is a Ray actor that builds the feature extractor once and then runs the function it is
handed on each job, `fn(extractor, job)`: a tile (`tile_jobs.refine_tile`) or an image of a
folder (`folder.stylize_job`), the same functions that run in-process without Ray. The pool
knows neither. An actor whose process dies is restarted by Ray
(`max_restarts`) and its unfinished job run again (`max_task_retries`), so nothing is lost.

Install with ``pip install "nst-helpers[ray]"``; `ray` is imported only when it is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from nst_helpers.checks import check_count
from nst_helpers.errors import NSTError
from nst_helpers.runs.settings import Settings

RETRIES = 3  # restarts of a lost actor, and retries of the job it was running


def build_worker_extractor(settings: Settings):
    """The extractor the settings ask for; random weights (tests) are seeded from `seed`, so
    every worker builds the same network."""
    from nst_helpers.core.optimize import matching_extractor

    if settings.weights_file is None:
        import keras

        keras.utils.set_random_seed(settings.seed)
    return matching_extractor(None, settings)


class Worker:
    """A Ray actor's state: the extractor, built once, and the jobs it runs."""

    def __init__(self, settings: Settings, threads: int | None = None):
        if threads:  # one worker per CPU by default: keep TensorFlow to its share
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.settings = settings
        self.extractor = build_worker_extractor(settings)

    def pid(self) -> int:
        """The worker's process id."""
        return os.getpid()

    def run(self, fn: Callable, job):
        """Runs `fn(extractor, job)` with this worker's extractor."""
        return fn(self.extractor, job)


def connect(address: str):
    """Starts or joins Ray: "auto" starts a local Ray (or joins the one running here), anything
    else is a cluster address. Returns the `ray` module (already connected: left as it is)."""
    try:
        import ray
    except ImportError:
        raise NSTError(
            'Ray is not installed: pip install "nst-helpers[ray]", or run without --ray.'
        ) from None
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "auto" else address, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise NSTError(
                f"can't connect to Ray at {address!r} ({err}): check the address "
                "(ray start --head prints it), or use --ray auto for a local Ray."
            ) from None
    return ray


def _ray_is_connected() -> bool:
    try:
        import ray
    except ImportError:
        return False  # connect() says how to install it
    return ray.is_initialized()


class Workers:
    """Ray actors that each build the extractor once and run jobs in parallel.

    Args:
        settings: The run's settings (the network the actors build).
        address: "auto" or a Ray cluster address (see `connect`).
        count: Actors to start (default: one per CPU of the cluster).
        cpus: CPUs each actor reserves (default: the cluster's CPUs shared among the actors).

    A Ray these workers started (none was connected) is shut down again by `close`; one that was
    already connected is left running.

    Example::

        with Workers(settings, "auto", 2) as workers:
            workers.map(partial(refine_tile, settings=settings), jobs, on_result=print)
    """

    def __init__(self, settings: Settings, address: str, count: int | None = None, cpus=None):
        if count is not None:  # refused before Ray starts
            count = check_count(count, "workers")
        self.actors: list = []
        self.started_ray = not _ray_is_connected()
        ray = connect(address)
        try:
            total = max(1, int(ray.cluster_resources().get("CPU", 1)))
            count = count or total
            cpus = cpus or max(1, total // count)
            remote = ray.remote(num_cpus=cpus, max_restarts=RETRIES, max_task_retries=RETRIES)
            self.actors = [remote(Worker).remote(settings, cpus) for _ in range(count)]
        except BaseException:
            self.close()  # stop what was started, the Ray too if it was ours
            raise

    def map(
        self,
        fn: Callable,
        jobs: Sequence,
        on_result: Callable | None = None,
        on_submit: Callable | None = None,
    ) -> list:
        """Runs `fn(extractor, job)` on every job, on the workers; results in the jobs' order.

        `fn` must be importable where the workers run (a module's function, or a
        `functools.partial` of one), as Ray sends it by reference.

        `on_result` is called with each result as it arrives (in order); `on_submit` with each
        job just before it goes to a worker (when one is free), e.g. to give it a time share.
        """
        from ray.util import ActorPool

        def submit(actor, job):
            if on_submit is not None:
                on_submit(job)
            return actor.run.remote(fn, job)

        pool = ActorPool(self.actors)
        results = []
        for result in pool.map(submit, jobs):
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results

    def close(self) -> None:
        """Stops the actors, and Ray itself if these workers started it."""
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self.started_ray and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
