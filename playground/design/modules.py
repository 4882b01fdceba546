"""The PyTorch modules a spec builds into, copied verbatim into exported code when a spec uses them.

Each uses only ``torch`` / ``nn`` / ``Tensor`` and the helpers defined here (``conv_bn``,
``activation``, ``BasicConv2d``, ``Permute``), so exported code needs nothing else. Parameter names
follow the reference implementations (torchvision's ``BasicBlock``, ``Bottleneck``, ``MBConv``,
``FusedMBConv``, ``SqueezeExcitation``, MobileNet-V3's ``InvertedResidual``, ``Inception``,
``CNBlock``, ``_DenseLayer``), so a reference block's state dict loads into ours unchanged.
``Net`` is the network: an ``nn.Sequential`` whose item i is layer i of the spec, the same class in
``build_model`` and in exported code, so their state-dict keys (``0.weight``, ``4.paths.1.0.weight``)
are equal and weights load from one into the other.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Net", "DWSep", "BasicBlock", "Bottleneck", "Branch", "LayerNorm2d", "LayerScale", "DropPath",
           "SqueezeExcitation", "InvertedResidual", "MBConv", "FusedMBConv", "Inception", "CNBlock", "DenseLayer",
           "BasicConv2d", "Permute", "conv_bn", "activation", "make_divisible"]


class Net(nn.Sequential):
    """A network from a layer spec: ``net[i]`` is layer i."""

    @property
    def layers(self) -> nn.Sequential:
        """The network itself (exports before graph designs kept their layers in ``self.layers``)."""
        return self


def activation(name: str) -> nn.Module:
    """An activation by its spec name."""
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish, "gelu": nn.GELU,
            "sigmoid": nn.Sigmoid, "hardsigmoid": nn.Hardsigmoid}[name]()


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to a multiple of ``divisor``, never more than 10% down (torchvision's _make_divisible)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def conv_bn(c_in: int, c_out: int, kernel_size: int | tuple[int, int] = 1, stride: int | tuple[int, int] = 1,
            groups: int = 1, act: str | None = None) -> nn.Sequential:
    """conv (no bias, padding (k-1)//2) -> BN [-> activation], as torchvision's Conv2dNormActivation."""
    kh, kw = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    layers = [nn.Conv2d(c_in, c_out, (kh, kw), stride, ((kh - 1) // 2, (kw - 1) // 2), groups=groups, bias=False),
              nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(activation(act))
    return nn.Sequential(*layers)


class DWSep(nn.Module):
    """MobileNet-V1 depthwise-separable block.

    depthwise k×k conv (one filter per channel, padding (k-1)//2) -> BN -> ReLU
    -> pointwise 1×1 conv (mixes channels) -> BN -> ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        kh, kw = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
        padding = ((kh - 1) // 2, (kw - 1) // 2)
        self.depthwise = nn.Conv2d(in_channels, in_channels, (kh, kw), stride, padding, groups=in_channels,
                                   bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.depthwise(x)))  # (B, C_in, H', W'): each channel filtered on its own
        return self.relu(self.bn2(self.pointwise(x)))  # (B, C_out, H', W')


class BasicBlock(nn.Module):
    """ResNet basic block (as torchvision.models.resnet.BasicBlock).

    3×3 conv (stride) -> BN -> ReLU -> 3×3 conv -> BN, plus the shortcut, -> ReLU.
    The shortcut is a 1×1 conv (stride) + BN when the shape changes, else the input.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int | tuple[int, int] = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride not in (1, (1, 1)) or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, C_out, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C_out, H', W')
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet bottleneck block (as torchvision.models.resnet.Bottleneck, stride on the 3×3).

    1×1 conv (to the width) -> BN -> ReLU -> 3×3 conv (stride, groups) -> BN -> ReLU
    -> 1×1 conv (to out_channels) -> BN, plus the shortcut, -> ReLU. The width is
    int(out_channels / 4 · width_per_group / 64) · groups (ResNeXt, Wide ResNet).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int | tuple[int, int] = 1, groups: int = 1,
                 width_per_group: int = 64) -> None:
        super().__init__()
        width = int(out_channels // 4 * (width_per_group / 64.0)) * groups
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride not in (1, (1, 1)) or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, C_out, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, width, H', W')
        out = self.bn3(self.conv3(out))  # (B, C_out, H', W')
        return self.relu(out + identity)


class Branch(nn.Module):
    """Paths side by side on the same input (``split``: on equal shares of its channels), merged by
    "add", "concat" (along channels) or "mul" (a C×1×1 path broadcasts as a gate); an empty path is
    the identity."""

    def __init__(self, merge: str, paths: list[list[nn.Module]], split: bool = False) -> None:
        super().__init__()
        self.merge, self.split = merge, split
        self.paths = nn.ModuleList(nn.Sequential(*path) for path in paths)

    def forward(self, x: Tensor) -> Tensor:
        inputs = torch.chunk(x, len(self.paths), dim=1) if self.split else [x] * len(self.paths)
        outs = [path(xi) for path, xi in zip(self.paths, inputs)]  # each (B, C_i, H', W')
        if self.merge == "concat":
            return torch.cat(outs, dim=1)
        out = outs[0]
        for other in outs[1:]:
            out = out + other if self.merge == "add" else out * other
        return out


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of every position of a (B, C, H, W) map (as ConvNeXt's)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C): normalise the last dimension
        return super().forward(x).permute(0, 3, 1, 2)  # (B, C, H, W)


class LayerScale(nn.Module):
    """A learned factor per channel, starting at ``init_value`` (ConvNeXt's layer scale)."""

    def __init__(self, channels: int, init_value: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels, 1, 1), init_value))

    def forward(self, x: Tensor) -> Tensor:
        return self.weight * x  # (B, C, H, W)


class DropPath(nn.Module):
    """Stochastic depth (as torchvision.ops.StochasticDepth): while training, zero the whole input of a
    sample ("row") or of the batch ("batch") with probability p, and scale the rest by 1 / (1 - p)."""

    def __init__(self, p: float = 0.1, mode: str = "row") -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(keep)
        if keep > 0.0:
            noise.div_(keep)
        return x * noise


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (as torchvision.ops.SqueezeExcitation): a per-channel gate from the
    globally pooled map, through a 1×1 conv to ``squeeze`` channels and back."""

    def __init__(self, channels: int, squeeze: int, act: str = "relu", gate: str = "sigmoid") -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = activation(act)
        self.scale_activation = activation(gate)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))  # (B, C, 1, 1)
        return self.scale_activation(scale) * x  # (B, C, H, W)


class InvertedResidual(nn.Module):
    """MobileNet-V2/V3 inverted residual (as torchvision's mobilenetv3.InvertedResidual): 1×1 expand
    (when it widens) -> depthwise k×k (stride) -> [squeeze-and-excitation] -> linear 1×1 projection,
    plus the input when stride is 1 and the width is kept."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 6.0,
                 kernel_size: int | tuple[int, int] = 3, stride: int | tuple[int, int] = 1, se: bool = False,
                 act: str = "relu6", expanded_channels: int | None = None) -> None:
        super().__init__()
        hidden = expanded_channels or int(round(in_channels * expand_ratio))
        expands = hidden != in_channels if expanded_channels else expand_ratio != 1
        self.use_res_connect = stride in (1, (1, 1)) and in_channels == out_channels
        layers: list[nn.Module] = [conv_bn(in_channels, hidden, act=act)] if expands else []
        layers.append(conv_bn(hidden, hidden, kernel_size, stride, groups=hidden, act=act))
        if se:
            layers.append(SqueezeExcitation(hidden, make_divisible(hidden // 4), "relu", "hardsigmoid"))
        layers.append(conv_bn(hidden, out_channels))
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)  # (B, C_out, H', W')
        return out + x if self.use_res_connect else out


class MBConv(nn.Module):
    """EfficientNet's MBConv (as torchvision's): 1×1 expand to a multiple of 8 (when it widens) ->
    depthwise k×k (stride) -> squeeze-and-excitation -> 1×1 projection, SiLU throughout, plus the input
    (after stochastic depth) when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 6.0,
                 kernel_size: int | tuple[int, int] = 3, stride: int | tuple[int, int] = 1, se_ratio: float = 0.25,
                 stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        hidden = make_divisible(in_channels * expand_ratio)
        self.use_res_connect = stride in (1, (1, 1)) and in_channels == out_channels
        layers: list[nn.Module] = [conv_bn(in_channels, hidden, act="silu")] if hidden != in_channels else []
        layers.append(conv_bn(hidden, hidden, kernel_size, stride, groups=hidden, act="silu"))
        if se_ratio > 0:
            layers.append(SqueezeExcitation(hidden, max(1, int(in_channels * se_ratio)), "silu"))
        layers.append(conv_bn(hidden, out_channels))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = DropPath(stochastic_depth_prob, "row")

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)  # (B, C_out, H', W')
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class FusedMBConv(nn.Module):
    """EfficientNet-V2's Fused-MBConv (as torchvision's): k×k conv (stride) expanding to a multiple of 8,
    then a 1×1 projection (or one k×k conv at ratio 1), SiLU, plus the input (after stochastic depth)
    when the shape is kept."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 4.0,
                 kernel_size: int | tuple[int, int] = 3, stride: int | tuple[int, int] = 1,
                 stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        hidden = make_divisible(in_channels * expand_ratio)
        self.use_res_connect = stride in (1, (1, 1)) and in_channels == out_channels
        if hidden != in_channels:
            layers = [conv_bn(in_channels, hidden, kernel_size, stride, act="silu"), conv_bn(hidden, out_channels)]
        else:
            layers = [conv_bn(in_channels, out_channels, kernel_size, stride, act="silu")]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = DropPath(stochastic_depth_prob, "row")

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)  # (B, C_out, H', W')
        return self.stochastic_depth(out) + x if self.use_res_connect else out


class BasicConv2d(nn.Module):
    """GoogLeNet's conv unit (as torchvision's): conv without bias -> BN (eps 0.001) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """GoogLeNet's Inception module (as torchvision's): 1×1 | 1×1 -> 3×3 | 1×1 -> 3×3 | 3×3 max-pool ->
    1×1, concatenated along the channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red), BasicConv2d(ch3x3red, ch3x3, 3, 1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red), BasicConv2d(ch5x5red, ch5x5, 3, 1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class Permute(nn.Module):
    """Reorder a tensor's dimensions (ConvNeXt's Linear layers work on (B, H, W, C))."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(*self.dims)


class CNBlock(nn.Module):
    """ConvNeXt block (as torchvision's CNBlock): depthwise 7×7 -> LayerNorm -> Linear to 4C -> GELU ->
    Linear back to C, scaled per channel, after stochastic depth added to the input."""

    def __init__(self, dim: int, layer_scale: float = 1e-6, stochastic_depth_prob: float = 0.0) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),  # (B, H, W, C)
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),  # (B, C, H, W)
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = DropPath(stochastic_depth_prob, "row")

    def forward(self, x: Tensor) -> Tensor:
        return self.stochastic_depth(self.layer_scale * self.block(x)) + x


class DenseLayer(nn.Module):
    """DenseNet layer (as torchvision's _DenseLayer): BN -> ReLU -> 1×1 to bn_size·growth -> BN -> ReLU ->
    3×3 to growth_rate new channels, concatenated after the input."""

    def __init__(self, in_channels: int, growth_rate: int = 32, bn_size: int = 4, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: Tensor) -> Tensor:
        new = self.conv1(self.relu1(self.norm1(x)))  # (B, bn_size·growth, H, W)
        new = self.drop(self.conv2(self.relu2(self.norm2(new))))  # (B, growth, H, W)
        return torch.cat([x, new], 1)
