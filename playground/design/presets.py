"""Ready-made designs for the designer: classic CNNs written as layer specs.

Each preset is a plain spec dict (the DESIGN.md "Layer spec" format), so it can be
analysed, built, exported or encoded into a share link like any user design. The
parameter counts match the reference implementations (torchvision where one
exists); ``tests/design/test_presets.py`` checks them against PyTorch.
"""
from __future__ import annotations

import copy
from typing import Any

__all__ = ["PRESETS", "PRESET_NOTES", "DEFAULT_SPEC", "preset", "default_spec"]

Layer = dict[str, Any]


def _conv(out: int, k: int, stride: int = 1, padding: int = 0, *, bias: bool = True) -> Layer:
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, "stride": stride,
            "padding": padding, "bias": bias}


def _conv_bn_relu(out: int, k: int = 3, stride: int = 1) -> list[Layer]:
    # The modern conv unit: no bias because the BatchNorm right after has its own shift.
    return [_conv(out, k, stride, (k - 1) // 2, bias=False), {"type": "batchnorm2d"}, {"type": "relu"}]


def _head(out_features: int = 1000) -> list[Layer]:
    # Global average pooling head (ResNet, MobileNet): one number per channel, then one Linear.
    return [{"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": out_features}]


def _lenet5() -> dict[str, Any]:
    # LeCun et al. 1998 with the usual modern simplifications: average pooling instead of the
    # trainable subsampling and a plain Linear instead of the RBF output. C5 is a 5x5
    # convolution over the 5x5 maps, as in the paper (so it is equivalent to a fully connected layer).
    return {"name": "LeNet-5", "input": [1, 32, 32], "layers": [
        _conv(6, 5), {"type": "tanh"}, {"type": "avgpool2d", "kernel_size": 2},
        _conv(16, 5), {"type": "tanh"}, {"type": "avgpool2d", "kernel_size": 2},
        _conv(120, 5), {"type": "tanh"},
        {"type": "flatten"},
        {"type": "linear", "out_features": 84}, {"type": "tanh"},
        {"type": "linear", "out_features": 10},
    ]}


def _alexnet() -> dict[str, Any]:
    # torchvision.models.alexnet; its AdaptiveAvgPool2d((6, 6)) is the identity at 224x224, so omitted.
    return {"name": "AlexNet-like", "input": [3, 224, 224], "layers": [
        _conv(64, 11, 4, 2), {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 3, "stride": 2},
        _conv(192, 5, 1, 2), {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 3, "stride": 2},
        _conv(384, 3, 1, 1), {"type": "relu"},
        _conv(256, 3, 1, 1), {"type": "relu"},
        _conv(256, 3, 1, 1), {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 3, "stride": 2},
        {"type": "flatten"},
        {"type": "dropout", "p": 0.5}, {"type": "linear", "out_features": 4096}, {"type": "relu"},
        {"type": "dropout", "p": 0.5}, {"type": "linear", "out_features": 4096}, {"type": "relu"},
        {"type": "linear", "out_features": 1000},
    ]}


def _vgg16() -> dict[str, Any]:
    # torchvision.models.vgg16 (configuration "D", no batch norm); AdaptiveAvgPool2d((7, 7)) is
    # the identity at 224x224, so omitted.
    layers: list[Layer] = []
    for stage in ([64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]):
        for width in stage:
            layers += [_conv(width, 3, 1, 1), {"type": "relu"}]
        layers.append({"type": "maxpool2d", "kernel_size": 2, "stride": 2})
    layers += [
        {"type": "flatten"},
        {"type": "linear", "out_features": 4096}, {"type": "relu"}, {"type": "dropout", "p": 0.5},
        {"type": "linear", "out_features": 4096}, {"type": "relu"}, {"type": "dropout", "p": 0.5},
        {"type": "linear", "out_features": 1000},
    ]
    return {"name": "VGG-16", "input": [3, 224, 224], "layers": layers}


def _resnet18() -> dict[str, Any]:
    # torchvision.models.resnet18: 7x7 stem, max pool, four stages of two BasicBlocks, GAP + fc.
    layers: list[Layer] = [
        _conv(64, 7, 2, 3, bias=False), {"type": "batchnorm2d"}, {"type": "relu"},
        {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
    ]
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [{"type": "residual", "out_channels": width, "stride": stride},
                   {"type": "residual", "out_channels": width, "stride": 1}]
    return {"name": "ResNet-18-style", "input": [3, 224, 224], "layers": layers + _head()}


def _mobilenet_v1() -> dict[str, Any]:
    # Howard et al. 2017, Table 1 (width multiplier 1.0): a full 3x3 conv, then 13
    # depthwise-separable blocks, global average pooling and a 1000-way classifier.
    layers: list[Layer] = _conv_bn_relu(32, 3, 2)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers += [{"type": "dwsep", "out_channels": out, "kernel_size": 3, "stride": s} for out, s in blocks]
    return {"name": "MobileNet-V1-style", "input": [3, 224, 224], "layers": layers + _head()}


def _small_cnn() -> dict[str, Any]:
    # The designer's starting point: a CIFAR-sized stack whose last conv sees the whole 32x32 input.
    layers: list[Layer] = []
    for width in (16, 32, 64):
        layers += _conv_bn_relu(width) + [{"type": "maxpool2d", "kernel_size": 2}]
    layers += _conv_bn_relu(128)
    return {"input": [3, 32, 32], "layers": layers + _head(10)}


# Name -> spec dict. Treat as read-only; `preset(name)` returns a private copy to edit.
PRESETS: dict[str, dict[str, Any]] = {
    "LeNet-5": _lenet5(),
    "AlexNet-like": _alexnet(),
    "VGG-16": _vgg16(),
    "ResNet-18-style": _resnet18(),
    "MobileNet-V1-style": _mobilenet_v1(),
}

# Name -> one line on what the preset shows.
PRESET_NOTES: dict[str, str] = {
    "LeNet-5": "LeCun 1998, 1x32x32 digits: tanh, average pooling and a 5x5 conv that ends at 1x1; 61,706 parameters.",
    "AlexNet-like": "Krizhevsky 2012 as in torchvision: large strided first kernel, ReLU, dropout; most of its "
                    "61.1 M parameters sit in the fully connected head.",
    "VGG-16": "Simonyan & Zisserman 2014: only 3x3 convs in five stages; 138.4 M parameters, "
              "about 89% of them in the three Linear layers.",
    "ResNet-18-style": "He 2015 as in torchvision: 7x7 stem, eight BasicBlocks with skip connections, "
                       "global average pooling; 11.7 M parameters.",
    "MobileNet-V1-style": "Howard 2017: 13 depthwise-separable blocks; about 4.2 M parameters for ImageNet.",
}

DEFAULT_SPEC: dict[str, Any] = _small_cnn()


def preset(name: str) -> dict[str, Any]:
    """Return an editable deep copy of the named preset (KeyError names the choices)."""
    try:
        return copy.deepcopy(PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def default_spec() -> dict[str, Any]:
    """Return an editable copy of the design the designer starts with."""
    return copy.deepcopy(DEFAULT_SPEC)
