"""Concepts, feature hierarchy lesson: the pretrained layer's effective field against the same layer at init."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from playground.catalog import load_model
from playground.models.erf_trained import trained_vs_init
from playground.models.registry import DEFAULT_MODEL
from playground.samples import load_sample
from playground.ui.concepts import LESSON_TABS, TAB_KEY, TRAINED_ERF_LAYER_KEY
from tests.support.apptest_pages import assert_clean, metrics, run_page

HIERARCHY, CONVOLUTION = LESSON_TABS[-1], LESSON_TABS[0]
TRAINED, INIT = "Effective, trained (95% of the gradient)", "Effective, at init"


def _open(at: AppTest, tab: str) -> AppTest:
    at.session_state[TAB_KEY] = tab
    return at.run()


def test_trained_vs_init_shows_the_measured_fields_and_keeps_its_layer() -> None:
    at = _open(run_page("concepts", timeout=240), HIERARCHY)
    assert_clean(at)
    assert at.select_slider(key=TRAINED_ERF_LAYER_KEY).value == "_blocks.5"
    expected = trained_vs_init(load_model(DEFAULT_MODEL), load_sample("Coffee cup"), "_blocks.5")
    shown = metrics(at)
    assert shown["Theoretical field"] == "83 px"
    assert shown[TRAINED] == f"{expected.trained.effective[0]} px"
    assert shown[INIT] == f"{expected.init.effective[0]} px"
    captions = [i.caption for img in at.get("image") for i in img.proto.imgs]
    assert "pretrained weights" in captions and "the same layers at init (seed 0)" in captions
    (text,) = [c.value for c in at.caption if "holding 95% of the gradient" in c.value]
    assert "centre unit (7, 7) of the block 6 of 16 (module `_blocks.5`)" in text and "clipped" not in text

    at.select_slider(key=TRAINED_ERF_LAYER_KEY).set_value("_blocks.10").run()
    assert_clean(at)
    assert metrics(at)["Theoretical field"] == "339 px"
    (text,) = [c.value for c in at.caption if "holding 95% of the gradient" in c.value]
    assert "clipped: only" in text  # a 339 px field on a 224 px crop
    _open(at, CONVOLUTION)
    _open(at, HIERARCHY)
    assert at.select_slider(key=TRAINED_ERF_LAYER_KEY).value == "_blocks.10"  # kept while the tab was closed
