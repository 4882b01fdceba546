"""The designer page under AppTest: editing, errors in place, share links, presets, undo, teacher flags."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from playground.design.editor import Design, parse_text
from playground.design.presets import DEFAULT_SPEC, PRESETS
from playground.spec.share import decode_share, encode_share
from playground.ui.designer.layers import ADD_KEY, ADD_TYPE_KEY, COPY, MOVE_UP, PRESET_KEY, REMOVE, UNDO_KEY, row_key
from playground.ui.designer.rf import ROW, unit_key
from playground.ui.designer.savings import replace_key
from playground.ui.designer.session import DESIGN_KEY, OPEN_KEY, TAB_KEY, in_key, wkey
from tests.apptest_pages import metrics, run_page


def _app(**query: str) -> AppTest:
    return run_page("design", timeout=60, **query)


def _design(at: AppTest) -> Design:
    return at.session_state[DESIGN_KEY]


def _titles(at: AppTest) -> list[str]:
    """Layer row titles ("`i` description → **shape**"), in order."""
    return [e.label for e in at.expander if e.label.startswith("`")]


def _open(at: AppTest, index: int) -> AppTest:
    at.session_state[OPEN_KEY].add(_design(at).ids[index])
    return at.run()


def _set_field(at: AppTest, index: int, name: str, text: str) -> AppTest:
    return at.text_input(key=wkey(_design(at).ids[index], name)).set_value(text).run()


def _clean(at: AppTest) -> None:
    assert not at.exception, at.exception


def test_loads_clean_with_the_default_design_in_the_url() -> None:
    at = _app()
    _clean(at)
    assert len(_titles(at)) == len(DEFAULT_SPEC["layers"])
    assert _titles(at)[0] == "`0` conv2d 16, 3×3 → **16×32×32**"
    assert [m.label for m in at.metric] == ["Parameters", "MACs", "FLOPs", "Model size", "Activations"]
    assert metrics(at)["Parameters"] == "99K"
    assert "98,970" in [m.help for m in at.metric if m.label == "Parameters"][0]
    assert decode_share(at.query_params["spec"]) == DEFAULT_SPEC
    assert not at.error and not at.warning  # the default design is valid and draws no warnings


def test_editing_a_field_updates_the_row_and_the_table() -> None:
    at = _open(_app(), 0)
    at = _set_field(at, 0, "kernel_size", "5")
    _clean(at)
    assert _titles(at)[0] == "`0` conv2d 16, 5×5 → **16×30×30**"
    table = at.dataframe[0].value
    assert table["output shape"].tolist()[1] == "16×30×30"
    assert table["params"].tolist()[1] == 16 * 3 * 25  # no bias: a BatchNorm follows
    assert decode_share(at.query_params["spec"])["layers"][0]["kernel_size"] == 5  # the URL followed
    at = _set_field(at, 0, "padding", "same")
    assert _titles(at)[0].endswith("**16×32×32**")


def test_add_remove_move_and_duplicate_keep_each_layers_own_state() -> None:
    at = _app()
    n = len(DEFAULT_SPEC["layers"])
    at.selectbox(key=ADD_TYPE_KEY).set_value("dropout").run()
    at = at.button(key=ADD_KEY).click().run()
    _clean(at)
    assert len(_titles(at)) == n + 1 and "dropout" in _titles(at)[-1]
    new_id = _design(at).ids[-1]
    at = at.text_input(key=wkey(new_id, "p")).set_value("0.2").run()  # the new row opened itself
    assert _design(at).layers[-1] == {"type": "dropout", "p": 0.2}
    at = at.button(key=row_key(MOVE_UP, new_id)).click().run()
    assert "dropout" in _titles(at)[-2] and _design(at).ids[-2] == new_id
    at = at.button(key=row_key(COPY, new_id)).click().run()
    assert [layer.get("p") for layer in _design(at).layers[-3:-1]] == [0.2, 0.2]
    # The moved layer's field still shows its own value, not its new neighbour's.
    assert at.text_input(key=wkey(new_id, "p")).value == "0.2"
    at = at.button(key=row_key(REMOVE, new_id)).click().run()
    at = at.button(key=row_key(REMOVE, _design(at).ids[-2])).click().run()
    _clean(at)
    assert _design(at).spec() == DEFAULT_SPEC


def test_a_new_conv_starts_16_wide_on_an_empty_design_and_keeps_the_width_after_a_layer() -> None:
    at = _app(spec=encode_share({"input": [3, 32, 32], "layers": []}))
    at = at.button(key=ADD_KEY).click().run()  # conv2d is the first choice
    _clean(at)
    assert _design(at).layers == [{"type": "conv2d", "out_channels": 16, "kernel_size": 3, "stride": 1,
                                   "padding": 1}]
    at.session_state[DESIGN_KEY].set_field(_design(at).ids[0], "out_channels", 24)
    at = at.run().button(key=ADD_KEY).click().run()
    assert _design(at).layers[-1]["out_channels"] == 24  # follows the channels at the end


def test_an_invalid_value_shows_the_layers_error_and_the_rest_stays_editable() -> None:
    at = _open(_app(), 4)
    at = _set_field(at, 4, "kernel_size", "40")  # a 40x40 kernel on a 16x16 map
    _clean(at)
    errors = [e.value for e in at.error]
    assert any(e.startswith("layer 4 (conv2d): kernel 40×40 is larger") for e in errors), errors
    titles = _titles(at)
    assert titles[4] == "`4` conv2d — needs a fix" and titles[5] == "`5` batchnorm2d → ?"
    assert titles[8] == "`8` conv2d 64, 3×3 → ?"  # later rows keep their labels, without shapes
    assert titles[3].endswith("**16×16×16**")  # the valid prefix keeps its shapes
    # The status repeats the message (in a long design the row may be scrolled out of view).
    assert "layer 4 (conv2d): kernel 40×40 is larger" in at.warning[0].value
    assert "numbers cover layers 0–3" in at.warning[0].value
    at = _set_field(at, 4, "kernel_size", "three")
    assert any('kernel_size must be a positive whole number or [height, width], got "three"' in e.value
               for e in at.error)
    # Other fields keep working while layer 4 is broken, and fixing it brings everything back.
    at = at.text_input(key=in_key(1, _design(at).input_rev)).set_value("64").run()
    assert _design(at).input == [3, 64, 32]
    at = _set_field(at, 4, "kernel_size", "3")
    _clean(at)
    assert not at.error and _titles(at)[4] == "`4` conv2d 32, 3×3 → **32×32×16**"


def test_a_share_link_restores_the_same_design() -> None:
    at = _open(_app(), 0)
    at = _set_field(at, 0, "stride", "2")
    token = at.query_params["spec"]
    again = _app(spec=token)
    _clean(again)
    assert _design(again).spec() == _design(at).spec()
    assert _titles(again) == _titles(at)
    # An invalid-but-readable design also survives the trip, error included.
    broken = {"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 9}]}
    at = _app(spec=encode_share(broken))
    assert _design(at).spec() == broken and at.error[0].value.startswith("layer 0 (conv2d)")


def test_a_bad_value_from_a_link_is_shown_as_typed_and_can_be_fixed() -> None:
    spec = {"input": [3, 8, 8], "layers": [{"type": "linear", "out_features": 4, "bias": "yes"}]}
    at = _app(spec=encode_share(spec))  # also: a linear before any flatten, the next problem in line
    _clean(at)
    assert 'bias must be true or false, got "yes"' in at.error[0].value
    layer_id = _design(at).ids[0]
    at = at.text_input(key=wkey(layer_id, "bias") + ".text").set_value("false").run()
    assert _design(at).layers[0]["bias"] is False
    assert at.error[0].value.startswith("layer 0 (linear): needs a flat vector")


@pytest.mark.parametrize("token", ["not*a*token", encode_share({"input": "big", "layers": 3})[:-3] + "AAA",
                                   encode_share({"input": [3, 8, 8], "layers": "none"})])
def test_a_malformed_link_shows_a_message_and_the_default_design(token: str) -> None:
    at = _app(spec=token)
    _clean(at)
    assert at.error[0].value.startswith("Could not open the design in this link")
    assert "Showing the default design instead" in at.error[0].value
    assert _design(at).spec() == DEFAULT_SPEC
    assert decode_share(at.query_params["spec"]) == DEFAULT_SPEC  # the address bar is usable again


def test_a_preset_loads_and_undo_restores() -> None:
    at = _app()
    at = at.selectbox(key=PRESET_KEY).set_value("VGG-16").run()
    _clean(at)
    assert _design(at).spec() == PRESETS["VGG-16"]
    assert metrics(at)["Parameters"] == "138M" and "Loaded the VGG-16 preset" in at.success[0].value
    assert "only 3x3 convs" in at.success[0].value  # the preset's note says what it shows
    assert any("212x212" in w.value for w in at.warning)  # VGG's final field misses the corners
    at = at.button(key=UNDO_KEY).click().run()
    _clean(at)
    assert _design(at).spec() == DEFAULT_SPEC and metrics(at)["Parameters"] == "99K"


def test_teacher_flags_hide_panels_and_lock_editing() -> None:
    at = _app(hide="totals,table,shapes,nonsense", lock="1")
    _clean(at)
    assert not at.metric
    assert [t.label for t in at.tabs] == ["Depthwise savings", "Plots", "Receptive field", "Share & export"]
    assert _titles(at)[0] == "`0` conv2d 16, 3×3"  # no shape beside the layer
    assert any(c.value.startswith("Ignored unknown `hide` names") and "nonsense" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key in (ADD_KEY, UNDO_KEY)]
    assert all(t.disabled for t in at.text_input)
    at.session_state[TAB_KEY] = "Share & export"
    at = at.run()
    link = at.code[0].value
    assert "hide=totals%2Ctable%2Cshapes" in link and "lock=1" in link  # the share link keeps the flags


def test_replace_with_dwsep_then_undo() -> None:
    at = _app()
    at.session_state[TAB_KEY] = "Depthwise savings"
    at = at.run()
    at = at.button(key=replace_key(0)).click().run()
    _clean(at)
    assert _design(at).layers[0] == {"type": "dwsep", "out_channels": 16, "kernel_size": 3, "stride": 1}
    assert "BatchNorm and ReLU after it are now the block's own" in at.success[0].value
    assert metrics(at)["Parameters"] == "98.6K"
    at = at.button(key=replace_key(None)).click().run()
    assert [layer["type"] for layer in _design(at).layers].count("conv2d") == 0
    at = at.button(key=UNDO_KEY).click().run().button(key=UNDO_KEY).click().run()
    assert _design(at).spec() == DEFAULT_SPEC


def test_plots_photo_and_export_panels() -> None:
    at = _app()
    at.session_state[TAB_KEY] = "Plots"
    at = at.run()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles == ["Spatial size and channels per layer", "Receptive field per layer"]
    at.session_state[TAB_KEY] = "Receptive field"
    at = at.run()
    _clean(at)
    # Layer 14 (4x4 map, 38 px field, jump 8, start 3.5): the centre unit, then the top-left one.
    assert "Unit (2, 2) of layer 14 sees input rows 1…38 and columns 1…38" in at.caption[-1].value
    at = at.slider(key=unit_key(ROW, 14, 4)).set_value(0).run()
    assert "Unit (0, 2) of layer 14 sees input rows -15…22" in at.caption[-1].value
    assert "15 px past the top edge" in at.caption[-1].value
    at.session_state[TAB_KEY] = "Share & export"
    at = at.run()
    _clean(at)
    (code,) = [c.value for c in at.code if c.language == "python"]
    assert "class Net(nn.Module)" in code and "98,970 parameters" in code
    upload = at.get("file_uploader")[0]
    at = upload.set_value(("mine.json", b'{"input": [3, 8, 8], "layers": [', "application/json")).run()
    assert "'mine.json' is not valid JSON" in at.error[0].value and _design(at).spec() == DEFAULT_SPEC
    lenet = json.dumps(PRESETS["LeNet-5"]).encode()
    at = at.get("file_uploader")[0].set_value(("lenet.json", lenet, "application/json")).run()
    _clean(at)
    assert _design(at).spec() == PRESETS["LeNet-5"]


def test_the_channel_axis_has_its_own_whole_number_ticks() -> None:
    from playground.design.analysis import analyze
    from playground.ui.designer.plots import shape_figure

    axis = shape_figure(analyze(DEFAULT_SPEC)).layout.yaxis2
    assert axis.title.text == "channels" and axis.tickmode == "auto" and axis.tickformat == ",d"


def test_design_state_keeps_ids_through_moves_and_undo() -> None:
    d = Design.from_spec({"input": [3, 8, 8], "layers": [{"type": "relu"}, {"type": "tanh"}]})
    a, b = d.ids
    d.move(b, -1)
    assert d.ids == [b, a] and d.layers[0] == {"type": "tanh"}
    d.set_field(a, "type", "gelu")
    renamed = d.undo()  # the edited layer comes back under a fresh id: its widgets start afresh
    assert list(renamed) == [a] and d.ids == [b, renamed[a]] and d.layers[1] == {"type": "relu"}
    again = d.undo()  # the move undone: tanh keeps its id; relu's snapshot id is gone, so it gets a fresh one
    assert d.layers == [{"type": "relu"}, {"type": "tanh"}] and d.ids[1] == b and d.ids[0] == again[a]
    assert len(set(d.ids) | set(renamed.values())) == 3
    assert d.input_rev == 0
    d.move(d.ids[0], -1)  # already at the top: nothing happens, nothing to undo
    assert not d.can_undo
    named = Design.from_spec(PRESETS["LeNet-5"])
    named.set_input(0, 3)  # an edited preset is no longer the preset (exported code quotes the name)
    assert named.spec()["name"] == "LeNet-5 (edited)"
    named.undo()
    assert named.spec() == PRESETS["LeNet-5"]


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("", "pair", None), (" 3 ", "pair", 3), ("3,5", "pair", [3, 5]), ("[3, 5]", "pair", [3, 5]),
    ("3x5", "pair", [3, 5]), ("Same", "padding", "same"), ("same", "pair", "same"), ("0.25", "float", 0.25),
    ("1,2,3", "pair", "1,2,3"), ("abc", "float", "abc"), ("-2", "int", -2), ("True", "bool", True),
    ("yes", "bool", "yes"),
])
def test_field_text_parsing_leaves_judgement_to_the_spec(text: str, kind, value) -> None:
    assert parse_text(text, kind) == value
