"""The Predict page under AppTest: real widgets, real model, no browser."""
from __future__ import annotations

import io
import json

import pytest
from streamlit.testing.v1 import AppTest

from playground.samples import load_sample
from playground.ui.common import PHOTO_SOURCE, PHOTO_UPLOAD, widget_key
from playground.ui.predict import CAM_CLASS, EXPLAIN_TAB, FEATURE_LAYER, MODEL_PICKER, PREDICT
from tests.apptest_pages import run_page
from tests.model_data import CAT_CLASSES, write_finetuned

MODEL, TAB = widget_key(PREDICT, MODEL_PICKER), widget_key(PREDICT, EXPLAIN_TAB)
UPLOAD = widget_key(PREDICT, PHOTO_UPLOAD)


def bars(at: AppTest) -> list[str]:
    """The labels of the top-k bar chart, top first."""
    (labels,) = [trace["y"] for chart in at.get("plotly_chart")
                 for trace in json.loads(chart.proto.spec)["data"] if trace["type"] == "bar"]
    return labels


def png_bytes(name: str) -> bytes:
    buf = io.BytesIO()
    load_sample(name).save(buf, "PNG")
    return buf.getvalue()


def start(**query: str) -> AppTest:
    return run_page("predict", timeout=120, **query)


def test_sample_photo_by_default_with_grad_cam() -> None:
    at = start()
    assert not at.exception and not at.error
    assert bars(at)[0] == "espresso" and len(bars(at)) == 5
    assert "Top 5" in [h.value for h in at.subheader]
    assert at.selectbox(key=MODEL).value == "efficientnet_lite0"
    assert at.selectbox(key=widget_key(PREDICT, CAM_CLASS)).value == 967  # the top class is explained first
    assert any("Grad-CAM" in c.value or "gradient" in c.value for c in at.caption)


def test_upload_a_png_gives_five_predictions_then_a_bad_upload_gives_a_message() -> None:
    at = start()
    at.segmented_control(key=widget_key(PREDICT, PHOTO_SOURCE)).set_value("upload").run()
    assert not at.get("plotly_chart")  # nothing to classify yet
    at.file_uploader(key=UPLOAD).set_value(("chelsea.png", png_bytes("Cat (Chelsea)"), "image/png"))
    at.run()
    assert not at.exception and not at.error
    labels = bars(at)
    assert len(labels) == 5 and labels[0] in CAT_CLASSES

    at.file_uploader(key=UPLOAD).set_value(("broken.png", b"\x89PNG\r\n\x1a\nnope", "image/png"))
    at.run()
    assert not at.exception and not at.get("plotly_chart")
    assert [e.value for e in at.error] == [
        "broken.png: not a JPEG, PNG, WebP, GIF or BMP image (or the file is damaged)"]


def test_feature_maps_and_other_tabs_render() -> None:
    at = start()
    for tab, words in ((":material/layers: Feature maps", "most active"),
                       (":material/grid_view: First-layer filters", "32 filters of 3x3"),
                       (":material/crop: What the model sees", "resized to 256 (bicubic)")):
        at.session_state[TAB] = tab
        at.run()
        assert not at.exception and not at.error
        assert any(words in c.value for c in at.caption), (tab, [c.value for c in at.caption])
    at.session_state[TAB] = ":material/layers: Feature maps"
    at.run()
    at.select_slider(key=widget_key(PREDICT, FEATURE_LAYER)).set_value("_head_act").run()
    assert any("`_head_act` outputs 1280 maps of 7x7" in c.value for c in at.caption)


def test_query_param_opens_a_finetuned_job(_playground_home) -> None:
    write_finetuned(_playground_home / "jobs" / "fruit1" / "artifacts", classes=("apple", "pear", "plum"))
    at = start(model="job:fruit1")
    assert not at.exception and not at.error
    assert at.selectbox(key=MODEL).value == "job:fruit1"
    assert sorted(bars(at)) == ["apple", "pear", "plum"]
    assert "Top 3" in [h.value for h in at.subheader]  # not "Top 5" with three bars


@pytest.mark.parametrize("ref, words", [("job:nope", "no such model folder"),
                                        ("resnet50", "resnet50-11ad3fa6.pth")])
def test_bad_query_param_explains_and_falls_back(ref: str, words: str) -> None:
    at = start(model=ref)
    assert not at.exception
    assert len(at.error) == 1 and words in at.error[0].value
    assert at.selectbox(key=MODEL).value == "efficientnet_lite0" and len(bars(at)) == 5
