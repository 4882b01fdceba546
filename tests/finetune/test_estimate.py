"""Estimates: parameter counts and timed steps, and a clear message when the GPU runs out of memory."""
from __future__ import annotations

import pytest
import torch

from playground.finetune import strategy as strategies
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset
from playground.finetune.estimate import estimate
from tests.finetune_data import TINY


def test_gpu_out_of_memory_while_estimating(tiny: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(*_a, **_k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(torch.nn.Module, "to", oom)  # the model's move to the device
    with pytest.raises(TrainingError, match=r"ran out of memory timing a batch of 8 at 32 px; try a smaller image size"):
        estimate(TrainConfig(**TINY), tiny)


def test_estimate_counts_and_times(tiny: Dataset) -> None:
    for cfg in (TrainConfig(**TINY), TrainConfig(**TINY, strategy="full")):
        est = estimate(cfg, tiny)
        assert (est.trainable_params, est.total_params) == strategies.count_parameters(cfg.model, cfg.strategy, 3)
        assert est.seconds == pytest.approx(est.decode_seconds + est.compute_seconds)
        assert est.compute_seconds > 0 and est.device == "cpu" and "timed" in est.method
