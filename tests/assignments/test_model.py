"""The assignment file format: what a teacher can write by hand, and one line naming the field when it is wrong."""
from __future__ import annotations

import json
from typing import Any

import pytest

from playground.assignments.model import AssignmentError, load_assignment, parse_assignment, target_from_text
from playground.assignments.presets import PRESETS, preset

GOOD: dict[str, Any] = {
    "title": "Small and sharp", "instructions": "Line one.\n\n- a\n- b", "input": [3, 32, 32],
    "start": {"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 3}]},
    "criteria": [
        {"metric": "params", "at_most": 20000, "hint": "fewer channels"},
        {"metric": "receptive_field", "at_least": 7, "hidden": True, "layer": 0},
        {"metric": "output_shape", "equals": [32, 32]},
        {"metric": "layer_types_used", "at_least": ["dwsep"]},
        {"metric": "layer_types_forbidden", "equals": ["linear"]},
        {"metric": "val_accuracy", "at_least": 0.9, "dataset": "shapes", "epochs": 3},
        {"metric": "input_size", "equals": [3, 32, 32]},
        {"metric": "macs", "at_most": 1e6}, {"metric": "conv_layers", "equals": 3}, {"metric": "layers", "at_least": 2},
    ]}


def with_criterion(criterion: dict[str, Any]) -> dict[str, Any]:
    return {**GOOD, "criteria": [criterion]}


def test_a_full_file_round_trips_through_its_json() -> None:
    a = parse_assignment(GOOD)
    again = load_assignment(a.to_json())
    assert again == a and again.start == a.start
    assert a.criteria[1].hidden and a.criteria[1].layer == 0
    assert a.criteria[7].target == 1_000_000 and isinstance(a.criteria[7].target, int)  # 1e6 means a whole number
    assert a.criteria[5].dataset == "shapes" and a.criteria[5].epochs == 3


@pytest.mark.parametrize("title", list(PRESETS))
def test_every_preset_is_a_valid_file_that_round_trips(title: str) -> None:
    a = preset(title)
    assert load_assignment(a.to_json()) == a
    assert a.criteria and a.start is not None


@pytest.mark.parametrize(("data", "field"), [
    ([], "JSON object"),
    ({**GOOD, "extra": 1}, "'extra'"),
    ({**GOOD, "title": ""}, "title"),
    ({**GOOD, "title": "x" * 500}, "title"),
    ({**GOOD, "input": [3, 32]}, "input"),
    ({**GOOD, "input": [3, 0, 32]}, "input"),
    ({**GOOD, "criteria": {"metric": "params"}}, "criteria"),
    ({**GOOD, "start": "/etc/passwd"}, "start"),
    ({**GOOD, "start": {"input": [3, 64, 64], "layers": []}}, "start.input"),
    ({**GOOD, "start": {"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 0}]}}, "start"),
    (with_criterion({"metric": "weight", "at_most": 1}), "criteria[0].metric"),
    (with_criterion({"metric": "params"}), "criteria[0] needs exactly one"),
    (with_criterion({"metric": "params", "at_most": 1, "at_least": 0}), "criteria[0] needs exactly one"),
    (with_criterion({"metric": "params", "at_most": "many"}), "criteria[0].at_most"),
    (with_criterion({"metric": "params", "at_most": -1}), "criteria[0].at_most"),
    (with_criterion({"metric": "params", "at_most": True}), "criteria[0].at_most"),
    (with_criterion({"metric": "params", "at_most": 1, "hidden": "yes"}), "criteria[0].hidden"),
    (with_criterion({"metric": "params", "at_most": 1, "layer": 2}), "criteria[0].layer"),
    (with_criterion({"metric": "params", "at_most": 1, "colour": 2}), "'colour'"),
    (with_criterion({"metric": "output_shape", "at_least": [3, 3]}), "criteria[0]"),
    (with_criterion({"metric": "output_shape", "equals": [3, 3, 3, 3]}), "criteria[0].equals"),
    (with_criterion({"metric": "layer_types_used", "at_least": ["conv3d"]}), "conv3d"),
    (with_criterion({"metric": "layer_types_used", "at_least": "dwsep"}), "criteria[0].at_least"),
    (with_criterion({"metric": "val_accuracy", "at_least": 90, "dataset": "shapes"}), "fraction"),
    (with_criterion({"metric": "val_accuracy", "at_least": 0.9}), "criteria[0].dataset"),
    (with_criterion({"metric": "params", "at_most": 1, "epochs": 3}), "val_accuracy"),
])
def test_a_bad_file_gets_one_line_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(AssignmentError) as err:
        parse_assignment(data)
    assert field in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("text", "why"), [(b"{", "not valid JSON"), (b"\xff\xfe", "UTF-8"),
                                           (b'{"title": NaN}', "NaN"), (b" " * 1_000_001, "bytes")])
def test_a_file_that_is_not_json_is_refused_before_any_work(text: bytes, why: str) -> None:
    with pytest.raises(AssignmentError, match=why):
        load_assignment(text)


@pytest.mark.parametrize(("metric", "text", "value"), [
    ("params", "20_000", 20000), ("output_shape", "[32, 32]", [32, 32]), ("val_accuracy", "0.9", 0.9),
    ("layer_types_used", "dwsep, conv2d", ["dwsep", "conv2d"]), ("layer_types_forbidden", '["relu"]', ["relu"]),
    ("params", "", None), ("params", "lots", "lots")])
def test_a_form_cell_becomes_the_target_the_file_would_hold(metric: str, text: str, value: Any) -> None:
    assert target_from_text(metric, text) == value


def test_a_cell_that_is_not_a_number_is_named_by_the_file_check() -> None:
    data = with_criterion({"metric": "params", "at_most": target_from_text("params", "lots")})
    with pytest.raises(AssignmentError, match=r"criteria\[0\]\.at_most must be a number, got \"lots\""):
        parse_assignment(json.loads(json.dumps(data)))
