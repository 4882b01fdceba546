"""The designer page on graph designs: torchvision's CNNs opened through their share links (``?spec=``) and a
hand-written spec with every merge, nested branches and named blocks; every tab draws without an exception."""
from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from playground.design.editor import Design
from playground.design.from_torchvision import torchvision_spec
from playground.spec.share import decode_share, encode_share
from playground.ui.designer.layers import EXPAND, row_key
from playground.ui.designer.session import DESIGN_KEY, SELECTED_KEY, TAB_KEY
from playground.ui.designer.share import PANELS
from tests.support.apptest_pages import metrics, run_page

GRAPH = {"name": "graph demo", "input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
    {"type": "branch", "merge": "add", "paths": [
        [{"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1},
         {"type": "branch", "merge": "mul", "paths": [[], [{"type": "global_avgpool"},
                                                          {"type": "conv2d", "out_channels": 16, "kernel_size": 1},
                                                          {"type": "sigmoid"}]]}],
        []]},
    {"type": "branch", "merge": "concat", "split": True, "paths": [[], [{"type": "conv2d", "out_channels": 8,
                                                                         "kernel_size": 3, "padding": 1}]]},
    {"type": "mbconv", "out_channels": 24, "stride": 2},
    {"type": "inception", "ch1x1": 8, "ch3x3red": 8, "ch3x3": 16, "ch5x5red": 4, "ch5x5": 8, "pool_proj": 8},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def _open_all_tabs(at: AppTest) -> AppTest:
    for label in PANELS:
        at.session_state[TAB_KEY] = label
        at = at.run()
        assert not at.exception, (label, [e.message for e in at.exception])
    return at


def _design(at: AppTest) -> Design:
    return at.session_state[DESIGN_KEY]


@pytest.mark.parametrize("name", ["efficientnet_b0", "googlenet", "convnext_tiny", "densenet121"])
def test_imported_designs_open_and_every_tab_draws(name: str) -> None:
    spec = torchvision_spec(name, side=64)  # a small input keeps the photo and memory tabs quick
    at = run_page("design", timeout=120, spec=encode_share(spec))
    assert not at.exception, [e.message for e in at.exception]
    assert _design(at).spec() == spec and not at.error
    assert metrics(at)["Parameters"]  # the totals are there
    _open_all_tabs(at)


def test_a_graph_spec_shows_branches_as_one_line_and_expands_a_block() -> None:
    at = run_page("design", timeout=120, spec=encode_share(GRAPH))
    assert not at.exception and not at.error
    titles = next(list(r.options) for r in at.radio if r.label == "Layers")
    top = [t for t in titles if not t.startswith("\u2003")]  # a branch's paths are indented under its line
    assert len(top) == len(GRAPH["layers"])  # a named block is one line
    # layer 1: conv, mul, the mul's identity and 3 layers, the add's identity; layer 2: an identity and a conv
    assert len(titles) == len(top) + 9
    at = _open_all_tabs(at)
    at.session_state[TAB_KEY] = "Layers"
    at = at.run()
    table = at.dataframe[0].value
    assert "1.0.1" in list(table["#"]) and "1.0.1.1.0" in list(table["#"])  # rows inside (nested) branches
    # choose the mbconv and expand it: same numbers, one level of branch
    before = metrics(at)
    at.session_state[SELECTED_KEY] = _design(at).ids[3]
    at = at.run()
    at = at.button(key=row_key(EXPAND, _design(at).ids[3])).click().run()
    assert not at.exception
    layers: list[dict[str, Any]] = _design(at).layers
    after = metrics(at)
    assert layers[3]["type"] != "mbconv"
    assert [after[k] for k in ("Parameters", "MACs", "FLOPs")] == [before[k] for k in ("Parameters", "MACs", "FLOPs")]
    assert decode_share(at.query_params["spec"][0] if isinstance(at.query_params["spec"], list)
                        else at.query_params["spec"])["layers"][3]["type"] == layers[3]["type"]
