"""Named blocks against torchvision's modules (same state-dict keys and parameters, the same outputs under the
same weights), and graph designs built two ways: ``build_model`` and the exported code share their
state-dict keys (``load_state_dict(strict=True)``) and give the same outputs."""
from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from torch import nn
from torchvision.models import convnext, densenet, efficientnet, mobilenetv2, mobilenetv3, resnet
from torchvision.models.googlenet import Inception as TVInception
from torchvision.ops import SqueezeExcitation as TVSqueezeExcitation

from playground.design import modules as M
from playground.design.analysis import analyze
from playground.design.build import build_model, to_pytorch_code
from tests.support.strategies import GRAPH_EXAMPLE, graphs, one_torch_thread  # noqa: F401 (autouse fixture)


def _same(ours: nn.Module, theirs: nn.Module, x: torch.Tensor, spec_layer: dict[str, Any],
          tail: slice = slice(None)) -> None:
    """Same keys and shapes, strict load, same outputs (eval); and analyze counts the same parameters."""
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[:, tail], theirs(x))
    report = analyze({"input": list(x.shape[1:]), "layers": [spec_layer]})
    assert report.total_params == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("c_in, out, ratio, stride", [(8, 8, 6, 1), (8, 16, 1, 2), (16, 16, 1, 1), (12, 20, 4, 2)])
def test_inverted_residual_is_mobilenet_v2s(c_in: int, out: int, ratio: int, stride: int) -> None:
    theirs = mobilenetv2.InvertedResidual(c_in, out, stride, ratio)
    ours = M.InvertedResidual(c_in, out, ratio, 3, stride)
    # torchvision's V2 block names its parts conv.*; ours follow V3 (block.*): same tensors in the same order
    assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in theirs.state_dict().values()]
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values())))
    ours.eval(), theirs.eval()
    x = torch.randn(2, c_in, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))
    layer = {"type": "inverted_residual", "out_channels": out, "expand_ratio": ratio, "stride": stride}
    assert analyze({"input": [c_in, 9, 9], "layers": [layer]}).total_params == sum(
        p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("c_in, kernel, hidden, out, se, act, stride", [
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 5, 96, 24, True, "HS", 1),
    (40, 3, 240, 80, False, "HS", 2)])
def test_inverted_residual_is_mobilenet_v3s(c_in: int, kernel: int, hidden: int, out: int, se: bool, act: str,
                                            stride: int) -> None:
    cnf = mobilenetv3.InvertedResidualConfig(c_in, kernel, hidden, out, se, act, stride, 1, 1.0)
    theirs = mobilenetv3.InvertedResidual(cnf, nn.BatchNorm2d)
    name = "hardswish" if act == "HS" else "relu"
    ours = M.InvertedResidual(c_in, out, 6.0, kernel, stride, se, name, hidden)
    layer = {"type": "inverted_residual", "out_channels": out, "expanded_channels": hidden, "kernel_size": kernel,
             "stride": stride, "se": se, "activation": name}
    _same(ours, theirs, torch.randn(2, c_in, 11, 11), layer)


@pytest.mark.parametrize("ratio, kernel, stride, c_in, out", [(1, 3, 1, 32, 16), (6, 3, 2, 16, 24), (6, 5, 1, 40, 40),
                                                              (6, 5, 2, 24, 40)])
def test_mbconv_is_efficientnets(ratio: int, kernel: int, stride: int, c_in: int, out: int) -> None:
    cnf = efficientnet.MBConvConfig(ratio, kernel, stride, c_in, out, 1)
    theirs = efficientnet.MBConv(cnf, 0.1, nn.BatchNorm2d)
    ours = M.MBConv(c_in, out, ratio, kernel, stride, 0.25, 0.1)
    layer = {"type": "mbconv", "out_channels": out, "expand_ratio": ratio, "kernel_size": kernel, "stride": stride}
    _same(ours, theirs, torch.randn(2, c_in, 10, 10), layer)


@pytest.mark.parametrize("ratio, stride, c_in, out", [(1, 1, 24, 24), (4, 2, 24, 48), (4, 1, 48, 48)])
def test_fused_mbconv_is_efficientnet_v2s(ratio: int, stride: int, c_in: int, out: int) -> None:
    cnf = efficientnet.FusedMBConvConfig(ratio, 3, stride, c_in, out, 1)
    theirs = efficientnet.FusedMBConv(cnf, 0.0, partial(nn.BatchNorm2d, eps=1e-5))
    ours = M.FusedMBConv(c_in, out, ratio, 3, stride)
    layer = {"type": "fused_mbconv", "out_channels": out, "expand_ratio": ratio, "stride": stride}
    _same(ours, theirs, torch.randn(2, c_in, 10, 10), layer)


def test_se_inception_cnblock_dense_layer_and_resnext_are_torchvisions() -> None:
    x = torch.randn(2, 32, 9, 9)
    _same(M.SqueezeExcitation(32, 8, "silu", "hardsigmoid"),
          TVSqueezeExcitation(32, 8, nn.SiLU, nn.Hardsigmoid), x,
          {"type": "se", "squeeze_channels": 8, "activation": "silu", "scale_activation": "hardsigmoid"})
    _same(M.Inception(32, 8, 6, 12, 4, 6, 5), TVInception(32, 8, 6, 12, 4, 6, 5), x,
          {"type": "inception", "ch1x1": 8, "ch3x3red": 6, "ch3x3": 12, "ch5x5red": 4, "ch5x5": 6, "pool_proj": 5})
    _same(M.CNBlock(32, 0.5, 0.1), convnext.CNBlock(32, 0.5, 0.1), x, {"type": "convnext_block"})
    _same(M.DenseLayer(32, 12, 4), densenet._DenseLayer(32, 12, 4, 0.0, False), x,
          {"type": "dense_layer", "growth_rate": 12, "bn_size": 4}, tail=slice(32, None))  # ours: [x, new]
    downsample = nn.Sequential(nn.Conv2d(32, 128, 1, 2, bias=False), nn.BatchNorm2d(128))
    _same(M.Bottleneck(32, 128, 2, groups=8, width_per_group=8),
          resnet.Bottleneck(32, 32, 2, downsample, groups=8, base_width=8), x,
          {"type": "bottleneck", "out_channels": 128, "stride": 2, "groups": 8, "width_per_group": 8})


# --- build_model and exported code: one network ------------------------------------------------------

def _exported(spec: dict[str, Any]) -> nn.Module:
    code = to_pytorch_code(spec)
    assert "playground" not in code.replace("CNN Playground", "")
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(code, "<exported>", "exec"), namespace)  # a fresh namespace: only what the code imports
    return namespace["Net"]()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(spec=GRAPH_EXAMPLE)
@given(spec=graphs(max_layers=5, max_side=12, max_channels=6))
def test_exported_code_is_build_model_with_the_same_keys(spec: dict[str, Any]) -> None:
    built, net = build_model(spec), _exported(spec)
    assert list(net.state_dict()) == list(built.state_dict())
    net.load_state_dict(built.state_dict(), strict=True)  # weights load from one into the other
    built.eval(), net.eval()
    x = torch.randn(2, *spec["input"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(net(x), built(x))
    assert sum(p.numel() for p in net.parameters()) == analyze(spec).total_params


def test_exported_branches_read_as_nested_lists() -> None:
    code = to_pytorch_code(GRAPH_EXAMPLE)
    for needed in ("class Branch(nn.Module)", "class MBConv(nn.Module)", "class SqueezeExcitation(nn.Module)",
                   "def make_divisible(", "class Net(nn.Sequential)", "Branch('add', [  # 1 -> (8, 6, 5)",
                   "[],  # identity", "nn.AdaptiveAvgPool2d(1),  # 1.0.1.1.0 -> (8, 1, 1)", "], split=True),"):
        assert needed in code, needed
    assert "class BasicBlock" not in code and "class DWSep" not in code  # only what the design uses
    keys = list(build_model(GRAPH_EXAMPLE).state_dict())
    assert "0.weight" in keys and "1.paths.0.0.weight" in keys and "1.paths.1.0.weight" in keys
