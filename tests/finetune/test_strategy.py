"""Strategies: which parameters train, their learning rates, and BatchNorm's statistics."""
from __future__ import annotations

import pytest
import torch

from playground.finetune import loop as training
from playground.finetune import strategy as strategies
from playground.finetune.config import TrainConfig
from playground.finetune.data import Dataset
from playground.models import registry as zoo
from tests.support.finetune_data import TINY


def test_strategies_freeze_and_train_the_right_parameters(tiny: Dataset) -> None:
    pretrained = zoo.load_zoo_model("efficientnet_lite0").model.state_dict()
    changed = {}
    for strategy in ("head", "last-block"):
        result = training.train(TrainConfig(**TINY, strategy=strategy, cache_features=False), tiny)
        state = result.model.state_dict()
        changed[strategy] = {k for k, v in state.items() if not k.startswith("_fc.") and not torch.equal(v, pretrained[k])}
        trainable, total = strategies.count_parameters("efficientnet_lite0", strategy, 3)
        assert result.trainable_params == trainable and result.total_params == total
    # head: the backbone, its BatchNorm statistics included, is untouched.
    assert changed["head"] == set()
    # last-block: the last MBConv block and the 1x1 head conv + BN after it; nothing earlier.
    assert {k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("_blocks") else "") for k in changed["last-block"]} \
        == {"_blocks.15", "_conv_head", "_bn1"}
    model = zoo.replace_head(zoo.MODELS["efficientnet_lite0"].builder(), zoo.MODELS["efficientnet_lite0"], 3)
    late = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("_blocks.15.", "_conv_head.", "_bn1.", "_fc.")))
    assert strategies.count_parameters("efficientnet_lite0", "last-block", 3)[0] == late
    assert strategies.count_parameters("efficientnet_lite0", "full", 3)[0] == sum(p.numel() for p in model.parameters())


def test_parameter_groups_use_their_learning_rates() -> None:
    entry = zoo.MODELS["efficientnet_lite0"]
    model = zoo.replace_head(entry.builder(), entry, 4)
    groups = strategies.apply_strategy(model, entry, TrainConfig(strategy="full", lr_head=3e-3, lr_backbone=2e-5))
    assert [(g["name"], g["lr"]) for g in groups] == [("backbone", 2e-5), ("head", 3e-3)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


@pytest.mark.parametrize("strategy", ["last-block", "full"])
def test_batchnorm_keeps_pretrained_statistics_while_its_affine_trains(tiny: Dataset, strategy: str) -> None:
    # Small-data fine-tuning normalises with the pretrained running statistics: in train mode
    # BatchNorm would use batch statistics that validation (running statistics) never sees.
    before = {k: v.clone() for k, v in zoo.load_zoo_model("efficientnet_lite0").model.state_dict().items()}
    result = training.train(TrainConfig(**TINY, strategy=strategy), tiny)
    after = result.model.state_dict()
    bn_stats = [k for k in after if k.endswith(("running_mean", "running_var"))]
    assert bn_stats and all(torch.equal(before[k], after[k].cpu()) for k in bn_stats)
    head_bn_weight = "_bn1.weight"  # the BatchNorm after the head conv trains under both strategies
    assert not torch.equal(before[head_bn_weight], after[head_bn_weight].cpu())
