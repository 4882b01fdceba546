"""Criteria against analyze(): each metric on hand-made designs, a property over random stacks (with PyTorch
counting the convolutions), and the student's view that never carries a hidden target."""
from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from playground import analyze, build_model
from playground.assignments.check import FAIL, PASS, PENDING, check, conv_count
from playground.assignments.model import Assignment, parse_assignment
from tests.support.strategies import one_torch_thread, stacks

_ = one_torch_thread  # autouse: tiny models build fastest on one thread


def conv(out: int, k: int = 3, stride: int = 1, padding: Any = 1, dilation: int = 1) -> dict[str, Any]:
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, "stride": stride, "padding": padding,
            "dilation": dilation}


def spec(*layers: dict[str, Any], size: int = 32) -> dict[str, Any]:
    return {"input": [3, size, size], "layers": list(layers)}


def one(criterion: dict[str, Any], size: int = 32) -> Assignment:
    return parse_assignment({"title": "t", "input": [3, size, size], "criteria": [criterion]})


def status(criterion: dict[str, Any], design: dict[str, Any]) -> str:
    size = design["input"][1]
    return check(one(criterion, size), design).results[0].status


THREE_SAME = spec(conv(8), {"type": "relu"}, conv(8), conv(8, padding="same"))   # 32×32 out, field 7
VALID = spec(conv(8, padding=0), conv(8, padding=0))                              # 28×28 out, field 5
STRIDED = spec(conv(8, stride=2), conv(8, stride=2), conv(8, stride=2), conv(8, stride=2), conv(8), size=64)
DILATED = spec(conv(4, dilation=4, padding=4), conv(4, dilation=8, padding=8), size=64)   # field 9 + 16 = 25
BLOCKS = spec(conv(8), {"type": "dwsep", "out_channels": 16}, {"type": "residual", "out_channels": 16},
              {"type": "bottleneck", "out_channels": 32, "stride": 2})
HEAD = spec(conv(8), {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10})


@pytest.mark.parametrize(("criterion", "design", "expected"), [
    ({"metric": "output_shape", "equals": [32, 32]}, THREE_SAME, PASS),
    ({"metric": "output_shape", "equals": [32, 32]}, VALID, FAIL),
    ({"metric": "output_shape", "equals": [8, 28, 28]}, VALID, PASS),
    ({"metric": "output_shape", "equals": [10]}, HEAD, PASS),
    ({"metric": "output_shape", "equals": [10, 10]}, HEAD, FAIL),          # a flat output has no H×W
    ({"metric": "receptive_field", "at_least": 7}, THREE_SAME, PASS),
    ({"metric": "receptive_field", "at_least": 8}, THREE_SAME, FAIL),
    ({"metric": "receptive_field", "equals": 5}, VALID, PASS),
    ({"metric": "receptive_field", "at_least": 32}, STRIDED, PASS),        # 3, 7, 15, 31, 63
    ({"metric": "receptive_field", "at_most": 62}, STRIDED, FAIL),
    ({"metric": "receptive_field", "equals": 25}, DILATED, PASS),
    ({"metric": "receptive_field", "equals": 3, "layer": 0}, THREE_SAME, PASS),
    ({"metric": "receptive_field", "at_least": 1, "layer": 9}, THREE_SAME, FAIL),   # no such layer
    ({"metric": "receptive_field", "equals": 3}, HEAD, PASS),              # the global pool's whole view is not it
    ({"metric": "conv_layers", "equals": 3}, THREE_SAME, PASS),
    ({"metric": "conv_layers", "at_most": 5}, STRIDED, PASS),
    ({"metric": "conv_layers", "equals": 1 + 2 + 2 + 4}, BLOCKS, PASS),   # dwsep 2, residual 2, bottleneck 3+1
    ({"metric": "layers", "equals": 4}, THREE_SAME, PASS),
    ({"metric": "layers", "at_least": 5}, THREE_SAME, FAIL),
    ({"metric": "params", "equals": 3 * 8 * 9 + 8}, spec(conv(8)), PASS),
    ({"metric": "params", "at_most": 3 * 8 * 9 + 7}, spec(conv(8)), FAIL),
    ({"metric": "macs", "equals": 32 * 32 * 8 * 3 * 9}, spec(conv(8)), PASS),
    ({"metric": "input_size", "at_least": 64}, STRIDED, PASS),
    ({"metric": "input_size", "equals": [3, 32, 32]}, VALID, PASS),
    ({"metric": "layer_types_used", "at_least": ["dwsep"]}, BLOCKS, PASS),
    ({"metric": "layer_types_used", "at_least": ["dwsep"]}, THREE_SAME, FAIL),
    ({"metric": "layer_types_used", "at_most": ["conv2d", "relu"]}, THREE_SAME, PASS),
    ({"metric": "layer_types_used", "equals": ["conv2d"]}, THREE_SAME, FAIL),
    ({"metric": "layer_types_forbidden", "equals": ["relu"]}, THREE_SAME, FAIL),
    ({"metric": "layer_types_forbidden", "equals": ["maxpool2d"]}, THREE_SAME, PASS),
    ({"metric": "val_accuracy", "at_least": 0.9, "dataset": "shapes"}, THREE_SAME, PENDING),
])
def test_each_metric_on_hand_made_designs(criterion: dict[str, Any], design: dict[str, Any], expected: str) -> None:
    assert status(criterion, design) == expected


def test_measured_accuracy_decides_an_accuracy_criterion() -> None:
    a = one({"metric": "val_accuracy", "at_least": 0.9, "dataset": "shapes"})
    assert check(a, THREE_SAME, {0: 0.95}).results[0].status == PASS
    assert check(a, THREE_SAME, {0: 0.85}).results[0].status == FAIL


@pytest.mark.parametrize(("design", "why"), [
    ("not a spec", "not a layer spec"), ({"input": [3, 32, 32], "layers": [conv(0)]}, "not valid yet"),
    ({"input": [3, 32, 32], "layers": [conv(8)] * 600}, "not valid yet"),        # the Designer's limits
    (spec(conv(8), size=64), "set the input back to 3×32×32")])
def test_a_broken_or_hostile_design_fails_everything_with_one_message(design: Any, why: str) -> None:
    result = check(one({"metric": "params", "at_least": 0}), design)
    assert why in (result.error or "") and result.passed == 0 and result.results[0].status == FAIL


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=stacks(max_layers=6), budget=hst.integers(0, 20_000), field=hst.integers(1, 40))
def test_params_and_field_criteria_agree_with_analyze(design: dict[str, Any], budget: int, field: int) -> None:
    report = analyze(design)
    size = design["input"]
    a = parse_assignment({"title": "t", "input": size, "criteria": [
        {"metric": "params", "at_most": budget}, {"metric": "macs", "at_least": budget},
        {"metric": "layers", "equals": len(report.layers)}, {"metric": "receptive_field", "at_least": field}]})
    result = check(a, design)
    rows = [r for r in report.layers]
    fields = []
    for row in rows:
        if row.type in ("global_avgpool", "adaptive_avgpool2d", "flatten"):
            break
        if row.receptive_field is not None:
            fields.append(min(row.receptive_field))
    assert [r.status for r in result.results] == [
        PASS if report.total_params <= budget else FAIL, PASS if report.total_macs >= budget else FAIL, PASS,
        PASS if fields and fields[-1] >= field else FAIL]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=stacks(max_layers=5, max_side=24))
def test_conv_count_is_what_pytorch_builds(design: dict[str, Any]) -> None:
    model = build_model(design)
    built = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules())
    assert conv_count(analyze(design)) == built


HIDDEN = parse_assignment({"title": "secret", "input": [3, 32, 32], "criteria": [
    {"metric": "params", "at_most": 987_654, "hidden": True, "hint": "think small"},
    {"metric": "receptive_field", "at_least": 4321, "hidden": True},
    {"metric": "output_shape", "equals": [7777, 32, 32], "hidden": True},
    {"metric": "layer_types_forbidden", "equals": ["hardswish"], "hidden": True},
    {"metric": "layer_types_used", "at_least": ["channel_shuffle"], "hidden": True}]})
SECRETS = ("987654", "987,654", "4321", "4,321", "7777", "7,777", "hardswish", "channel_shuffle")


@pytest.mark.parametrize("design", [THREE_SAME, VALID, BLOCKS, HEAD, spec(conv(8), size=64), "junk"])
def test_the_students_view_never_holds_a_hidden_target(design: Any) -> None:
    public = json.dumps(check(HIDDEN, design).public())
    assert not [s for s in SECRETS if s in public]
    assert "think small" in public and "hidden target" in public


def test_a_hint_that_gives_a_hidden_target_away_is_flagged_for_the_teacher() -> None:
    a = parse_assignment({"title": "t", "input": [3, 32, 32], "criteria": [
        {"metric": "params", "at_most": 20000, "hidden": True, "hint": "stay under 20,000"},
        {"metric": "params", "at_most": 20000, "hint": "stay under 20,000"},          # shown anyway
        {"metric": "receptive_field", "at_least": 7, "hidden": True, "hint": "each 3 x 3 adds 2 px"},
        {"metric": "layer_types_forbidden", "equals": ["maxpool2d"], "hidden": True, "hint": "no maxpool2d"},
        {"metric": "output_shape", "equals": [16, 16], "hidden": True, "hint": "half of 32"}]})
    from playground.assignments.check import leaky_hints

    assert leaky_hints(a) == [0, 3]
