"""playground.models.efficientnet_lite: the architecture, TensorFlow's "same" padding, and the shipped weights."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from playground.models.efficientnet_lite import Conv2dSame, efficientnet_lite0
from playground.models.preprocess import Preprocess
from playground.models.registry import DEFAULT_MODEL, MODELS, load_model
from playground.samples import load_sample
from tests.model_data import CAT_CLASSES


@pytest.fixture(scope="module")
def lite0():
    return load_model(DEFAULT_MODEL)


def top5(loaded, img, preprocess=None) -> list[tuple[str, float]]:
    x = (preprocess or loaded.preprocess)(img)[None]
    with torch.inference_mode():
        probs = loaded.model(x).softmax(1)[0]
    values, indices = probs.topk(5)
    return [(loaded.categories[i], float(v)) for v, i in zip(values, indices)]


def test_every_checkpoint_key_is_consumed(lite0) -> None:
    checkpoint = MODELS[DEFAULT_MODEL].weights.load_state_dict()
    own = lite0.model.state_dict()
    assert set(own) == set(checkpoint) and len(own) == 296
    for key, value in checkpoint.items():
        assert torch.equal(own[key], value), key
    assert sum(p.numel() for p in lite0.model.parameters()) == 4_652_008
    assert not lite0.model.training


def test_real_photos_get_sensible_labels(lite0) -> None:
    coffee = [label for label, _ in top5(lite0, load_sample("Coffee cup"))]
    assert {"espresso", "cup"} & set(coffee), coffee
    cat = top5(lite0, load_sample("Cat (Chelsea)"))
    assert cat[0][0] in CAT_CLASSES and sum(p for label, p in cat if label in CAT_CLASSES) > 0.8, cat


def test_tf_lite_normalisation_beats_imagenet_statistics(lite0) -> None:
    """Why the entry uses (x - 127) / 128: it makes the converted TF-Lite weights confident."""
    imagenet = Preprocess(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bicubic")
    for name, label in (("Coffee cup", "espresso"), ("Motorcycle (left view)", "moped")):
        ours = dict(top5(lite0, load_sample(name)))
        theirs = dict(top5(lite0, load_sample(name), imagenet))
        assert ours[label] > theirs.get(label, 0.0) + 0.1, (name, ours, theirs)


def test_tensorflow_same_padding_by_hand() -> None:
    conv = Conv2dSame(1, 1, 3, stride=2)
    x = torch.randn(1, 1, 8, 8)
    # Even input, stride 2: TF pads 0 before and 1 after, so output (0, 0) sees x[0:3, 0:3].
    assert torch.allclose(conv(x)[0, 0, 0, 0], (x[0, 0, :3, :3] * conv.weight[0, 0]).sum(), atol=1e-6)
    assert conv(x).shape[-2:] == (4, 4)
    # Odd input, stride 2: symmetric 1/1, so output (0, 0) is centred on x[0, 0].
    x = torch.randn(1, 1, 9, 9)
    assert torch.allclose(conv(x)[0, 0, 0, 0], (x[0, 0, :2, :2] * conv.weight[0, 0, 1:, 1:]).sum(), atol=1e-6)
    assert conv(x).shape[-2:] == (5, 5)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 2, 3, 4, 5]), st.sampled_from([1, 2, 3]))
def test_same_padding_output_size_and_stride1_matches_pytorch_same(h: int, w: int, k: int, s: int) -> None:
    conv = Conv2dSame(2, 3, k, stride=s)
    y = conv(torch.randn(1, 2, h, w))
    assert y.shape == (1, 3, -(-h // s), -(-w // s))
    if s == 1:  # PyTorch's own "same" puts the extra pixel right/bottom too: an independent oracle
        x = torch.randn(1, 2, h, w)
        assert torch.allclose(conv(x), F.conv2d(x, conv.weight, padding="same"), atol=1e-5)


def test_lite0_structure_and_any_input_size() -> None:
    model = efficientnet_lite0(num_classes=7).eval()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in model.modules())  # ReLU6, no squeeze-excite
    with torch.no_grad():
        assert model.extract_features(torch.randn(1, 3, 225, 193)).shape == (1, 1280, 8, 7)
        assert model(torch.randn(2, 3, 97, 130)).shape == (2, 7)
