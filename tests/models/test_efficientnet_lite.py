"""playground.models.efficientnet_lite: the architecture, its width/depth scaling, TensorFlow's "same" padding.
(Strict loads and real-photo checks of all three variants: tests/models/test_offline_models.py.)"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from playground.catalog import load_model
from playground.models.efficientnet_lite import (
    LITE0_STAGES,
    Conv2dSame,
    efficientnet_lite0,
    efficientnet_lite1,
    efficientnet_lite2,
    lite_stages,
)
from playground.models.preprocess import Preprocess
from playground.models.registry import DEFAULT_MODEL
from playground.samples import load_sample


@pytest.fixture(scope="module")
def lite0():
    return load_model(DEFAULT_MODEL)


def top5(loaded, img, preprocess=None) -> list[tuple[str, float]]:
    x = (preprocess or loaded.preprocess)(img)[None]
    with torch.inference_mode():
        probs = loaded.model(x).softmax(1)[0]
    values, indices = probs.topk(5)
    return [(loaded.categories[i], float(v)) for v, i in zip(values, indices)]


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
    assert lite_stages(1.0, 1.0) == LITE0_STAGES
    with torch.no_grad():
        assert model.extract_features(torch.randn(1, 3, 225, 193)).shape == (1, 1280, 8, 7)
        assert model(torch.randn(2, 3, 97, 130)).shape == (2, 7)


def test_lite_scaling_rules() -> None:
    """Lite1 deepens the middle stages only; Lite2 also widens them by 10% (rounded to multiples of 8),
    while the stem (32), the head (1280) and the single first and last blocks stay: what the
    checkpoints' shapes say (their strict loads are tested with the real weights)."""
    lite1 = lite_stages(1.0, 1.1)
    assert [s.repeats for s in lite1] == [1, 3, 3, 4, 4, 5, 1]
    assert [s.out_ch for s in lite1] == [s.out_ch for s in LITE0_STAGES]
    lite2 = lite_stages(1.1, 1.2)
    assert [s.repeats for s in lite2] == [1, 3, 3, 4, 4, 5, 1]
    assert [s.out_ch for s in lite2] == [16, 24, 48, 88, 120, 208, 352] and lite2[0].in_ch == 32
    with torch.device("meta"):
        for builder, blocks, last in ((efficientnet_lite1, 21, 320), (efficientnet_lite2, 21, 352)):
            model = builder(num_classes=5)
            assert len(model._blocks) == blocks and model._conv_head.in_channels == last
            assert model._conv_stem.out_channels == 32 and model._conv_head.out_channels == 1280
            assert model._fc.out_features == 5
