"""Estimates: parameter counts and timed steps, and a clear message when the GPU runs out of memory."""
from __future__ import annotations

import pytest
import torch

from playground.finetune import calibration
from playground.finetune import strategy as strategies
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset
from playground.finetune.estimate import estimate
from tests.support.finetune_data import TINY


def test_gpu_out_of_memory_while_estimating(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*_a, **_k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    from playground.finetune.estimate import probe_costs
    from playground.finetune.runtime import prepare
    from playground.models.registry import replace_head

    cfg = TrainConfig(**TINY)
    setup = prepare(cfg, tiny)
    model = replace_head(setup.entry.builder(), setup.entry, 3)
    groups = strategies.apply_strategy(model, setup.entry, cfg)
    monkeypatch.setattr(torch.nn.Module, "to", oom)  # the model's move to the device
    with pytest.raises(TrainingError, match=r"ran out of memory timing a batch of 8 at 32 px; try a smaller image size"):
        probe_costs(cfg, setup, model, groups)  # estimate() runs this in a child process


def test_estimate_counts_and_times(tiny: Dataset) -> None:
    for cfg in (TrainConfig(**TINY), TrainConfig(**TINY, strategy="full")):
        est = estimate(cfg, tiny)
        assert (est.trainable_params, est.total_params) == strategies.count_parameters(cfg.model, cfg.strategy, 3)
        assert est.seconds == pytest.approx(est.overhead_seconds + est.decode_seconds + est.compute_seconds)
        assert est.compute_seconds > 0 and est.device == "cpu" and "timed" in est.method
        assert est.overhead_seconds == calibration.DEFAULT_OVERHEAD_SECONDS  # no job has run here yet


def test_the_probe_is_remembered_and_a_real_run_replaces_it(tiny: Dataset, _playground_home,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """One probe per settings on this machine: the same settings give the same estimate at any later
    moment (whatever else runs then), and once a job of them has run, its own costs are used."""
    from playground.finetune import estimate as estimates
    from playground.finetune.eta import Costs, work_seconds
    from playground.finetune.runtime import prepare, work_of

    cfg = TrainConfig(**TINY, strategy="last-block")
    first = estimate(cfg, tiny)
    assert first.source == "probe" and "timed on this machine" in first.method
    monkeypatch.setattr(estimates, "_probe_elsewhere", lambda *a: pytest.fail("probed again"))
    monkeypatch.setattr(estimates, "_time_decoding", lambda *a: 0.001)
    again = estimate(TrainConfig(**dict(TINY, epochs=4), strategy="last-block"), tiny)  # epochs are not in the key
    assert again.costs["step"] == first.costs["step"] and again.source == "probe"
    assert again.compute_seconds == pytest.approx(first.compute_seconds * 2, rel=0.05)  # twice the epochs

    run = Costs(decode=0.5, forward=None, step=0.02, evaluate=0.005)
    calibration.record_run(calibration.calibration_key(cfg, "cpu"), run, 3.0)
    est = estimate(cfg, tiny)
    phases = work_seconds(work_of(cfg, prepare(cfg, tiny), len(tiny.items)), Costs(decode=0.001, step=0.02,
                                                                                   evaluate=0.005))
    assert est.source == "run" and "measured by the last job" in est.method
    assert est.overhead_seconds == 3.0 and est.decode_seconds == pytest.approx(phases["decode"])
    assert est.compute_seconds == pytest.approx(phases["train"] + phases["evaluate"])
    assert est.seconds == pytest.approx(3.0 + sum(phases.values()))


def test_decoding_is_timed_after_a_warm_up_image(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.finetune import estimate as estimates
    from playground.finetune.runtime import prepare

    ticks = iter([0.0, 5.0, 5.0, 5.1, 5.1, 5.2, 5.2, 5.3])  # a slow first decode, then 0.1 s each
    monkeypatch.setattr(estimates.time, "perf_counter", lambda: next(ticks))
    setup = prepare(TrainConfig(**TINY), tiny)
    assert estimates._time_decoding(tiny, setup, tiny.items[:4]) == pytest.approx(0.1)


def test_cached_features_cost_one_backbone_pass_per_image(tiny: Dataset) -> None:
    # head, no augmentation: the feature cache. At 96 px the backbone's pass is well clear of the head step's
    # fixed per-step cost (at 32 px the two were close enough for a loaded machine to swap them once).
    est = estimate(TrainConfig(**{**TINY, "image_size": 96}), tiny)
    costs = est.costs
    assert costs["forward"] > 0 and costs["step"] < costs["forward"]  # the head alone is far cheaper
    assert est.compute_seconds >= costs["forward"] * len(tiny.items)


def test_a_fresh_probe_is_corrected_by_earlier_jobs(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs here ran at half their probes' figures: a first probe of new settings is halved too."""
    from playground.finetune import estimate as estimates
    from playground.finetune.eta import Costs

    calibration.record_probe("other|head|64px|b32|cpu|auto|features", Costs(forward=0.02, step=1e-5))
    calibration.record_run("other|head|64px|b32|cpu|auto|features", Costs(forward=0.01, step=1e-5), 5.0)
    monkeypatch.setattr(estimates, "_probe_elsewhere", lambda *a: Costs(forward=0.04, step=0.1, evaluate=0.04))
    est = estimate(TrainConfig(**TINY, strategy="full"), tiny)
    assert est.source == "probe, corrected" and "scaled by how earlier jobs here compared" in est.method
    assert (est.costs["forward"], est.costs["step"], est.costs["evaluate"]) == pytest.approx((0.02, 0.05, 0.02))


def test_a_configuration_that_does_not_fit_is_refused_before_any_training(
        tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue: full, 640 px, batch 32 on the form trained inside the server until it could not allocate.
    Now the memory is measured first (meta device) and the estimate refused with the figures."""
    from playground.design import memory as design_memory
    from playground.finetune import estimate as estimates
    from playground.finetune.memory import memory_estimate

    monkeypatch.setattr(estimates, "_probe_elsewhere", lambda *a: pytest.fail("timed a configuration that cannot fit"))
    cfg = TrainConfig(**dict(TINY, image_size=640, batch_size=32), strategy="full", device="cpu")
    need = memory_estimate(cfg.model, 32, "full", input_shape=(3, 640, 640), num_classes=3).training_bytes
    monkeypatch.setattr(design_memory, "available_memory", lambda device="cpu": need // 2)
    with pytest.raises(TrainingError, match=r"at 640 px, batch 32 needs about [\d.]+ [GM]B of memory and this "
                                            r"machine has [\d.]+ [GM]B free; lower the batch size"):
        estimate(cfg, tiny)


def test_the_probe_batch_shrinks_to_its_memory_and_one_image_too_many_is_refused(tiny: Dataset) -> None:
    from playground.finetune.estimate import PROBE_BATCH, probe_batch
    from playground.finetune.memory import memory_estimate

    small = TrainConfig(**TINY, strategy="full")
    assert probe_batch(small, 3) == min(small.batch_size, PROBE_BATCH)  # 32 px fits easily
    big = TrainConfig(**dict(TINY, image_size=640, batch_size=32), strategy="full")
    one = memory_estimate(big.model, 1, "full", input_shape=(3, 640, 640), num_classes=3)
    four = one.training_bytes + 3 * (one.activations_bytes + one.transient_bytes)  # exactly four images' worth
    assert probe_batch(big, 3, limit=four) == 4
    assert memory_estimate(big.model, 4, "full", input_shape=(3, 640, 640), num_classes=3).training_bytes <= four
    with pytest.raises(TrainingError, match="for a single image, over the"):
        probe_batch(big, 3, limit=one.training_bytes - 1)


def test_the_probe_runs_outside_this_process(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the probe allocates is a child's: this process's own probe_costs is never called."""
    from playground.finetune import estimate as estimates

    monkeypatch.setattr(estimates, "probe_costs", lambda *a, **k: pytest.fail("probed in the server process"))
    est = estimate(TrainConfig(**dict(TINY, seed=7), strategy="last-block"), tiny)
    assert est.source == "probe" and est.costs["step"] > 0


def test_a_probe_too_big_at_the_jobs_size_is_timed_smaller_and_scaled(
        tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU job may fit where the server's probe does not: the probe then runs at a smaller image size
    whose memory fits, and its per-image costs are scaled up by the image's area."""
    from playground.finetune import estimate as estimates
    from playground.finetune.eta import Costs
    from playground.finetune.memory import memory_estimate

    cfg = TrainConfig(**dict(TINY, image_size=640, batch_size=32), strategy="full")
    limit = memory_estimate(cfg.model, 1, "full", input_shape=(3, 320, 320), num_classes=3).training_bytes
    monkeypatch.setattr(estimates, "PROBE_MEMORY", limit)
    timed, batch = estimates._probe_settings(cfg, 3)
    assert 32 <= timed.image_size <= 320 and batch >= 1
    assert memory_estimate(cfg.model, batch, "full", input_shape=(3, timed.image_size, timed.image_size),
                           num_classes=3).training_bytes <= limit
    import playground.sandbox as sandbox

    seen: list[int] = []
    monkeypatch.setattr(sandbox, "run_limited", lambda fn, cfg_data, *a, **k:  # the child's answer, here
                        seen.append(cfg_data["image_size"]) or Costs(forward=0.01, step=0.02, evaluate=0.01))
    costs = estimates._probe_elsewhere(cfg, tiny, torch.device("cpu"), None)
    area = (640 / seen[0]) ** 2
    assert seen == [timed.image_size] and costs.step == pytest.approx(0.02 * area)
