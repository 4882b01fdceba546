"""archstats: params, MACs, depth and receptive fields of real torchvision graphs.

Oracles: torchvision's own metadata (parameter counts and GMACs of its weights), the
Distill recurrences written out by hand for a chain, and PyTorch's autograd (the input
pixels a unit's gradient reaches are exactly its receptive field).
"""
from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from playground.arch.landmarks import LANDMARKS, torchvision_metrics
from playground.arch.measure import (
    ArchitectureError,
    analyze_architecture,
    analyze_module,
    catalogue,
    macs_vs_resolution,
    resnet50_flops_explained,
    resolve_name,
)
from playground.errors import PlaygroundError

TORCHVISION_KEYS = [k for k, e in LANDMARKS.items() if e.tv_weights]


def test_resnet50_matches_the_issue_figures() -> None:
    r = analyze_architecture("resnet50")
    assert r.total_params == 25_557_032
    assert r.conv_linear_macs == 4_089_184_256
    assert r.total_macs == r.conv_linear_macs and r.attention_macs == 0
    assert r.receptive_field == (427, 427)
    assert r.rf_layer == "layer4.2.relu"
    assert r.misaligned == ()
    assert r.depth == 50 and r.conv_layers == 53 and r.linear_layers == 1


@pytest.mark.parametrize("name, rf, depth", [("vgg16", 212, 16), ("alexnet", 195, 8), ("vgg19", 268, 19),
                                             ("googlenet", 379, 22), ("resnet18", 435, 18),
                                             ("resnet152", 1451, 152)])
def test_receptive_field_and_depth_of_classics(name: str, rf: int, depth: int) -> None:
    r = analyze_architecture(name)
    assert r.receptive_field == (rf, rf)
    assert r.depth == depth  # conv + linear layers on the longest path = the depth in the model's name


@pytest.mark.parametrize("key", TORCHVISION_KEYS)
def test_params_and_macs_equal_torchvision_metadata(key: str) -> None:
    meta = torchvision_metrics(key)
    side = meta["resolution"]  # EfficientNet-B7 is measured at 600, like torchvision's table
    r = analyze_architecture(key, (3, side, side))
    assert r.total_params == meta["num_params"]
    assert round(r.total_macs / 1e9, 3) == pytest.approx(meta["gmacs"], abs=1e-9)
    assert sum(layer.params for layer in r.layers) == r.total_params  # each parameter counted once
    assert sum(layer.macs for layer in r.layers) == r.total_macs
    assert sum(stage.params for stage in r.stages) == r.total_params


@pytest.mark.parametrize("key, side", [("inception_v3", 299), ("swin_t", 224), ("maxvit_t", 224),
                                       ("densenet121", 224), ("regnet_x_400mf", 224), ("shufflenet_v2_x1_0", 224)])
def test_other_torchvision_families_match_metadata(key: str, side: int) -> None:
    """Not in the catalogue but any torchvision classifier works: window attention, einsum, concat, CPU fallback."""
    meta = torchvision.models.get_model_weights(key).DEFAULT.meta
    r = analyze_architecture(key, (3, side, side))
    assert r.total_params == meta["num_params"]
    assert round(r.total_macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


def test_vit_counts_attention_and_reports_global_context() -> None:
    r = analyze_architecture("vit_b_16")
    tokens, dim, blocks = 197, 768, 12
    assert r.attention_macs == blocks * 2 * tokens * tokens * dim  # QKᵀ and AV
    assert r.receptive_field == (16, 16) and r.rf_layer == "conv_proj"
    assert r.global_context == "self-attention"
    assert [s.label for s in r.stages] == ["14×14", "197 tokens", "head"]
    bigger = analyze_architecture("vit_b_16", (3, 384, 384))
    assert bigger.attention_macs == blocks * 2 * 577 * 577 * dim


def test_squeeze_excitation_is_flagged() -> None:
    r = analyze_architecture("efficientnet_b0")
    assert r.global_context == "squeeze-excitation"
    assert any("squeeze-and-excitation" in note for note in r.notes)
    assert analyze_architecture("resnet50").global_context is None


def _sequential_field(chain: list[tuple[int, int]]) -> tuple[int, int]:
    """The textbook recurrence for a plain chain of (kernel, stride): r += (k − 1)·j, j *= s."""
    r, j = 1, 1
    for k, s in chain:
        r += (k - 1) * j
        j *= s
    return r, j


def _measured_field(model: nn.Module, shape: tuple[int, int, int], unit: tuple[int, int]) -> tuple[int, int, int, int]:
    """Rows and columns of the input that the gradient of one output unit reaches: (top, left, bottom, right)."""
    x = torch.randn(1, *shape, requires_grad=True)  # (1, C, H, W)
    y = model(x)  # (1, C', H', W')
    y[0, :, unit[0], unit[1]].sum().backward()
    hit = x.grad[0].abs().sum(0) > 0  # (H, W)
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


def _linearised(module: nn.Module) -> nn.Module:
    """Same geometry, but linear: ReLUs become identities and max-pools average-pools (every path carries gradient)."""
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.Identity())
        elif isinstance(child, nn.MaxPool2d):
            setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding,
                                               ceil_mode=child.ceil_mode))
        else:
            _linearised(child)
    return module.eval()


def _downsample(c_in: int, c_out: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


@pytest.mark.parametrize("block, longest_path", [
    (BasicBlock(16, 16), [(3, 1), (3, 1)]),
    (BasicBlock(16, 32, stride=2, downsample=_downsample(16, 32, 2)), [(3, 2), (3, 1)]),
    (Bottleneck(16, 8, downsample=_downsample(16, 32, 1)), [(1, 1), (3, 1), (1, 1)]),
    (Bottleneck(32, 8, stride=2, downsample=_downsample(32, 32, 2)), [(1, 1), (3, 2), (1, 1)]),
])
def test_field_through_residual_blocks_is_the_longest_path(block: nn.Module, longest_path: list) -> None:
    c_in = block.conv1.in_channels
    r = analyze_module(block, (c_in, 24, 24), name="block")
    rf, jump = _sequential_field(longest_path)
    assert r.receptive_field == (rf, rf) and r.jump == (jump, jump)
    assert r.misaligned == ()  # the 1×1 downsample path starts on the same grid as the main path
    assert r.layers[-2].type == "add"
    # autograd agrees: the centre unit's gradient reaches exactly rf×rf input pixels, centred on start + u·jump
    out = r.layers[-1].feature_size
    unit = (out[0] // 2, out[1] // 2)
    top, left, bottom, right = _measured_field(_linearised(block), (c_in, 24, 24), unit)
    assert (bottom - top + 1, right - left + 1) == (rf, rf)
    assert (top + bottom) / 2 == r.start[0] + unit[0] * jump


def test_alexnet_field_matches_autograd() -> None:
    features = _linearised(torchvision.models.alexnet().features)
    r = analyze_module(features, (3, 256, 256), name="alexnet.features")
    assert r.receptive_field == (195, 195) and r.jump == (32, 32) and r.start == (31, 31)
    # a unit whose whole field lies inside the image (at 256×256 there is one)
    unit = next(u for u in range(7) if r.start[0] + u * 32 - 97 >= 0 and r.start[0] + u * 32 + 97 <= 255)
    top, left, bottom, right = _measured_field(features, (3, 256, 256), (unit, unit))
    assert (bottom - top + 1, right - left + 1) == (195, 195)
    assert top == r.start[0] + unit * 32 - 97


class _TwoGrids(nn.Module):
    """Two branches that land on different grids: 3×3/s2/p1 (start 0) and 2×2/s2/p0 (start 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(3, 4, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


def test_misaligned_branches_are_flagged() -> None:
    r = analyze_module(_TwoGrids(), (3, 16, 16), name="two-grids")
    assert len(r.misaligned) == 1 and r.layers[-1].misaligned
    assert r.receptive_field == (3, 3)  # the larger branch
    assert any("misaligned" in note for note in r.notes)


def test_resnet50_paper_vs_tool_flops() -> None:
    f = resnet50_flops_explained()
    # moving the stride from the 3×3 back to the first 1×1 of stages 2–4 saves, per stage,
    # a 1×1 conv (in → planes) computed at 4× the output area: 3 × in·planes·(2H)²·3/4
    saved = sum(c_in * planes * (2 * h) ** 2 * 3 // 4 for c_in, planes, h in ((256, 128, 28), (512, 256, 14),
                                                                            (1024, 512, 7)))
    assert f["v1_5_macs"] - f["v1_macs"] == saved
    assert round(f["v1_macs"] / 1e9, 2) == 3.86 and f["v1_params"] == f["v1_5_params"]
    assert f["v1_5_flops"] == 2 * 4_089_184_256


def test_cnn_linear_vit_quadratic() -> None:
    sides = (224, 448)
    cnn, vit = macs_vs_resolution("resnet50", sides), macs_vs_resolution("vit_b_16", sides)
    assert cnn[1]["total_macs"] / cnn[0]["total_macs"] == pytest.approx(4.0, rel=0.03)  # 4× pixels
    n0, n1 = (224 // 16) ** 2 + 1, (448 // 16) ** 2 + 1
    assert vit[1]["attention_macs"] / vit[0]["attention_macs"] == pytest.approx((n1 / n0) ** 2)
    assert vit[1]["total_macs"] / vit[0]["total_macs"] > 4.0


def test_report_json_and_table() -> None:
    r = analyze_architecture("resnet18", (3, 160, 160))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["input_shape"] == [3, 160, 160] and d["total_params"] == 11_689_512
    schema = {"index", "type", "output_shape", "params", "macs", "receptive_field", "jump", "start"}  # DESIGN.md
    assert schema <= set(d["layers"][0])
    assert d["layers"][0]["output_shape"] == [64, 80, 80]
    assert d["layers"][-1]["receptive_field"] is None
    text = str(r)
    assert "Total params: 11,689,512" in text and "layer4.1.conv2" in text


def test_names_and_other_torchvision_models() -> None:
    assert resolve_name("ResNet-50") == "resnet50"
    assert resolve_name("vit-b/16") == "vit_b_16"
    assert resolve_name("MobileNet-V3-Large") == "mobilenet_v3_large"
    with pytest.raises(ArchitectureError, match="regnet_x_16gf or regnet_x_1_6gf"):
        resolve_name("RegNet-X-16GF")  # two torchvision names spell the same without punctuation
    assert resolve_name("regnet_x_1_6gf") == "regnet_x_1_6gf"


@pytest.mark.parametrize("name, shape, words", [
    ("resnet-5O", (3, 224, 224), "unknown architecture"),
    ("resnet50", (1, 224, 224), "3-channel"),
    ("alexnet", (3, 16, 16), "cannot take a 3×16×16 input"),
    ("vit_b_16", (3, 200, 200), "multiple of 16"),
    ("vit_b_16", (3, 224, 256), "square"),
    ("resnet18", (3, 9000, 9000), "at most"),
])
def test_bad_requests_raise_one_clear_error(name: str, shape: tuple, words: str) -> None:
    with pytest.raises(ArchitectureError, match=words) as info:
        analyze_architecture(name, shape)
    assert isinstance(info.value, PlaygroundError) and "\n" not in str(info.value)


def test_catalogue_rows() -> None:
    rows = {row["key"]: row for row in catalogue()}
    assert set(rows) == set(LANDMARKS)
    assert rows["resnet50"]["params"] == 25_557_032 and rows["resnet50"]["receptive_field"] == 427
    assert rows["mobilenet_v1"]["params"] == 4_231_976  # built from the designer's own spec
    assert rows["mobilenet_v1"]["tv_top5_error"] is None and rows["mobilenet_v1"]["designer"]
    assert not rows["vit_b_16"]["designer"]
    # errors are plotted against the MACs at the resolution they were measured at
    b7 = rows["efficientnet_b7"]
    assert b7["paper_side"] == b7["tv_side"] == 600 and round(b7["tv_macs"] / 1e9, 3) == 37.746
    assert rows["vit_b_16"]["paper_side"] == 384 and rows["vit_b_16"]["tv_side"] == 224


def test_shufflenet_field_survives_channel_shuffle_and_chunk() -> None:
    """ShuffleNet regroups channels with view/transpose/view and splits them with chunk: pixels stay put,
    so the field must carry on (it used to stop silently at the first shuffle, 15 px instead of 527)."""
    net = torchvision.models.shufflenet_v2_x0_5()
    head = _linearised(nn.Sequential(net.conv1, net.maxpool, net.stage2)).eval()
    r = analyze_module(head, (3, 128, 128), name="shufflenet head")
    assert r.notes == () and r.rf_layer.startswith("2.3")  # tracked to the last block of stage 2
    rf, jump = int(r.receptive_field[0]), int(r.jump[0])
    out = r.layers[-1].feature_size
    unit = (out[0] // 2, out[1] // 2)
    top, left, bottom, right = _measured_field(head, (3, 128, 128), unit)
    assert (bottom - top + 1, right - left + 1) == (rf, rf)  # autograd agrees
    assert (top + bottom) / 2 == r.start[0] + unit[0] * jump
    assert analyze_architecture("shufflenet_v2_x1_0").receptive_field == (527.0, 527.0)
