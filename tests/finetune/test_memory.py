"""Training memory of the fine-tuning models under each strategy, against a real CPU training step."""
from __future__ import annotations

import pytest
import torch

from playground.design import memory as design_memory
from playground.finetune.config import TrainConfig
from playground.finetune.memory import MemoryEstimateError, memory_by_strategy, memory_estimate
from playground.finetune.strategy import apply_strategy, set_modes
from playground.models.registry import MODELS
from tests.design.test_memory import SPECS, close, step_saved_bytes


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large"])
def test_torchvision_models_per_strategy(name: str) -> None:
    batch, side = 4, 64
    entry = MODELS[name]
    estimates = memory_by_strategy(name, batch, image_size=side)
    for strategy, est in estimates.items():
        torch.manual_seed(0)
        model = entry.builder()
        cfg = TrainConfig(model=name, strategy=strategy)
        apply_strategy(model, entry, cfg)
        set_modes(model, cfg)
        measured = step_saved_bytes(model, torch.randn(batch, 3, side, side))
        assert close(est.activations_bytes, measured), (strategy, est.activations_bytes, measured)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert est.trainable_params == trainable and est.optimizer_bytes == 8 * trainable
    assert (estimates["head"].training_bytes < estimates["last-block"].training_bytes
            < estimates["full"].training_bytes)


def test_unknown_models_and_everything_the_designer_takes() -> None:
    with pytest.raises(MemoryEstimateError, match="unknown model"):
        memory_estimate("resnet9000", 2)
    with pytest.raises(MemoryEstimateError, match="batch size"):
        memory_estimate("resnet18", 0)  # the settings are checked first, as for a spec
    # A spec goes to the designer's estimate unchanged.
    assert memory_estimate(SPECS[1], 3) == design_memory.memory_estimate(SPECS[1], 3)
    with pytest.raises(MemoryEstimateError, match="strategies apply"):
        memory_estimate(SPECS[0], 2, strategy="head")
