"""Time left and the calibration file, with a fake clock: no training, no wall-clock assertions."""
from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

from playground.finetune import calibration
from playground.finetune.config import TrainConfig
from playground.finetune.eta import WARMUP_STEPS, Costs, TimeLeft, Work, work_seconds

# 100 images: 80 train / 20 validation, batch 10 -> 8 steps per epoch, 3 epochs.
WORK = Work(images=100, extract=0, epochs=3, train_images=80, val_images=20, batch_size=10)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_work_counts_and_seconds() -> None:
    assert (WORK.steps_per_epoch, WORK.total_steps) == (8, 24)
    assert Work(10, 0, 1, 9, 1, 4).steps_per_epoch == 3  # the last batch is smaller
    costs = Costs(decode=0.01, forward=0.5, step=0.1, evaluate=0.03)
    assert work_seconds(WORK, costs) == pytest.approx({"decode": 1.0, "extract": 0.0, "train": 24.0,
                                                       "evaluate": 1.8})
    cached = Work(images=100, extract=100, epochs=3, train_images=80, val_images=20, batch_size=10)
    assert work_seconds(cached, costs)["extract"] == pytest.approx(50.0)


def _decode(eta: TimeLeft, clock: Clock, per_image: float) -> None:
    eta.phase("decode", 0)
    for i in range(1, WORK.images + 1):
        clock.now += per_image * (5 if i == 1 else 1)  # the first image pays for warm-up
        eta.phase("decode", i)


def test_time_left_uses_this_runs_steps_not_the_slow_first_ones() -> None:
    clock = Clock()
    eta = TimeLeft(WORK, clock=clock)
    _decode(eta, clock, 0.01)
    assert eta.measured().decode == pytest.approx(0.01)  # the warm-up image is left out
    assert eta.seconds() is None  # nothing says yet what a step costs
    for seconds in (3.0, 2.0):  # warm-up steps: allocations, kernel selection
        eta.step(seconds, 10)
    assert eta.seconds() is not None  # the second step stands in until steady steps arrive
    for _ in range(6):
        eta.step(1.0, 10)  # steady: 0.1 s per image
    assert eta.measured().step == pytest.approx(0.1)
    # Left: 16 steps (160 images at 0.1 s) and 3 validation passes of 20 images, a validation
    # image taken as FORWARD_SHARE of a training one until the first pass is measured.
    assert eta.seconds() == pytest.approx(16.0 + 3 * 20 * 0.1 * 0.35)
    eta.evaluated(20, 0.6)  # 0.03 s per image, measured
    assert eta.seconds() == pytest.approx(16.0 + 2 * 20 * 0.03)
    for _ in range(16):
        eta.step(1.0, 10)
    eta.evaluated(20, 0.6)
    eta.evaluated(20, 0.6)
    assert eta.seconds() == 0.0
    assert eta.work_seconds == pytest.approx(1.04 + 3 + 2 + 22 * 1.0 + 1.8)


def test_time_left_scales_the_prior_to_this_run() -> None:
    """Before a validation pass is measured, the prior's cost is scaled by how this run's steps
    compare with the prior's: a run twice as slow as calibrated validates twice as slowly too."""
    prior = Costs(decode=0.01, forward=None, step=0.05, evaluate=0.02)
    clock = Clock()
    eta = TimeLeft(WORK, prior, clock=clock)
    # Nothing measured: the prior alone, for every phase.
    assert eta.seconds() == pytest.approx(100 * 0.01 + 240 * 0.05 + 60 * 0.02)
    _decode(eta, clock, 0.01)
    for _ in range(WARMUP_STEPS + 4):
        eta.step(1.0, 10)  # 0.1 s per image: twice the prior's 0.05
    trained = (WARMUP_STEPS + 4) * 10
    assert eta.seconds() == pytest.approx((240 - trained) * 0.1 + 60 * 0.02 * 2)


def test_extraction_progress_has_a_rate_after_the_first_batch() -> None:
    clock = Clock()
    cached = Work(images=64, extract=64, epochs=1, train_images=50, val_images=14, batch_size=16)
    eta = TimeLeft(cached, Costs(decode=0.0, step=1e-4, evaluate=1e-4), clock=clock)
    eta.phase("extract", 0)
    clock.now += 4.0  # the first batch: warm-up
    eta.phase("extract", 16)
    clock.now += 1.6
    eta.phase("extract", 32)
    assert eta.measured().forward == pytest.approx(0.1)
    assert eta.seconds() == pytest.approx(32 * 0.1 + 50 * 1e-4 + 14 * 1e-4)


def test_costs_from_a_file_are_checked() -> None:
    assert Costs.from_dict({"decode": 0.1, "step": "fast", "forward": -1, "evaluate": True}) == Costs(decode=0.1)
    assert Costs.from_dict(["not", "a", "dict"]) is None


# --------------------------------------------------------------------------- the calibration file


def test_a_real_run_beats_the_probe_and_corrects_other_probes(tmp_path: Path) -> None:
    a, b = "m|full|64px|b32|cpu|auto|pixels", "m|head|64px|b32|cpu|auto|pixels"
    assert calibration.costs_for(a, tmp_path) is None
    calibration.record_probe(a, Costs(forward=0.02, step=0.06, evaluate=0.02), tmp_path)
    calibration.record_probe(b, Costs(forward=0.02, step=0.04, evaluate=0.02), tmp_path)
    assert calibration.costs_for(a, tmp_path) == (Costs(forward=0.02, step=0.06, evaluate=0.02), "probe")
    # A job of `a` measured steps at half the probe's figure (a bigger batch, a quieter machine).
    calibration.record_run(a, Costs(decode=0.001, forward=None, step=0.03, evaluate=0.01), 9.0, tmp_path)
    costs, source = calibration.costs_for(a, tmp_path)
    assert source == "run" and costs == Costs(decode=0.001, forward=0.02, step=0.03, evaluate=0.01)
    # Probes of settings no job has run yet are scaled by that machine-wide ratio.
    costs, source = calibration.costs_for(b, tmp_path)
    assert source == "probe, corrected"
    assert (costs.step, costs.evaluate, costs.forward) == pytest.approx((0.02, 0.01, 0.02))
    assert calibration.overhead_seconds(tmp_path) == (9.0, True)
    # Another input path: a head step on cached features is not a pixels step, so only the backbone's
    # forward pass (the same work on every path) carries over, and it scales every cost of the probe.
    features = "m|head|64px|b32|cpu|auto|features"
    calibration.record_probe(features, Costs(forward=0.02, step=1e-5, evaluate=1e-6), tmp_path)
    assert calibration.costs_for(features, tmp_path)[1] == "probe"  # no job has timed a forward pass yet
    calibration.record_run(a, Costs(forward=0.01, step=0.03, evaluate=0.01), None, tmp_path)
    costs, _ = calibration.costs_for(features, tmp_path)
    assert (costs.forward, costs.step, costs.evaluate) == pytest.approx((0.01, 5e-6, 5e-7))


def test_overheads_default_then_follow_the_last_jobs(tmp_path: Path) -> None:
    assert calibration.overhead_seconds(tmp_path) == (calibration.DEFAULT_OVERHEAD_SECONDS, False)
    for seconds in (4.0, 6.0, 100.0):
        calibration.record_run("k", Costs(step=0.1), seconds, tmp_path)
    assert calibration.overhead_seconds(tmp_path) == (6.0, True)  # the median: one odd job changes little


def test_a_broken_file_means_a_new_measurement_not_an_error(tmp_path: Path) -> None:
    (tmp_path / calibration.CALIBRATION_FILE).write_text("{not json")
    assert calibration.costs_for("k", tmp_path) is None
    stamp = calibration.calibration_stamp(tmp_path)
    calibration.record_probe("k", Costs(step=0.1), tmp_path)
    assert calibration.costs_for("k", tmp_path) == (Costs(step=0.1), "probe")
    assert calibration.calibration_stamp(tmp_path) != stamp


def test_the_file_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibration, "MAX_KEYS", 3)
    for i in range(5):
        calibration.record_probe(f"k{i}", Costs(step=0.1), tmp_path)
    keys = json.loads((tmp_path / calibration.CALIBRATION_FILE).read_text())["keys"]
    assert sorted(keys) == ["k2", "k3", "k4"]


def test_keys_name_what_the_costs_depend_on() -> None:
    cfg = TrainConfig(strategy="head", image_size=48, batch_size=16)
    assert calibration.calibration_key(cfg, "cpu") == "efficientnet_lite0|head|48px|b16|cpu|auto|features"
    assert calibration.calibration_key(TrainConfig(augment=True), "cuda").endswith("|b32|cuda|auto|augment")



def test_the_prior_is_scaled_by_timed_work_only() -> None:
    """A slow start of decoding (a fresh worker, the first files) does not scale the steps ahead;
    the first timed extraction batches do."""
    clock = Clock()
    cached = Work(images=100, extract=100, epochs=1, train_images=80, val_images=20, batch_size=10)
    eta = TimeLeft(cached, Costs(decode=0.01, forward=0.02, step=0.001, evaluate=0.001), clock=clock)
    eta.phase("decode", 0)
    for i in range(1, 101):
        clock.now += 0.03
        eta.phase("decode", i)
    assert eta.seconds() == pytest.approx(100 * 0.02 + 80 * 0.001 + 20 * 0.001)
    eta.phase("extract", 0)
    for done in (10, 20, 30):
        clock.now += 0.4  # 0.04 s per image: twice the prior
        eta.phase("extract", done)
    assert eta.seconds() == pytest.approx(70 * 0.04 + 2 * (80 * 0.001 + 20 * 0.001))


def test_throughput_counts_all_the_work_not_only_the_head_steps() -> None:
    """The issue: --json said 44-56k images/s for a digits head run, counting only the cached head steps,
    while extracting the features took ~95% of the time."""
    from playground.finetune.eta import throughput

    metrics = {"train_images": 800, "epochs": 2, "train_seconds": 9.0, "feature_cache": True,
               "timing": {"costs": {"decode": 0.001, "forward": 0.01, "step": 2e-5, "evaluate": 1e-5},
                          "work_seconds": 12.0}}
    rates = throughput(metrics)
    assert rates["images_per_sec"] == pytest.approx(1600 / 12.0, abs=0.1)  # 133 images/s, as a user counts
    assert rates["parts"] == {"decode": 1000.0, "extract": 100.0, "step": 50000.0, "validate": 100000.0}
    pixels = dict(metrics, feature_cache=False, timing={"costs": {"step": 0.02}, "work_seconds": 0.0})
    assert throughput(pixels)["images_per_sec"] == pytest.approx(1600 / 9.0, abs=0.1)  # falls back on train time
    assert throughput(pixels)["parts"]["extract"] is None



def _noisy_steps(n: int, *, streaks: bool, seed: int = 7) -> list[float]:
    """Seconds per step of 32 images on a shared machine: mostly ~148 images/s, some steps ~6 images/s
    while another job holds the cores (the spread the walk measured on a 15-epoch run); the slow ones
    independent, or in streaks of 3 to 12 steps."""
    rng = random.Random(seed)
    out, slow_left = [], 0
    for _ in range(n):
        if streaks and slow_left == 0 and rng.random() < 0.04:
            slow_left = rng.randint(3, 12)
        slow = slow_left > 0 if streaks else rng.random() < 0.2
        out.append((32 / 6 if slow else 32 / 148) * rng.uniform(0.9, 1.1))
        slow_left = max(0, slow_left - 1)
    return out


_RUN = Work(images=0, extract=0, epochs=15, train_images=960, val_images=0, batch_size=32)


def _time_left_ratios(steps: list[float], cost: Callable[[TimeLeft, list[float]], float]) -> list[float]:
    """Estimated / true time left after each step from halfway to 90% of the run (near the end the
    true time left is a few steps: any rule is off by a whole step there)."""
    eta, out = TimeLeft(_RUN), []
    for k, seconds in enumerate(steps, 1):
        eta.step(seconds, 32)
        if len(steps) // 2 <= k <= 0.9 * len(steps):
            out.append(cost(eta, steps[:k]) * 32 * (len(steps) - k) / sum(steps[k:]))
    return out


def _this_rule(eta: TimeLeft, _: list[float]) -> float:
    return eta.costs().step or 0.0


def _old_median_rule(_: TimeLeft, steps: list[float]) -> float:
    return statistics.median(steps[WARMUP_STEPS:][-25:]) / 32


@pytest.mark.parametrize("streaks", [False, True])
def test_time_left_is_unbiased_through_slow_steps(streaks: bool) -> None:
    """With heavy-tailed step times, from halfway on the time left stays within a factor of 1.7 of the
    truth (the future slow steps cannot be known); the old rule (the median of the last 25 steps) sat
    near the fast steps, 4 to 15 times under the truth, and jumped over it when slow steps took its window."""
    steps = _noisy_steps(_RUN.total_steps, streaks=streaks)
    mine = _time_left_ratios(steps, _this_rule)
    old = _time_left_ratios(steps, _old_median_rule)
    assert min(mine) > 0.6 and max(mine) < 1.7, (min(mine), max(mine))
    assert min(old) < 0.25, min(old)  # what the walk saw: far under ...
    if streaks:
        assert max(old) > 2.0, max(old)  # ... then far over


def test_time_left_follows_a_lasting_slowdown() -> None:
    """When the run becomes twice as slow for good (a second job starts on the machine), the estimate
    has the new pace once the run is twice as long as it was when the change came."""
    work = Work(images=0, extract=0, epochs=8, train_images=320, val_images=0, batch_size=32)
    eta = TimeLeft(work)
    per_epoch = work.steps_per_epoch
    for _ in range(2 * per_epoch + WARMUP_STEPS):
        eta.step(1.0, 32)
    for _ in range(3 * per_epoch):  # the window is half the steady steps, at least RECENT_STEPS
        eta.step(2.0, 32)
    assert eta.seconds() == pytest.approx((work.total_steps - 5 * per_epoch - WARMUP_STEPS) * 2.0)
