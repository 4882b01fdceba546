"""The designer page under AppTest: editing, errors in place, share links, presets, undo, teacher flags."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from playground.design.editor import Design, parse_text
from playground.design.presets import DEFAULT_SPEC, PRESETS
from playground.spec.parse import MAX_LAYERS
from playground.spec.share import decode_share, encode_share
from playground.ui.designer.layers import (
    ABOVE,
    ADD_KEY,
    ADD_TYPE_KEY,
    ARCH_KEY,
    BELOW,
    COPY,
    IMPORT_KEY,
    MOVE_UP,
    NEW_KEY,
    PASTE_KEY,
    PASTE_LOAD_KEY,
    PRESET_KEY,
    REMOVE,
    UNDO_KEY,
    position_key,
    quick_key,
    row_key,
    type_key,
    where_key,
)
from playground.ui.designer.rf import ROW, unit_key
from playground.ui.designer.savings import replace_key
from playground.ui.designer.session import DESIGN_KEY, SELECTED_KEY, TAB_KEY, in_key, wkey
from playground.ui.text import WORD_JOINER
from tests.support.apptest_pages import metrics, run_page


def _app(**query: str) -> AppTest:
    return run_page("design", timeout=60, **query)


def _design(at: AppTest) -> Design:
    return at.session_state[DESIGN_KEY]


def _titles(at: AppTest) -> list[str]:
    """The layer list's lines ("`i` description → **shape**"), in order."""
    return next((list(r.options) for r in at.radio if r.label == "Layers"), [])


def _open(at: AppTest, index: int) -> AppTest:
    at.session_state[SELECTED_KEY] = _design(at).ids[index]
    return at.run()


def _set_field(at: AppTest, index: int, name: str, text: str) -> AppTest:
    return at.text_input(key=wkey(_design(at).ids[index], name)).set_value(text).run()


def _clean(at: AppTest) -> None:
    assert not at.exception, at.exception


def _plain(markdown: str) -> str:
    """What a reader sees of a message shown through md_text: the escapes and word joiners gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")


def _errors(at: AppTest) -> list[str]:
    return [_plain(e.value) for e in at.error]


def _warnings(at: AppTest) -> list[str]:
    return [_plain(w.value) for w in at.warning]


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
    assert at.session_state[SELECTED_KEY] == _design(at).ids[-2]  # the copy is the chosen layer now
    # The moved layer's field still shows its own value, not its new neighbour's.
    at = _open(at, _design(at).position(new_id))
    assert at.text_input(key=wkey(new_id, "p")).value == "0.2"
    at = at.button(key=row_key(REMOVE, new_id)).click().run()
    assert at.session_state[SELECTED_KEY] == _design(at).ids[-2]  # the layer that took its place
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
    errors = _errors(at)
    assert any(e.startswith("layer 4 (conv2d): kernel 40×40 is larger") for e in errors), errors
    titles = _titles(at)
    assert titles[4] == ":material/error: `4` conv2d — needs a fix" and titles[5] == "`5` batchnorm2d → ?"
    assert titles[8] == "`8` conv2d 64, 3×3 → ?"  # later rows keep their labels, without shapes
    assert titles[3].endswith("**16×16×16**")  # the valid prefix keeps its shapes
    # The status repeats the message (in a long design the row may be scrolled out of view).
    assert "layer 4 (conv2d): kernel 40×40 is larger" in _warnings(at)[0]
    assert "numbers cover layers 0–3" in _warnings(at)[0]
    at = _set_field(at, 4, "kernel_size", "three")
    assert any('kernel_size must be a positive whole number or [height, width], got "three"' in e
               for e in _errors(at))
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
    assert _design(at).spec() == broken and _errors(at)[0].startswith("layer 0 (conv2d)")


def test_a_bad_value_from_a_link_is_shown_as_typed_and_can_be_fixed() -> None:
    spec = {"input": [3, 8, 8], "layers": [{"type": "linear", "out_features": 4, "bias": "yes"}]}
    at = _app(spec=encode_share(spec))  # also: a linear before any flatten, the next problem in line
    _clean(at)
    assert 'bias must be true or false, got "yes"' in _errors(at)[0]
    layer_id = _design(at).ids[0]
    at = at.text_input(key=wkey(layer_id, "bias") + ".text").set_value("false").run()
    assert _design(at).layers[0]["bias"] is False
    assert _errors(at)[0].startswith("layer 0 (linear): needs a flat vector")


@pytest.mark.parametrize("token", ["not*a*token", encode_share({"input": "big", "layers": 3})[:-3] + "AAA",
                                   encode_share({"input": [3, 8, 8], "layers": "none"})])
def test_a_malformed_link_shows_a_message_and_the_default_design(token: str) -> None:
    at = _app(spec=token)
    _clean(at)
    assert _errors(at)[0].startswith("Could not open the design in this link")
    assert "Showing the default design instead" in _errors(at)[0]
    assert _design(at).spec() == DEFAULT_SPEC
    # The damaged link stays in the address bar (the student can send it to the teacher) until an edit.
    at = at.run()
    assert at.query_params["spec"] == token and not at.error
    at = at.button(key=NEW_KEY).click().run()
    assert decode_share(at.query_params["spec"]) == {"input": [3, 32, 32], "layers": []}


def test_a_preset_loads_and_undo_restores() -> None:
    at = _app()
    at = at.selectbox(key=PRESET_KEY).set_value("VGG-16").run()
    _clean(at)
    assert _design(at).spec() == PRESETS["VGG-16"]
    assert metrics(at)["Parameters"] == "138M" and "Loaded the VGG-16 preset" in at.success[0].value
    assert "only 3x3 convs" in at.success[0].value  # the preset's note says what it shows
    assert not at.warning  # VGG-16 is not faulty: its field misses only the corners (212 of 224)
    assert any("74% of all parameters" in _plain(i.value) for i in at.info)  # a note, not a warning
    at = at.button(key=UNDO_KEY).click().run()
    _clean(at)
    assert _design(at).spec() == DEFAULT_SPEC and metrics(at)["Parameters"] == "99K"


def test_teacher_flags_hide_panels_and_lock_editing() -> None:
    at = _app(hide="totals,table,shapes,nonsense", lock="1")
    _clean(at)
    assert not at.metric
    # No photo tab either: its grid of unit centres would count out the hidden shapes.
    assert [t.label for t in at.tabs] == ["Depthwise savings", "Plots", "Share & export"]
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
    assert "class Net(nn.Sequential)" in code and "98,970 parameters" in code  # same keys as build_model
    upload = at.get("file_uploader")[0]
    bad = b'{"input": [3, 8, 8], "layers": ['
    at = upload.set_value(("mine.json", bad, "application/json")).run()  # type: ignore[union-attr]
    assert "'mine.json' is not valid JSON" in _errors(at)[0] and _design(at).spec() == DEFAULT_SPEC
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
def test_field_text_parsing_leaves_judgement_to_the_spec(text: str, kind: Any, value: Any) -> None:
    assert parse_text(text, kind) == value


# --- building quickly ---------------------------------------------------------------------------

def test_quick_add_puts_a_block_before_the_head_so_it_is_valid_at_once() -> None:
    at = _app()
    n = len(DEFAULT_SPEC["layers"])
    at = at.button(key=quick_key("dwsep /2")).click().run()
    _clean(at)
    d = _design(at)
    assert len(d.layers) == n + 1 and d.layers[n - 3] == {"type": "dwsep", "out_channels": 256, "kernel_size": 3,
                                                           "stride": 2}
    assert not at.error and not at.warning  # no "needs a fix": it went before the global pooling
    assert _titles(at)[n - 3] == "`15` dwsep 256, 3×3 /2 → **256×2×2**"
    assert at.session_state[SELECTED_KEY] == d.ids[n - 3]  # the new layer is the chosen one


def test_insert_at_a_chosen_position_and_above_or_below_a_row() -> None:
    at = _app()
    at.selectbox(key=ADD_TYPE_KEY).set_value("conv·BN·ReLU").run()
    at = at.selectbox(key=where_key(len(DEFAULT_SPEC["layers"]))).set_value(0).run()
    at = at.button(key=ADD_KEY).click().run()
    _clean(at)
    assert [layer["type"] for layer in _design(at).layers[:4]] == ["conv2d", "batchnorm2d", "relu", "conv2d"]
    assert _design(at).layers[0]["out_channels"] == 16  # a first layer starts 16 wide, not the image's 3
    at.selectbox(key=ADD_TYPE_KEY).set_value("maxpool2d").run()
    target = _design(at).ids[5]  # the original first relu, now at 5
    at = _open(at, 5)
    at = at.button(key=row_key(BELOW, target)).click().run()
    assert _design(at).layers[6]["type"] == "maxpool2d"
    assert at.session_state[SELECTED_KEY] == _design(at).ids[6]  # the new layer is the chosen one now
    at = _open(at, 5)
    at = at.button(key=row_key(ABOVE, target)).click().run()
    assert [layer["type"] for layer in _design(at).layers[5:8]] == ["maxpool2d", "relu", "maxpool2d"]
    _clean(at)


def test_change_type_keeps_the_settings_that_apply_and_duplicate_copies() -> None:
    at = _open(_app(), 0)
    conv = _design(at).ids[0]
    at = at.selectbox(key=type_key(conv)).set_value("dwsep").run()
    _clean(at)
    assert _design(at).layers[0] == {"type": "dwsep", "out_channels": 16, "kernel_size": 3, "stride": 1}
    assert _titles(at)[0] == "`0` dwsep 16, 3×3 → **16×32×32**"
    new_id = _design(at).ids[0]
    assert new_id != conv and at.session_state[SELECTED_KEY] == new_id  # still chosen, under its fresh id
    at = at.button(key=row_key(COPY, new_id)).click().run()
    assert _design(at).layers[1] == _design(at).layers[0] and _design(at).ids[1] != new_id
    at = _open(at, 0).number_input(key=position_key(new_id, 0)).set_value(3).run()
    assert _design(at).ids[3] == new_id
    at = at.button(key=UNDO_KEY).click().run().button(key=UNDO_KEY).click().run().button(key=UNDO_KEY).click().run()
    assert _design(at).spec() == DEFAULT_SPEC


def test_new_empty_design_in_one_click_and_undo() -> None:
    at = _app()
    at = at.button(key=NEW_KEY).click().run()
    _clean(at)
    assert _design(at).spec() == {"input": [3, 32, 32], "layers": []} and not _titles(at)
    at = at.button(key=quick_key("conv·BN·ReLU")).click().run()
    at = at.button(key=quick_key("head")).click().run()
    _clean(at)
    assert [layer["type"] for layer in _design(at).layers] == ["conv2d", "batchnorm2d", "relu", "global_avgpool",
                                                               "flatten", "linear"]
    assert not at.error
    for _ in range(3):
        at = at.button(key=UNDO_KEY).click().run()
    assert _design(at).spec() == DEFAULT_SPEC


def test_import_pasted_json_and_a_torchvision_architecture() -> None:
    from playground.arch.landmarks import designer_spec

    at = _app()
    assert not at.text_area  # the import box is closed: its widgets are not drawn
    at.session_state[IMPORT_KEY] = True  # open it, as a click does
    at = at.run()
    at.text_area(key=PASTE_KEY).input('{"input": [1, 28, 28], "layers": [{"type": "flatten"}, '
                                      '{"type": "linear", "out_features": 10}]}')
    at = at.button(key=PASTE_LOAD_KEY).click().run()
    _clean(at)
    assert _design(at).spec()["input"] == [1, 28, 28] and metrics(at)["Parameters"] == "7.85K"
    at.text_area(key=PASTE_KEY).input('{"input": [1, 28, 28], "layers": [')
    at = at.button(key=PASTE_LOAD_KEY).click().run()
    assert _errors(at)[0].startswith("the pasted text is not valid JSON") and "unchanged" in _errors(at)[0]
    at = at.selectbox(key=ARCH_KEY).set_value("resnet18").run()
    _clean(at)
    assert _design(at).spec() == {"name": "ResNet-18", **(designer_spec("resnet18") or {})}
    assert metrics(at)["Parameters"] == "11.7M" and not at.warning


# --- issue 12 bugs ------------------------------------------------------------------------------

def test_a_residual_after_the_head_names_the_flattens_real_output() -> None:
    at = _app()
    at.selectbox(key=ADD_TYPE_KEY).set_value("residual").run()
    at = at.selectbox(key=where_key(len(DEFAULT_SPEC["layers"]))).set_value(len(DEFAULT_SPEC["layers"])).run()
    at = at.button(key=ADD_KEY).click().run()
    message = _errors(at)[0]
    assert message.startswith("layer 18 (residual): needs a (channels, height, width) feature map")
    assert "flatten at layer 16 made it a vector of 128 (10 by here)" in message  # 128: the flatten's output


def test_totals_while_a_layer_is_broken_cover_the_valid_part_and_say_so() -> None:
    at = _open(_app(), 4)
    at = _set_field(at, 4, "kernel_size", "40")
    assert any(c.value == "Totals of layers 0–3, the valid part before the broken layer:" for c in at.caption)
    assert metrics(at)["Parameters"] == f"{3 * 16 * 9 + 2 * 16}"  # conv 0 (no bias) and its BatchNorm: 464
    at = _set_field(at, 4, "kernel_size", "3")
    at = _open(at, 0)
    at = _set_field(at, 0, "kernel_size", "40")  # layer 0 broken: no "0 / 0 B" totals
    assert not at.metric and any(c.value == "No totals yet: layer 0 needs a fix." for c in at.caption)


# --- classroom safety (issue 10) ------------------------------------------------------------------

def test_user_strings_from_a_link_are_shown_as_text_never_as_links() -> None:
    evil = "[Answers here](https:evil.example)"
    at = _app(spec=encode_share({"input": [3, 8, 8], "layers": [{"type": evil}, {"type": "relu"}]}),
              hide=f"totals,{evil}")
    _clean(at)
    shown = [*(_plain(e) for e in _titles(at)), *_errors(at), *_warnings(at)]
    assert any(evil in s for s in shown)  # the reader sees the characters ...
    raw = [*_titles(at), *(e.label for e in at.expander)] + [e.value for e in [*at.error, *at.warning, *at.caption, *at.markdown]]
    assert not [s for s in raw if "](" in s or "https:evil" in s]  # ... and markdown never sees a link


def test_a_330k_layer_share_link_is_refused_before_the_editor_draws_it() -> None:
    token = encode_share({"input": [3, 8, 8], "layers": [{}] * 330_000})
    assert len(token) < 2_000  # a short link ...
    at = _app(spec=token)
    _clean(at)
    assert "330,000 layers is over the 500 layer limit" in _errors(at)[0]
    assert len(_design(at).layers) <= MAX_LAYERS and len(_titles(at)) <= MAX_LAYERS
    assert _design(at).spec() == DEFAULT_SPEC


# --- warnings that mislead ------------------------------------------------------------------------

def test_every_concepts_lesson_link_opens_without_warnings() -> None:
    from urllib.parse import parse_qs, urlparse

    concepts = run_page("concepts", timeout=120)
    urls: list[str] = []
    from playground.ui.concepts import LESSON_TABS, TAB_KEY

    for label in LESSON_TABS[:6]:  # the lessons with designer links (not the model one); one open at a time
        concepts.session_state[TAB_KEY] = label
        concepts = concepts.run()
        urls += [b.proto.url for b in concepts.get("link_button") if "design?spec=" in b.proto.url]
    assert len(urls) == 12
    for url in urls:
        at = _app(spec=parse_qs(urlparse(url).query)["spec"][0])
        _clean(at)
        assert not at.warning and not at.error, (url, _warnings(at))


# --- teacher flags hide what they hide, everywhere ----------------------------------------------------

def _everything(at: AppTest) -> str:
    """The text of every element on every tab: markdown, messages, metrics, tables, code, labels, plots."""
    texts: list[str] = []
    for label in [t.label for t in at.tabs]:
        at.session_state[TAB_KEY] = label
        texts.append(_shown(at.run()))
    return "\n".join(texts)


def _shown(at: AppTest) -> str:
    """The text of every element this run drew (one tab's worth)."""
    _clean(at)
    texts = [e.value for e in [*at.markdown, *at.caption, *at.info, *at.success, *at.warning, *at.error, *at.code]]
    texts += [f"{m.label} {m.value} {m.help}" for m in at.metric]
    texts += [*_titles(at), *(e.label for e in at.expander)] + [d.value.to_string() for d in at.dataframe]
    texts += [s.label + " " + " ".join(map(str, s.options)) for s in at.selectbox]
    texts += [c.proto.spec for c in at.get("plotly_chart")]
    texts += [f"{s.label} {s.min} {s.max}" for s in at.slider]
    return "\n".join(_plain(t) for t in texts)


def _quantities(hidden: str) -> list[str]:
    """How the hidden quantities of DEFAULT_SPEC would be written anywhere on the page."""
    from playground._format import format_dims, human, human_bytes
    from playground.design.analysis import analyze

    r = analyze(DEFAULT_SPEC)
    if hidden == "totals":
        values = [r.total_params, r.total_macs, r.total_flops]
        return [f"{v:,}" for v in values] + [str(v) for v in values] + [human(v) for v in values] + [
            human_bytes(r.model_bytes), human_bytes(r.total_activation_bytes)]
    if hidden == "table":  # per-layer counts large enough to be unmistakable
        return [f"{x.params:,}" for x in r.layers if x.params >= 1000] + [
            f"{x.macs:,}" for x in r.layers if x.macs >= 1000] + [human(x.macs) for x in r.layers if x.macs > 10**5]
    # The maps' shapes (a flattened width such as 128 or 10 is also just a layer's own setting).
    shapes = [s for s in (x.output_shape for x in r.layers) if len(s) == 3]
    return [format_dims(s) for s in shapes] + [", ".join(map(str, s)) for s in shapes]


@pytest.mark.parametrize("hidden", ["totals", "table", "shapes"])
def test_a_hidden_quantity_is_hidden_everywhere_on_the_page(hidden: str) -> None:
    visible = _everything(_open(_app(), 0))
    quantities = _quantities(hidden)
    assert [q for q in quantities if q in visible], "the check must see these when they are not hidden"
    at = _app(hide=hidden)
    page = _everything(at)
    assert [q for q in quantities if q in page] == []
    for i in range(len(DEFAULT_SPEC["layers"])):  # every layer's editor: what a student could click on
        shown = _shown(_open(at, i))
        assert [q for q in quantities if q in shown] == [], f"layer {i}"


@pytest.mark.parametrize("hidden", ["warnings", "savings", "plots", "rf", "code", "table", "memory"])
def test_each_panel_flag_removes_its_panel(hidden: str) -> None:
    at = _app(spec=encode_share(PRESETS["VGG-16"]), hide=hidden)
    _clean(at)
    tabs = [t.label for t in at.tabs]
    panel = {"savings": "Depthwise savings", "plots": "Plots", "rf": "Receptive field", "table": "Layers",
             "memory": "Memory"}
    if hidden in panel:
        assert panel[hidden] not in tabs
    if hidden == "warnings":
        assert not at.info and not at.warning
    if hidden == "code":
        at.session_state[TAB_KEY] = "Share & export"
        assert not [c for c in at.run().code if c.language == "python"]


def test_a_locked_link_has_no_teacher_link_builder() -> None:
    at = _app(lock="1")
    at.session_state[TAB_KEY] = "Share & export"
    at = at.run()
    _clean(at)
    assert not [e for e in at.expander if "Teacher link" in e.label] and not at.multiselect
    unlocked = _app()
    unlocked.session_state[TAB_KEY] = "Share & export"
    assert [e for e in unlocked.run().expander if "Teacher link" in e.label]


def test_without_totals_the_code_has_no_comments_and_still_runs() -> None:
    import torch

    at = _app(hide="totals")
    at.session_state[TAB_KEY] = "Share & export"
    (code,) = [c.value for c in at.run().code if c.language == "python"]
    assert "#" not in code and '"""' not in code and "98,970" not in code and "98970" not in code
    namespace: dict = {}
    exec(compile(code, "net.py", "exec"), namespace)  # noqa: S102 - our own generated code
    net = namespace["Net"]()
    assert sum(p.numel() for p in net.parameters()) == 98_970
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_the_page_icon_is_local_not_a_font_from_a_cdn() -> None:
    import ast
    from pathlib import Path

    from streamlit.string_util import is_emoji

    tree = ast.parse((Path(__file__).resolve().parents[1] / "app.py").read_text())
    (call,) = [n for n in ast.walk(tree)
               if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "set_page_config"]
    (icon,) = [ast.literal_eval(k.value) for k in call.keywords if k.arg == "page_icon"]
    # A ":material/...:" icon is fetched from fonts.gstatic.com by the browser: broken on a classroom LAN.
    # An emoji becomes an inline data: SVG in the browser, so it works offline.
    assert not icon.startswith(":material") and is_emoji(icon)
