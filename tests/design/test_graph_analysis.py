"""Graph designs against PyTorch: random nested branches of every merge, every new layer type and the named
blocks; shapes, parameters and MACs row by row (inside branches too) against a forward pass of
``build_model``, the receptive field against a gradient probe, and named blocks against their expansion."""
from __future__ import annotations

import types
import warnings
from typing import Any

import torch
from hypothesis import HealthCheck, event, example, given, settings
from torch import nn

from playground.design.analysis import LayerReport, analyze
from playground.design.build import build_model
from playground.design.expand import EXPANDABLE, expand_block
from playground.design.modules import Branch, LayerNorm2d, SqueezeExcitation
from tests.design.test_analysis import _SumPool, assert_support_matches_field
from tests.support.field_input import enlarged
from tests.support.strategies import GRAPH_EXAMPLE, graphs, one_torch_thread  # noqa: F401 (autouse fixture)


def _macs_of(module: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """MACs counted from the convs / transposed convs / linears PyTorch actually runs (forward hooks)."""
    total = [0]

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(m, nn.ConvTranspose2d):
            kh, kw = m.kernel_size
            total[0] += inputs[0][0].numel() * (m.out_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            total[0] += output[0].numel() * (m.in_channels // m.groups) * kh * kw
        else:
            total[0] += output[0].numel() * m.in_features

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = module(x)
    finally:
        for h in handles:
            h.remove()
    return total[0], out


def _check(row: LayerReport, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The row's numbers against its module run on ``x``; a branch's rows against its paths' modules too."""
    macs, y = _macs_of(module, x)
    assert row.output_shape == tuple(y.shape[1:]), row.name
    assert row.params == sum(p.numel() for p in module.parameters()), row.name
    assert row.macs == macs, row.name
    if isinstance(module, Branch):
        inputs = torch.chunk(x, len(module.paths), 1) if module.split else [x] * len(module.paths)
        for rows, path, xi in zip(row.children, module.paths, inputs):
            for inner_row, inner in zip(rows, path, strict=True):
                xi = _check(inner_row, inner, xi)
    return y


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(spec=GRAPH_EXAMPLE)
@given(spec=graphs())
def test_graph_shapes_params_macs_match_pytorch(spec: dict[str, Any]) -> None:
    report = analyze(spec)
    model = build_model(spec).eval()
    x = torch.rand(2, *spec["input"])
    for row, module in zip(report.layers, model, strict=True):
        x = _check(row, module, x)
    assert report.total_params == sum(p.numel() for p in model.parameters())


# --- receptive field = gradient support ---------------------------------------------------------------

def _gate_detached(module: nn.Module) -> None:
    """A C×1×1 gate scales every position alike, so the analysis leaves it out of the field; the probe
    stops its gradient (which would reach every pixel through the global pool)."""
    if isinstance(module, SqueezeExcitation):
        def se_forward(self: SqueezeExcitation, x: torch.Tensor) -> torch.Tensor:
            return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))).detach() * x
        module.forward = types.MethodType(se_forward, module)  # type: ignore[method-assign]
    elif isinstance(module, Branch) and module.merge == "mul":
        def mul_forward(self: Branch, x: torch.Tensor) -> torch.Tensor:
            outs = [path(x) for path in self.paths]
            big = max(o.shape[-1] * o.shape[-2] for o in outs)
            out = torch.ones(1, dtype=x.dtype)
            for o in outs:
                out = out * (o.detach() if o.shape[-2:] == (1, 1) and big > 1 else o)
            return out
        module.forward = types.MethodType(mul_forward, module)  # type: ignore[method-assign]


def _linearised(model: nn.Module) -> nn.Module:
    """Positive weights, identity activations and normalisations (the field is about which pixels feed a unit
    through the windows), pools as positive window sums, gates detached: gradient support = field."""
    plain = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid,
             nn.LayerNorm, LayerNorm2d, nn.GroupNorm)
    for module in list(model.modules()):
        _gate_detached(module)
        for name, child in module.named_children():
            if isinstance(child, plain):
                setattr(module, name, nn.Identity())
            elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
                setattr(module, name, _SumPool(child))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.fill_(1.0)
    return model.double().eval()  # eval: BatchNorm scales by a positive constant, dropout is off


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@example(spec={**GRAPH_EXAMPLE, "input": [4, 24, 20]})
@given(spec=graphs(max_layers=5, max_side=12, max_channels=4, head=False, upsampling=False))
def test_graph_receptive_field_matches_gradient_support(spec: dict[str, Any]) -> None:
    last = analyze(spec).layers[-1] if spec["layers"] else None
    if last is None or last.receptive_field is None or last.output_shape[1:] == (1, 1):
        return
    big, unit = enlarged(spec, last)  # two diagonal neighbours' fields wholly inside (as for plain stacks)
    report = analyze(big)
    if report.layers[-1].receptive_field != last.receptive_field or report.misaligned:
        return  # an uneven adaptive pool or a merge out of step: no single window grid to probe
    event(f"probed a design with {sum(1 for row in report.rows() if row.children)} branches")
    assert_support_matches_field(_linearised(build_model(big)), big, unit, last, spec)


# --- named blocks = their expansion -------------------------------------------------------------------

def _expanded(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every named block (at any depth) spelled out by expand_block(deep=True)."""
    from playground.spec.parse import parse_spec

    def walk(layers: list[dict[str, Any]], shape: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for layer in layers:
            if layer["type"] in EXPANDABLE:
                out += expand_block(layer, shape[0], deep=True)
            elif layer["type"] == "branch":
                n = len(layer["paths"])
                share = [shape[0] // n if layer.get("split") else shape[0], *shape[1:]]
                out.append({**layer, "paths": [walk(p, share) for p in layer["paths"]]})
            else:
                out.append(layer)
            if len(shape) == 3:  # past the flatten there is only the head (no blocks)
                shape = list(parse_spec({"input": shape, "layers": [layer]}).output_shape)
        return out

    return {**spec, "layers": walk(spec["layers"], list(spec["input"]))}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(spec=GRAPH_EXAMPLE)
@given(spec=graphs())
def test_named_blocks_equal_their_expansion(spec: dict[str, Any]) -> None:
    ours, spelled = analyze(spec), analyze(_expanded(spec))
    assert (spelled.total_params, spelled.total_macs, spelled.output_shape) == (
        ours.total_params, ours.total_macs, ours.output_shape)
    if ours.layers:
        a, b = ours.layers[-1], spelled.layers[-1]
        assert (a.receptive_field, a.jump, a.start) == (b.receptive_field, b.jump, b.start)
    assert bool(ours.misaligned) == bool(spelled.misaligned)
