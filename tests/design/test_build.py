"""build_model / to_pytorch_code: blocks equal torchvision's, classic stacks match torchvision's counts,
exported code runs on its own and builds the same network."""
from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from torch import nn
from torchvision.models.resnet import BasicBlock as TVBasicBlock
from torchvision.models.resnet import Bottleneck as TVBottleneck

from playground.design.analysis import analyze
from playground.design.build import MAX_BUILD_PARAMS, BasicBlock, Bottleneck, DWSep, build_model, to_pytorch_code
from playground.spec.parse import SpecError
from tests.support.strategies import one_torch_thread, stacks  # noqa: F401 (autouse fixture)


def _tv_downsample(c_in: int, out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), nn.BatchNorm2d(out))


def _assert_same_module(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    """Same parameter names and shapes; with the same weights, the same outputs."""
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("c_in, out, stride", [(8, 8, 1), (8, 16, 2), (16, 8, 1), (8, 8, 2)])
def test_basic_block_is_torchvisions(c_in: int, out: int, stride: int) -> None:
    theirs = TVBasicBlock(c_in, out, stride, _tv_downsample(c_in, out, stride))
    _assert_same_module(BasicBlock(c_in, out, stride), theirs, torch.randn(2, c_in, 9, 9))


@pytest.mark.parametrize("c_in, out, stride", [(16, 16, 1), (8, 32, 2), (32, 16, 1), (16, 16, 2)])
def test_bottleneck_block_is_torchvisions(c_in: int, out: int, stride: int) -> None:
    theirs = TVBottleneck(c_in, out // 4, stride, _tv_downsample(c_in, out, stride))
    _assert_same_module(Bottleneck(c_in, out, stride), theirs, torch.randn(2, c_in, 9, 9))


def test_dwsep_block_is_mobilenet_v1s() -> None:
    block = DWSep(32, 64, 3, 2)
    reference = nn.Sequential(  # MobileNet-V1 conv_dw(inp, oup, stride)
        nn.Conv2d(32, 32, 3, 2, 1, groups=32, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 1, 1, 0, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
    names = {"0": "depthwise", "1": "bn1", "3": "pointwise", "4": "bn2"}
    block.load_state_dict({names[k.split(".", 1)[0]] + "." + k.split(".", 1)[1]: v
                           for k, v in reference.state_dict().items()})
    x = torch.randn(2, 32, 10, 10)
    block.eval(), reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference(x))
    assert sum(p.numel() for p in block.parameters()) == 32 * 9 + 2 * 32 + 32 * 64 + 2 * 64


def _conv_bn_relu(out: int, k: int, stride: int = 1) -> list[dict[str, Any]]:
    return [{"type": "conv2d", "out_channels": out, "kernel_size": k, "stride": stride, "padding": k // 2,
             "bias": False}, {"type": "batchnorm2d"}, {"type": "relu"}]


def _resnet(block: str, widths: list[int], counts: list[int]) -> dict[str, Any]:
    layers = [*_conv_bn_relu(64, 7, 2), {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1}]
    for stage, (width, count) in enumerate(zip(widths, counts)):
        for i in range(count):
            layers.append({"type": block, "out_channels": width, "stride": 2 if stage and i == 0 else 1})
    layers += [{"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 1000}]
    return {"input": [3, 224, 224], "layers": layers}


def _vgg16() -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for width, count in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(count):
            layers += [{"type": "conv2d", "out_channels": width, "kernel_size": 3, "padding": 1}, {"type": "relu"}]
        layers.append({"type": "maxpool2d", "kernel_size": 2})
    layers.append({"type": "flatten"})  # torchvision's AdaptiveAvgPool2d(7) is the identity at 224×224
    for out in (4096, 4096):
        layers += [{"type": "linear", "out_features": out}, {"type": "relu"}, {"type": "dropout"}]
    layers.append({"type": "linear", "out_features": 1000})
    return {"input": [3, 224, 224], "layers": layers}


@pytest.mark.parametrize("spec, reference", [
    (_resnet("residual", [64, 128, 256, 512], [2, 2, 2, 2]), torchvision.models.resnet18),
    (_resnet("bottleneck", [256, 512, 1024, 2048], [3, 4, 6, 3]), torchvision.models.resnet50),
    (_vgg16(), torchvision.models.vgg16),
], ids=["resnet18", "resnet50", "vgg16"])
def test_classic_stacks_match_torchvision_counts(spec: dict[str, Any], reference: Any) -> None:
    with torch.device("meta"):  # count parameters without allocating them
        expected = sum(p.numel() for p in reference().parameters())
        built = sum(p.numel() for p in build_model(spec).parameters())
    assert analyze(spec).total_params == built == expected


def test_resnet18_style_runs_like_torchvision() -> None:
    spec = _resnet("residual", [64, 128, 256, 512], [2, 2, 2, 2])
    ours, theirs = build_model(spec), torchvision.models.resnet18()
    # Same tensors in the same order: copy torchvision's weights over and compare outputs.
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        a.copy_(b)
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_build_model_layers_and_errors() -> None:
    spec = {"input": [3, 16, 16], "layers": [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": "same", "bias": False},
        {"type": "batchnorm2d", "eps": 1e-3, "momentum": None, "affine": False},
        {"type": "leaky_relu", "negative_slope": 0.2}, {"type": "gelu", "approximate": "tanh"},
        {"type": "avgpool2d", "kernel_size": 2, "count_include_pad": False, "ceil_mode": True},
        {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "dropout", "p": 0.1},
        {"type": "linear", "out_features": 3, "bias": False}]}
    model = build_model(spec)
    assert isinstance(model, nn.Sequential) and len(model) == 9
    assert model[0].padding == "same" and model[0].bias is None
    assert (model[1].eps, model[1].momentum, model[1].affine) == (1e-3, None, False)
    assert model[2].negative_slope == 0.2 and model[3].approximate == "tanh"
    assert model[4].count_include_pad is False and model[4].ceil_mode is True
    assert model[7].p == 0.1 and model[8].bias is None
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)
    with pytest.raises(SpecError, match="layer 0"):
        build_model({"input": [3, 4, 4], "layers": [{"type": "conv2d", "out_channels": 1, "kernel_size": 5}]})
    huge = {"input": [4096, 64, 64], "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 4096}]}
    with pytest.raises(SpecError, match=f"over the {MAX_BUILD_PARAMS:,}"):
        build_model(huge)  # refused before allocating 68 G parameters
    assert "class Net" in to_pytorch_code(huge)  # exporting it is fine


# --- exported code ---------------------------------------------------------------------------------

def _run_exported(spec: dict[str, Any]) -> tuple[nn.Module, str]:
    code = to_pytorch_code(spec)
    assert "playground" not in code.replace("CNN Playground", "")
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(code, "<exported>", "exec"), namespace)  # a fresh namespace: only what the code imports
    return namespace["Net"](), code


def test_exported_code_is_readable_and_equivalent() -> None:
    spec = {"name": 'demo """ \\ net', "input": [3, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
        {"type": "batchnorm2d"}, {"type": "relu6"},
        {"type": "dwsep", "out_channels": 24, "kernel_size": [3, 5]},
        {"type": "residual", "out_channels": 32, "stride": 2},
        {"type": "maxpool2d", "kernel_size": 2, "ceil_mode": True},
        {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 5}]}
    net, code = _run_exported(spec)
    assert "class DWSep(nn.Module)" in code and "class BasicBlock(nn.Module)" in code
    assert "class Bottleneck" not in code  # only the blocks the spec uses
    assert "nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1, bias=False),  # 0 -> (16, 16, 16)" in code
    assert "DWSep(16, 24, kernel_size=(3, 5)),  # 3 -> (24, 16, 16)" in code
    assert "nn.MaxPool2d(kernel_size=2, ceil_mode=True),  # 5 -> (32, 4, 4)" in code
    assert "nn.Linear(32, 5),  # 8 -> (5,)" in code
    assert '"""demo \'\'\'  / net, designed in CNN Playground.' not in code and "demo ''' / net" in code
    built = build_model(spec)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in built.parameters())
    net.layers.load_state_dict(built.state_dict())  # same modules in the same places
    net.eval(), built.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), built(x))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=stacks(max_layers=6, max_side=24, max_channels=8))
def test_exported_code_matches_analysis_on_random_stacks(spec: dict[str, Any]) -> None:
    net, _ = _run_exported(spec)
    report = analyze(spec)
    assert sum(p.numel() for p in net.parameters()) == report.total_params
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        assert tuple(net.eval()(torch.zeros(1, *spec["input"])).shape[1:]) == report.output_shape


def test_exported_code_runs_as_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"input": [1, 8, 8], "layers": [{"type": "bottleneck", "out_channels": 8}, {"type": "flatten"},
                                           {"type": "linear", "out_features": 2}]}
    exec(compile(to_pytorch_code(spec), "net.py", "exec"), {"__name__": "__main__"})  # as `python net.py`
    assert capsys.readouterr().out.splitlines() == ["torch.Size([1, 2])", f"{analyze(spec).total_params} parameters"]
