"""The editor model inside branches: every layer at any depth has a stable id, and every edit (select, field,
insert, move, duplicate, remove, change type, add/remove path, merge, wrap in residual, expand) works inside a
path as at the top level, with undo. Results are checked against ``playground.analyze()``."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground import analyze
from playground.design.editor import Design, spec_structure_error
from playground.design.tree import error_address, id_at, locate
from playground.spec.parse import MAX_LAYERS, MAX_TOTAL_LAYERS, SpecError, parse_spec, parse_spec_prefix

CONV = {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}
SPEC: dict[str, Any] = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
    {"type": "branch", "merge": "add", "paths": [
        [dict(CONV), {"type": "relu"},
         {"type": "branch", "merge": "mul", "paths": [[], [{"type": "global_avgpool"},
                                                          {"type": "conv2d", "out_channels": 8, "kernel_size": 1},
                                                          {"type": "sigmoid"}]]}],
        []]},
    {"type": "mbconv", "out_channels": 8},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def design() -> Design:
    return Design.from_spec(copy.deepcopy(SPEC))


def nested(d: Design, *address: int) -> int:
    found = id_at(d.layers, d.ids, d.sub, address)
    assert found is not None
    assert d.locate(found).address == address  # the address really exists
    return found


def params(d: Design) -> int:
    return analyze(d.spec()).total_params


def test_every_layer_at_every_depth_has_its_own_stable_id() -> None:
    d = design()
    names = [s.name for s in d.slots()]
    assert names == ["0", "1", "1.0.0", "1.0.1", "1.0.2", "1.0.2.1.0", "1.0.2.1.1", "1.0.2.1.2", "2", "3", "4", "5"]
    # the addresses are the analysis rows' names, in the same order
    assert names == [row.name for top in analyze(SPEC).layers for row in top.walk()]
    ids = d.all_ids()
    assert len(set(ids)) == len(ids)
    relu = nested(d, 1, 0, 1)
    d.move(d.ids[0], 1)  # moving a top-level layer leaves the ids inside the branch alone
    assert d.locate(relu).address == (0, 0, 1) and sorted(d.all_ids()) == sorted(ids)
    assert d.position(relu) == 0  # position() is the top-level layer holding it


def test_edit_a_field_inside_a_path_matches_analyze_and_undo_brings_it_back() -> None:
    d = design()
    conv = nested(d, 1, 0, 0)
    before = params(d)
    d.set_field(conv, "out_channels", 16)
    assert d.undo_label == "edit layer 1.0.0 out_channels"
    # 16 channels into the residual add: the shapes no longer match, and the message says where
    _, err = parse_spec_prefix(d.spec())
    assert err is not None and err.layer_index == 1
    d.set_field(conv, "kernel_size", 5)
    d.set_field(conv, "padding", 2)
    d.set_field(conv, "out_channels", 8)
    expected = copy.deepcopy(SPEC)
    expected["layers"][1]["paths"][0][0].update(kernel_size=5, padding=2)
    assert d.spec() == expected
    assert params(d) == analyze(expected).total_params == before + 8 * 8 * (25 - 9)
    for _ in range(4):
        d.undo()
    assert d.spec() == SPEC
    assert conv not in d.all_ids()  # restored behind its widgets' back: a fresh id


def test_insert_move_duplicate_remove_inside_a_path() -> None:
    d = design()
    branch = d.ids[1]
    relu = nested(d, 1, 0, 1)
    (bn,) = d.insert([{"type": "batchnorm2d"}], 1, into=(branch, 0))
    assert d.locate(bn).address == (1, 0, 1) and d.locate(relu).address == (1, 0, 2)
    assert d.undo_label == "add batchnorm2d in layer 1 path 0"
    above = d.insert_near(relu, [{"type": "identity"}], 0)[0]
    below = d.insert_near(relu, [{"type": "dropout"}], 1)[0]
    assert [d.locate(x).address for x in (above, relu, below)] == [(1, 0, 2), (1, 0, 3), (1, 0, 4)]
    d.move(relu, -1)
    assert d.locate(relu).address == (1, 0, 2)
    d.move(relu, -5)  # past the path's start: nothing happens
    assert d.locate(relu).address == (1, 0, 2)
    d.move_to(relu, 99)  # clamped to the path's end
    assert d.locate(relu).address[-1] == len(d.layers[1]["paths"][0]) - 1
    copy_id = d.duplicate(bn)
    assert d.locate(copy_id).address == (1, 0, 2)
    for x in (above, below, copy_id):
        d.remove(x)
    d.move_to(relu, 2)
    d.remove(bn)
    assert d.spec() == SPEC and params(d) == analyze(SPEC).total_params
    while d.can_undo:
        d.undo()
    assert d.spec() == SPEC


def test_insert_into_an_empty_path_and_a_nested_branch_gets_ids() -> None:
    d = design()
    gate = nested(d, 1, 0, 2)
    (conv,) = d.insert([dict(CONV)], into=(gate, 0))  # the identity path of the gate
    assert d.locate(conv).address == (1, 0, 2, 0, 0)
    (inner,) = d.insert([{"type": "branch", "merge": "add", "paths": [[{"type": "relu"}], []]}], into=(d.ids[1], 1))
    relu = nested(d, 1, 1, 0, 0, 0)
    assert d.locate(relu).parent == inner
    report = analyze(d.spec())
    assert report.total_params == analyze(SPEC).total_params + 8 * 8 * 9 + 8


def test_change_type_inside_a_path_gives_a_fresh_id_and_keeps_what_applies() -> None:
    d = design()
    conv = nested(d, 1, 0, 0)
    new = d.change_type(conv, "dwsep", 8)
    assert new != conv and d.locate(new).address == (1, 0, 0)
    assert d.layers[1]["paths"][0][0] == {"type": "dwsep", "out_channels": 8, "kernel_size": 3, "stride": 1}
    assert parse_spec(d.spec())  # still valid: dwsep keeps the width
    relu = nested(d, 1, 0, 1)
    as_branch = d.change_type(relu, "branch", 8)
    assert len(d.sub[as_branch]) == 2 and d.locate(d.sub[as_branch][0][0]).address == (1, 0, 1, 0, 0)
    d.undo()
    d.undo()
    assert d.spec() == SPEC


def test_add_and_remove_paths_and_change_the_merge() -> None:
    d = design()
    branch = d.ids[1]
    d.add_path(branch)
    assert d.layers[1]["paths"][2] == [] and len(d.sub[branch]) == 3
    assert analyze(d.spec()).total_params == analyze(SPEC).total_params  # one more identity: nothing to learn
    d.remove_path(branch, 0)
    assert d.layers[1]["paths"] == [[], []]
    assert not any(s.parent == branch and s.path is not None for s in d.slots())
    d.set_field(branch, "merge", "concat")
    assert analyze(d.spec()).layers[1].output_shape == (16, 16, 16)
    with pytest.raises(ValueError, match="no path 5"):
        d.remove_path(branch, 5)
    d.remove_path(branch, 1)
    with pytest.raises(ValueError, match="one path left"):
        d.remove_path(branch, 0)
    with pytest.raises(ValueError, match="not a branch"):
        d.add_path(d.ids[0])
    for _ in range(4):
        d.undo()
    assert d.spec() == SPEC


def test_wrap_in_residual_in_one_change_keeps_the_wrapped_ids() -> None:
    d = design()
    conv = nested(d, 1, 0, 0)
    relu = nested(d, 1, 0, 1)
    branch = d.wrap(conv, 2)
    assert d.undo_label == "wrap layers 1.0.0 in a residual"
    assert d.layers[1]["paths"][0][0] == {"type": "branch", "merge": "add", "paths": [[CONV, {"type": "relu"}], []]}
    assert d.locate(conv).address == (1, 0, 0, 0, 0) and d.locate(relu).parent == branch
    assert analyze(d.spec()).total_params == analyze(SPEC).total_params  # the identity path adds no weights
    d.undo()
    assert d.spec() == SPEC and d.locate(conv).address == (1, 0, 0)  # unchanged contents: the same id
    top = d.wrap(d.ids[0])  # at the top level: a 3→8 conv around an identity of 3 channels cannot add
    _, err = parse_spec_prefix(d.spec())
    assert d.layers[0]["type"] == "branch" and err is not None and err.layer_index == 0
    d.undo()
    assert top not in d.all_ids()


def test_expand_a_named_block_inside_a_path_keeps_the_numbers() -> None:
    spec = copy.deepcopy(SPEC)
    spec["layers"][1]["paths"][1] = [{"type": "inverted_residual", "out_channels": 8, "expand_ratio": 2}]
    d = Design.from_spec(spec)
    block = nested(d, 1, 1, 0)
    before = analyze(spec)
    new_ids = d.expand(block, 8)
    assert d.locate(new_ids[0]).address == (1, 1, 0)
    after = analyze(d.spec())
    assert (after.total_params, after.total_macs) == (before.total_params, before.total_macs)
    d.undo()
    assert d.spec() == spec


def test_error_inside_a_branch_points_at_the_nested_layer() -> None:
    spec = copy.deepcopy(SPEC)
    spec["layers"][1]["paths"][0][2]["paths"][1][1]["kernel_size"] = -1
    d = Design.from_spec(spec)
    _, err = parse_spec_prefix(d.spec())
    assert err is not None and err.where == "1.0.2.1.1" and "path 1, layer 1 (conv2d)" in str(err)
    address = error_address(err)
    assert address is not None
    broken = id_at(d.layers, d.ids, d.sub, address)
    assert broken is not None and locate(d.layers, d.ids, d.sub, broken).name == err.where


def test_limits_count_the_layers_inside_branches() -> None:
    big = {"input": [3, 8, 8], "layers": [{"type": "branch", "paths": [[{"type": "relu"}] * (MAX_TOTAL_LAYERS + 1)]}]}
    assert "counting those inside branches" in (spec_structure_error(big) or "")
    with pytest.raises(SpecError):
        Design.from_spec(big)
    deep: dict[str, Any] = {"type": "relu"}
    for _ in range(40):
        deep = {"type": "branch", "paths": [[deep]]}
    assert "nest" in (spec_structure_error({"input": [3, 8, 8], "layers": [deep]}) or "")
    d = Design.from_spec({"input": [3, 8, 8], "layers": [{"type": "branch", "paths": [[{"type": "relu"}] * 400]}]})
    with pytest.raises(ValueError, match="limit"):
        d.insert([{"type": "relu"}] * (MAX_LAYERS - 399), into=(d.ids[0], 0))
    assert len(d.layers[0]["paths"][0]) == 400 and not d.can_undo  # refused before any change


_OPS = ("field", "insert", "near", "move", "duplicate", "remove", "type", "add_path", "remove_path", "wrap",
        "expand")


def _apply(d: Design, op: str, pick: int) -> None:
    """One edit of kind ``op`` on the ``pick``-th layer (mod the count); edits a rule refuses are skipped."""
    slots = d.slots()
    if not slots:
        d.insert([dict(CONV)])
        return
    slot = slots[pick % len(slots)]
    branches = [s for s in slots if s.layer_id in d.sub]
    branch = branches[pick % len(branches)].layer_id if branches else None
    try:
        if op == "field":
            d.set_field(slot.layer_id, "note", pick)
        elif op == "insert" and branch is not None:
            d.insert([{"type": "relu"}], pick % 3, into=(branch, pick % len(d.sub[branch])))
        elif op == "near":
            d.insert_near(slot.layer_id, [{"type": "branch", "paths": [[{"type": "relu"}], []]}], pick % 2)
        elif op == "move":
            d.move(slot.layer_id, 1 if pick % 2 else -1)
        elif op == "duplicate":
            d.duplicate(slot.layer_id)
        elif op == "remove":
            d.remove(slot.layer_id)
        elif op == "type":
            d.change_type(slot.layer_id, ("relu", "branch", "conv2d")[pick % 3], 8)
        elif op == "add_path" and branch is not None:
            d.add_path(branch)
        elif op == "remove_path" and branch is not None:
            d.remove_path(branch, pick % len(d.sub[branch]))
        elif op == "wrap":
            d.wrap(slot.layer_id, 1 + pick % 3)
        elif op == "expand" and slot.layer.get("type") == "mbconv":
            d.expand(slot.layer_id, 8)
    except (ValueError, SpecError):
        pass  # refused before any change: a branch's last path, a block with a bad setting to expand


def _consistent(d: Design) -> None:
    ids = d.all_ids()
    assert len(ids) == len(set(ids)) == sum(1 for _ in d.slots())
    for slot in d.slots():
        assert d.locate(slot.layer_id).address == slot.address
        paths = slot.layer.get("paths") if slot.layer.get("type") == "branch" else None
        if paths is not None:
            assert [len(p) for p in d.sub[slot.layer_id]] == [len(p) for p in paths]
    assert set(d.sub) <= set(ids)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 50)), max_size=12))
def test_any_sequence_of_edits_keeps_every_id_in_place_and_undo_takes_all_back(edits: list[tuple[str, int]]) -> None:
    d = design()
    for op, pick in edits:
        _apply(d, op, pick)
        _consistent(d)
    while d.can_undo:
        d.undo()
        _consistent(d)
    assert d.spec() == SPEC
