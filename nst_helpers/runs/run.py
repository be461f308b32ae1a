"""The bookkeeping of a run: what it reports after each step (`Event`), what it returns
(`Result`), and `Run`, which keeps the history, the best image, the time budget and the run's
status."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from nst_helpers import machine
from nst_helpers.errors import NSTError
from nst_helpers.files import images as imgs
from nst_helpers.runs.settings import LOSS_NAMES, Settings


@dataclass
class Event:
    """What the loop reports after each step.

    Attributes:
        step: Steps done so far, over all levels (1 .. steps).
        steps: Steps planned over all levels; with a time budget, the most the run may take
            (each level up to `Settings.steps`; a tiled run: its plan's steps), as it ends
            when the budget does (see `expected_steps`).
        losses: {"content", "style", "tv", "total"} of the image this step evaluated.
        elapsed: Seconds since the optimization started.
        image: The current image (H, W, 3) float32 array in [0, 1] on preview steps, else None.
        level: Index of the coarse-to-fine level (0 when there is one level).
        time_left: Seconds left of the time budget (`Settings.time_budget`), None without one.
    """

    step: int
    steps: int
    losses: dict[str, float]
    elapsed: float
    image: np.ndarray | None = None
    level: int = 0
    time_left: float | None = None

    @property
    def expected_steps(self) -> int:
        """Steps the run is expected to end at: `steps`, or fewer where the time budget left
        runs out first at the mean step time so far."""
        if self.time_left is None or self.step < 1 or self.elapsed <= 0:
            return max(self.steps, self.step)
        more = int(max(0.0, self.time_left) / (self.elapsed / self.step))
        return min(max(self.steps, self.step), self.step + more)

    @property
    def eta(self) -> float:
        """Seconds left: the mean step time so far times the steps left to `expected_steps`,
        and never more than the time budget left (0 once a run is past its plan)."""
        if self.step < 1:
            return 0.0
        # `expected_steps` stops where the budget runs out, so this stays within it.
        return self.elapsed / self.step * max(0, self.expected_steps - self.step)


@dataclass
class Result:
    """What a run returns.

    Attributes:
        image: The final image.
        best_image: The image we save: the one with the lowest total loss at the final size, or
            with `ema` the moving average.
        best_step: Index in `history` of the step `best_image` comes from (with `ema`, the last
            step: the average includes every iterate up to it).
        best_loss: The total loss of `best_image` (before `preserve_colors="luminance"`).
        best_losses: Its {"content", "style", "tv", "total"}.
        history: {"content", "style", "tv", "total": one value per step, all levels}
            (`settings.LOSS_NAMES`).
        seconds: {"setup": model + targets, "optimize": the loops, "per_step": mean step time}.
        settings: The full settings used, as a dict.
        stopped: "finished", "interrupted" (Ctrl-C), "time budget" or "non-finite" (NaN/inf).
        steps_done: Steps run, over all levels.
        levels: One {"max_dim", "steps", "seconds"} per coarse-to-fine level run.
        peak_memory: The process's peak memory in bytes when the run ended.
        recipe: The recipe `save` embeds (see `nst_helpers.runs.recipe`), or None.
    """

    image: Image.Image
    best_image: Image.Image
    best_step: int
    best_loss: float
    history: dict[str, list[float]]
    seconds: dict[str, float]
    settings: dict
    stopped: str = "finished"
    steps_done: int = 0
    levels: list[dict] = field(default_factory=list)
    peak_memory: int = 0
    best_losses: dict[str, float] = field(default_factory=dict)
    recipe: dict | None = None

    def summary(self) -> str:
        """One line: steps, time, and the losses of the best image."""
        if not self.history["total"]:
            return f"no steps run ({self.stopped})"
        losses = self.best_losses
        terms = ", ".join(f"{name} {losses[name]:.3g}" for name in LOSS_NAMES if name != "total")
        return (
            f"{self.steps_done} steps in {self.seconds['optimize']:.1f} s "
            f"({self.seconds['per_step']:.3f} s/step), {self.stopped}; best total loss "
            f"{losses['total']:.4g} ({terms}) at step {self.best_step + 1}; "
            f"peak memory {self.peak_memory / 2**30:.1f} GiB"
        )

    def save(self, path: str | os.PathLike, recipe: dict | None = None) -> Path:
        """Saves `best_image` atomically, with its recipe embedded when `path` is a PNG.

        This is how every result is saved (API, notebook and CLI), so `nst --recipe PATH` and
        `nst --rerun PATH` work on any of them.

        Args:
            path: Output file (.png, .jpg, .jpeg or .webp); missing folders are created.
            recipe: The recipe to embed (default: `self.recipe`, made by `stylize`).

        Returns:
            The path written.
        """
        from nst_helpers.runs.recipe import recipe_pnginfo

        recipe = self.recipe if recipe is None else recipe
        pnginfo = None if recipe is None else recipe_pnginfo(recipe)
        return imgs.save_image(self.best_image, path, pnginfo=pnginfo)


class NonFiniteLossError(NSTError):
    """The loss became NaN or infinite. `result` holds the run up to the last good image
    (`results`: one per run of a sweep, the runs after it not started)."""

    def __init__(self, message: str, results: list[Result]):
        super().__init__(message)
        self.results = results
        self.result = results[-1]


class Stop(Exception):
    """Raised inside a level's loop to end it (budget spent, NaN, or interrupt)."""


# What `Run.status` says once a run is over; "running" until then.
ENDINGS = ("finished", "interrupted", "time budget", "non-finite")


class Run:
    """The bookkeeping of one run: history, best image, events, time budget, status.

    A run is made of levels (coarse-to-fine sizes; a tiled run's tiles): `begin_level`, then a
    `record` per step while `wants_step`, then `end_level`. Its `status` is "running" until
    `stop` ends it early ("interrupted", "time budget", "non-finite") or `result` finishes it.
    """

    def __init__(self, settings: Settings, callbacks: Iterable = (), started: float | None = None):
        self.settings = settings
        self.callbacks = list(callbacks)
        self.started = time.perf_counter() if started is None else started
        self.status = "running"
        self.error: str | None = None
        self.loop_start: float | None = None
        self.setup_seconds = 0.0
        self.history: dict[str, list[float]] = {name: [] for name in LOSS_NAMES}
        self.levels: list[dict] = []
        self.level_steps = settings.steps_per_level()
        self.total_steps = settings.max_steps()  # under a time budget, `wants_step`'s limit
        # What a level's share of a time budget goes by: its steps x its side squared.
        self.costs = [
            n * size**2 for n, size in zip(self.level_steps, settings.levels(), strict=True)
        ]
        self.level_best: np.ndarray | None = None  # (1, H, W, 3) of the current level

    @property
    def done(self) -> int:
        """Steps recorded so far, over all levels."""
        return len(self.history["total"])

    @property
    def running(self) -> bool:
        return self.status == "running"

    def stop(self, reason: str) -> None:
        """Ends the run early for `reason` (one of `ENDINGS` but "finished", which only
        `result` says); the first reason stays."""
        if reason not in ENDINGS[1:]:
            raise ValueError(f"a run stops early for one of {ENDINGS[1:]}, not {reason!r}")
        if self.running:
            self.status = reason

    # --- levels -------------------------------------------------------------------------------
    def begin_level(self, level: int, size: int, steps: int, seconds: float | None = None) -> None:
        """Starts a coarse-to-fine level: its best image is tracked afresh. It ends after
        `seconds` if given, else (under a time budget) when its share of the time is spent."""
        now = time.perf_counter()
        if self.loop_start is None:
            self.loop_start = now
            self.setup_seconds = now - self.started
        self.level, self.level_size, self.level_planned = level, size, steps
        self.level_done = 0
        self.level_start = now
        self.level_best = None
        self.best_loss = math.inf
        self.best_step = self.done
        self.best_losses = dict.fromkeys(LOSS_NAMES, math.inf)
        self.level_deadline = self._deadline(level) if seconds is None else now + seconds

    def time_left(self) -> float | None:
        """Seconds left of the time budget (negative once spent); None without one."""
        budget = self.settings.time_budget
        return None if budget is None else self.started + budget - time.perf_counter()

    def seconds_for(self, first: int, last: int) -> float:
        """Under a time budget, the share of the time left for levels first..last (inclusive):
        their part of the cost (`costs`) of the levels still to run."""
        still = sum(self.costs[first:])
        if not still:
            return 0.0
        return sum(self.costs[first : last + 1]) / still * max(0.0, self.time_left())

    def _deadline(self, level: int) -> float:
        """When this level must stop under a time budget: its share of the time left."""
        if self.settings.time_budget is None:
            return math.inf
        return time.perf_counter() + self.seconds_for(level, level)

    def use_average(self, average: np.ndarray, losses: dict) -> None:
        """With `ema`, the level's result is the moving average, with its own losses."""
        self.level_best = average
        self.best_losses = {name: float(losses[name]) for name in LOSS_NAMES}
        self.best_loss = self.best_losses["total"]
        self.best_step = max(self.done - 1, 0)

    def end_level(self) -> None:
        seconds = time.perf_counter() - self.level_start
        self.levels.append(
            {"max_dim": self.level_size, "steps": self.level_done, "seconds": seconds}
        )

    # --- steps --------------------------------------------------------------------------------
    def wants_step(self) -> bool:
        """Whether the current level may take another step (steps and time left, running)."""
        if not self.running:
            return False
        # A level takes at least one step, so a budget spent early still leaves the result's
        # size with an evaluated image and finite best losses (one step over the budget).
        if self.level_done and time.perf_counter() >= self.level_deadline:
            if self.level == len(self.level_steps) - 1:
                self.stop("time budget")
            return False
        return self.level_done < self._step_limit()

    def _step_limit(self) -> int:
        """The most steps of the current level: its plan, or under a time budget `steps`."""
        return self.level_planned if self.settings.time_budget is None else self.settings.steps

    def record(self, losses: dict, image_before: Callable[[], np.ndarray], current) -> None:
        """Books one evaluated step and emits its event; raises Stop on a non-finite loss.

        `image_before()` is the (1, H, W, 3) image the losses belong to, `current()` the
        image now.
        """
        values = {name: float(np.sum(losses[name])) for name in LOSS_NAMES}
        if not all(math.isfinite(v) for v in values.values()):
            self._non_finite(values)
            if self.level_best is None:  # a NaN on a level's first step: keep its start image
                self.level_best = np.array(image_before())
            raise Stop
        step = self.done
        for name in LOSS_NAMES:
            self.history[name].append(values[name])
        self.level_done += 1
        if values["total"] < self.best_loss:
            self.level_best = np.array(image_before())
            self.best_loss, self.best_step, self.best_losses = values["total"], step, dict(values)
        self._emit(values, current)

    def _emit(self, values: dict, current: Callable) -> None:
        if not self.callbacks:
            return
        image = self._preview(current) if self._preview_due() else None
        elapsed = time.perf_counter() - self.loop_start
        event = Event(self.done, self.total_steps, values, elapsed, image, self._event_level(),
                      self.time_left())  # fmt: skip
        for callback in self.callbacks:
            callback(event)

    def _preview_due(self) -> bool:
        """Whether this step's event carries the image: every `preview_every`, and the last."""
        every = self.settings.preview_every
        last = self.level == len(self.level_steps) - 1 and self.level_done == self.level_planned
        return last or bool(every and self.done % every == 0)

    def _preview(self, current: Callable) -> np.ndarray:
        """The image an event shows, (H, W, 3)."""
        return np.asarray(current())[0]

    def _event_level(self) -> int:
        return self.level

    def _non_finite(self, values: dict) -> None:
        self.stop("non-finite")
        bad = ", ".join(f"{name}={value}" for name, value in values.items()
                        if not math.isfinite(value))  # fmt: skip
        kept = (
            f"the best image so far (step {self.best_step + 1})"
            if self.level_best is not None
            else "the start image"
        )
        self.error = (
            f"the loss became non-finite at step {self.done + 1} ({bad}). Lower lr (--lr) or the "
            f"loss weights; {kept} was kept."
        )

    # --- result -------------------------------------------------------------------------------
    def best(self, image) -> tuple[np.ndarray, int, dict]:
        """The image a result keeps, (H, W, 3), its step and its losses: the level's best (after
        a NaN also the final image), given the image the loop ended at."""
        best = self.level_best if self.level_best is not None else np.asarray(image)
        return np.asarray(best)[0], (self.best_step if self.done else 0), self.best_losses

    def result(self, image, final_size: tuple[int, int], recipe: dict | None = None,
               recolor: Callable[[Image.Image], Image.Image] | None = None) -> Result:  # fmt: skip
        """Finishes the run: its Result at `final_size` from the (1, H, W, 3) `image` it ended
        at, with `recipe`, and `recolor` applied to its images (keeping the photo's colors).
        Raises NonFiniteLossError (holding the Result) after a NaN."""
        seconds = time.perf_counter() - (self.loop_start or self.started)
        best, best_step, best_losses = self.best(image)
        if self.running:
            self.status = "finished"
        # the image reached after a non-finite loss is not good: the best stands in for it
        final = best if self.status == "non-finite" else np.asarray(image)[0]
        images = [at_size(final, final_size), at_size(best, final_size)]
        if recolor is not None:
            images = [recolor(img) for img in images]
        result = Result(
            image=images[0],
            best_image=images[1],
            best_step=best_step,
            best_loss=best_losses["total"],
            best_losses=best_losses,
            history=self.history,
            seconds={
                "setup": self.setup_seconds,
                "optimize": seconds,
                "per_step": seconds / max(self.done, 1),
            },
            settings=self.settings.to_dict(),
            stopped=self.status,
            steps_done=self.done,
            levels=self.summaries(),
            peak_memory=machine.peak_memory(),
            recipe=recipe,
        )
        if self.error:
            raise NonFiniteLossError(self.error, [result])
        return result

    def summaries(self) -> list[dict]:
        """One {"max_dim", "steps", "seconds"} per level run."""
        return self.levels


def at_size(array: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The image at the run's final size (a run stopped at a coarse level is upsampled)."""
    img = imgs.tensor_to_image(array)
    return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS)
