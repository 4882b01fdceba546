"""analyze(): known values, and PyTorch as the oracle for shapes, parameters, MACs and receptive fields."""
from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings
from torch import nn

from playground._format import human, human_bytes
from playground.design.analysis import LayerReport, Report, analyze, analyze_prefix
from playground.design.build import build_model
from playground.spec.parse import SpecError
from tests.support.field_input import enlarged
from tests.support.strategies import one_torch_thread, stacks  # noqa: F401 (autouse fixture)


def conv(out: int, k: int | list[int] = 3, **kw: Any) -> dict[str, Any]:
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, **kw}


# --- known values ---------------------------------------------------------------------------------

def test_design_example_layer_exactly() -> None:
    report = analyze({"input": [3, 224, 224], "layers": [conv(32, 3, stride=2, padding=1, bias=False)]})
    layer = report.to_dict()["layers"][0]
    assert {k: layer[k] for k in ("index", "type", "output_shape", "params", "macs", "receptive_field", "jump",
                                  "start")} == {
        "index": 0, "type": "conv2d", "output_shape": [32, 112, 112], "params": 864, "macs": 10838016,
        "receptive_field": [3, 3], "jump": [2, 2], "start": [0.0, 0.0]}
    assert layer["flops"] == 2 * 10838016 and layer["trainable_params"] == 864
    assert layer["activation_bytes"] == 4 * 32 * 112 * 112


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_stacked_3x3_convs_see_2n_plus_1(n: int) -> None:
    report = analyze({"input": [1, 64, 64], "layers": [conv(2, 3, padding=1)] * n})
    assert report.layers[-1].receptive_field == (2 * n + 1, 2 * n + 1)
    assert report.layers[-1].jump == (1, 1) and report.layers[-1].start == (0.0, 0.0)


def test_valid_and_same_padding_sizes_and_starts() -> None:
    valid = analyze({"input": [3, 32, 32], "layers": [conv(8, 3, padding="valid")]}).layers[0]
    same = analyze({"input": [3, 32, 32], "layers": [conv(8, 3, padding="same")]}).layers[0]
    assert valid.output_shape == (8, 30, 30) and valid.start == (1.0, 1.0)
    assert same.output_shape == (8, 32, 32) and same.start == (0.0, 0.0)
    even = analyze({"input": [1, 9, 9], "layers": [conv(1, 4, padding="same")]}).layers[0]
    assert even.output_shape == (1, 9, 9) and even.start == (0.5, 0.5)  # p_left = 1, the extra pixel goes right
    dilated = analyze({"input": [1, 20, 20], "layers": [conv(1, 3, dilation=[2, 3], padding=[0, 1])]}).layers[0]
    assert dilated.receptive_field == (5, 7) and dilated.start == (2.0, 2.0) and dilated.output_shape == (1, 16, 16)


def test_ceil_mode_drops_a_window_starting_in_the_padding() -> None:
    spec = {"input": [1, 5, 6], "layers": [{"type": "maxpool2d", "kernel_size": 2, "padding": 1,
                                            "ceil_mode": True}]}
    # (5 + 2 − 2)/2 rounded up + 1 = 4 windows, but the 4th would start at 6 ≥ 5 + 1: dropped -> 3.
    assert analyze(spec).layers[0].output_shape == (1, 3, 4)
    assert tuple(build_model(spec)(torch.zeros(1, 1, 5, 6)).shape) == (1, 1, 3, 4)


def test_blocks_fields_follow_the_main_path() -> None:
    report = analyze({"input": [3, 64, 64], "layers": [
        {"type": "residual", "out_channels": 8, "stride": 2}, {"type": "bottleneck", "out_channels": 16},
        {"type": "dwsep", "out_channels": 8, "kernel_size": 5, "stride": 2}]})
    res, bot, dws = report.layers
    assert (res.receptive_field, res.jump, res.start) == ((7, 7), (2, 2), (0.0, 0.0))  # 3×3/2 then 3×3
    assert (bot.receptive_field, bot.jump) == ((11, 11), (2, 2))  # + one 3×3 at jump 2
    assert (dws.receptive_field, dws.jump) == ((19, 19), (4, 4))  # + 5×5 at jump 2


def test_global_avgpool_sees_the_whole_map_and_flatten_ends_fields() -> None:
    report = analyze({"input": [3, 8, 10], "layers": [conv(4, 3, padding=1), {"type": "global_avgpool"},
                                                      {"type": "flatten"}, {"type": "linear", "out_features": 2}]})
    gap = report.layers[1]
    assert gap.output_shape == (4, 1, 1) and gap.receptive_field == (3 + 7, 3 + 9) and gap.start == (3.5, 4.5)
    assert [x.receptive_field for x in report.layers[2:]] == [None, None]
    assert report.to_dict()["layers"][3]["start"] is None


def test_parameter_counts_of_blocks_and_bn_affine() -> None:
    report = analyze({"input": [16, 8, 8], "layers": [
        {"type": "residual", "out_channels": 16}, {"type": "residual", "out_channels": 32, "stride": 2},
        {"type": "bottleneck", "out_channels": 64}, {"type": "dwsep", "out_channels": 32},
        {"type": "batchnorm2d", "affine": False}, {"type": "batchnorm2d"}]})
    assert [x.params for x in report.layers] == [
        2 * 9 * 16 * 16 + 4 * 16,
        9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 6 * 32,  # with the 1×1 downsample + its BN
        32 * 16 + 9 * 16 * 16 + 16 * 64 + 32 * 64 + 4 * 16 + 4 * 64,
        9 * 64 + 2 * 64 + 64 * 32 + 2 * 32,
        0, 64]


def test_report_totals_json_and_table() -> None:
    spec = {"name": "demo", "input": [3, 32, 32], "layers": [
        conv(16, 3, padding=1), {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}, conv(32, 1),
        {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    report = analyze(spec)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["input_shape"] == [3, 32, 32]
    assert set(data) == {"input_shape", "layers", "total_params", "total_trainable_params", "total_macs",
                         "total_flops", "total_activation_bytes", "model_bytes", "depthwise_savings"}
    assert set(data["layers"][0]) == {"index", "type", "output_shape", "params", "trainable_params", "macs", "flops",
                                      "activation_bytes", "receptive_field", "jump", "start"}
    assert data["total_params"] == sum(x["params"] for x in data["layers"]) == 448 + 544 + 8192 * 10 + 10
    assert data["total_flops"] == 2 * data["total_macs"]
    assert data["model_bytes"] == 4 * data["total_params"]
    assert data["total_activation_bytes"] == 4 * (16 * 32 * 32 * 2 + 16 * 16 * 16 + 32 * 16 * 16 * 2 + 10)
    assert report.output_shape == (10,)
    table = str(report)
    assert table.splitlines()[0] == "demo"
    for needle in ("conv2d 16, 3×3", "(16, 32, 32)", "(8192,)", "FLOPs = 2 × MACs", f"{report.total_params:,}",
                   "depthwise"):
        assert needle in table
    lines = [line for line in table.splitlines() if line[:2].strip().isdigit()]
    assert len(lines) == 6 and len({len(line) for line in lines}) == 1  # aligned columns


def test_human_units() -> None:
    assert [human(x) for x in (0, 999, 1234, 999_999, 11_689_512, 1_814_073_344, 2.5e12, 3e18, 999.7, 0.5)] == [
        "0", "999", "1.23K", "1M", "11.7M", "1.81G", "2.5T", "3,000,000T", "1K", "0.5"]
    assert [human_bytes(x) for x in (12, 999_999, 46_758_048, 10**15)] == ["12 B", "1 MB", "46.8 MB", "1,000 TB"]


def test_depthwise_savings_against_the_built_pair() -> None:
    spec = {"input": [32, 20, 20], "layers": [conv(64, 3, padding=1, bias=False), conv(64, 1),
                                              conv(64, 3, groups=4), conv(48, 5, stride=2, dilation=2, bias=True)]}
    report = analyze(spec)
    savings = report.depthwise_savings
    assert [s.index for s in savings.layers] == [0, 3]  # not the 1×1, not the grouped conv
    first = savings.layers[0]
    assert first.params_ratio == pytest.approx(1 / 64 + 1 / 9)  # exactly 1/out + 1/k² without bias
    assert first.macs_ratio == pytest.approx(1 / 64 + 1 / 9)
    for s in savings.layers:  # the pair PyTorch would run: depthwise k×k (same stride/pad/dilation) + 1×1
        layer = spec["layers"][s.index]
        c_in = report.layers[s.index].input_shape[0]
        pair = nn.Sequential(
            nn.Conv2d(c_in, c_in, layer["kernel_size"], layer.get("stride", 1), layer.get("padding", 0),
                      layer.get("dilation", 1), groups=c_in, bias=False),
            nn.Conv2d(c_in, layer["out_channels"], 1, bias=layer.get("bias", True)))
        x = torch.zeros(1, *report.layers[s.index].input_shape)
        assert s.dwsep_params == sum(p.numel() for p in pair.parameters())
        assert s.dwsep_macs == _hooked_macs(pair, x)[0]
        assert pair(x).shape[1:] == report.layers[s.index].output_shape
    assert savings.total_params_before == report.total_params
    assert savings.total_params_after == report.total_params - sum(s.params - s.dwsep_params for s in savings.layers)
    assert savings.total_macs_after == report.total_macs - sum(s.macs - s.dwsep_macs for s in savings.layers)
    assert report.to_dict()["depthwise_savings"]["layers"][0]["index"] == 0


def test_analyze_prefix() -> None:
    report, err = analyze_prefix({"input": [3, 16, 16], "layers": [conv(8, 3), {"type": "relu"}, conv(8, 30),
                                                                   {"type": "relu"}]})
    assert [x.output_shape for x in report.layers] == [(8, 14, 14), (8, 14, 14)]
    assert err is not None and err.layer_index == 2 and "kernel 30×30" in str(err)
    report, err = analyze_prefix({"input": "big", "layers": []})
    assert isinstance(report, Report) and report.layers == () and report.input_shape is None
    assert err is not None and err.layer_index is None and report.to_dict()["total_params"] == 0
    assert "input" in str(report)
    report, err = analyze_prefix({"input": [1, 4, 4], "layers": []})
    assert err is None and report.output_shape == (1, 4, 4)
    with pytest.raises(SpecError):
        analyze({"input": [3, 16, 16], "layers": [conv(8, 30)]})


# --- PyTorch oracle over random stacks ---------------------------------------------------------------

def _hooked_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """MACs counted from the convs/linears PyTorch actually runs (forward hooks)."""
    total = [0]

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        per_image = output.numel() // output.shape[0]
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total[0] += per_image * (module.in_channels // module.groups) * kh * kw
        else:
            total[0] += per_image * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return total[0], out


# Hand-picked corners first: ceil_mode windows dropped in the padding, "same" with an even kernel, blocks.
CORNERS = [
    {"input": [2, 5, 6], "layers": [{"type": "maxpool2d", "kernel_size": 2, "padding": 1, "ceil_mode": True},
                                    {"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1,
                                     "ceil_mode": True}]},
    {"input": [3, 9, 8], "layers": [conv(4, [2, 4], padding="same"), conv(4, 4, padding="same", dilation=[1, 3]),
                                    {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "dilation": 2}]},
    {"input": [4, 11, 9], "layers": [{"type": "residual", "out_channels": 8, "stride": 2},
                                     {"type": "bottleneck", "out_channels": 8, "stride": [2, 1]},
                                     {"type": "dwsep", "out_channels": 3, "kernel_size": 4, "stride": 2}]},
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(spec={**CORNERS[2], "layers": [*CORNERS[2]["layers"], {"type": "global_avgpool"}, {"type": "flatten"},
                                         {"type": "linear", "out_features": 3}]})
@example(spec=CORNERS[1])
@example(spec=CORNERS[0])
@given(spec=stacks())
def test_shapes_params_macs_match_pytorch(spec: dict[str, Any]) -> None:
    report = analyze(spec)
    model = build_model(spec).eval()
    x = torch.rand(2, *spec["input"])
    for index, layer in enumerate(model):
        macs, y = _hooked_macs(layer, x)
        got = report.layers[index]
        assert got.output_shape == tuple(y.shape[1:]), (index, spec)
        assert got.params == sum(p.numel() for p in layer.parameters()), (index, spec)
        assert got.trainable_params == sum(p.numel() for p in layer.parameters() if p.requires_grad)
        assert got.macs == macs, (index, spec)
        assert got.activation_bytes == y[0].numel() * y.element_size()
        x = y
    assert report.total_params == sum(p.numel() for p in model.parameters())


# --- receptive fields = gradient support -------------------------------------------------------------

class _SumPool(nn.Module):
    """A pool's windows with positive weights (max picks one input, which would hide the field).

    Keeps kernel, stride, padding, dilation; the right/bottom padding needed for
    ceil_mode comes from the real pool's output size.
    """

    def __init__(self, pool: nn.MaxPool2d | nn.AvgPool2d) -> None:
        super().__init__()
        self.pool = pool
        pair = nn.modules.utils._pair
        self.k, self.s, self.p = pair(pool.kernel_size), pair(pool.stride), pair(pool.padding)
        self.d = pair(getattr(pool, "dilation", 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        with torch.no_grad():
            out_hw = self.pool(x.detach()).shape[-2:]
        extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
                 for o, s, d, k, n, p in zip(out_hw, self.s, self.d, self.k, x.shape[-2:], self.p)]
        x = F.pad(x, (self.p[1], self.p[1] + extra[1], self.p[0], self.p[0] + extra[0]))
        weight = torch.ones(x.shape[1], 1, *self.k, dtype=x.dtype)
        y = F.conv2d(x, weight, stride=self.s, dilation=self.d, groups=x.shape[1])
        assert y.shape[-2:] == out_hw
        return y


def _linearised(model: nn.Module) -> nn.Module:
    """Positive weights, identity activations, pools as positive window sums: gradient support = field."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh)):
                setattr(module, name, nn.Identity())
            elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
                setattr(module, name, _SumPool(child))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
    return model.double().eval()  # eval: BatchNorm scales by a positive constant


def _support(model: nn.Module, shape: tuple[int, ...], unit: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """(first, last) input row and column whose gradient reaches output unit (row, col), summed over channels."""
    x = torch.ones(1, *shape, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model(x)[0, :, unit[0], unit[1]].sum().backward()
    hit = x.grad[0].abs().sum(0) > 0  # (H, W)
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    return (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(spec=CORNERS[2])
@example(spec=CORNERS[1])
@example(spec=CORNERS[0])
@given(spec=stacks(max_layers=6, max_side=24, max_channels=4, head=False, max_kernel=4, max_stride=2,
                   max_dilation=2))
def test_receptive_field_jump_start_match_gradient_support(spec: dict[str, Any]) -> None:
    last = analyze(spec).layers[-1] if spec["layers"] else None
    if last is None:
        return
    big, unit = enlarged(spec, last)
    assert analyze(big).layers[-1].receptive_field == last.receptive_field  # the field does not depend on size
    assert_support_matches_field(_linearised(build_model(big)), big, unit, last, spec)


def assert_support_matches_field(model: nn.Module, big: dict[str, Any], unit: tuple[int, int], last: LayerReport,
                                 spec: dict[str, Any]) -> None:
    """The gradient support of ``unit`` and of its diagonal neighbour in ``model`` (linearised, on ``big``'s
    input) is exactly the receptive field, jump and start that ``last`` reports."""
    shape = tuple(big["input"])
    first = _support(model, shape, unit)
    second = _support(model, shape, (unit[0] + 1, unit[1] + 1))
    assert last.receptive_field is not None and last.jump is not None and last.start is not None
    for axis, (r, j, s) in enumerate(zip(last.receptive_field, last.jump, last.start)):
        lo, hi = first[axis]
        assert hi - lo + 1 == r, (axis, spec)
        assert (lo + hi) / 2 == s + unit[axis] * j, (axis, spec)
        assert second[axis][0] - lo == j, (axis, spec)


def test_global_avgpool_field_is_the_whole_padded_map() -> None:
    spec = {"input": [2, 7, 9], "layers": [conv(3, 3, padding=1), {"type": "maxpool2d", "kernel_size": 2,
                                                                    "ceil_mode": True}, {"type": "global_avgpool"}]}
    gap = analyze(spec).layers[-1]
    (r_h, r_w), (s_h, s_w) = gap.receptive_field, gap.start
    lo_hi = _support(_linearised(build_model(spec)), (2, 7, 9), (0, 0))
    # The whole input is inside the field, which reaches into the padding on both sides.
    assert lo_hi == ((0, 6), (0, 8))
    assert s_h - (r_h - 1) / 2 <= 0 and s_h + (r_h - 1) / 2 >= 6
    assert s_w - (r_w - 1) / 2 <= 0 and s_w + (r_w - 1) / 2 >= 8
    assert (r_h, r_w) == (4 + 3 * 2, 4 + 4 * 2)  # conv 3 + pool 2 = 4, then the 4×5 pooled map at jump 2
