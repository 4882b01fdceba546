"""The designer's effective-receptive-field and memory panels under AppTest."""
from __future__ import annotations

import base64
import json

import numpy as np

from playground._format import human_bytes
from playground.design.erf import effective_receptive_field
from playground.design.memory import memory_estimate
from playground.design.presets import DEFAULT_SPEC
from playground.spec.parse import parse_spec
from playground.ui.designer.erf import ERF_TOGGLE, PLOT_TOGGLE
from playground.ui.designer.memory import BATCH_KEY
from playground.ui.designer.session import TAB_KEY
from tests.support.apptest_pages import assert_clean, metrics, run_page


def test_erf_heat_map_on_the_receptive_field_panel_and_in_the_growth_plot() -> None:
    at = run_page("design", timeout=120)
    at.session_state[TAB_KEY] = "Receptive field"
    at = at.run()
    assert_clean(at)
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles == ["The photo as the 32×32 input sees it: click a unit to inspect it"]  # no ERF until asked
    photo = json.loads(at.get("plotly_chart")[0].proto.spec)
    markers = photo["data"][1]
    cells = markers["customdata"]  # plotly's JSON packs arrays as base64 "bdata": decode it
    units = np.frombuffer(base64.b64decode(cells["bdata"]), dtype=cells["dtype"]).reshape(-1, 2).tolist()
    assert units == [[r, c] for r in range(4) for c in range(4)]  # one marker per unit of the 4×4 map, row by row
    at = at.toggle(key=ERF_TOGGLE).set_value(True).run()
    assert_clean(at)
    layout = json.loads(at.get("plotly_chart")[-1].proto.spec)["layout"]
    assert layout["title"]["text"] == "Effective receptive field of layer 14"
    expected = effective_receptive_field(parse_spec(DEFAULT_SPEC).to_dict(), 14)
    eh, ew = expected.effective
    assert f"White: the centred square holding 95% of the gradient, {eh}×{ew} px" in at.caption[-1].value
    at.session_state[TAB_KEY] = "Plots"
    at = at.run()
    at = at.toggle(key=PLOT_TOGGLE).set_value(True).run()
    assert_clean(at)
    field = [json.loads(c.proto.spec) for c in at.get("plotly_chart")][-1]
    line = next(t for t in field["data"] if t["name"].startswith("effective field"))
    assert line["y"][-1] <= field["data"][0]["y"][-1]  # effective within the theoretical field


def test_memory_panel_follows_the_batch_slider() -> None:
    at = run_page("design", timeout=120)
    at.session_state[TAB_KEY] = "Memory"
    at = at.run()
    assert_clean(at)
    spec = parse_spec(DEFAULT_SPEC).to_dict()
    assert metrics(at)["Training total"] == human_bytes(memory_estimate(spec, 32).training_bytes)
    at = at.select_slider(key=BATCH_KEY).set_value(4).run()
    assert_clean(at)
    four = memory_estimate(spec, 4)
    assert metrics(at)["Saved activations"] == human_bytes(four.activations_bytes)
    assert metrics(at)["Inference peak"] == human_bytes(four.inference_peak_bytes)


def test_the_issue_link_with_the_erf_switch_on_is_refused_with_its_figures() -> None:
    """A short link of one 4096-wide average pool (0 MACs) once took 64 s, a 369 MB message and ~400 MB
    kept per input size; now the page says what it would cost and what would fit, and measures nothing."""
    from playground.spec.share import encode_share

    link = encode_share({"input": [1, 4096, 4096], "layers": [{"type": "avgpool2d", "kernel_size": 4096}]})
    at = run_page("design", timeout=120, spec=link)
    at.session_state[TAB_KEY] = "Receptive field"
    at.session_state[ERF_TOGGLE] = True
    at = at.run()
    assert not at.exception and not at.error
    (note,) = [i.value for i in at.info if "effective field" in i.value]
    assert "4096×4096 input" in note and "over what this tool spends" in note and "smaller input" in note
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert not any(t.startswith("Effective receptive field") for t in titles)
