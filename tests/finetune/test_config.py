"""TrainConfig: checked once, when built; the module that states every setting needs no torch."""
from __future__ import annotations

import subprocess
import sys

import pytest

from playground.finetune import config
from playground.finetune import loop as training
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.data import Dataset
from playground.models import registry as zoo
from tests.conftest import REPO
from tests.support.finetune_data import TINY


@pytest.mark.parametrize("change, match", [
    (dict(strategy="everything"), r"unknown strategy 'everything'; choose one of: head, last-block, full"),
    (dict(model="vgg99"), r"unknown model 'vgg99'"),
    (dict(epochs=0), r"epochs must be a whole number from 1 to 500"),
    (dict(image_size=8), r"image size must be a whole number from 32 to 640"),
    (dict(lr_head=0.0), r"lr head must be above 0"),
    (dict(val_fraction=1.5), r"validation fraction must be between 0 and 1"),
    (dict(precision="fp8"), r"precision must be auto, fp32 or mixed"),
])
def test_bad_settings_are_named(tiny: Dataset, change: dict, match: str) -> None:
    with pytest.raises(TrainingError, match=match):
        training.train(TrainConfig(**dict(TINY, **change)), tiny)


def test_the_config_module_needs_no_torch_and_names_the_zoo_default() -> None:
    # The CLI's parser and the job manager import it; torch would make both slow to start.
    code = "import sys, playground.finetune.config; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
    assert config.DEFAULT_MODEL == zoo.DEFAULT_MODEL
    assert tuple(zoo.MODELS) == config.MODEL_NAMES  # same names, same order (the error message lists them)


def test_settings_are_checked_when_a_config_is_built() -> None:
    with pytest.raises(TrainingError, match=r"seed must be a whole number from 0 to"):
        TrainConfig(seed=-1)
    with pytest.raises(TrainingError, match=r"epochs must be a whole number from 1 to 500 \(got 2.5\)"):
        TrainConfig.from_dict({"epochs": 2.5})
    assert TrainConfig.from_dict(TrainConfig(epochs=3).to_dict() | {"unknown": 1}) == TrainConfig(epochs=3)
