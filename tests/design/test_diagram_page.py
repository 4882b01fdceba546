"""The diagram on the Designer page (AppTest): stage pills that unfold in one click, the named-blocks
toggle, the downloads, and a hide=shapes link whose pills name runs of layers, not map sizes."""
from __future__ import annotations

from functools import cache

from streamlit.testing.v1 import AppTest

from playground.design.from_torchvision import torchvision_spec
from playground.spec.share import encode_share
from playground.ui.designer.diagram import DOWNLOAD_KEY
from playground.ui.designer.session import DESIGN_KEY, SELECTED_KEY
from tests.support.apptest_pages import assert_clean, run_page


@cache
def _link(name: str) -> str:
    return encode_share(torchvision_spec(name))


def test_a_resnet_link_folds_its_stages_and_one_click_unfolds_one() -> None:
    at = run_page("design", spec=_link("resnet50"))
    assert_clean(at)
    labels = [str(o) for o in next(p for p in at.pills if p.label == "Unfold stages").options]
    assert labels == ["112×112 · 0-2", "56×56 · 3-6", "28×28 · 7-10", "14×14 · 11-16", "7×7 · 17-19"]
    assert len(at.image) >= 1
    assert not {b.label for b in at.get("download_button")} & {"SVG", "PNG"}  # type: ignore[union-attr]
    at.session_state[DOWNLOAD_KEY] = True  # open the downloads, as a click does: drawn only then
    at = at.run()
    assert {b.label for b in at.get("download_button")} >= {"SVG", "PNG"}  # type: ignore[union-attr]
    pills = next(p for p in at.pills if p.label == "Unfold stages")
    at = pills.set_value([3]).run()  # one click: the 14×14 stage
    assert_clean(at)
    assert next(p for p in at.pills if p.label == "Unfold stages").value == [3]
    toggle = next(t for t in at.toggle if t.label == "Open the named blocks")
    at = toggle.set_value(True).run()
    assert_clean(at)
    assert "receptive field" not in _diagram_caption(at)  # no layer chosen: no field traced
    # Choosing layer 12 (in the folded 14×14 stage): the caption says what the field marks are.
    at.session_state[SELECTED_KEY] = at.session_state[DESIGN_KEY].ids[12]
    at = at.run()
    assert_clean(at)
    assert "receptive field" in _diagram_caption(at) and "⊕ add" in _diagram_caption(at)


def _diagram_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("The network, input at the top"))


def test_a_hide_shapes_link_names_its_stages_by_layers_only() -> None:
    at = run_page("design", spec=_link("resnet50"), hide="shapes")
    assert_clean(at)
    labels = [str(o) for o in next(p for p in at.pills if p.label == "Unfold stages").options]
    assert labels and all(label.startswith("layers ") and "×" not in label for label in labels)
    assert "sizes and shapes hidden" in " ".join(c.value for c in at.caption)
