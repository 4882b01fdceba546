"""The Concepts page's experiments, as pure functions.

Every count (shapes, parameters, MACs, receptive fields) comes from :func:`playground.design.analysis.analyze`
on the layer spec the lesson is about, so the page shows exactly what the designer shows for the same
stack (and links to it). Pictures come from running the operation with PyTorch on a real photo.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from playground.design.analysis import LayerReport, Report, analyze
from playground.spec.share import encode_share

__all__ = [
    "output_of",
    "field_of",
    "KERNELS",
    "hierarchy_layers",
    "gray_photo",
    "apply_conv",
    "apply_maxpool",
    "conv_layer",
    "conv_spec",
    "designer_url",
    "Side",
    "Comparison",
    "parameter_sharing",
    "conv_as_dense",
    "padding_comparison",
    "downsample_comparison",
    "stack_spec",
    "stacked_fields",
    "ERF_KINDS",
    "erf_spec",
    "erf_growth",
    "dwsep_specs",
    "dwsep_comparison",
    "GradientFlow",
    "gradient_flow",
    "skip_specs",
]

Kernel = tuple[tuple[float, float, float], ...]

# Classic hand-made 3×3 filters: what a learned first-layer kernel often ends up resembling.
KERNELS: dict[str, Kernel] = {
    "Identity": ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
    "Box blur": ((1 / 9,) * 3,) * 3,
    "Gaussian blur": ((1 / 16, 2 / 16, 1 / 16), (2 / 16, 4 / 16, 2 / 16), (1 / 16, 2 / 16, 1 / 16)),
    "Sharpen": ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
    "Sobel x (vertical edges)": ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
    "Sobel y (horizontal edges)": ((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
    "Edges (Laplacian)": ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1)),
}


def output_of(report: Report) -> tuple[int, ...]:
    """The output shape of a lesson's stack (always valid: the lessons build their specs themselves)."""
    if report.output_shape is None:
        raise ValueError("a lesson built an invalid spec")  # a bug here, never a user's input
    return report.output_shape


def field_of(layer: LayerReport, what: str = "receptive_field") -> tuple[float, float]:
    """A lesson layer's ``receptive_field`` (or ``jump``): always known before any flatten."""
    value = getattr(layer, what)
    if value is None:
        raise ValueError(f"a lesson layer has no {what}")  # a bug here, never a user's input
    return value


def designer_url(spec: dict[str, Any]) -> str:
    """Relative link that opens the designer on ``spec`` (``design?spec=<token>``)."""
    return f"design?spec={encode_share(spec)}"


# --------------------------------------------------------------------------- photos and filters


MIN_SIDE = 16  # the shorter side never drops below this, so every lesson's conv and pool has room


def gray_photo(img: Image.Image, side: int = 192) -> np.ndarray:
    """The photo as a grey ``(H, W)`` float32 array in [0, 1], longer side ``side`` pixels.

    A very elongated upload is stretched so its shorter side is at least ``MIN_SIDE`` pixels.
    """
    img = img.convert("L")
    scale = side / max(img.size)
    size = (max(MIN_SIDE, round(img.width * scale)), max(MIN_SIDE, round(img.height * scale)))
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def apply_conv(gray: np.ndarray, kernel: Sequence[Sequence[float]], stride: int = 1,
               padding: int | str = 0, dilation: int = 1) -> np.ndarray:
    """One-channel ``F.conv2d`` (cross-correlation, as PyTorch computes it) of a grey image."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None]  # (1, 1, H, W)
    w = torch.tensor(np.asarray(kernel, dtype=np.float32))[None, None]  # (1, 1, k, k)
    with torch.no_grad():
        y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)  # (1, 1, H', W')
    return y[0, 0].numpy()


def apply_maxpool(gray: np.ndarray, kernel_size: int = 2) -> np.ndarray:
    """``F.max_pool2d`` of a grey image (stride = kernel, as nn.MaxPool2d's default)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None]  # (1, 1, H, W)
    with torch.no_grad():
        return F.max_pool2d(x, kernel_size)[0, 0].numpy()


def conv_layer(out_channels: int = 1, kernel_size: int = 3, stride: int = 1, padding: int | str = 0,
               dilation: int = 1, groups: int = 1, bias: bool = True) -> dict[str, Any]:
    """One ``conv2d`` layer of the spec, every key explicit."""
    return {"type": "conv2d", "out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
            "padding": padding, "dilation": dilation, "groups": groups, "bias": bias}


def conv_spec(input_shape: Sequence[int], **conv: Any) -> dict[str, Any]:
    """A one-layer spec: the given input and one conv2d (see :func:`conv_layer`)."""
    return {"input": list(input_shape), "layers": [conv_layer(**conv)]}


@dataclass(frozen=True)
class Side:
    """One way of doing the job: its layer spec and the designer's analysis of it."""

    spec: dict[str, Any]
    report: Report


@dataclass(frozen=True)
class Comparison:
    """The same job done two (or more) ways, by name: ``cmp["conv"].report.total_params``."""

    sides: dict[str, Side]

    def __getitem__(self, name: str) -> Side:
        return self.sides[name]

    def ratio(self, larger: str, smaller: str, what: str = "params") -> float:
        """How many times more parameters (``what="params"``) or MACs (``"macs"``) ``larger`` needs."""
        a, b = self.sides[larger].report, self.sides[smaller].report
        return getattr(a, f"total_{what}") / getattr(b, f"total_{what}")


def _compare(**specs: dict[str, Any]) -> Comparison:
    return Comparison({name.replace("_", " "): Side(spec, analyze(spec)) for name, spec in specs.items()})


# --------------------------------------------------------------------------- parameter sharing


def parameter_sharing(h: int, w: int, kernel_size: int = 3, in_channels: int = 1, out_channels: int = 1) -> Comparison:
    """``conv``: a valid conv on a C×H×W input; ``dense``: a Linear from every input value to every output value."""
    conv = conv_spec([in_channels, h, w], out_channels=out_channels, kernel_size=kernel_size)
    out_values = int(np.prod(output_of(analyze(conv))))
    dense = {"input": [in_channels, h, w],
             "layers": [{"type": "flatten"}, {"type": "linear", "out_features": out_values}]}
    return _compare(conv=conv, dense=dense)


def conv_as_dense(kernel: Sequence[Sequence[float]], h: int, w: int) -> np.ndarray:
    """The ``(H'·W', H·W)`` matrix of a valid one-channel conv: row = output pixel, column = input pixel.

    Built by convolving each one-hot image, so ``matrix @ x.ravel()`` equals ``apply_conv(x, kernel)``;
    every row holds the same k·k weights, shifted: that repetition is parameter sharing.
    """
    basis = np.eye(h * w, dtype=np.float32).reshape(h * w, h, w)
    columns = [apply_conv(one_hot, kernel).ravel() for one_hot in basis]  # each: (H'·W',)
    return np.stack(columns, axis=1)


# --------------------------------------------------------------------------- padding and downsampling


def padding_comparison(size: int = 32, kernel_size: int = 3, channels: int = 1) -> Comparison:
    """``valid`` vs ``same`` padding for a k×k conv on a size×size input."""
    shape = [channels, size, size]
    return _compare(valid=conv_spec(shape, kernel_size=kernel_size, padding="valid"),
                    same=conv_spec(shape, kernel_size=kernel_size, padding="same"))


def downsample_comparison(h: int, w: int, kernel_size: int = 3) -> Comparison:
    """``conv``: a stride-2 conv (padded to stay centred) vs ``pool``: a 2×2 max-pool, on a 1×H×W input."""
    return _compare(conv=conv_spec([1, h, w], kernel_size=kernel_size, stride=2, padding=(kernel_size - 1) // 2),
                    pool={"input": [1, h, w], "layers": [{"type": "maxpool2d", "kernel_size": 2}]})


# --------------------------------------------------------------------------- receptive fields


def stack_spec(layers: int, size: int = 64, kernel_size: int = 3, first_stride: int = 1,
               dilation: int = 1, channels: int = 1) -> dict[str, Any]:
    """``layers`` stacked k×k convs ('same'-style padding), the first with ``first_stride``."""
    pad = dilation * (kernel_size - 1) // 2
    stack = [conv_layer(channels, kernel_size, first_stride if i == 0 else 1, pad, dilation)
             for i in range(layers)]
    return {"input": [channels, size, size], "layers": stack}


def stacked_fields(layers: int, size: int = 64, kernel_size: int = 3, first_stride: int = 1,
                   dilation: int = 1) -> Side:
    """The stack's spec and analysis (``side.report.layers[i].receptive_field`` after layer i+1)."""
    spec = stack_spec(layers, size, kernel_size, first_stride, dilation)
    return Side(spec, analyze(spec))


# --------------------------------------------------------------------------- effective receptive field

ERF_KINDS = ("plain 3×3 convs", "residual blocks", "dilated 3×3 convs (d=2)")
_ERF_SIDE, _ERF_CHANNELS = 80, 8  # room for 16 dilated convs' 65 px field; few channels keep it cheap


def erf_spec(depth: int, kind: str = ERF_KINDS[0]) -> dict[str, Any]:
    """``depth`` 3×3 convs of one of :data:`ERF_KINDS` (residual: depth // 2 BasicBlocks, two convs each)."""
    if kind == ERF_KINDS[1]:
        blocks = [{"type": "residual", "out_channels": _ERF_CHANNELS} for _ in range(max(1, depth // 2))]
        return {"input": [_ERF_CHANNELS, _ERF_SIDE, _ERF_SIDE], "layers": blocks}
    dilation = 2 if kind == ERF_KINDS[2] else 1
    return stack_spec(depth, _ERF_SIDE, 3, 1, dilation, channels=_ERF_CHANNELS)


def erf_growth(depth: int, kind: str = ERF_KINDS[0], samples: int = 3) -> dict[str, Any]:
    """Theoretical and measured effective field (95% of the gradient, Luo et al. 2016) of the last layer."""
    from playground.design.erf import effective_receptive_field

    spec = erf_spec(depth, kind)
    result = effective_receptive_field(spec, samples=samples)
    return {"depth": depth, "kind": kind, "theoretical": result.theoretical[0], "effective": result.effective[0],
            "sigma": result.sigma[0], "spec": spec}


# --------------------------------------------------------------------------- depthwise separable


def dwsep_specs(in_channels: int, out_channels: int, kernel_size: int = 3, size: int = 56
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A regular k×k conv and its depthwise (groups=C_in) + pointwise 1×1 factorisation, no bias."""
    pad = (kernel_size - 1) // 2
    shape = [in_channels, size, size]
    regular = conv_spec(shape, out_channels=out_channels, kernel_size=kernel_size, padding=pad, bias=False)
    separable = {"input": shape, "layers": [
        conv_layer(in_channels, kernel_size, padding=pad, groups=in_channels, bias=False),
        conv_layer(out_channels, 1, bias=False),
    ]}
    return regular, separable


def dwsep_comparison(in_channels: int, out_channels: int, kernel_size: int = 3, size: int = 56) -> Comparison:
    """``regular`` vs ``separable``; ``ratio("regular", "separable")`` ≈ 1 / (1/C_out + 1/k²), 8–9× for 3×3."""
    regular, separable = dwsep_specs(in_channels, out_channels, kernel_size, size)
    return _compare(regular=regular, separable=separable)


# --------------------------------------------------------------------------- skip connections


@dataclass(frozen=True)
class GradientFlow:
    """One backward pass through a deep stack: how much gradient reaches each layer.

    Index 0 is the layer next to the input, index ``depth - 1`` the one next to the loss.
    """

    depth: int
    skip: bool
    signal_norms: tuple[float, ...]  # ‖∂loss/∂h_l‖: the gradient arriving at layer l's input
    weight_norms: tuple[float, ...]  # ‖∂loss/∂W_l‖: what the optimizer gets for layer l's weights
    output_std: float

    @property
    def first_layer(self) -> float:
        """Weight-gradient norm of the first layer: what vanishes without skips."""
        return self.weight_norms[0]

    @property
    def relative_signal(self) -> tuple[float, ...]:
        """Signal norms divided by the last layer's: 1e-10 means almost nothing arrives."""
        top = self.signal_norms[-1]
        return tuple(v / top for v in self.signal_norms)


def _grad_norm(tensor: Any) -> float:
    """The norm of a tensor's gradient after backward (every tensor asked about took part in the loss)."""
    if tensor.grad is None:
        raise ValueError("no gradient reached this tensor")
    return float(tensor.grad.norm())


def gradient_flow(depth: int = 30, skip: bool = False, *, channels: int = 16, size: int = 16,
                  batch: int = 8, seed: int = 0) -> GradientFlow:
    """Measure the gradient reaching each layer of a deep conv stack, with or without skips.

    Each layer's branch is ``F(h) = conv3×3(relu(h))`` (PyTorch's default init, no batch norm);
    the plain stack computes ``h = F(h)``, the residual one ``h = h + F(h)``. One forward/backward
    pass of a mean-squared loss on a random batch against a random target, fixed seed.
    """
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the layers' default init draws from the global generator
        convs = [nn.Conv2d(channels, channels, 3, padding=1) for _ in range(depth)]
    h = torch.randn(batch, channels, size, size, generator=gen)  # (B, C, H, W)
    target = torch.randn(batch, channels, size, size, generator=gen)
    inputs: list[torch.Tensor] = []
    for conv in convs:
        h.requires_grad_(True) if not inputs else h.retain_grad()
        inputs.append(h)
        branch = conv(torch.relu(h))  # (B, C, H, W)
        h = h + branch if skip else branch
    loss = nn.functional.mse_loss(h, target)
    loss.backward()
    signal = tuple(_grad_norm(t) for t in inputs)
    weights = tuple(_grad_norm(conv.weight) for conv in convs)
    return GradientFlow(depth, skip, signal, weights, float(h.detach().std()))


def skip_specs(blocks: int = 8, channels: int = 64, size: int = 56) -> tuple[dict[str, Any], dict[str, Any]]:
    """Designer specs for the lesson: ``blocks`` residual blocks vs the same convs without the skips."""
    plain: list[dict[str, Any]] = []
    for _ in range(blocks):
        for _ in range(2):  # a BasicBlock is two 3×3 conv + batch-norm pairs
            plain += [conv_layer(channels, 3, padding=1, bias=False), {"type": "batchnorm2d"}, {"type": "relu"}]
    residual = [{"type": "residual", "out_channels": channels, "stride": 1} for _ in range(blocks)]
    shape = [channels, size, size]
    return {"input": shape, "layers": plain}, {"input": shape, "layers": residual}


def hierarchy_layers(names: Sequence[str]) -> list[str]:
    """Three layers that show the feature hierarchy: early, middle and late.

    ``names`` are a model's feature layers, input to output (stem first, head
    last). The early pick is the first block after the stem (edges, colours), the
    late one the last block before the head (object parts); the head itself mixes
    everything into 1,280 channels for the classifier, so it is left out.
    """
    if len(names) < 3:
        raise ValueError(f"need at least 3 feature layers, got {len(names)}")
    if len(names) == 3:
        return list(names)
    return [names[1], names[len(names) // 2], names[-2]]
