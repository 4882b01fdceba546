"""The designer's "Share & export" tab offers the design as ONNX, built only when the button is clicked."""
from __future__ import annotations

import json
import sys

import pytest
from streamlit.testing.v1 import AppTest

from playground.design.presets import DEFAULT_SPEC, PRESETS
from playground.spec.parse import parse_spec
from playground.spec.share import encode_share
from playground.ui.designer import share
from playground.ui.designer.session import TAB_KEY
from tests.support.apptest_pages import assert_clean, run_page

pytestmark = [pytest.mark.filterwarnings("ignore:.*legacy TorchScript-based ONNX export:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")]


def _export_tab(**query: str) -> AppTest:
    at = run_page("design", timeout=60, **query)
    at.session_state[TAB_KEY] = "Share & export"
    at = at.run()
    assert_clean(at)
    return at


def _downloads(at: AppTest) -> list[str]:
    """The export tab's download buttons (the diagram's own SVG / PNG buttons above it left out)."""
    return [b.proto.label for b in at.get("download_button") if b.proto.label not in ("SVG", "PNG")]


def test_onnx_download_is_offered_and_built_only_on_click() -> None:
    share._onnx_file.cache_clear()
    at = _export_tab()
    assert _downloads(at) == ["Download net.py", "Download JSON", "Download ONNX"]
    at = at.run()  # another page run: still nothing exported
    assert share._onnx_file.cache_info().currsize == 0
    ort = pytest.importorskip("onnxruntime")
    # what the deferred button runs on a click: the file of the design on the page, kept for the next click
    canonical = json.dumps(parse_spec(DEFAULT_SPEC).to_dict(), indent=2)
    data = share._onnx_file(canonical)
    assert share._onnx_file(canonical) is data and share._onnx_file.cache_info().hits == 1
    (image,) = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).get_inputs()
    assert image.name == "image" and image.shape == ["batch", *DEFAULT_SPEC["input"]]

def test_a_large_design_points_to_the_command_line() -> None:
    at = _export_tab(spec=encode_share(PRESETS["VGG-16"]))  # 138 million parameters, a ~550 MB file
    assert _downloads(at) == ["Download net.py", "Download JSON"]
    assert any("playground export design.json --onnx net.onnx" in c.value for c in at.caption)


def test_without_onnx_the_page_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # not installed
    at = _export_tab()
    assert "Download ONNX" not in _downloads(at)
    assert any("pip install onnx" in c.value for c in at.caption)
