"""The designer's editor model without streamlit: Design (ids, undo, every edit) and the field kinds."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playground.design.blocks import BLOCK_HELP, BLOCKS, fit_position, head_start, new_block
from playground.design.editor import (
    LAYER_TYPE_NAMES,
    UNDO_DEPTH,
    Design,
    EditorField,
    fields_of,
    format_value,
    new_layer,
    parse_text,
    retype,
    spec_from_text,
    spec_structure_error,
    too_many_layers,
)
from playground.spec.layers import LAYER_TYPES
from playground.spec.parse import MAX_LAYERS, SpecError, parse_layer, parse_spec, parse_spec_prefix

SPEC = {"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3},
                                       {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}]}


def types(d: Design) -> list[str]:
    return [layer["type"] for layer in d.layers]


# --- structure check --------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, words", [
    ([1, 2], "not a spec object"),
    ({"layers": []}, '"input" is not a list'),
    ({"input": (3, 8, 8)}, '"input" is not a list'),
    ({"input": [3, 8, 8], "layers": {"type": "relu"}}, '"layers" is not a list of layer objects'),
    ({"input": [3, 8, 8], "layers": [{"type": "relu"}, "relu"]}, '"layers" is not a list of layer objects'),
    ({"input": [3, 8, 8], "layers": [], "name": 7}, '"name" is not text'),
])
def test_structure_errors_say_what_cannot_be_edited(spec: Any, words: str) -> None:
    assert words in (spec_structure_error(spec) or "")


def test_bad_values_are_still_editable() -> None:
    assert spec_structure_error({"input": ["x", -1], "layers": [{"type": "nope", "k": None}]}) is None
    assert spec_structure_error({"input": [3, 8, 8]}) is None  # no layers yet is fine


# --- Design -----------------------------------------------------------------------------------------

def test_from_spec_and_spec_are_copies() -> None:
    source: dict[str, Any] = {"name": "net", **copy.deepcopy(SPEC)}
    d = Design.from_spec(source)
    source["layers"][0]["out_channels"] = 99
    source["input"][0] = 1
    assert d.layers[0]["out_channels"] == 4 and d.input == [3, 8, 8]
    out = d.spec()
    assert out == {"name": "net", "input": [3, 8, 8], "layers": SPEC["layers"]} and list(out)[0] == "name"
    out["layers"].append({"type": "tanh"})
    out["input"][1] = 2
    assert len(d.layers) == 3 and d.input[1] == 8
    assert "name" not in Design.from_spec(SPEC).spec()


def test_each_layer_gets_a_distinct_id_and_new_ids_are_never_reused() -> None:
    d = Design.from_spec(SPEC)
    assert d.ids == [0, 1, 2] and d.next_id == 3
    new = d.add({"type": "tanh"}, at=1)
    assert types(d) == ["conv2d", "tanh", "relu", "maxpool2d"] and d.position(new) == 1
    d.remove(new)
    again = d.add({"type": "tanh"})
    assert again not in (0, 1, 2, new) and d.position(again) == 3
    with pytest.raises(ValueError):
        d.position(new)


def test_add_copies_the_layer_and_appends_by_default() -> None:
    d = Design.from_spec({"input": [3, 8, 8], "layers": []})
    layer = {"type": "dropout", "p": 0.1}
    layer_id = d.add(layer)
    layer["p"] = 0.9
    assert d.layers == [{"type": "dropout", "p": 0.1}] and d.ids == [layer_id]
    assert d.undo_label == "add dropout"


def test_duplicate_inserts_an_independent_copy_below() -> None:
    d = Design.from_spec(SPEC)
    copy_id = d.duplicate(d.ids[0])
    assert types(d) == ["conv2d", "conv2d", "relu", "maxpool2d"] and d.ids[1] == copy_id
    d.set_field(copy_id, "out_channels", 8)
    assert d.layers[0]["out_channels"] == 4 and d.layers[1]["out_channels"] == 8


def test_move_keeps_ids_with_their_layers_and_ignores_moves_past_the_ends() -> None:
    d = Design.from_spec(SPEC)
    pool = d.ids[2]
    d.move(pool, -2)
    assert types(d) == ["maxpool2d", "conv2d", "relu"] and d.ids == [pool, 0, 1]
    assert d.undo_label == "move layer 2"
    depth = len(d.undo_stack)
    d.move(pool, -1)
    d.move(d.ids[-1], 1)
    assert d.ids == [pool, 0, 1] and len(d.undo_stack) == depth  # nothing moved, nothing to undo


def test_set_field_sets_removes_and_skips_no_op_edits() -> None:
    d = Design.from_spec(SPEC)
    conv = d.ids[0]
    d.set_field(conv, "stride", 2)
    assert d.layers[0]["stride"] == 2 and d.undo_label == "edit layer 0 stride"
    d.set_field(conv, "stride", None)  # back to the default: the key goes
    assert "stride" not in d.layers[0]
    depth = len(d.undo_stack)
    d.set_field(conv, "out_channels", 4)  # unchanged value
    d.set_field(conv, "padding", None)  # an absent key back to its default: also unchanged
    assert len(d.undo_stack) == depth and "padding" not in d.layers[0]


def test_set_input_grows_a_short_input_and_skips_no_op_edits() -> None:
    d = Design.from_spec({"input": [3], "layers": []})
    d.set_input(2, 32)
    assert d.input == [3, None, 32]
    depth = len(d.undo_stack)
    d.set_input(0, 3)
    assert len(d.undo_stack) == depth
    d.undo()
    assert d.input == [3]


def test_undo_restores_and_renews_only_the_ids_whose_contents_changed() -> None:
    d = Design.from_spec(SPEC)
    conv, relu, pool = d.ids
    d.set_field(conv, "out_channels", 16)
    renamed = d.undo()
    assert d.layers == SPEC["layers"]
    assert set(renamed) == {conv} and renamed[conv] not in (conv, relu, pool)
    assert d.ids == [renamed[conv], relu, pool]  # widgets keyed by the old id may still show 16
    assert d.undo() == {} and not d.can_undo and d.undo_label is None


def test_undo_of_a_removal_brings_the_layer_back_under_a_fresh_id() -> None:
    d = Design.from_spec(SPEC)
    relu = d.ids[1]
    d.remove(relu)
    assert d.undo_label == "remove layer 1 (relu)"
    renamed = d.undo()
    assert types(d) == ["conv2d", "relu", "maxpool2d"] and relu in renamed and d.ids[1] == renamed[relu]


def test_undo_of_an_input_change_bumps_the_input_revision() -> None:
    d = Design.from_spec(SPEC)
    d.set_input(1, 16)
    assert d.input_rev == 0  # edited through its own field: its widget already shows the value
    d.undo()
    assert d.input == [3, 8, 8] and d.input_rev == 1
    d.set_field(d.ids[0], "bias", False)
    d.undo()
    assert d.input_rev == 1  # the input did not change


def test_replace_keeps_a_way_back() -> None:
    d = Design.from_spec(SPEC)
    old_ids = list(d.ids)
    d.replace({"name": "tiny", "input": [1, 4, 4], "layers": [{"type": "flatten"}]}, "load preset tiny")
    assert d.spec() == {"name": "tiny", "input": [1, 4, 4], "layers": [{"type": "flatten"}]}
    assert d.input_rev == 1 and not set(d.ids) & set(old_ids)
    assert d.undo_label == "load preset tiny"
    d.undo()
    assert d.spec() == SPEC and d.input_rev == 2


def test_undo_history_is_capped() -> None:
    d = Design.from_spec({"input": [3, 8, 8], "layers": []})
    for _ in range(UNDO_DEPTH + 5):
        d.add({"type": "relu"})
    undone = 0
    while d.can_undo:
        d.undo()
        undone += 1
    assert undone == UNDO_DEPTH and len(d.layers) == 5  # the oldest five adds can no longer be undone


def test_an_edited_named_design_says_so_once() -> None:
    d = Design.from_spec({"name": "LeNet", **SPEC})
    d.add({"type": "relu"})
    d.add({"type": "relu"})
    assert d.name == "LeNet (edited)"
    d.undo()
    assert d.name == "LeNet (edited)"  # the snapshot was taken after the first rename
    d.undo()
    assert d.name == "LeNet"
    unnamed = Design.from_spec(SPEC)
    unnamed.add({"type": "relu"})
    assert unnamed.name is None


# --- fields -------------------------------------------------------------------------------------------

def test_layer_type_names_are_the_specs_in_order() -> None:
    assert tuple(LAYER_TYPES) == LAYER_TYPE_NAMES and LAYER_TYPE_NAMES[0] == "conv2d"


def test_conv2d_fields_follow_the_spec() -> None:
    fields = {f.name: f for f in fields_of("conv2d")}
    assert list(fields) == ["out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"]
    assert fields["out_channels"] == EditorField("out_channels", "int", True, None)
    assert fields["kernel_size"] == EditorField("kernel_size", "pair", True, None)
    assert (fields["stride"].kind, fields["stride"].default) == ("pair", 1)
    assert (fields["padding"].kind, fields["padding"].default) == ("padding", 0)
    assert (fields["bias"].kind, fields["bias"].default) == ("bool", True)
    assert fields["out_channels"].label == "out channels" and fields["out_channels"].placeholder == "required"
    assert fields["stride"].placeholder == "1 (default)"


def test_other_kinds_and_placeholders() -> None:
    pool = {f.name: f for f in fields_of("maxpool2d")}
    assert pool["stride"].kind == "pair" and pool["stride"].default is None
    assert pool["stride"].placeholder == "= kernel"  # PyTorch: stride defaults to kernel_size
    bn = {f.name: f for f in fields_of("batchnorm2d")}
    assert (bn["eps"].kind, bn["eps"].placeholder) == ("float", "1e-05 (default)")
    assert (bn["momentum"].kind, bn["momentum"].default) == ("float", 0.1)
    assert fields_of("gelu")[0] == EditorField("approximate", "text", False, "none")
    assert fields_of("relu") == () and fields_of("flatten") == ()
    with pytest.raises(KeyError):
        fields_of("conv3d")


@pytest.mark.parametrize("layer_type", LAYER_TYPE_NAMES)
def test_every_fields_default_is_what_the_spec_fills_in(layer_type: str) -> None:
    required = {"out_channels": 8, "kernel_size": 2, "out_features": 10}
    raw = {"type": layer_type, **{f.name: required[f.name] for f in fields_of(layer_type) if f.required}}
    canonical = parse_layer(raw).to_dict()
    for f in fields_of(layer_type):
        if not f.required and f.default is not None:
            assert canonical[f.name] == f.default, (layer_type, f.name)


@pytest.mark.parametrize("layer_type", LAYER_TYPE_NAMES)
def test_every_new_layer_is_valid_and_keeps_the_width(layer_type: str) -> None:
    layer = new_layer(layer_type, channels=12)
    assert layer["type"] == layer_type
    head = [{"type": "flatten"}] if layer_type == "linear" else []
    parsed = parse_spec({"input": [12, 8, 8], "layers": [*head, layer]})
    if layer_type in ("conv2d", "dwsep", "residual", "bottleneck"):
        assert parsed.output_shape[0] == 12


def test_new_layer_widths() -> None:
    assert new_layer("conv2d")["out_channels"] == 16  # channel count unknown
    assert new_layer("conv2d", 0)["out_channels"] == 16
    assert new_layer("bottleneck", 6)["out_channels"] == 8  # its inner width is out_channels // 4
    assert new_layer("bottleneck", 1)["out_channels"] == 4
    assert new_layer("linear", 512) == {"type": "linear", "out_features": 10}
    assert new_layer("relu", 5) == {"type": "relu"}
    with pytest.raises(KeyError, match="unknown layer type 'conv'"):
        new_layer("conv")


@pytest.mark.parametrize("value, text", [
    (None, ""), (3, "3"), ([3, 5], "3,5"), ((2, 2), "2,2"), (0.25, "0.25"), (1e-5, "1e-05"), (True, "True"),
    ("same", "same"),
])
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


@given(value=st.one_of(st.integers(-10_000, 10_000),
                       st.lists(st.integers(0, 10_000), min_size=2, max_size=2)))
def test_whole_numbers_and_pairs_round_trip_through_their_text(value: int | list[int]) -> None:
    assert parse_text(format_value(value), "pair") == value


@given(value=st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_floats_round_trip_to_six_significant_digits(value: float) -> None:
    back = parse_text(format_value(value), "float")
    assert isinstance(back, float) and back == pytest.approx(value, rel=1e-5, abs=1e-30)


def test_text_the_spec_must_judge_is_passed_through_unchanged() -> None:
    assert parse_text("  relu6 ", "text") == "relu6"
    assert parse_text("3x5x7", "pair") == "3x5x7"
    assert parse_text("two", "int") == "two"
    assert parse_text("VALID", "padding") == "valid" and parse_text("VALID", "pair") == "VALID"
    assert parse_text("maybe", "bool") == "maybe" and parse_text("FALSE", "bool") is False


# --- building quickly: insert, blocks, change type, move to, clear, paste, the layer limit ---------

HEADED: dict[str, Any] = {"input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def test_insert_puts_a_block_anywhere_and_one_undo_takes_it_back() -> None:
    d = Design.from_spec(HEADED)
    ids = d.insert(new_block("conv·BN·ReLU", 8), at=2)
    assert types(d) == ["conv2d", "relu", "conv2d", "batchnorm2d", "relu", "global_avgpool", "flatten", "linear"]
    assert d.ids[2:5] == ids and len(set(d.ids)) == len(d.ids)
    parse_spec(d.spec())  # valid at once: the block went before the head
    assert d.undo_label == "add 3 layers"
    d.undo()
    assert d.spec() == HEADED
    d.insert([{"type": "tanh"}], at=99)  # past the end: clamped to the end
    assert types(d)[-1] == "tanh"


def test_where_it_fits_is_before_the_head_for_maps_and_at_the_end_for_head_parts() -> None:
    layers = HEADED["layers"]
    assert head_start(layers) == 2 and head_start(layers[:2]) == 2
    for kind in ("conv2d", "dwsep", "residual", "maxpool2d", "batchnorm2d", "relu"):
        assert fit_position(layers, kind) == 2
    for kind in ("linear", "dropout", "flatten", "global_avgpool"):
        assert fit_position(layers, kind) == 5
    # The bug this replaces: a residual appended after the head cannot run; where it fits, it can.
    d = Design.from_spec(HEADED)
    d.insert(new_block("residual /2", 8), fit_position(d.layers, "residual"))
    assert parse_spec(d.spec()).shapes[3] == (16, 16, 16)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_block_is_valid_where_it_fits(name: str) -> None:
    d = Design.from_spec({"input": [3, 32, 32], "layers": copy.deepcopy(HEADED["layers"][:2])})
    block = new_block(name, 8)
    d.insert(block, fit_position(d.layers, block[0]["type"]))
    parsed = parse_spec(d.spec())
    assert set(BLOCK_HELP) == set(BLOCKS)
    if name.endswith("/2"):
        assert parsed.shapes[3][0] == 16 and parsed.shapes[3][1] == 16  # twice the channels, half the side
    with pytest.raises(KeyError, match="unknown block"):
        new_block("inception")


def test_change_type_keeps_the_settings_that_still_apply_under_a_fresh_id() -> None:
    d = Design.from_spec({"input": [3, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 24, "kernel_size": 5, "stride": 2, "padding": 2, "bias": False}]})
    old = d.ids[0]
    new = d.change_type(old, "dwsep")
    assert d.layers[0] == {"type": "dwsep", "out_channels": 24, "kernel_size": 5, "stride": 2}
    assert new != old and d.ids == [new] and d.undo_label == "change layer 0 to dwsep"
    d.change_type(new, "maxpool2d")
    assert d.layers[0] == {"type": "maxpool2d", "kernel_size": 5, "stride": 2}
    d.change_type(d.ids[0], "relu")
    assert d.layers[0] == {"type": "relu"}
    d.change_type(d.ids[0], "linear", channels=7)
    assert d.layers[0] == {"type": "linear", "out_features": 10}
    assert d.change_type(d.ids[0], "linear") == d.ids[0]  # no change, nothing to undo
    for _ in range(4):
        d.undo()
    assert d.layers[0]["type"] == "conv2d" and d.layers[0]["padding"] == 2 and not d.can_undo
    assert retype({"type": "bogus", "kernel_size": 3, "junk": 1}, "avgpool2d") == {"type": "avgpool2d",
                                                                                 "kernel_size": 3}


def test_move_to_goes_anywhere_in_one_step_and_one_undo() -> None:
    d = Design.from_spec(HEADED)
    linear = d.ids[4]
    d.move_to(linear, 0)
    assert types(d)[0] == "linear" and d.ids[0] == linear and d.undo_label == "move layer 4"
    d.move_to(linear, 99)  # clamped to the end
    assert d.ids[-1] == linear
    depth = len(d.undo_stack)
    d.move_to(linear, 4)  # already there
    assert len(d.undo_stack) == depth
    d.undo()
    d.undo()
    assert d.spec() == HEADED


def test_clear_keeps_the_input_and_undo_brings_the_layers_back() -> None:
    d = Design.from_spec({"name": "LeNet", **HEADED})
    d.clear()
    assert d.layers == [] and d.ids == [] and d.input == [3, 32, 32] and d.name is None
    assert d.undo_label == "new empty design"
    d.undo()
    assert d.spec() == {"name": "LeNet", **HEADED}


def test_revision_counts_every_change_and_undo() -> None:
    d = Design.from_spec(HEADED)
    assert d.revision == 0
    d.set_field(d.ids[0], "out_channels", 8)  # unchanged: no revision
    assert d.revision == 0
    d.set_field(d.ids[0], "out_channels", 9)
    d.undo()
    assert d.revision == 2


def test_paste_reads_json_text_and_says_what_is_wrong() -> None:
    import json

    assert spec_from_text(json.dumps(HEADED)) == HEADED
    with pytest.raises(SpecError, match=r"the pasted text is not valid JSON: .*\(line 1 column"):
        spec_from_text('{"input": [3, 8, 8], "layers": [')
    with pytest.raises(SpecError, match='the pasted text is not a design: "layers" is not a list'):
        spec_from_text('{"input": [3, 8, 8], "layers": 3}')
    bad_values = spec_from_text('{"input": [3, 8, 8], "layers": [{"type": "conv2d", "kernel_size": "x"}]}')
    assert bad_values["layers"][0]["kernel_size"] == "x"  # values are the analysis's business


def test_the_layer_limit_is_enforced_before_anything_is_copied() -> None:
    huge = {"input": [3, 8, 8], "layers": [{}] * 330_000}
    parser_says = str(parse_spec_prefix(huge)[1])
    assert too_many_layers(330_000) == parser_says == "330,000 layers is over the 500 layer limit"
    assert spec_structure_error(huge) == parser_says
    assert spec_structure_error({"input": [3, 8, 8], "layers": [1] * 600}) == too_many_layers(600)
    with pytest.raises(SpecError, match="330,000 layers is over the 500 layer limit"):
        Design.from_spec(huge)
    d = Design.from_spec(HEADED)
    with pytest.raises(SpecError, match="over the 500 layer limit"):
        d.replace(huge, "load")
    assert d.spec() == HEADED and not d.can_undo
    full = Design.from_spec({"input": [3, 8, 8], "layers": [{"type": "relu"}] * MAX_LAYERS})
    with pytest.raises(ValueError, match="500 is the limit"):
        full.insert([{"type": "relu"}])
    with pytest.raises(ValueError, match="500 is the limit"):
        full.duplicate(full.ids[0])
    assert len(full.layers) == MAX_LAYERS
