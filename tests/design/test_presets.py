"""Presets are the networks they claim to be: parameter counts and outputs checked against PyTorch."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from playground.design.advice import advise
from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.design.presets import DEFAULT_SPEC, PRESET_NOTES, PRESETS, default_spec, preset


def _numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _mobilenet_v1_reference() -> nn.Module:
    """MobileNet-V1 written out from the paper's Table 1, independently of the spec builder."""
    def dw(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(),
                nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    cfg = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2)]
    cfg += [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    layers: list[nn.Module] = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU()]
    for c_in, c_out, s in cfg:
        layers += dw(c_in, c_out, s)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000))


@pytest.mark.parametrize(("name", "reference"), [
    ("AlexNet-like", torchvision.models.alexnet),
    ("VGG-16", torchvision.models.vgg16),
    ("ResNet-18-style", torchvision.models.resnet18),
    ("MobileNet-V1-style", _mobilenet_v1_reference),
])
def test_parameter_counts_match_pytorch_references(name: str, reference) -> None:
    with torch.device("meta"):  # shapes only: no memory, no init time
        expected = _numel(reference())
        built = _numel(build_model(PRESETS[name]))
    assert analyze(PRESETS[name]).total_params == expected == built


def test_published_figures() -> None:
    counts = {name: analyze(spec).total_params for name, spec in PRESETS.items()}
    assert counts == {"LeNet-5": 61_706, "AlexNet-like": 61_100_840, "VGG-16": 138_357_544,
                      "ResNet-18-style": 11_689_512, "MobileNet-V1-style": 4_231_976}


def test_every_preset_runs_in_pytorch_with_the_analysed_output() -> None:
    # LeNet-5 and the default design are small enough to run for real; the ImageNet ones end in 1000 classes.
    for spec in (PRESETS["LeNet-5"], DEFAULT_SPEC):
        with torch.no_grad():
            y = build_model(spec).eval()(torch.zeros(2, *spec["input"]))  # (B, classes)
        assert tuple(y.shape[1:]) == analyze(spec).output_shape
    for name in ("AlexNet-like", "VGG-16", "ResNet-18-style", "MobileNet-V1-style"):
        assert analyze(PRESETS[name]).output_shape == (1000,)


def test_the_default_design_is_clean_and_notes_cover_every_preset() -> None:
    assert advise(DEFAULT_SPEC, analyze(DEFAULT_SPEC)) == []
    assert set(PRESET_NOTES) == set(PRESETS)


def test_copies_are_private() -> None:
    mine = preset("VGG-16")
    mine["layers"].clear()
    assert PRESETS["VGG-16"]["layers"]
    d = default_spec()
    d["input"][0] = 1
    assert DEFAULT_SPEC["input"][0] == 3
    with pytest.raises(KeyError, match="choose one of"):
        preset("VGG-19")
