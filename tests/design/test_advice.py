"""Plain-word warnings and the dwsep rewrite, with PyTorch as the oracle where it can be one."""
from __future__ import annotations

import re

import pytest
import torch

from playground.design.advice import advise, replace_all_with_dwsep, replace_with_dwsep
from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.design.presets import DEFAULT_SPEC, PRESETS


def _codes(spec: dict) -> list[tuple[str, int | None]]:
    return [(a.code, a.layer_index) for a in advise(spec, analyze(spec))]


def _conv(**kw: object) -> dict:
    return {"type": "conv2d", "out_channels": 4, "kernel_size": 3, **kw}


def _unreached_rows(layer: dict, size: int) -> int:
    """Input rows that no output of this one layer depends on: raise a row, see if PyTorch's output moves."""
    model = build_model({"input": [1, size, size], "layers": [layer]})
    for p in model.parameters():
        torch.nn.init.uniform_(p, 0.5, 1.0)  # positive weights: a brighter row always shows, if it is read
    x = torch.rand(1, 1, size, size)  # (B, C, H, W)
    with torch.no_grad():
        base = model(x)
        unread = 0
        for r in range(size):
            bright = x.clone()
            bright[..., r, :] += 10.0
            unread += bool(torch.equal(model(bright), base))
    return unread


@pytest.mark.parametrize("layer", [
    _conv(stride=4),                                   # 3 wide, steps 4: skips 1 of 4
    {"type": "maxpool2d", "kernel_size": 2, "stride": 5},
    {"type": "avgpool2d", "kernel_size": [2, 2], "stride": 3},
])
def test_stride_warning_counts_the_pixels_pytorch_never_uses(layer: dict) -> None:
    size = 30
    spec = {"input": [1, size, size], "layers": [layer]}
    (advice,) = [a for a in advise(spec, analyze(spec)) if a.code == "stride_skips"]
    gap, every = map(int, re.search(r"(\d+) of every (\d+) rows", advice.message).groups())  # type: ignore[union-attr]
    out = analyze(spec).layers[0].output_shape[1]
    # Every window covers (every - gap) rows, so the rest of each step is never read,
    # except below the last window, which PyTorch also never reads.
    assert _unreached_rows(layer, size) == size - out * (every - gap)
    assert advice.layer_index == 0 and "stride" in advice.message


def test_no_stride_warning_when_windows_touch_or_dilation_spans_the_gap() -> None:
    for layer in (_conv(stride=3), _conv(stride=4, dilation=2)):  # touching windows; dilation spans 5 >= 4
        assert ("stride_skips", 0) not in _codes({"input": [1, 16, 16], "layers": [layer]})
    assert _unreached_rows(_conv(stride=3), 15) == 0


def test_even_kernel_with_same_padding() -> None:
    even = {"input": [3, 16, 16], "layers": [_conv(kernel_size=2, padding="same")]}
    odd = {"input": [3, 16, 16], "layers": [_conv(kernel_size=3, padding="same")]}
    dilated = {"input": [3, 16, 16], "layers": [_conv(kernel_size=2, dilation=2, padding="same")]}
    assert ("even_same", 0) in _codes(even)
    assert ("even_same", 0) not in _codes(odd)
    assert ("even_same", 0) not in _codes(dilated)  # a 2-tap kernel at dilation 2 spans 3: symmetric again


def test_a_classifier_whose_final_maps_see_under_half_the_input_is_warned() -> None:
    small = {"input": [3, 32, 32], "layers": [_conv(padding=1), {"type": "relu"}, {"type": "flatten"},
                                              {"type": "linear", "out_features": 10}]}
    (short,) = [a for a in advise(small, analyze(small)) if a.code == "rf_short"]
    assert short.layer_index == 1 and short.level == "warning"  # the relu is the last spatial layer
    assert "3x3 pixels of the 32x32 input" in short.message
    gap = {"input": [3, 64, 64], "layers": [_conv(padding=1), {"type": "global_avgpool"}, {"type": "flatten"},
                                            {"type": "linear", "out_features": 10}]}
    assert ("rf_short", 0) in _codes(gap)  # a global-pooling head is a classifier too
    # Just under the half: 15 of 32 warns, 16 of 32 does not (seven / eight stacked 3x3 convs).
    for n, warned in ((7, True), (8, False)):
        stack = {"input": [1, 32, 32], "layers": [_conv(padding=1)] * n + [{"type": "flatten"},
                                                                           {"type": "linear", "out_features": 2}]}
        assert analyze(stack).layers[n - 1].receptive_field == (2 * n + 1, 2 * n + 1)
        assert (("rf_short", n - 1) in _codes(stack)) is warned


def test_no_field_warning_without_a_classifier_or_when_the_field_is_nearly_whole() -> None:
    # VGG-16's last pool sees 212x212 of 224x224 (a known figure): nothing a careful engineer would change.
    vgg = analyze(PRESETS["VGG-16"])
    assert vgg.layers[30].receptive_field == (212, 212)
    assert "rf_short" not in [c for c, _ in _codes(PRESETS["VGG-16"])]
    assert "rf_short" not in [c for c, _ in _codes(PRESETS["ResNet-18-style"])]
    lesson = {"input": [1, 64, 64], "layers": [_conv(padding=1)]}  # a one-layer lesson: no classifier to judge
    assert _codes(lesson) == []


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_no_preset_draws_a_warning(name: str) -> None:
    assert [a.code for a in advise(PRESETS[name], analyze(PRESETS[name])) if a.level == "warning"] == []


def test_every_lesson_spec_is_warning_free() -> None:
    from playground import concepts as C

    specs = [C.conv_spec([1, 64, 64], kernel_size=3), C.conv_spec([3, 32, 32], kernel_size=5, stride=2),
             C.stack_spec(4, first_stride=2), *C.skip_specs(), *C.dwsep_specs(32, 64)]
    for cmp in (C.parameter_sharing(28, 28), C.padding_comparison(), C.downsample_comparison(32, 32)):
        specs += [side.spec for side in cmp.sides.values()]
    for spec in specs:
        assert [a.message for a in advise(spec, analyze(spec)) if a.level == "warning"] == [], spec


def test_flatten_linear_heavy_head_suggests_global_pooling() -> None:
    (heavy,) = [a for a in advise(PRESETS["VGG-16"], analyze(PRESETS["VGG-16"])) if a.code == "fc_heavy"]
    assert heavy.layer_index == 32 and "74%" in heavy.message and "512x7x7 = 25,088" in heavy.message
    assert heavy.level == "note"  # a fact about where the parameters sit, not a fault of VGG's
    assert heavy.reveals == {"totals", "table", "shapes"}  # a teacher link hiding any of those drops it
    # With global pooling, that layer would be Linear(512, 4096): the figure quoted.
    assert f"{512 * 4096 + 4096:,} parameters" in heavy.message
    for clean in ("ResNet-18-style", "MobileNet-V1-style", "LeNet-5"):  # GAP heads, or a 1x1 map at the flatten
        assert "fc_heavy" not in [c for c, _ in _codes(PRESETS[clean])]


def test_replace_one_conv_absorbs_bn_relu_and_matches_pytorch() -> None:
    change = replace_with_dwsep(DEFAULT_SPEC, 0)
    layers = change.spec["layers"]
    assert layers[0] == {"type": "dwsep", "out_channels": 16, "kernel_size": 3, "stride": 1}
    assert len(layers) == len(DEFAULT_SPEC["layers"]) - 2 and layers[1]["type"] == "maxpool2d"
    assert change.notes == ["layer 0: the BatchNorm and ReLU after it are now the block's own"]
    before, after = analyze(DEFAULT_SPEC), analyze(change.spec)
    assert after.output_shape == before.output_shape
    # The block: 3*9 depthwise + 3*16 pointwise weights and two BatchNorms (3 and 16 channels, 2 params each).
    assert after.layers[0].params == 3 * 9 + 3 * 16 + 2 * 3 + 2 * 16
    with torch.device("meta"):
        assert sum(p.numel() for p in build_model(change.spec).parameters()) == after.total_params


def test_replace_says_what_else_changes() -> None:
    spec = {"input": [3, 32, 32], "layers": [_conv(padding=0, bias=True), {"type": "tanh"}]}
    notes = replace_with_dwsep(spec, 0).notes
    assert any("padding becomes 1" in n for n in notes)
    assert any("bias goes" in n for n in notes)
    assert any("adds BatchNorm + ReLU" in n for n in notes)
    assert analyze(replace_with_dwsep(spec, 0).spec).layers[0].output_shape == (4, 32, 32)  # was 30x30


def test_replace_all_and_refusals() -> None:
    change = replace_all_with_dwsep(PRESETS["VGG-16"])
    types = [layer["type"] for layer in change.spec["layers"]]
    assert "conv2d" not in types and types.count("dwsep") == 13
    assert analyze(change.spec).output_shape == (1000,)
    assert PRESETS["VGG-16"]["layers"][0]["type"] == "conv2d"  # the input is not modified
    for bad, why in ((_conv(kernel_size=1), "1x1"), (_conv(groups=2), "grouped"), (_conv(dilation=2), "dilation")):
        with pytest.raises(ValueError, match=why):
            replace_with_dwsep({"input": [4, 16, 16], "layers": [bad]}, 0)
