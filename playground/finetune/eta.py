"""How long a fine-tuning run takes: its work counted (:class:`Work`), what each piece costs
(:class:`Costs`), and the time left while it runs (:class:`TimeLeft`).

The before-Start estimate (:mod:`playground.finetune.estimate`) and the running job's
"time left" are the same sum, :func:`work_seconds`: images decoded, images through the
frozen backbone once (the head strategy's cached features), training images per epoch and
validation images per epoch, each times its cost per image. Before the run the costs come
from a measurement on this machine (:mod:`playground.finetune.calibration`); while it runs,
:class:`TimeLeft` replaces each with what this run has measured as soon as it has a few
samples, so the figure converges on the truth instead of extrapolating the slow first steps.
No torch here.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Work", "Costs", "TimeLeft", "work_seconds", "throughput", "WARMUP_STEPS", "RECENT_STEPS",
           "FORWARD_SHARE"]

# The first training steps of a run pay for memory allocation and kernel selection: never timed.
WARMUP_STEPS = 2
# Step cost is the mean over the later half of the run's steady steps: at least this many, and at
# least one epoch's worth.
# A mean, not a median: a run's remaining time is the *sum* of its step times, and on a shared machine
# their spread is heavy-tailed (a 15-epoch run measured 6 to 148 images/s from step to step). The
# median of such steps sits near the fast ones, so it underestimated, then jumped whenever a streak of
# slow steps became the majority of its window: "time left" went 3 m 27 s -> 4 m 21 s -> 9 m 53 s.
# A mean over the later half of the run steadies as the run goes on (a burst moves it less and less)
# and still follows a lasting change: fully once the run is twice as long as it was when the change came.
RECENT_STEPS = 25
# Without any measurement of a validation pass, it is taken as this share of a training step per
# image (a forward pass is about a third of forward + backward); the first real pass replaces it.
FORWARD_SHARE = 0.35
# A phase's rate is measured once this many items are through it (the first chunk is warm-up).
_MIN_PHASE_ITEMS = 2


@dataclass(frozen=True)
class Work:
    """What one run does, counted."""

    images: int  # decoded once
    extract: int  # images through the frozen backbone once (cached features), else 0
    epochs: int
    train_images: int  # per epoch
    val_images: int  # per epoch (one validation pass after each)
    batch_size: int

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch (the last batch may be smaller)."""
        return -(-self.train_images // self.batch_size)

    @property
    def total_steps(self) -> int:
        """Optimiser steps of the whole run."""
        return self.steps_per_epoch * self.epochs


@dataclass(frozen=True)
class Costs:
    """Seconds per image of each kind of work; None where nothing says yet."""

    decode: float | None = None  # read + decode + resize/crop one image
    forward: float | None = None  # one image through the backbone in eval mode (feature extraction)
    step: float | None = None  # one training image through an optimiser step
    evaluate: float | None = None  # one validation image (just the head, on cached features)

    def to_dict(self) -> dict[str, float | None]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Costs | None:
        """From :meth:`to_dict` output; None for anything else (a hand-edited or older file)."""
        if not isinstance(data, dict):
            return None
        values: dict[str, float | None] = {}
        for field in dataclasses.fields(cls):
            value = data.get(field.name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            values[field.name] = float(value) if ok and value is not None else None
        return cls(**values)


def work_seconds(work: Work, costs: Costs) -> dict[str, float]:
    """Seconds of each phase of ``work`` at ``costs`` (an unknown cost counts as 0)."""
    def times(count: int, cost: float | None) -> float:
        return count * (cost or 0.0)

    return {"decode": times(work.images, costs.decode), "extract": times(work.extract, costs.forward),
            "train": times(work.epochs * work.train_images, costs.step),
            "evaluate": times(work.epochs * work.val_images, costs.evaluate)}


@dataclass
class _Phase:
    """Progress through a counted phase (decoding, extracting): when it started, where it is."""

    started: float
    first_done: int = 0  # items through at the first report (the warm-up chunk)
    first_at: float = 0.0
    done: int = 0
    at: float = 0.0

    def rate(self) -> float | None:
        """Seconds per item, leaving out the first chunk when there is more than one."""
        if self.done - self.first_done >= _MIN_PHASE_ITEMS and self.at > self.first_at:
            return (self.at - self.first_at) / (self.done - self.first_done)
        if self.done >= _MIN_PHASE_ITEMS and self.at > self.started:
            return (self.at - self.started) / self.done
        return None


class TimeLeft:
    """The time left in a run, from its :class:`Work`, prior costs and what it measures as it goes.

    The loop reports each piece of work as it happens (:meth:`phase`, :meth:`step`,
    :meth:`evaluated`); :meth:`seconds` sums what is left of every phase at the best cost
    known for it: this run's own measurement once it has one, else the prior (the
    before-Start calibration) scaled by how much slower or faster this run's steps are than
    the prior said. None while a phase still ahead has no cost at all.
    """

    def __init__(self, work: Work, prior: Costs | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.work, self.prior, self.clock = work, prior or Costs(), clock
        self._phases: dict[str, _Phase] = {}
        # Running totals (seconds, images) after each step, from (0, 0): the mean over any window of steps in
        # O(1), as this is asked after every step of runs that may take 100,000 of them.
        self._totals: list[tuple[float, int]] = [(0.0, 0)]
        self._trained = 0  # training images through the optimiser
        self._evals = 0  # validation passes done
        self._eval_seconds, self._eval_images = 0.0, 0
        self._work_seconds = 0.0  # time in the counted phases (what the fixed overhead is not)

    # -- what the loop reports

    def phase(self, name: str, done: int) -> None:
        """``done`` items of phase ``name`` ("decode" or "extract") are through; 0 at its start."""
        now = self.clock()
        ph = self._phases.get(name)
        if ph is None:
            ph = self._phases[name] = _Phase(started=now)
            if done == 0:
                return
        if ph.first_done == 0:
            ph.first_done, ph.first_at = done, now
        self._work_seconds += now - (ph.at or ph.started)
        ph.done, ph.at = done, now

    def step(self, seconds: float, images: int) -> None:
        """One optimiser step over ``images`` training images took ``seconds``."""
        self._trained += images
        self._work_seconds += seconds
        spent, seen = self._totals[-1]
        self._totals.append((spent + seconds, seen + max(images, 1)))

    def evaluated(self, images: int, seconds: float) -> None:
        """A validation pass over ``images`` images took ``seconds``."""
        self._evals += 1
        self._eval_seconds += seconds
        self._eval_images += images
        self._work_seconds += seconds

    # -- what it concludes

    def measured(self) -> Costs:
        """This run's own costs so far (None where it has not measured one)."""
        decode, extract = self._phases.get("decode"), self._phases.get("extract")
        evaluate = self._eval_seconds / self._eval_images if self._eval_images else None
        return Costs(decode=decode.rate() if decode else None, forward=extract.rate() if extract else None,
                     step=self._step_cost(), evaluate=evaluate)

    @property
    def work_seconds(self) -> float:
        """Seconds spent in the counted work so far (decoding, extracting, steps, validation)."""
        return self._work_seconds

    def _step_cost(self) -> float | None:
        """Seconds per training image: the mean over the later half of the steady steps (at least
        :data:`RECENT_STEPS` and an epoch's worth), the warm-up steps left out once there are steady ones."""
        n = len(self._totals) - 1  # steps so far
        first = WARMUP_STEPS if n > WARMUP_STEPS else 1
        start = max(first, n - max(RECENT_STEPS, self.work.steps_per_epoch, (n - first) // 2))
        if start >= n:
            return None
        (s0, i0), (s1, i1) = self._totals[start], self._totals[n]
        return (s1 - s0) / (i1 - i0)

    def costs(self) -> Costs:
        """The best cost of each kind of work: measured here, else the prior scaled to this run."""
        seen, prior = self.measured(), self.prior
        # This run against the prior, from whatever both know (steps first: what dominates). Not
        # decoding: its first images in a fresh worker are too noisy to scale a whole run by.
        pace = 1.0
        for mine, theirs in ((seen.step, prior.step), (seen.forward, prior.forward)):
            if mine and theirs:
                pace = mine / theirs
                break
        scaled = {k: (v * pace if v is not None else None) for k, v in prior.to_dict().items()}
        step = seen.step if seen.step is not None else scaled["step"]
        evaluate = seen.evaluate if seen.evaluate is not None else scaled["evaluate"]
        if evaluate is None and step is not None:
            # On cached features a validation image is one head forward: a fraction of a step too.
            evaluate = step * FORWARD_SHARE
        return Costs(decode=seen.decode if seen.decode is not None else scaled["decode"],
                     forward=seen.forward if seen.forward is not None else scaled["forward"],
                     step=step, evaluate=evaluate)

    def seconds(self) -> float | None:
        """Seconds of work left in the run; None while some part of it has no cost yet."""
        w, c = self.work, self.costs()
        left: list[tuple[int, float | None]] = [
            (w.images - self._done("decode"), c.decode),
            (w.extract - self._done("extract"), c.forward),
            (w.epochs * w.train_images - self._trained, c.step),
            ((w.epochs - self._evals) * w.val_images, c.evaluate),
        ]
        total = 0.0
        for count, cost in left:
            if count <= 0:
                continue
            if cost is None:
                return None
            total += count * cost
        return total

    def _done(self, name: str) -> int:
        ph = self._phases.get(name)
        return ph.done if ph else 0


def throughput(metrics: dict[str, Any]) -> dict[str, Any]:
    """What a user calls images per second, and its parts, from a finished run's ``metrics()``.

    ``images_per_sec``: training images × epochs over the seconds of all the counted work (decoding,
    feature extraction, steps, validation), not only the optimiser steps: on cached features the head's
    steps run at tens of thousands of images/s while extracting the features takes ~95% of the time.
    ``parts``: images/s of each kind of work alone (decode, extract, step, validate; None: not done).
    """
    timing = metrics.get("timing") or {}
    costs = Costs.from_dict(timing.get("costs")) or Costs()
    seconds = timing.get("work_seconds") or metrics.get("train_seconds") or 0.0
    images = int(metrics.get("train_images") or 0) * int(metrics.get("epochs") or 0)

    def rate(cost: float | None) -> float | None:
        return round(1.0 / cost, 1) if cost else None

    extract = costs.forward if metrics.get("feature_cache") else None
    return {"images_per_sec": round(images / seconds, 1) if seconds > 0 else None,
            "parts": {"decode": rate(costs.decode), "extract": rate(extract), "step": rate(costs.step),
                      "validate": rate(costs.evaluate)},
            "work_seconds": round(float(seconds), 3)}
