"""Predict's clickable feature maps under AppTest: pick a unit, see its field (and its gradient)."""
from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from playground.ui.cell_click import clicked_cell
from playground.ui.predict import EXPLAIN_TAB, FEATURE_LAYER, PREDICT
from playground.ui.predict.feature_field import FIELD_ERF, map_chart_key, unit_slider_key
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import assert_clean, run_page

TAB = widget_key(PREDICT, EXPLAIN_TAB)
FEATURES = ":material/layers: Feature maps"


def _field_caption(at: AppTest) -> str:
    (text,) = [c.value for c in at.caption if "sees input rows" in c.value]
    return text


def _map_markers(at: AppTest, key: str) -> list[dict]:
    (chart,) = [c for c in at.get("plotly_chart") if key in c.proto.id]
    return [t for t in json.loads(chart.proto.spec)["data"] if t["type"] == "scatter"]


def _count(values: list | dict) -> int:
    """Length of a plotly array, plain or binary-packed (``{"bdata": base64, "dtype": "f8"}``)."""
    if isinstance(values, dict):
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def test_a_unit_of_the_feature_map_shows_its_field_and_on_request_its_gradient() -> None:
    at = run_page("predict", timeout=180)
    at.session_state[TAB] = FEATURES
    at.run()
    assert_clean(at)
    # The default layer, _blocks.2 of EfficientNet-Lite0: a 56×56 map, 19×19 fields 4 px apart
    assert at.select_slider(key=widget_key(PREDICT, FEATURE_LAYER)).value == "_blocks.2"
    text = _field_caption(at)
    assert text.startswith("Unit (28, 28) of the block 3 of 16 (module `_blocks.2`), channel ")
    assert "rows 106…124 and columns 106…124 of the 224×224 crop" in text and "a 19×19 field" in text
    (markers,) = _map_markers(at, map_chart_key(PREDICT, "_blocks.2", (56, 56)))
    assert _count(markers["x"]) == 56 * 56  # one clickable marker per unit
    at.slider(key=unit_slider_key(PREDICT, "r", "_blocks.2", 56)).set_value(0)
    at.slider(key=unit_slider_key(PREDICT, "c", "_blocks.2", 56)).set_value(1).run()
    text = _field_caption(at)
    assert "Unit (0, 1)" in text and "rows -6…12 and columns -2…16" in text
    assert "lies on the image (the red square is clipped to it)" in text
    assert "Turn on the effective field" in text
    at.toggle(key=widget_key(PREDICT, FIELD_ERF)).set_value(True).run()
    assert_clean(at)
    text = _field_caption(at)
    assert "|∂ unit / ∂ input| on this photo; 95% of it lies within the blue" in text
    side = int(text.split("blue ")[1].split("×")[0])
    assert 1 <= side <= 19  # the effective field fits in the theoretical one


def test_a_deep_layer_field_reaches_past_the_crop_and_another_channel_can_be_picked() -> None:
    at = run_page("predict", timeout=180)
    at.session_state[TAB] = FEATURES
    at.run()
    at.select_slider(key=widget_key(PREDICT, FEATURE_LAYER)).set_value("_head_act").run()
    assert_clean(at)
    text = _field_caption(at)
    assert text.startswith("Unit (3, 3) of the last conv block (head) (module `_head_act`)") and "a 851×851 field" in text
    assert "Only 7% of it lies on the image" in text  # 224² of 851² pixels
    (channel_box,) = [s for s in at.selectbox if s.label == "Map"]
    second = channel_box.options[1]
    channel_box.set_value(int(second.split()[1])).run()
    assert_clean(at)
    assert f"channel {second.split()[1]}," in _field_caption(at)


def test_a_click_event_names_its_unit_row_by_row() -> None:
    event = {"selection": {"points": [{"curve_number": 1, "point_index": 57}]}}
    assert clicked_cell(event, (56, 56)) == (1, 1)
    assert clicked_cell({"selection": {"points": [{"curve_number": 0, "point_index": 3}]}}, (56, 56)) is None
    assert clicked_cell({"selection": {"points": [{"curve_number": 1, "point_index": 56 * 56}]}}, (56, 56)) is None
    assert clicked_cell(None, (4, 4)) is None
