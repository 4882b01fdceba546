"""The designer page editing inside branches (AppTest): the layer list shows a branch as a group and every
action works on a layer inside a path (select, field, insert, move, copy, remove, type, add/remove path,
merge, wrap in residual, expand), each undone by Undo; the URL carries the edited graph; hidden shapes stay
hidden inside paths. Totals are checked against ``playground.analyze()``."""
from __future__ import annotations

import copy
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from playground import analyze
from playground.design.editor import Design
from playground.design.tree import id_at
from playground.spec.share import decode_share, encode_share
from playground.ui.designer.layers import (
    ABOVE,
    ADD_TYPE_KEY,
    BELOW,
    COPY,
    EXPAND,
    MOVE_DOWN,
    MOVE_UP,
    PRESET_KEY,
    REMOVE,
    UNDO_KEY,
    row_key,
    type_key,
)
from playground.ui.designer.paths import (
    ADD_PATH,
    INSERT_PATH,
    REMOVE_PATH,
    WRAP,
    branch_key,
    merge_key,
    path_key,
    wrap_count_key,
)
from playground.ui.designer.session import DESIGN_KEY, SELECTED_KEY, wkey
from tests.support.apptest_pages import run_page

CONV8 = {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}
SPEC: dict[str, Any] = {"name": "branches", "input": [3, 16, 16], "layers": [
    dict(CONV8),
    {"type": "branch", "merge": "add", "paths": [
        [dict(CONV8), {"type": "relu"}, {"type": "inverted_residual", "out_channels": 8, "expand_ratio": 2}], []]},
    {"type": "branch", "merge": "concat", "paths": [[{"type": "conv2d", "out_channels": 12, "kernel_size": 1}], []]},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
INNER_SHAPE = "12×16×16"  # the output of the conv inside layer 2's path 0, and of no other layer


def _app(**query: str) -> AppTest:
    at = run_page("design", timeout=60, spec=encode_share(SPEC), **query)
    assert not at.exception and not at.error
    return at


def _design(at: AppTest) -> Design:
    return at.session_state[DESIGN_KEY]


def _id(at: AppTest, *address: int) -> int:
    d = _design(at)
    found = id_at(d.layers, d.ids, d.sub, address)
    assert found is not None and d.locate(found).address == address
    return found


def _list(at: AppTest) -> Any:
    return next(r for r in at.radio if r.label == "Layers")


def _choose(at: AppTest, option: Any) -> AppTest:
    """Click a line of the layer list (a layer id, or (branch id, path) for an empty path)."""
    at = _list(at).set_value(option).run()
    assert not at.exception
    return at


def _click(at: AppTest, key: str) -> AppTest:
    at = at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _url(at: AppTest) -> dict[str, Any]:
    token = at.query_params["spec"]
    return decode_share(token[0] if isinstance(token, list) else token)


def _check(at: AppTest, expected: dict[str, Any]) -> None:
    """The design, the URL and the totals are those of ``expected`` (totals from analyze())."""
    assert _design(at).spec()["layers"] == expected["layers"]
    assert _url(at)["layers"] == expected["layers"]
    params = next(m for m in at.metric if m.label == "Parameters")
    assert params.help.startswith(f"{analyze(expected).total_params:,} ")


def _undo(at: AppTest, times: int = 1) -> AppTest:
    """Click Undo ``times`` times: the design, the URL and the totals are back to SPEC's."""
    for _ in range(times):
        at = _click(at, UNDO_KEY)
    _check(at, SPEC)
    return at


def _edited(change: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    change(spec["layers"])
    return spec


def test_a_branch_is_a_group_of_indented_paths_and_a_nested_layer_opens_its_editor() -> None:
    at = _app()
    shown = list(_list(at).options)  # the lines as shown
    assert shown[1].startswith("`1` branch add") and shown[2].strip().startswith("path 0 · `1.0.0` conv2d 8, 3×3")
    assert shown[2].startswith("\u2003") and not shown[1].startswith("\u2003")  # indented under the branch
    assert shown[5].strip() == "path 1 · `1.1` identity"
    assert shown[4].strip().startswith("path 0 · `1.0.2` inverted_residual")  # a named block is one line
    at = _choose(at, _id(at, 1, 0, 0))
    assert at.selectbox(key=type_key(_id(at, 1, 0, 0))).value == "conv2d"
    assert any("`1.0.0` conv2d" in m.value for m in at.markdown)
    position = next(n for n in at.number_input if n.label == "Position in path 0")
    assert (position.value, position.max) == (0, 2)  # the position box counts within its path


def test_edit_a_field_inside_a_path_then_undo() -> None:
    at = _app()
    conv = _id(at, 1, 0, 0)
    at = _choose(at, conv)
    at = at.text_input(key=wkey(conv, "padding")).set_value("same").run()  # the map keeps its size ...
    at = at.text_input(key=wkey(conv, "kernel_size")).set_value("5").run()  # ... with a bigger kernel

    def bigger(layers: list[Any]) -> None:
        layers[1]["paths"][0][0].update(kernel_size=5, padding="same")
    _check(at, _edited(bigger))
    _undo(at, 2)


def test_insert_above_and_below_inside_a_path_then_undo() -> None:
    at = _app()
    at.session_state[ADD_TYPE_KEY] = "batchnorm2d"
    at = _choose(at, _id(at, 1, 0, 1))
    at = _click(at, row_key(ABOVE, _id(at, 1, 0, 1)))
    assert at.session_state[SELECTED_KEY] == _id(at, 1, 0, 1)  # the new layer is chosen
    _check(at, _edited(lambda ls: ls[1]["paths"][0].insert(1, {"type": "batchnorm2d"})))
    at = _undo(at)
    at = _choose(at, _id(at, 1, 0, 0))
    at = _click(at, row_key(BELOW, _id(at, 1, 0, 0)))
    _check(at, _edited(lambda ls: ls[1]["paths"][0].insert(1, {"type": "batchnorm2d"})))
    _undo(at)


def test_move_copy_and_remove_inside_a_path_then_undo() -> None:
    at = _app()
    relu = _id(at, 1, 0, 1)
    at = _choose(at, relu)
    at = _click(at, row_key(MOVE_UP, relu))
    assert _design(at).locate(relu).address == (1, 0, 0)

    def swapped(layers: list[Any]) -> None:
        p = layers[1]["paths"][0]
        p[0], p[1] = p[1], p[0]
    _check(at, _edited(swapped))
    assert at.button(key=row_key(MOVE_UP, relu)).disabled  # the top of its path, though not of the design
    at = _click(at, row_key(MOVE_DOWN, relu))
    _check(at, SPEC)
    at = _click(at, row_key(COPY, relu))
    _check(at, _edited(lambda ls: ls[1]["paths"][0].insert(2, {"type": "relu"})))
    at = _undo(at, 3)
    at = _choose(at, relu)
    at = _click(at, row_key(REMOVE, relu))
    _check(at, _edited(lambda ls: ls[1]["paths"][0].pop(1)))
    assert at.session_state[SELECTED_KEY] == _id(at, 1, 0, 1)  # the layer that took its place
    _undo(at)


def test_change_type_inside_a_path_then_undo() -> None:
    at = _app()
    conv = _id(at, 1, 0, 0)
    at = _choose(at, conv)
    at = at.selectbox(key=type_key(conv)).set_value("dwsep").run()
    new = at.session_state[SELECTED_KEY]
    assert new != conv and _design(at).locate(new).address == (1, 0, 0)  # still chosen, under a fresh id
    _check(at, _edited(lambda ls: ls[1]["paths"][0].__setitem__(
        0, {"type": "dwsep", "out_channels": 8, "kernel_size": 3, "stride": 1})))
    _undo(at)


def test_add_and_remove_a_path_change_the_merge_then_undo() -> None:
    at = _app()
    branch = _id(at, 2)
    at = _choose(at, branch)
    at = _click(at, branch_key(ADD_PATH, branch))
    assert at.session_state[SELECTED_KEY] == (branch, 2)  # the new (empty) path is chosen: insert into it
    _check(at, _edited(lambda ls: ls[2]["paths"].append([])))
    at.session_state[ADD_TYPE_KEY] = "maxpool2d"
    at = _click(_choose(at, (branch, 2)), path_key(INSERT_PATH, branch, 2))
    with_pool = _edited(lambda ls: ls[2]["paths"].append([{"type": "maxpool2d", "kernel_size": 2}]))
    assert _design(at).spec()["layers"] == with_pool["layers"]  # a 2×2 pool next to full-size maps: an error
    messages = [e.value.replace("\\", "") for e in at.error]
    assert len(messages) == 1 and "path 2 gives 8×8×8 and path 0 gives 12×16×16" in messages[0]
    at = _undo(at, 2)
    at = _choose(at, branch)
    at = _click(at, path_key(REMOVE_PATH, branch, 0))
    _check(at, _edited(lambda ls: ls[2]["paths"].pop(0)))
    at = _undo(at)
    at = _choose(at, branch)
    at = at.selectbox(key=merge_key(branch)).set_value("add").run()  # 12 + 8 channels cannot add
    assert _design(at).layers[2]["merge"] == "add" and _url(at)["layers"][2]["merge"] == "add"
    assert any("layer 2 (branch): add needs" in e.value.replace("\\", "").replace("\u2060", "") for e in at.error)
    _undo(at)


def test_choose_an_empty_path_and_insert_into_it() -> None:
    at = _app()
    branch = _id(at, 1)
    at.session_state[ADD_TYPE_KEY] = "conv·BN·ReLU"  # a block: its width follows the channels reaching the path
    at = _click(_choose(at, (branch, 1)), path_key(INSERT_PATH, branch, 1))
    block = [{**CONV8, "stride": 1, "bias": False}, {"type": "batchnorm2d"}, {"type": "relu"}]
    _check(at, _edited(lambda ls: ls[1]["paths"][1].extend(block)))
    _undo(at)


def test_wrap_the_layer_and_the_next_in_a_residual_then_undo() -> None:
    at = _app()
    conv = _id(at, 1, 0, 0)
    at = _choose(at, conv)
    at = at.number_input(key=wrap_count_key(conv)).set_value(2).run()
    at = _click(at, branch_key(WRAP, conv))
    _check(at, _edited(lambda ls: ls[1]["paths"][0].__setitem__(
        slice(0, 2), [{"type": "branch", "merge": "add", "paths": [[CONV8, {"type": "relu"}], []]}])))
    assert _design(at).locate(conv).address == (1, 0, 0, 0, 0)  # same layer, same id, one level down
    at = _undo(at)
    assert _design(at).locate(conv).address == (1, 0, 0)
    top = _id(at, 3)  # the pool at the top level: one action wraps it too
    at = _click(_choose(at, top), branch_key(WRAP, top))
    assert _design(at).layers[3] == {"type": "branch", "merge": "add",
                                     "paths": [[{"type": "maxpool2d", "kernel_size": 2}], []]}
    assert at.error  # a pool beside the identity: shapes differ, and the message says so at the branch
    _undo(at)


def test_expand_a_named_block_inside_a_path_keeps_the_totals_then_undo() -> None:
    at = _app()
    block = _id(at, 1, 0, 2)
    at = _click(_choose(at, block), row_key(EXPAND, block))
    layers = _design(at).spec()["layers"]
    assert layers[1]["paths"][0][2]["type"] == "branch"
    expanded = {**SPEC, "layers": layers}
    _check(at, expanded)
    assert (analyze(expanded).total_macs, analyze(expanded).total_params) == (analyze(SPEC).total_macs,
                                                                               analyze(SPEC).total_params)
    _undo(at)


def test_an_error_inside_a_branch_chooses_the_nested_layer_and_shows_the_message_there() -> None:
    broken = _edited(lambda ls: ls[1]["paths"][0][0].update(kernel_size=-1))
    at = run_page("design", timeout=60, spec=encode_share(broken))  # a link with a broken nested layer
    assert not at.exception
    conv = _id(at, 1, 0, 0)
    assert at.session_state[SELECTED_KEY] == conv  # chosen at once, its box open
    messages = [e.value.replace("\\", "") for e in at.error]
    assert len(messages) == 1 and "layer 1 (branch), path 0, layer 0 (conv2d)" in messages[0]
    assert at.text_input(key=wkey(conv, "kernel_size")).value == "-1"  # shown as typed, ready to fix
    shown = list(_list(at).options)
    assert "needs a fix" in shown[2] and "`1.0.0`" in shown[2]
    at = at.text_input(key=wkey(conv, "kernel_size")).set_value("3").run()  # fixed where the message is
    assert not at.error and _url(at)["layers"] == SPEC["layers"]


@pytest.mark.parametrize("hide", [False, True])
def test_hidden_shapes_stay_hidden_inside_paths(hide: bool) -> None:
    at = _app(**({"hide": "shapes"} if hide else {}))
    inner = _id(at, 2, 0, 0)
    at = _choose(at, inner)
    shown = list(_list(at).options)
    texts = [*shown, *(m.value for m in at.markdown), *(c.value for c in at.caption)]
    assert any(INNER_SHAPE in t for t in texts) is not hide
    (numbers,) = [c.value for c in at.caption if c.value.startswith("108 parameters")]  # 8·12 weights + 12 biases
    assert ("MACs" in numbers) is not hide  # MACs ÷ weights would give the shape away


def test_a_torchvision_cnn_from_the_start_box_then_one_blocks_width() -> None:
    from playground.arch.landmarks import designer_spec

    at = _app()
    box = at.selectbox(key=PRESET_KEY)
    assert "torchvision.models.mobilenet_v2" in box.options and "VGG-16" in box.options  # presets stay first
    at = box.set_value("mobilenet_v2").run()  # one choice imports it
    expected = designer_spec("mobilenet_v2")
    assert expected is not None and _design(at).spec()["layers"] == expected["layers"]
    block = _design(at).ids[5]
    at = _choose(at, block)  # a second action: the block's line
    at = at.text_input(key=wkey(block, "out_channels")).set_value("32").run()  # the third: its width
    expected["layers"][5]["out_channels"] = 32
    _check(at, expected)
    assert not at.error


@pytest.mark.parametrize("branch", [
    {"type": "branch", "merge": "multiply", "paths": [[], []]},   # a merge that is not one of the three
    {"type": "branch", "paths": {"0": []}},                       # paths not a list of lists
    {"type": "branch", "paths": [[7, {"type": "relu"}], []]},     # a path's layer that is not an object
    {"type": "branch", "paths": []},                              # no path at all
])
def test_a_damaged_branch_from_a_link_is_explained_at_its_line(branch: dict[str, Any]) -> None:
    spec = {"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, branch]}
    at = run_page("design", timeout=60, spec=encode_share(spec))
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.error) == 1 and "layer 1 (branch)" in at.error[0].value.replace("\\", "")
    chosen = at.session_state[SELECTED_KEY]
    assert chosen == _id(at, 1) or _design(at).locate(chosen).parent == _id(at, 1)  # the branch, or its broken layer
    assert at.button(key=UNDO_KEY).disabled  # the page is drawn in full: nothing to undo yet


def test_a_locked_link_shows_the_paths_but_offers_no_edit_inside_them() -> None:
    at = _app(lock="1")
    branch, inner = _id(at, 1), _id(at, 1, 0, 0)
    at = _choose(at, inner)
    assert any("`1.0.0` conv2d" in m.value for m in at.markdown)  # its settings can be looked at ...
    assert at.text_input(key=wkey(inner, "kernel_size")).disabled
    keys = {b.key for b in at.button}
    assert not keys & {row_key(REMOVE, inner), row_key(COPY, inner), branch_key(WRAP, inner)}  # ... not changed
    at = _choose(at, branch)
    assert at.selectbox(key=merge_key(branch)).disabled
    assert branch_key(ADD_PATH, branch) not in {b.key for b in at.button}
    at = _choose(at, (branch, 1))
    assert path_key(INSERT_PATH, branch, 1) not in {b.key for b in at.button}
    assert _url(at)["layers"] == SPEC["layers"]
