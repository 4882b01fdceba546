"""playground.models.preprocess: the registry's preprocessing against torchvision's transforms (the oracle)."""
from __future__ import annotations

import json

import pytest
import torchvision
from torchvision.transforms import InterpolationMode

from playground.models.preprocess import Preprocess
from playground.models.registry import DEFAULT_MODEL, MODELS
from playground.samples import load_sample


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0", "convnext_tiny", DEFAULT_MODEL])
@pytest.mark.parametrize("photo, size", [("Astronaut", None), ("Rocket", None), ("Coffee cup", (97, 300)),
                                         ("Cat (Chelsea)", (150, 120))])
def test_preprocess_matches_torchvision_transforms(name: str, photo: str, size) -> None:
    """Our one-step crop+resize against torchvision's Resize + CenterCrop + Normalize (the oracle)."""
    entry = MODELS[name]
    p = entry.preprocess
    img = load_sample(photo) if size is None else load_sample(photo).resize(size)
    want = torchvision.transforms.Compose([
        torchvision.transforms.Resize(p.resize, interpolation=InterpolationMode(p.interpolation)),
        torchvision.transforms.CenterCrop(p.crop), torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize(p.mean, p.std)])(img)
    got = p(img)
    assert got.shape == want.shape == (3, p.crop, p.crop)
    step = 1 / 255 / min(p.std) + 1e-5  # one grey level after normalising
    diff = (got - want).abs()
    assert diff.max() <= step and (diff > 1e-5).float().mean() < 0.01
    if name != DEFAULT_MODEL:  # and the registry's numbers are the weights' own transforms
        weights = getattr(torchvision.models, {"resnet50": "ResNet50_Weights", "efficientnet_b0":
                          "EfficientNet_B0_Weights", "convnext_tiny": "ConvNeXt_Tiny_Weights"}[name]).DEFAULT
        assert (got - weights.transforms()(img)).abs().max() <= step


def test_preprocess_round_trip_and_validation() -> None:
    p = MODELS[DEFAULT_MODEL].preprocess
    assert Preprocess.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    for bad, word in (({"crop": 224}, "resize"), ({**p.to_dict(), "std": [1, 0, 1]}, "std"),
                      ({**p.to_dict(), "interpolation": "lanczos9"}, "interpolation")):
        with pytest.raises(ValueError, match=word):
            Preprocess.from_dict(bad)
